package pexip

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"image/png"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/verdict-policy/verdict/config"
)

func TestAvatarFromDirectory(t *testing.T) {
	d := exampleDoor(t)
	tests := []struct {
		name, target string
		status       int
		w, h         int
	}{
		{"e-mail form", "/policy/v1/participant/avatar/alice%40example.com?width=40&height=30&role=guest", 200, 40, 30},
		{"SIP form, upscaled", "/policy/v1/participant/avatar/sip%3Aalice%40example.com?width=200&height=200", 200, 200, 200},
		{"directory context, minimal parameters", "/policy/v1/participant/avatar/alice%40example.com?node_ip=10.0.0.1&registered=True&version_id=35&height=1&width=1&location=London&pseudo_version_id=77683.0.0", 200, 1, 1},
		{"nobody", "/policy/v1/participant/avatar/nobody%40example.com?width=40&height=40", 404, 0, 0},
		{"path traversal is just an unknown alias", "/policy/v1/participant/avatar/..%2F..%2Fverdict.yaml?width=40&height=40", 404, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := serve(d, http.MethodGet, tt.target)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.status, w.Body)
			}
			if tt.status != 200 {
				return
			}
			if ct := w.Header().Get("Content-Type"); ct != "image/jpeg" {
				t.Fatalf("Content-Type %q", ct)
			}
			img, err := jpeg.Decode(w.Body)
			if err != nil {
				t.Fatal(err)
			}
			if b := img.Bounds(); b.Dx() != tt.w || b.Dy() != tt.h {
				t.Errorf("size %dx%d, want %dx%d", b.Dx(), b.Dy(), tt.w, tt.h)
			}
			if _, ok := img.(*image.YCbCr); !ok {
				t.Errorf("JPEG colour model %T, want YCbCr", img)
			}
		})
	}
}

func pngBytes(t testing.TB, w, h int, c color.Color) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestAvatarFromURL(t *testing.T) {
	var fetches atomic.Int32
	red := pngBytes(t, 10, 20, color.NRGBA{R: 255, A: 255})
	photos := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		switch r.URL.Path {
		case "/photos/bob@example.com":
			w.Write(red)
		case "/photos/broken@example.com":
			w.Write([]byte("not an image"))
		case "/photos/down@example.com":
			w.WriteHeader(http.StatusInternalServerError)
		default:
			http.NotFound(w, r)
		}
	}))
	defer photos.Close()
	dir := t.TempDir()
	writeFile(t, dir, "p.yaml", "- {effect: permit}\n")
	writeFile(t, dir, "verdict.yaml", `
policies: {p: p.yaml}
pexip:
  policy: p
  avatars: {url: "`+photos.URL+`/photos/{alias}", timeout: 2s}
`)
	d := loadDoor(t, filepath.Join(dir, "verdict.yaml"))
	get := func(alias string) *httptest.ResponseRecorder {
		return serve(d, http.MethodGet, "/policy/v1/participant/avatar/"+alias+"?width=16&height=16")
	}
	w := get("sip%3Abob%40example.com")
	if w.Code != 200 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	img, err := jpeg.Decode(w.Body)
	if err != nil {
		t.Fatal(err)
	}
	if r, g, b, _ := img.At(8, 8).RGBA(); r>>8 < 200 || g>>8 > 60 || b>>8 > 60 {
		t.Errorf("colour %d %d %d, want red", r>>8, g>>8, b>>8)
	}
	get("bob%40example.com")
	if n := fetches.Load(); n != 1 {
		t.Errorf("%d fetches, want 1 (cached)", n)
	}
	for _, alias := range []string{"nobody%40example.com", "broken%40example.com", "down%40example.com"} {
		if w := get(alias); w.Code != 404 {
			t.Errorf("%s: status %d, want 404", alias, w.Code)
		}
	}
	before := fetches.Load()
	get("nobody%40example.com")
	if fetches.Load() != before {
		t.Error("a miss was fetched again; misses are cached")
	}
}

func TestAvatarURLTimeout(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	dir := t.TempDir()
	writeFile(t, dir, "p.yaml", "- {effect: permit}\n")
	writeFile(t, dir, "verdict.yaml", `
policies: {p: p.yaml}
pexip:
  policy: p
  avatars: {url: "`+slow.URL+`/{alias_user}.jpg", timeout: 200ms}
`)
	d := loadDoor(t, filepath.Join(dir, "verdict.yaml"))
	w := serve(d, http.MethodGet, "/policy/v1/participant/avatar/carol?width=8&height=8")
	if w.Code != 404 {
		t.Fatalf("status %d, want 404 after the timeout", w.Code)
	}
}

func TestResizeTransparentOverWhite(t *testing.T) {
	src := image.NewNRGBA(image.Rect(0, 0, 4, 4)) // fully transparent
	out := cover(src, 3, 5)
	if b := out.Bounds(); b.Dx() != 3 || b.Dy() != 5 {
		t.Fatalf("size %v", b)
	}
	for i := 0; i < len(out.Pix); i++ {
		if out.Pix[i] != 255 {
			t.Fatalf("pixel byte %d = %d, want white", i, out.Pix[i])
		}
	}
}

func writeFile(t testing.TB, dir, name, data string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(strings.TrimLeft(data, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// testAvatars builds avatars for a URL template and/or a directory, with a
// clock the test moves.
func testAvatars(t *testing.T, c AvatarsConfig) (*avatars, *testClock) {
	t.Helper()
	cfg, err := config.Parse(filepath.Join(t.TempDir(), "verdict.yaml"), []byte("{}\n"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := newAvatars(cfg, c)
	if err != nil {
		t.Fatal(err)
	}
	clock := &testClock{}
	clock.t.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	a.now = clock.now
	return a, clock
}

type testClock struct{ t atomic.Int64 }

func (c *testClock) now() time.Time          { return time.Unix(0, c.t.Load()) }
func (c *testClock) advance(d time.Duration) { c.t.Add(int64(d)) }
func solid(w, h int, c color.Color) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Rect, image.NewUniform(c), image.Point{}, draw.Src)
	return img
}

func encodePNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.NoCompression} // size depends on the dimensions only
	if err := enc.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func encodeJPEG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func decodeAnswer(t testing.TB, body []byte, w, h int) image.Image {
	t.Helper()
	img, err := jpeg.Decode(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
		t.Fatalf("answer is %dx%d, want %dx%d", b.Dx(), b.Dy(), w, h)
	}
	return img
}

func isRed(c color.Color) bool {
	r, g, b, _ := c.RGBA()
	return r>>8 > 200 && g>>8 < 60 && b>>8 < 60
}

func isBlue(c color.Color) bool {
	r, g, b, _ := c.RGBA()
	return b>>8 > 200 && r>>8 < 60 && g>>8 < 60
}

// TestAvatarSourceReduced checks that a source is cached reduced to at most
// maxAvatarSide a side, with its aspect ratio, and that every size is then
// answered from it.
func TestAvatarSourceReduced(t *testing.T) {
	tests := []struct {
		name         string
		file         string
		data         func(t *testing.T) []byte
		wantW, wantH int
	}{
		{"big landscape JPEG", "big@example.com.jpg", func(t *testing.T) []byte { return encodeJPEG(t, solid(2400, 1600, color.NRGBA{R: 255, A: 255})) }, 1024, 683},
		{"tall PNG", "tall@example.com.png", func(t *testing.T) []byte { return encodePNG(t, solid(500, 2500, color.NRGBA{R: 255, A: 255})) }, 205, 1024},
		{"small image kept as is", "small@example.com.png", func(t *testing.T) []byte { return encodePNG(t, solid(120, 90, color.NRGBA{R: 255, A: 255})) }, 120, 90},
		{"exactly the largest side", "edge@example.com.png", func(t *testing.T) []byte { return encodePNG(t, solid(1024, 10, color.NRGBA{R: 255, A: 255})) }, 1024, 10},
	}
	dir := t.TempDir()
	// The budget is for the reduction to finish, not a measure of its
	// speed: decoding, reducing and encoding a 2400x1600 JPEG takes
	// seconds under the race detector on a busy machine.
	a, _ := testAvatars(t, AvatarsConfig{Dir: dir, Timeout: time.Minute, CacheEntries: 64})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.WriteFile(filepath.Join(dir, tt.file), tt.data(t), 0o644); err != nil {
				t.Fatal(err)
			}
			alias := strings.TrimSuffix(strings.TrimSuffix(tt.file, ".jpg"), ".png")
			for _, size := range [][2]int{{1024, 1024}, {40, 40}, {300, 100}} {
				body, err := a.get(context.Background(), alias, size[0], size[1])
				if err != nil {
					t.Fatal(err)
				}
				img := decodeAnswer(t, body, size[0], size[1])
				if !isRed(img.At(size[0]/2, size[1]/2)) {
					t.Errorf("%v: centre is not red", size)
				}
			}
			a.mu.Lock()
			e, ok := a.sources.get(srcKey{file: true, name: tt.file})
			a.mu.Unlock()
			if !ok || e.img == nil {
				t.Fatal("source not cached")
			}
			b := e.img.Bounds()
			if b.Dx() > maxAvatarSide || b.Dy() > maxAvatarSide {
				t.Errorf("cached source is %dx%d, more than %d a side", b.Dx(), b.Dy(), maxAvatarSide)
			}
			if b.Dx() != tt.wantW || b.Dy() != tt.wantH {
				t.Errorf("cached source is %dx%d, want %dx%d", b.Dx(), b.Dy(), tt.wantW, tt.wantH)
			}
		})
	}
}

// TestReduceAllocations checks that reducing a big decoded image allocates
// about the reduced image, not buffers the size of the source.
func TestReduceAllocations(t *testing.T) {
	const w, h = 2400, 1800
	ycc := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	pal := image.NewPaletted(image.Rect(0, 0, w, h), color.Palette{color.White, color.Black})
	tests := []struct {
		name string
		src  image.Image
	}{
		{"JPEG-like YCbCr", ycc},
		{"PNG-like NRGBA", solid(w, h, color.NRGBA{G: 255, A: 128})},
		{"GIF-like paletted", pal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			out := reduce(tt.src)
			runtime.ReadMemStats(&after)
			if b := out.Bounds(); b.Dx() != 1024 || b.Dy() != 768 {
				t.Fatalf("reduced to %v, want 1024x768", b)
			}
			limit := uint64(len(out.Pix)) + 1<<20
			if got := after.TotalAlloc - before.TotalAlloc; got > limit {
				t.Errorf("reduce allocated %d bytes, want at most %d (source has %d pixels)", got, limit, w*h)
			}
		})
	}
}

// TestAvatarURLEscaping checks that each placeholder reaches the server
// intact: escaped as a path segment before the template's "?", as a query
// value after it.
func TestAvatarURLEscaping(t *testing.T) {
	got := make(chan string, 1)
	photos := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id, ok := r.URL.Query()["id"]; ok {
			got <- "query " + id[0] + " " + r.URL.Query().Get("domain")
		} else {
			got <- "path " + r.URL.Path
		}
		http.NotFound(w, r)
	}))
	defer photos.Close()
	tests := []struct {
		name, template, alias, want string
	}{
		{"E.164 in the query", "/photo?id={alias}", "+4712345678", "query +4712345678 "},
		{"E.164 with a scheme in the query", "/photo?id={alias_user}&domain={alias_domain}", "sip:+4712345678@Example.com", "query +4712345678 example.com"},
		{"ampersand and space in the query", "/photo?id={alias}", "a&b c@example.com", "query a&b c@example.com "},
		{"E.164 in the path", "/photos/{alias}.jpg", "+4712345678", "path /photos/+4712345678.jpg"},
		{"user and domain in the path", "/{alias_domain}/{alias_user}", "sip:bob smith@example.com", "path /example.com/bob smith"},
		{"path and query", "/{alias_domain}/photo?id={alias_user}", "sip:+47 123@example.com", "query +47 123 "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, _ := testAvatars(t, AvatarsConfig{URL: photos.URL + tt.template, Timeout: 2 * time.Second})
			body, err := a.get(context.Background(), tt.alias, 10, 10)
			if body != nil || err != nil {
				t.Fatalf("got %d bytes, %v; want a miss", len(body), err)
			}
			if s := <-got; s != tt.want {
				t.Errorf("server saw %q, want %q", s, tt.want)
			}
		})
	}
}

// TestAvatarFailuresNotCached checks that only a definite miss is cached
// for long: after a failure the source is asked again within seconds and a
// later image is served.
func TestAvatarFailuresNotCached(t *testing.T) {
	var mode atomic.Value // what the server does now
	var fetches atomic.Int32
	red := encodePNG(t, solid(20, 20, color.NRGBA{R: 255, A: 255}))
	photos := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		switch mode.Load().(string) {
		case "image":
			w.Write(red)
		case "garbage":
			w.Write([]byte("not an image"))
		case "slow":
			select {
			case <-r.Context().Done():
			case <-time.After(30 * time.Second):
			}
		default:
			code, _ := strconv.Atoi(mode.Load().(string))
			w.WriteHeader(code)
		}
	}))
	defer photos.Close()
	tests := []struct {
		first     string
		cachedFor time.Duration // how long the first answer is kept; 0: not at all
	}{
		{"500", failTTL},
		{"503", failTTL},
		{"403", failTTL},
		{"garbage", failTTL},
		{"slow", 0},
		{"404", missTTL},
		{"410", missTTL},
	}
	for _, tt := range tests {
		t.Run(tt.first, func(t *testing.T) {
			// The timeout ends the slow answer; it must also leave room
			// for the image fetched after it on a busy machine.
			a, clock := testAvatars(t, AvatarsConfig{URL: photos.URL + "/{alias}", Timeout: 2 * time.Second, CacheEntries: 16})
			mode.Store(tt.first)
			fetches.Store(0)
			if body, _ := a.get(context.Background(), "carol@example.com", 16, 16); body != nil {
				t.Fatal("an image for a failing source")
			}
			mode.Store("image")
			if tt.cachedFor > 0 {
				clock.advance(tt.cachedFor - time.Millisecond)
				if body, _ := a.get(context.Background(), "carol@example.com", 16, 16); body != nil {
					t.Fatalf("asked again after %s, before %s", tt.cachedFor-time.Millisecond, tt.cachedFor)
				}
				if n := fetches.Load(); n != 1 {
					t.Fatalf("%d fetches, want 1", n)
				}
				clock.advance(time.Millisecond)
			}
			body, err := a.get(context.Background(), "carol@example.com", 16, 16)
			if err != nil || body == nil {
				t.Fatalf("no image after %s: %v", tt.cachedFor, err)
			}
			if !isRed(decodeAnswer(t, body, 16, 16).At(8, 8)) {
				t.Error("not the later image")
			}
		})
	}
}

// TestAvatarCancelledNotCached checks that a fetch given up by its only
// caller is not remembered as a failure.
func TestAvatarCancelledNotCached(t *testing.T) {
	var slow atomic.Bool
	slow.Store(true)
	red := encodePNG(t, solid(8, 8, color.NRGBA{R: 255, A: 255}))
	photos := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if slow.Load() {
			<-r.Context().Done()
			return
		}
		w.Write(red)
	}))
	defer photos.Close()
	a, _ := testAvatars(t, AvatarsConfig{URL: photos.URL + "/{alias}", Timeout: 3 * time.Second, CacheEntries: 16})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := a.get(ctx, "dave", 8, 8); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want the request's deadline", err)
	}
	slow.Store(false)
	deadline := time.Now().Add(2 * time.Second)
	for {
		body, err := a.get(context.Background(), "dave", 8, 8)
		if body != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cancelled fetch is still answered: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestAvatarCover checks that a source of another shape is cropped around
// its centre, not stretched: a centred feature keeps its proportions.
func TestAvatarCover(t *testing.T) {
	// A red disc of radius r centred in a blue sw by sh image.
	disc := func(sw, sh, r int) *image.NRGBA {
		img := solid(sw, sh, color.NRGBA{B: 255, A: 255})
		for y := 0; y < sh; y++ {
			for x := 0; x < sw; x++ {
				dx, dy := 2*x+1-sw, 2*y+1-sh
				if dx*dx+dy*dy <= 4*r*r {
					img.Set(x, y, color.NRGBA{R: 255, A: 255})
				}
			}
		}
		return img
	}
	tests := []struct {
		name         string
		sw, sh, r    int
		w, h         int
		wantDiameter int // of the disc in the answer
	}{
		{"wide source, square answer", 300, 100, 40, 50, 50, 40},
		{"tall source, square answer", 100, 300, 40, 50, 50, 40},
		{"square source, wide answer", 100, 100, 20, 200, 100, 80},
		{"square source, tall answer", 100, 100, 20, 60, 120, 48},
		{"same shape", 200, 100, 30, 100, 50, 30},
		{"wide source, wide answer of another ratio", 400, 100, 30, 120, 60, 36},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := cover(disc(tt.sw, tt.sh, tt.r), tt.w, tt.h)
			if b := out.Bounds(); b.Dx() != tt.w || b.Dy() != tt.h {
				t.Fatalf("size %v, want %dx%d", b, tt.w, tt.h)
			}
			// The extent of red across the middle row and column.
			across, down := 0, 0
			for x := 0; x < tt.w; x++ {
				if isRed(out.At(x, tt.h/2)) {
					across++
				}
			}
			for y := 0; y < tt.h; y++ {
				if isRed(out.At(tt.w/2, y)) {
					down++
				}
			}
			if abs(across-tt.wantDiameter) > 3 || abs(down-tt.wantDiameter) > 3 {
				t.Errorf("disc is %d across and %d down, want %d both ways", across, down, tt.wantDiameter)
			}
			if !isRed(out.At(tt.w/2, tt.h/2)) {
				t.Error("centre is not red")
			}
		})
	}
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// TestAvatarCoverAnswer checks a cropped answer end to end, from a file
// through the door: a wide photo asked for square keeps its centre and
// drops its sides.
func TestAvatarCoverAnswer(t *testing.T) {
	dir := t.TempDir()
	img := solid(300, 100, color.NRGBA{B: 255, A: 255})
	draw.Draw(img, image.Rect(100, 0, 200, 100), image.NewUniform(color.NRGBA{R: 255, A: 255}), image.Point{}, draw.Src)
	if err := os.Mkdir(filepath.Join(dir, "faces"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "faces", "erin.png"), encodePNG(t, img), 0o644); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "p.yaml", "- {effect: permit}\n")
	writeFile(t, dir, "verdict.yaml", `
policies: {p: p.yaml}
pexip:
  policy: p
  avatars: {dir: faces}
`)
	d := loadDoor(t, filepath.Join(dir, "verdict.yaml"))
	w := serve(d, http.MethodGet, "/policy/v1/participant/avatar/erin%40example.com?width=64&height=64")
	if w.Code != 200 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	out := decodeAnswer(t, w.Body.Bytes(), 64, 64)
	if _, ok := out.(*image.YCbCr); !ok {
		t.Errorf("JPEG colour model %T, want YCbCr", out)
	}
	for _, p := range []image.Point{{2, 2}, {61, 2}, {32, 32}, {2, 61}, {61, 61}} {
		if !isRed(out.At(p.X, p.Y)) {
			t.Errorf("pixel %v is not red: the sides were not cropped", p)
		}
	}
}

// TestAvatarFetchOnce checks that concurrent requests for one uncached
// alias, at any sizes, fetch and decode it once.
func TestAvatarFetchOnce(t *testing.T) {
	var fetches atomic.Int32
	release := make(chan struct{})
	red := encodePNG(t, solid(64, 48, color.NRGBA{R: 255, A: 255}))
	photos := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		<-release
		w.Write(red)
	}))
	defer photos.Close()
	tests := []struct {
		name    string
		callers int
		sizes   [][2]int
	}{
		{"one size", 10, [][2]int{{40, 40}}},
		{"several sizes", 12, [][2]int{{40, 40}, {96, 96}, {20, 30}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, _ := testAvatars(t, AvatarsConfig{URL: photos.URL + "/{alias}", Timeout: 3 * time.Second, CacheEntries: 16})
			fetches.Store(0)
			release = make(chan struct{})
			var wg sync.WaitGroup
			errs := make(chan error, tt.callers)
			for i := 0; i < tt.callers; i++ {
				size := tt.sizes[i%len(tt.sizes)]
				wg.Go(func() {
					body, err := a.get(context.Background(), "frank@example.com", size[0], size[1])
					if err == nil && body == nil {
						err = errors.New("no image")
					}
					errs <- err
				})
			}
			for fetches.Load() == 0 {
				time.Sleep(time.Millisecond)
			}
			time.Sleep(50 * time.Millisecond) // let the others join
			close(release)
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Error(err)
				}
			}
			if n := fetches.Load(); n != 1 {
				t.Errorf("%d fetches, want 1", n)
			}
		})
	}
}

// TestAvatarDirectoryChange checks that a replaced file is read again: at
// once when its stamp changes, after hitTTL when it does not.
func TestAvatarDirectoryChange(t *testing.T) {
	tests := []struct {
		name       string
		sameStamp  bool
		wait       time.Duration // clock moved before asking again
		wantChange bool
	}{
		{"new size", false, 0, true},
		{"same size and time, before the TTL", true, hitTTL - time.Second, false},
		{"same size and time, after the TTL", true, hitTTL, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			a, clock := testAvatars(t, AvatarsConfig{Dir: dir, Timeout: 3 * time.Second, CacheEntries: 16})
			file := filepath.Join(dir, "gina.png")
			if err := os.WriteFile(file, encodePNG(t, solid(40, 40, color.NRGBA{R: 255, A: 255})), 0o644); err != nil {
				t.Fatal(err)
			}
			colourOf := func() color.Color {
				t.Helper()
				body, err := a.get(context.Background(), "gina@example.com", 10, 10)
				if err != nil || body == nil {
					t.Fatalf("no image: %v", err)
				}
				return decodeAnswer(t, body, 10, 10).At(5, 5)
			}
			if !isRed(colourOf()) {
				t.Fatal("first image is not red")
			}
			info, err := os.Stat(file)
			if err != nil {
				t.Fatal(err)
			}
			blue := solid(40, 40, color.NRGBA{B: 255, A: 255})
			if !tt.sameStamp {
				blue = solid(50, 30, color.NRGBA{B: 255, A: 255})
			}
			if err := os.WriteFile(file, encodePNG(t, blue), 0o644); err != nil {
				t.Fatal(err)
			}
			if tt.sameStamp {
				if err := os.Chtimes(file, info.ModTime(), info.ModTime()); err != nil {
					t.Fatal(err)
				}
				if now, _ := os.Stat(file); now.Size() != info.Size() {
					t.Fatalf("size changed from %d to %d", info.Size(), now.Size())
				}
			}
			clock.advance(tt.wait)
			c := colourOf()
			if tt.wantChange && !isBlue(c) {
				t.Error("the replaced file was not read again")
			}
			if !tt.wantChange && !isRed(c) {
				t.Error("the unchanged stamp was read again before the TTL")
			}
		})
	}
}

// TestAvatarTimeout checks that the whole answer, directory work included,
// ends within the timeout or the request's deadline, whichever is first.
func TestAvatarTimeout(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hank.png"), encodePNG(t, solid(40, 40, color.NRGBA{R: 255, A: 255})), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		timeout time.Duration
		ctx     time.Duration // the request's own deadline; 0: none
		hold    *gate         // held in full, so the work waits
	}{
		{"decode waits past the timeout", 150 * time.Millisecond, 0, avatarWork.decodes},
		{"read waits past the request's deadline", 3 * time.Second, 150 * time.Millisecond, avatarWork.reads},
		{"render waits past the timeout", 150 * time.Millisecond, 0, avatarWork.renders},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, _ := testAvatars(t, AvatarsConfig{Dir: dir, Timeout: tt.timeout, CacheEntries: 16})
			if tt.hold == avatarWork.renders {
				if body, err := a.get(context.Background(), "hank", 8, 8); body == nil {
					t.Fatalf("no image: %v", err)
				}
			}
			ctx := context.Background()
			if tt.ctx > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.ctx)
				defer cancel()
			}
			tt.hold.mu.Lock()
			all := tt.hold.free
			tt.hold.mu.Unlock()
			if err := tt.hold.acquire(context.Background(), all); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			body, err := a.get(ctx, "hank", 20, 20)
			took := time.Since(start)
			tt.hold.release(all)
			if body != nil || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("got %d bytes, %v; want a deadline error", len(body), err)
			}
			if took > 150*time.Millisecond+time.Second {
				t.Errorf("answered after %s", took)
			}
			if body, err := a.get(context.Background(), "hank", 20, 20); body == nil {
				t.Errorf("no image once the work is free: %v", err)
			}
		})
	}
}

// TestAvatarTimeoutAnswer checks the door's answer when the work takes too
// long: 404, as for no image, logged as an error.
func TestAvatarTimeoutAnswer(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "faces"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "faces", "ivan.png"), encodePNG(t, solid(40, 40, color.NRGBA{R: 255, A: 255})), 0o644); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "p.yaml", "- {effect: permit}\n")
	writeFile(t, dir, "verdict.yaml", `
policies: {p: p.yaml}
pexip:
  policy: p
  avatars: {dir: faces, timeout: 100ms}
`)
	cfg, err := config.Load(filepath.Join(dir, "verdict.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	docs, err := cfg.Compile()
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	d := New(slog.New(slog.NewJSONHandler(&logs, nil)), prometheus.NewRegistry())
	install, err := d.Prepare(cfg, docs)
	if err != nil {
		t.Fatal(err)
	}
	install()
	if err := avatarWork.decodes.acquire(context.Background(), decodeBudget); err != nil {
		t.Fatal(err)
	}
	w := serve(d, http.MethodGet, "/policy/v1/participant/avatar/ivan?width=10&height=10")
	avatarWork.decodes.release(decodeBudget)
	if w.Code != 404 {
		t.Fatalf("status %d, want 404", w.Code)
	}
	line := logs.String()
	if !strings.Contains(line, `"level":"ERROR"`) || !strings.Contains(line, "no answer within 100ms") {
		t.Errorf("log %s, want an error naming the timeout", line)
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestGate checks the weighted semaphore: waiters in order, a cancelled
// waiter takes nothing and lets a smaller one behind it through.
func TestGate(t *testing.T) {
	g := newGate(10)
	if err := g.acquire(context.Background(), 8); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	big := make(chan error, 1)
	go func() { big <- g.acquire(ctx, 5) }()
	for {
		g.mu.Lock()
		n := g.waiters.Len()
		g.mu.Unlock()
		if n == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	small := make(chan error, 1)
	go func() { small <- g.acquire(context.Background(), 2) }()
	select {
	case <-small:
		t.Fatal("a later waiter went before an earlier one")
	case <-time.After(20 * time.Millisecond):
	}
	cancel()
	if err := <-big; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: %v", err)
	}
	if err := <-small; err != nil {
		t.Fatal(err)
	}
	g.release(2)
	g.release(8)
	if g.free != 10 {
		t.Errorf("%d free after all released, want 10", g.free)
	}
}

func BenchmarkAvatarReduce(b *testing.B) {
	src := image.NewYCbCr(image.Rect(0, 0, 4000, 3000), image.YCbCrSubsampleRatio420)
	b.ReportAllocs()
	for b.Loop() {
		reduce(src)
	}
}

func BenchmarkAvatarRender(b *testing.B) {
	src := reduce(solid(1024, 768, color.NRGBA{R: 200, G: 100, B: 50, A: 255}))
	b.ReportAllocs()
	for b.Loop() {
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, cover(src, 100, 100), &jpeg.Options{Quality: 85}); err != nil {
			b.Fatal(err)
		}
	}
}
