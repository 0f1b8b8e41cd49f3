package pexip

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/gif" // decoders for image.Decode
	"image/jpeg"
	_ "image/png"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/verdict-policy/verdict/config"
)

// Avatar limits: the largest side answered and the largest source image
// read, in bytes and in pixels.
const (
	maxAvatarSide   = 1024
	maxSourceBytes  = 8 << 20
	maxSourcePixels = 40 << 20
	missTTL         = time.Minute
	hitTTL          = 10 * time.Minute
)

// imageExts are tried in order after each alias form in the directory.
var imageExts = []string{".jpg", ".jpeg", ".png"}

// avatars finds, resizes and caches participant avatars.
type avatars struct {
	dir     fs.FS // nil without a directory
	url     string
	client  *http.Client
	timeout time.Duration

	mu      sync.Mutex
	sources map[string]sourceEntry // alias key -> fetched source (URL only)
	resized map[string][]byte      // source id + size -> JPEG
	max     int
}

type sourceEntry struct {
	img     image.Image // nil: none found
	id      string
	expires time.Time
}

func newAvatars(cfg *config.Config, c config.PexipAvatars) (*avatars, error) {
	a := &avatars{url: c.URL, timeout: c.Timeout, max: c.CacheEntries,
		sources: map[string]sourceEntry{}, resized: map[string][]byte{},
		client: &http.Client{
			Timeout: c.Timeout,
			CheckRedirect: func(req *http.Request, via []*http.Request) error {
				if len(via) >= 3 {
					return errors.New("too many redirects")
				}
				return nil
			},
		}}
	if c.Dir != "" {
		dir, err := cfg.DataFS(c.Dir)
		if err != nil {
			return nil, fmt.Errorf("dir: %w", err)
		}
		if _, err := fs.Stat(dir, "."); err != nil {
			return nil, fmt.Errorf("dir: %w", err)
		}
		a.dir = dir
	}
	return a, nil
}

// serveAvatar answers an avatar request: the image for the alias, as a
// JPEG of exactly width by height, or 404 when there is none.
func (d *Door) serveAvatar(w http.ResponseWriter, r *http.Request, st *state, query params, alias string, lg *logLine) {
	width, err := sideParam(query, "width")
	if err != nil {
		d.badRequest(w, lg, http.StatusBadRequest, "invalid_parameter", err.Error())
		return
	}
	height, err := sideParam(query, "height")
	if err != nil {
		d.badRequest(w, lg, http.StatusBadRequest, "invalid_parameter", err.Error())
		return
	}
	if st.avatars == nil {
		d.writeFallback(w, st, participantAvatar, lg)
		return
	}
	body, err := st.avatars.get(r.Context(), alias, width, height)
	if err != nil {
		lg.err = err.Error()
	}
	if body == nil {
		if err != nil {
			lg.outcome = outError
		}
		d.writeFallback(w, st, participantAvatar, lg)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "image/jpeg")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
	lg.outcome, lg.status = outAnswer, http.StatusOK
}

func sideParam(query params, name string) (int, error) {
	s := query.value(name)
	if s == "" {
		return 0, fmt.Errorf("%s is required", name)
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxAvatarSide {
		return 0, fmt.Errorf("%s must be a whole number from 1 to %d, not %q", name, maxAvatarSide, s)
	}
	return n, nil
}

// aliasKeys lists the names an avatar may be stored under, most specific
// first: user@domain, the user part, and the alias as sent.
func aliasKeys(alias string) []string {
	a := NormalizeAlias(alias)
	keys := make([]string, 0, 3)
	for _, k := range []string{strings.ToLower(a.String()), strings.ToLower(a.User), strings.TrimSpace(alias)} {
		if k != "" && !strings.ContainsAny(k, `/\`) && k != "." && k != ".." && !contains(keys, k) {
			keys = append(keys, k)
		}
	}
	return keys
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// get returns the JPEG for alias at width by height, or nil when there is
// no image. An error says why a configured source failed.
func (a *avatars) get(ctx context.Context, alias string, width, height int) ([]byte, error) {
	img, id, err := a.source(ctx, alias)
	if img == nil {
		return nil, err
	}
	key := id + "\x00" + strconv.Itoa(width) + "x" + strconv.Itoa(height)
	a.mu.Lock()
	body, ok := a.resized[key]
	a.mu.Unlock()
	if ok {
		return body, nil
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, resize(img, width, height), &jpeg.Options{Quality: 85}); err != nil {
		return nil, fmt.Errorf("encode avatar: %w", err)
	}
	body = buf.Bytes()
	a.mu.Lock()
	if len(a.resized) >= a.max {
		clear(a.resized) // simple and bounded; avatars are cheap to redo
	}
	if a.max > 0 {
		a.resized[key] = body
	}
	a.mu.Unlock()
	return body, nil
}

// source finds the image for alias: in the directory first, then at the
// URL. It returns the decoded image and an id that changes when the image
// does.
func (a *avatars) source(ctx context.Context, alias string) (image.Image, string, error) {
	keys := aliasKeys(alias)
	if a.dir != nil {
		for _, k := range keys {
			for _, ext := range imageExts {
				name := k + ext
				info, err := fs.Stat(a.dir, name)
				if err != nil || info.IsDir() {
					continue
				}
				id := "file:" + name + ":" + strconv.FormatInt(info.ModTime().UnixNano(), 10) + ":" + strconv.FormatInt(info.Size(), 10)
				a.mu.Lock()
				e, ok := a.sources[id]
				a.mu.Unlock()
				if ok {
					return e.img, id, nil
				}
				f, err := a.dir.Open(name)
				if err != nil {
					return nil, "", fmt.Errorf("avatar %s: %w", name, err)
				}
				img, err := decodeImage(f)
				f.Close()
				if err != nil {
					return nil, "", fmt.Errorf("avatar %s: %w", name, err)
				}
				a.remember(id, sourceEntry{img: img, id: id, expires: time.Now().Add(hitTTL)})
				return img, id, nil
			}
		}
	}
	if a.url == "" || len(keys) == 0 {
		return nil, "", nil
	}
	u := a.expand(alias)
	id := "url:" + u
	a.mu.Lock()
	e, ok := a.sources[id]
	a.mu.Unlock()
	if ok && time.Now().Before(e.expires) {
		return e.img, id, nil
	}
	img, err := a.fetch(ctx, u)
	ttl := hitTTL
	if img == nil {
		ttl = missTTL
	}
	a.remember(id, sourceEntry{img: img, id: id, expires: time.Now().Add(ttl)})
	return img, id, err
}

func (a *avatars) remember(id string, e sourceEntry) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.sources) >= max(a.max, 16) {
		clear(a.sources)
	}
	a.sources[id] = e
}

// expand fills the URL template with the alias, each part escaped.
func (a *avatars) expand(alias string) string {
	n := NormalizeAlias(alias)
	return strings.NewReplacer(
		"{alias}", url.PathEscape(n.String()),
		"{alias_user}", url.PathEscape(n.User),
		"{alias_domain}", url.PathEscape(n.Domain),
	).Replace(a.url)
}

// fetch gets an image from u within the timeout. A 404 is "no image",
// not an error.
func (a *avatars) fetch(ctx context.Context, u string) (image.Image, error) {
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("avatar URL: %w", err)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch avatar: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone {
		return nil, nil
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch avatar %s: status %d", u, resp.StatusCode)
	}
	img, err := decodeImage(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("avatar from %s: %w", u, err)
	}
	return img, nil
}

// decodeImage decodes a JPEG, PNG or GIF, refusing huge ones before
// allocating their pixels.
func decodeImage(r io.Reader) (image.Image, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxSourceBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read image: %w", err)
	}
	if len(data) > maxSourceBytes {
		return nil, fmt.Errorf("image larger than %d bytes", maxSourceBytes)
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("decode image: %w", err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width*cfg.Height > maxSourcePixels {
		return nil, fmt.Errorf("image of %dx%d pixels is out of bounds", cfg.Width, cfg.Height)
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("decode image: %w", err)
	}
	return img, nil
}

// resize scales src to exactly w by h with bilinear interpolation into an
// RGBA image (JPEG encodes it as YCbCr, never CMYK). Transparent pixels are
// laid over white.
func resize(src image.Image, w, h int) *image.RGBA {
	b := src.Bounds()
	sw, sh := b.Dx(), b.Dy()
	// Read the source once into flat RGB, composited over white.
	px := make([]float32, sw*sh*3)
	for y := 0; y < sh; y++ {
		for x := 0; x < sw; x++ {
			c := color.NRGBAModel.Convert(src.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
			al := float32(c.A) / 255
			i := (y*sw + x) * 3
			px[i] = float32(c.R)*al + 255*(1-al)
			px[i+1] = float32(c.G)*al + 255*(1-al)
			px[i+2] = float32(c.B)*al + 255*(1-al)
		}
	}
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	sx := float32(sw) / float32(w)
	sy := float32(sh) / float32(h)
	for y := 0; y < h; y++ {
		fy := (float32(y)+0.5)*sy - 0.5
		y0, wy := splitCoord(fy, sh)
		y1 := min(y0+1, sh-1)
		for x := 0; x < w; x++ {
			fx := (float32(x)+0.5)*sx - 0.5
			x0, wx := splitCoord(fx, sw)
			x1 := min(x0+1, sw-1)
			o := dst.PixOffset(x, y)
			for c := 0; c < 3; c++ {
				p00 := px[(y0*sw+x0)*3+c]
				p01 := px[(y0*sw+x1)*3+c]
				p10 := px[(y1*sw+x0)*3+c]
				p11 := px[(y1*sw+x1)*3+c]
				top := p00 + (p01-p00)*wx
				bot := p10 + (p11-p10)*wx
				v := top + (bot-top)*wy
				dst.Pix[o+c] = uint8(min(max(v+0.5, 0), 255))
			}
			dst.Pix[o+3] = 255
		}
	}
	return dst
}

// splitCoord clamps a source coordinate and splits it into a whole pixel
// and the weight of the next one.
func splitCoord(f float32, n int) (int, float32) {
	if f <= 0 {
		return 0, 0
	}
	i := int(f)
	if i >= n-1 {
		return n - 1, 0
	}
	return i, f - float32(i)
}
