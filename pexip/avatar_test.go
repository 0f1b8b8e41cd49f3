package pexip

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
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
	out := resize(src, 3, 5)
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
