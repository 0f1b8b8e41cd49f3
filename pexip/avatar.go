package pexip

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
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

// Avatar limits. Sources are read, decoded and reduced to at most
// maxAvatarSide a side once, then cached small; every answer is cut from
// the reduced image.
const (
	maxAvatarSide   = 1024    // largest width or height answered
	maxSourceBytes  = 8 << 20 // largest image file read
	maxSourcePixels = 40 << 20
	maxSourceSide   = 1 << 15

	// decodeBudget bounds the memory of the decodes running at once; each
	// takes at least a quarter of it, so at most four run together.
	decodeBudget  = 192 << 20
	minDecodeCost = decodeBudget / 4
	// maxSourceReads bounds the sources being read or fetched at once,
	// each holding up to maxSourceBytes.
	maxSourceReads = 8
	// maxRenders bounds the crops, scales and encodes running at once.
	maxRenders = 4

	sourceCacheBytes  = 64 << 20 // reduced sources kept
	resizedCacheBytes = 32 << 20 // JPEG answers kept

	hitTTL  = 10 * time.Minute // a source found, fetched or read, is read again after
	missTTL = time.Minute      // a 404 or 410 from the URL is asked again after
	failTTL = 2 * time.Second  // any other failure is tried again after

	defaultAvatarTimeout = time.Second
)

// avatarWork bounds avatar work across the process, whatever the number of
// configurations loaded.
var avatarWork = struct {
	reads, decodes, renders *gate
}{newGate(maxSourceReads), newGate(decodeBudget), newGate(maxRenders)}

// imageExts are tried in order after each alias form in the directory.
var imageExts = []string{".jpg", ".jpeg", ".png"}

// avatars finds, resizes and caches participant avatars.
type avatars struct {
	dir         fs.FS // nil without a directory
	urlPath     string
	urlQuery    string // the template after its "?"
	urlHasQuery bool
	client      *http.Client
	timeout     time.Duration    // bounds a whole answer
	now         func() time.Time // the clock for expiry
	flights     flightGroup
	mu          sync.Mutex
	gen         uint64                     // numbers each decoded source
	sources     *lru[srcKey, *sourceEntry] // found, missing or failing sources
	resized     *lru[sizeKey, []byte]      // JPEG answers
}

// srcKey names a source: a file in the directory or a URL.
type srcKey struct {
	file bool
	name string
}

// sizeKey names an answer: a decoded source at a size.
type sizeKey struct {
	gen           uint64
	width, height int32
}

// fileStamp tells whether a directory file changed since it was read.
type fileStamp struct {
	mod, size int64
}

// sourceEntry is what is known of a source. It is not changed once made.
type sourceEntry struct {
	img     *image.RGBA // reduced and opaque; nil: no image
	err     error       // why the source failed; nil for an image or a definite miss
	gen     uint64
	stamp   fileStamp
	expires time.Time
}

func newAvatars(cfg *config.Config, c AvatarsConfig) (*avatars, error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = defaultAvatarTimeout
	}
	a := &avatars{timeout: timeout, now: time.Now,
		sources: newLRU[srcKey, *sourceEntry](max(c.CacheEntries, 16), sourceCacheBytes),
		resized: newLRU[sizeKey, []byte](c.CacheEntries, resizedCacheBytes),
		client: &http.Client{
			Timeout: timeout,
			CheckRedirect: func(req *http.Request, via []*http.Request) error {
				if len(via) >= 3 {
					return errors.New("too many redirects")
				}
				return nil
			},
		}}
	a.urlPath, a.urlQuery, a.urlHasQuery = strings.Cut(c.URL, "?")
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
// no image. An error says why a configured source failed or why no answer
// came within the timeout; either way the caller answers as for no image.
func (a *avatars) get(ctx context.Context, alias string, width, height int) ([]byte, error) {
	key, stamp, ok := a.locate(alias)
	if !ok {
		return nil, nil
	}
	e := a.cachedSource(key, stamp)
	if e != nil {
		if e.img == nil {
			return nil, e.err
		}
		if body, ok := a.cachedAnswer(e.gen, width, height); ok {
			return body, nil
		}
	}
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	if e == nil {
		var err error
		e, err = a.flights.do(ctx, key, a.timeout, func(ctx context.Context) *sourceEntry {
			return a.load(ctx, key, stamp)
		})
		if err != nil {
			return nil, a.late(ctx, alias, err)
		}
		if e.img == nil {
			if e.err != nil && ended(ctx) {
				return nil, a.late(ctx, alias, e.err)
			}
			return nil, e.err
		}
	}
	body, err := a.render(ctx, e, width, height)
	if err == nil && ended(ctx) { // made, and cached, but too late to answer
		err = context.DeadlineExceeded
	}
	if err != nil {
		return nil, a.late(ctx, alias, err)
	}
	return body, nil
}

// late explains an avatar given up on: the request's deadline passed or
// the request ended while err was the state of the work.
func (a *avatars) late(ctx context.Context, alias string, err error) error {
	if !ended(ctx) {
		return fmt.Errorf("avatar for %q: %w", alias, err)
	}
	cause := ctx.Err()
	if cause == nil {
		cause = context.DeadlineExceeded
	}
	what := "no answer within " + a.timeout.String() + " or the request's deadline"
	if cause == context.Canceled {
		what = "request ended"
	}
	if errors.Is(err, cause) {
		return fmt.Errorf("avatar for %q: %s: %w", alias, what, err)
	}
	return fmt.Errorf("avatar for %q: %s: %w: %w", alias, what, cause, err)
}

// ended reports whether ctx ended or its deadline passed, even if its timer
// has not fired yet.
func ended(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	dl, ok := ctx.Deadline()
	return ok && !time.Now().Before(dl)
}

// locate finds where the image for alias would be: the first file in the
// directory named after one of its forms, with its stamp, or else the URL.
// It reports false when neither can have one.
func (a *avatars) locate(alias string) (srcKey, fileStamp, bool) {
	keys := aliasKeys(alias)
	if len(keys) == 0 {
		return srcKey{}, fileStamp{}, false
	}
	if a.dir != nil {
		for _, k := range keys {
			for _, ext := range imageExts {
				name := k + ext
				info, err := fs.Stat(a.dir, name)
				if err != nil || info.IsDir() {
					continue
				}
				return srcKey{file: true, name: name}, fileStamp{mod: info.ModTime().UnixNano(), size: info.Size()}, true
			}
		}
	}
	if a.urlPath == "" {
		return srcKey{}, fileStamp{}, false
	}
	return srcKey{name: a.expand(alias)}, fileStamp{}, true
}

// cachedSource returns what is known of a source, unless it expired or,
// for a file, the file changed since.
func (a *avatars) cachedSource(key srcKey, stamp fileStamp) *sourceEntry {
	a.mu.Lock()
	defer a.mu.Unlock()
	e, ok := a.sources.get(key)
	if !ok || e.stamp != stamp || !a.now().Before(e.expires) {
		return nil
	}
	return e
}

func (a *avatars) cachedAnswer(gen uint64, width, height int) ([]byte, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.resized.get(sizeKey{gen: gen, width: int32(width), height: int32(height)})
}

// load reads or fetches a source, decodes and reduces it, and caches the
// outcome: an image, a definite miss (404 or 410 from the URL), or, for a
// short while, a failure such as a 5xx or a broken image. A load cut short
// by its timeout, or given up by every caller, is not cached.
func (a *avatars) load(ctx context.Context, key srcKey, stamp fileStamp) *sourceEntry {
	img, err := a.read(ctx, key)
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	e := &sourceEntry{img: img, err: err, stamp: stamp}
	var cost int64 = 256 + int64(len(key.name))
	switch {
	case img != nil:
		a.gen++
		e.gen, e.expires = a.gen, now.Add(hitTTL)
		cost += int64(len(img.Pix))
	case err == nil:
		e.expires = now.Add(missTTL)
	case ctx.Err() != nil:
		return e
	default:
		e.expires = now.Add(failTTL)
	}
	a.sources.add(key, e, cost)
	return e
}

// read gets the source's bytes and decodes them into a reduced image. It
// returns nil and no error when the URL has no image.
func (a *avatars) read(ctx context.Context, key srcKey) (*image.RGBA, error) {
	if err := avatarWork.reads.acquire(ctx, 1); err != nil {
		return nil, fmt.Errorf("avatar %s: %w", key.name, err)
	}
	defer avatarWork.reads.release(1)
	var data []byte
	var err error
	if key.file {
		data, err = a.readFile(key.name)
	} else {
		data, err = a.fetch(ctx, key.name)
	}
	if data == nil || err != nil {
		return nil, err
	}
	need, err := imageCost(data)
	if err != nil {
		return nil, fmt.Errorf("avatar %s: %w", key.name, err)
	}
	need = max(need, minDecodeCost)
	if err := avatarWork.decodes.acquire(ctx, need); err != nil {
		return nil, fmt.Errorf("avatar %s: %w", key.name, err)
	}
	defer avatarWork.decodes.release(need)
	src, err := decodeImage(data)
	if err != nil {
		return nil, fmt.Errorf("avatar %s: %w", key.name, err)
	}
	return reduce(src), nil
}

// readFile reads a file of the directory, refusing one that is too big.
func (a *avatars) readFile(name string) ([]byte, error) {
	f, err := a.dir.Open(name)
	if err != nil {
		return nil, fmt.Errorf("avatar %s: %w", name, err)
	}
	defer f.Close()
	return readLimited(f, name)
}

func readLimited(r io.Reader, name string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxSourceBytes+1))
	if err != nil {
		return nil, fmt.Errorf("avatar %s: read: %w", name, err)
	}
	if len(data) > maxSourceBytes {
		return nil, fmt.Errorf("avatar %s: larger than %d bytes", name, maxSourceBytes)
	}
	return data, nil
}

// render crops and scales a reduced source to width by height, encodes it
// as JPEG and caches it.
func (a *avatars) render(ctx context.Context, e *sourceEntry, width, height int) ([]byte, error) {
	if err := avatarWork.renders.acquire(ctx, 1); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	err := jpeg.Encode(&buf, cover(e.img, width, height), &jpeg.Options{Quality: 85})
	avatarWork.renders.release(1)
	if err != nil {
		return nil, fmt.Errorf("encode avatar: %w", err)
	}
	body := bytes.Clone(buf.Bytes())
	a.mu.Lock()
	a.resized.add(sizeKey{gen: e.gen, width: int32(width), height: int32(height)}, body, int64(len(body)))
	a.mu.Unlock()
	return body, nil
}

// expand fills the URL template with the alias. A placeholder before the
// template's "?" is escaped as a path segment, one after it as a query
// value, so that "+" and "&" survive in either place.
func (a *avatars) expand(alias string) string {
	n := NormalizeAlias(alias)
	var b strings.Builder
	b.Grow(len(a.urlPath) + len(a.urlQuery) + 2*len(alias))
	fillTemplate(&b, a.urlPath, n, url.PathEscape)
	if a.urlHasQuery {
		b.WriteByte('?')
		fillTemplate(&b, a.urlQuery, n, url.QueryEscape)
	}
	return b.String()
}

// fillTemplate writes tmpl to b with {alias}, {alias_user} and
// {alias_domain} replaced by the escaped parts of n.
func fillTemplate(b *strings.Builder, tmpl string, n Alias, escape func(string) string) {
	for {
		i := strings.IndexByte(tmpl, '{')
		if i < 0 {
			b.WriteString(tmpl)
			return
		}
		b.WriteString(tmpl[:i])
		tmpl = tmpl[i:]
		switch {
		case strings.HasPrefix(tmpl, "{alias}"):
			b.WriteString(escape(n.String()))
			tmpl = tmpl[len("{alias}"):]
		case strings.HasPrefix(tmpl, "{alias_user}"):
			b.WriteString(escape(n.User))
			tmpl = tmpl[len("{alias_user}"):]
		case strings.HasPrefix(tmpl, "{alias_domain}"):
			b.WriteString(escape(n.Domain))
			tmpl = tmpl[len("{alias_domain}"):]
		default:
			b.WriteByte('{')
			tmpl = tmpl[1:]
		}
	}
}

// fetch gets the image bytes at u. A 404 or 410 means no image: nil and
// no error. Any other answer but 200 is an error.
func (a *avatars) fetch(ctx context.Context, u string) ([]byte, error) {
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
	return readLimited(resp.Body, u)
}
