package gateway

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/textproto"
	"strconv"
	"strings"
)

// The gateway's HTTP/1.1 framing for plain-http upstreams: the request
// head written straight into the connection's buffer, and the response
// head parsed from it into a header map the caller lends (the request
// context's pooled one), with every value sliced from one string. It does
// what http.Request.Write and http.ReadResponse do for a proxy, without
// their per-request allocations, and refuses what a proxy must not pass
// on: header names that are not tokens, values with line breaks, obsolete
// line folding, conflicting lengths, and transfer codings other than
// chunked.

// Bounds of a response head.
const (
	maxHeaderLines = 256
	maxHeaderBytes = 64 << 10
)

var (
	errHeaderTooLarge = errors.New("upstream response header too large")
	errMalformed      = errors.New("malformed upstream response")
)

// writeRequestHead writes req's request line and header fields to bw,
// with the framing of a body of length n (-1: unknown, sent chunked).
func writeRequestHead(bw *bufio.Writer, req *http.Request, n int64) error {
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	if !validHostHeader(host) {
		return fmt.Errorf("invalid Host %q for the upstream request", host)
	}
	bw.WriteString(req.Method)
	bw.WriteByte(' ')
	writeRequestURI(bw, req)
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(host)
	bw.WriteString("\r\n")
	for k, vs := range req.Header {
		switch k {
		case "Host", "Content-Length", "Transfer-Encoding", "Trailer":
			continue // framing is the gateway's own
		}
		if !validFieldName(k) {
			return fmt.Errorf("invalid header field name %q in the upstream request", k)
		}
		for _, v := range vs {
			bw.WriteString(k)
			bw.WriteString(": ")
			writeFieldValue(bw, v)
			bw.WriteString("\r\n")
		}
	}
	switch {
	case n > 0:
		bw.WriteString("Content-Length: ")
		var num [20]byte
		bw.Write(strconv.AppendInt(num[:0], n, 10))
		bw.WriteString("\r\n")
	case n < 0:
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	case req.Method == http.MethodPost || req.Method == http.MethodPut || req.Method == http.MethodPatch:
		bw.WriteString("Content-Length: 0\r\n")
	}
	_, err := bw.WriteString("\r\n")
	return err
}

// writeRequestURI writes what url.URL.RequestURI returns, without
// building it.
func writeRequestURI(bw *bufio.Writer, req *http.Request) {
	u := req.URL
	switch {
	case u.Opaque != "":
		if strings.HasPrefix(u.Opaque, "//") {
			bw.WriteString(u.Scheme)
			bw.WriteByte(':')
		}
		bw.WriteString(u.Opaque)
	default:
		p := u.EscapedPath()
		if p == "" {
			p = "/"
		}
		bw.WriteString(p)
	}
	if u.ForceQuery || u.RawQuery != "" {
		bw.WriteByte('?')
		bw.WriteString(u.RawQuery)
	}
}

// writeFieldValue writes v with surrounding blanks trimmed and any line
// break turned into a space, as net/http does: a value must never end
// the header field early.
func writeFieldValue(bw *bufio.Writer, v string) {
	v = strings.Trim(v, " \t")
	if strings.ContainsAny(v, "\r\n") {
		v = strings.Map(func(r rune) rune {
			if r == '\r' || r == '\n' {
				return ' '
			}
			return r
		}, v)
	}
	bw.WriteString(v)
}

// outBody is a request body on its way to the upstream: its first bytes,
// read before the request took a connection, and the client's reader
// for the rest. It belongs to the connection and is reused.
type outBody struct {
	r     io.Reader // the client's body; nil when there is none
	n     int64     // its length; -1 when unknown, sent chunked
	first []byte    // read from r already
	eof   bool      // r has nothing more: first is the whole body

	client clientBody
	rest   io.LimitedReader
	flush  flushWriter
}

// flushWriter writes to w, then flushes bw: the body's bytes go on to
// the upstream as they come from the client instead of waiting in bw
// until it fills.
type flushWriter struct {
	w  io.Writer
	bw *bufio.Writer
}

func (f *flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err != nil {
		return n, err
	}
	return n, f.bw.Flush()
}

// buffer returns memory for copying the rest of the body: that of the
// first bytes, which are written already.
func (b *outBody) buffer() []byte {
	if buf := b.first[:cap(b.first)]; len(buf) > 0 {
		return buf
	}
	return nil
}

// bodyError is an error reading the client's request body: the client's
// fault, not the upstream's.
type bodyError struct{ err error }

func (e *bodyError) Error() string { return "request body: " + e.err.Error() }
func (e *bodyError) Unwrap() error { return e.err }

func errShortBody(got, want int64) error {
	return fmt.Errorf("%d of %d bytes: %w", got, want, io.ErrUnexpectedEOF)
}

// clientBody reads a client's request body and marks its errors as the
// client's.
type clientBody struct{ r io.Reader }

func (b *clientBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		err = &bodyError{err}
	}
	return n, err
}

// Close closes the client's body.
func (b *clientBody) Close() error {
	if c, ok := b.r.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// writeRequest writes req to bw and flushes: the head, then the body
// with Content-Length when its length is known and chunked otherwise.
// An error reading the client's body is a *bodyError.
func writeRequest(bw *bufio.Writer, req *http.Request, body *outBody) error {
	n := body.n
	if body.r == nil {
		n = 0
	}
	if err := writeRequestHead(bw, req, n); err != nil {
		return err
	}
	switch {
	case n > 0:
		if _, err := bw.Write(body.first); err != nil {
			return fmt.Errorf("request body: %w", err)
		}
		if left := n - int64(len(body.first)); left > 0 && !body.eof {
			// The rest comes as the client sends it: what is here goes
			// now, and each read after it as it is read.
			if err := bw.Flush(); err != nil {
				return fmt.Errorf("request body: %w", err)
			}
			body.client.r = body.r
			body.rest = io.LimitedReader{R: &body.client, N: left}
			body.flush = flushWriter{w: bw, bw: bw}
			if _, err := io.CopyBuffer(&body.flush, &body.rest, body.buffer()); err != nil {
				return fmt.Errorf("request body: %d of %d bytes: %w", n-body.rest.N, n, err)
			}
			if body.rest.N > 0 {
				return &bodyError{errShortBody(n-body.rest.N, n)}
			}
		}
	case n < 0:
		cw := httputil.NewChunkedWriter(bw)
		if _, err := cw.Write(body.first); err != nil {
			return fmt.Errorf("request body: %w", err)
		}
		if !body.eof {
			if err := bw.Flush(); err != nil {
				return fmt.Errorf("request body: %w", err)
			}
			body.client.r = body.r
			// The first bytes' buffer is free again: the rest goes
			// through it, a chunk per read, each sent on as it is read.
			body.flush = flushWriter{w: cw, bw: bw}
			if _, err := io.CopyBuffer(&body.flush, &body.client, body.buffer()); err != nil {
				return fmt.Errorf("request body: %w", err)
			}
		}
		if err := cw.Close(); err != nil {
			return err
		}
		if _, err := bw.WriteString("\r\n"); err != nil { // no trailers
			return err
		}
	}
	return bw.Flush()
}

// headScratch is the reusable memory of a connection's response parser.
type headScratch struct {
	vals   []byte  // every header value, back to back
	fields []field // one per header line
}

type field struct {
	key        string // canonical
	start, end int    // the value in vals
}

// readResponseHead reads a status line and header fields from br into
// hdr (cleared first) and frames the body: it returns the response with
// Body reading from br, or nil Body when there is none.
func readResponseHead(br *bufio.Reader, req *http.Request, hdr http.Header, sc *headScratch, body *framedBody) (*http.Response, error) {
	line, err := readLine(br)
	if err != nil {
		return nil, err
	}
	resp := &http.Response{Request: req, Header: hdr}
	if err := parseStatusLine(line, resp); err != nil {
		return nil, err
	}
	clear(hdr)
	sc.vals, sc.fields = sc.vals[:0], sc.fields[:0]
	total := 0
	for {
		line, err := readLine(br)
		if err != nil {
			return nil, err
		}
		if len(line) == 0 {
			break
		}
		if total += len(line); total > maxHeaderBytes || len(sc.fields) >= maxHeaderLines {
			return nil, errHeaderTooLarge
		}
		if line[0] == ' ' || line[0] == '\t' {
			return nil, fmt.Errorf("%w: folded header line", errMalformed)
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !validFieldName(line[:colon]) {
			return nil, fmt.Errorf("%w: header line %q", errMalformed, truncate(line))
		}
		v := bytes.Trim(line[colon+1:], " \t")
		if !validFieldValue(v) {
			return nil, fmt.Errorf("%w: control byte in the value of %q", errMalformed, truncate(line[:colon]))
		}
		start := len(sc.vals)
		sc.vals = append(sc.vals, v...)
		sc.fields = append(sc.fields, field{key: canonicalKey(line[:colon]), start: start, end: len(sc.vals)})
	}
	if len(sc.fields) > 0 {
		all := string(sc.vals)
		vals := make([]string, len(sc.fields))
		for i, f := range sc.fields {
			vals[i] = all[f.start:f.end]
			if prev, ok := hdr[f.key]; ok {
				hdr[f.key] = append(prev, vals[i])
			} else {
				hdr[f.key] = vals[i : i+1 : i+1]
			}
		}
	}
	return resp, frame(resp, req, br, body)
}

// frame sets the response's length, body and keep-alive by RFC 9112
// section 6.3.
func frame(resp *http.Response, req *http.Request, br *bufio.Reader, body *framedBody) error {
	hdr := resp.Header
	resp.Close = closes(resp)
	code := resp.StatusCode
	noBody := req.Method == http.MethodHead || (code >= 100 && code < 200) || code == http.StatusNoContent || code == http.StatusNotModified
	if te, ok := hdr["Transfer-Encoding"]; ok {
		if len(te) != 1 || !strings.EqualFold(te[0], "chunked") {
			return fmt.Errorf("%w: unsupported Transfer-Encoding %q", errMalformed, strings.Join(te, ", "))
		}
		delete(hdr, "Transfer-Encoding")
		delete(hdr, "Content-Length") // chunked wins (RFC 9112 6.3)
		resp.ContentLength = -1
		if noBody {
			return nil
		}
		resp.TransferEncoding = chunkedOnly
		body.resetChunked(br)
		resp.Body = body
		return nil
	}
	n := int64(-1)
	if cl, ok := hdr["Content-Length"]; ok {
		for i, v := range cl {
			m, ok := parseLength(v)
			if !ok || (i > 0 && m != n) {
				return fmt.Errorf("%w: Content-Length %q", errMalformed, strings.Join(cl, ", "))
			}
			n = m
		}
		if len(cl) > 1 {
			hdr["Content-Length"] = cl[:1]
		}
	}
	if noBody {
		resp.ContentLength = 0
		if req.Method == http.MethodHead {
			resp.ContentLength = n
		}
		return nil
	}
	resp.ContentLength = n
	if n < 0 {
		resp.Close = true // the body ends when the connection does
	}
	body.reset(br, n)
	resp.Body = body
	return nil
}

var chunkedOnly = []string{"chunked"}

// closes reports whether the upstream ends the connection after this
// response.
func closes(resp *http.Response) bool {
	conn := resp.Header["Connection"]
	if resp.ProtoMajor == 1 && resp.ProtoMinor == 0 {
		return !hasToken(conn, "keep-alive")
	}
	return hasToken(conn, "close")
}

func hasToken(vs []string, token string) bool {
	for _, v := range vs {
		for part := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(part), token) {
				return true
			}
		}
	}
	return false
}

func parseStatusLine(line []byte, resp *http.Response) error {
	// HTTP/1.x SP 3DIGIT [SP reason]
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' ||
		(line[7] != '0' && line[7] != '1') || (len(line) > 12 && line[12] != ' ') {
		return fmt.Errorf("%w: status line %q", errMalformed, truncate(line))
	}
	code := 0
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return fmt.Errorf("%w: status line %q", errMalformed, truncate(line))
		}
		code = code*10 + int(c-'0')
	}
	if code < 100 {
		return fmt.Errorf("%w: status %d", errMalformed, code)
	}
	resp.StatusCode = code
	resp.ProtoMajor, resp.ProtoMinor = 1, int(line[7]-'0')
	if resp.ProtoMinor == 0 {
		resp.Proto = "HTTP/1.0"
	} else {
		resp.Proto = "HTTP/1.1"
	}
	if code < len(statusLines) {
		resp.Status = statusLines[code]
	} else {
		resp.Status = strconv.Itoa(code)
	}
	return nil
}

// statusLines holds Response.Status for the codes 100 to 599, so that
// setting it allocates nothing.
var statusLines = func() []string {
	out := make([]string, 600)
	for code := 100; code < len(out); code++ {
		out[code] = strconv.Itoa(code)
		if text := http.StatusText(code); text != "" {
			out[code] += " " + text
		}
	}
	return out
}()

// readLine returns the next line without its CRLF (or LF). The line is
// only valid until the next read from br.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		return nil, errHeaderTooLarge
	}
	if err != nil {
		if err == io.EOF && len(line) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

func truncate(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}

// commonKeys maps the header names upstreams send most, as they are
// usually written and in lower case, to their canonical form, so that
// parsing them allocates nothing.
var commonKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{
		"Accept-Ranges", "Access-Control-Allow-Credentials", "Access-Control-Allow-Headers",
		"Access-Control-Allow-Methods", "Access-Control-Allow-Origin", "Access-Control-Expose-Headers",
		"Access-Control-Max-Age", "Age", "Cache-Control", "Connection", "Content-Disposition",
		"Content-Encoding", "Content-Language", "Content-Length", "Content-Security-Policy",
		"Content-Type", "Date", "Etag", "Expires", "Keep-Alive", "Last-Modified", "Link",
		"Location", "Pragma", "Referrer-Policy", "Retry-After", "Server", "Set-Cookie",
		"Strict-Transport-Security", "Trailer", "Transfer-Encoding", "Vary", "Via",
		"Www-Authenticate", "X-Content-Type-Options", "X-Frame-Options", "X-Powered-By",
		"X-Request-Id", "X-Xss-Protection",
	} {
		m[k] = k
		m[strings.ToLower(k)] = k
	}
	m["ETag"] = "Etag"
	m["WWW-Authenticate"] = "Www-Authenticate"
	m["X-XSS-Protection"] = "X-Xss-Protection"
	m["X-Request-ID"] = "X-Request-Id"
	return m
}()

func canonicalKey(b []byte) string {
	if k, ok := commonKeys[string(b)]; ok {
		return k
	}
	return textproto.CanonicalMIMEHeaderKey(string(b))
}

// validFieldName reports whether k is an HTTP token (RFC 9110 5.6.2).
func validFieldName[T string | []byte](k T) bool {
	for i := 0; i < len(k); i++ {
		if !tokenByte[k[i]] {
			return false
		}
	}
	return len(k) > 0
}

// tokenByte marks the bytes allowed in a token.
var tokenByte = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range []byte("!#$%&'*+-.^_`|~") {
		t[c] = true
	}
	return t
}()

// validFieldValue reports whether v holds no control byte but HTAB
// (RFC 9110 5.5): a NUL or a bare CR that one reader keeps and another
// ends a line at must not get past the gateway.
func validFieldValue(v []byte) bool {
	for _, c := range v {
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// parseLength reads a Content-Length: decimal digits only (no sign, no
// blanks), at most 18 of them so that it cannot overflow.
func parseLength(v string) (int64, bool) {
	if v == "" || len(v) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// validHostHeader refuses an empty Host or one that would break the
// request head.
func validHostHeader(h string) bool {
	if h == "" {
		return false
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; c <= ' ' || c == 0x7f || c == '/' || c == '\\' || c == '?' || c == '#' || c == '@' {
			return false
		}
	}
	return true
}

// framedBody reads one response body from the connection: n bytes, or
// chunked (n < 0 with chunked set), or up to the end of the connection.
// It belongs to the connection and is reused by its next response.
type framedBody struct {
	br      *bufio.Reader
	limited io.LimitedReader
	chunked io.Reader
	mode    bodyMode
	eof     bool
}

type bodyMode uint8

const (
	bodyLength bodyMode = iota
	bodyChunked
	bodyToClose
)

func (b *framedBody) resetChunked(br *bufio.Reader) {
	b.br, b.eof = br, false
	b.mode = bodyChunked
	b.chunked = httputil.NewChunkedReader(br)
}

func (b *framedBody) reset(br *bufio.Reader, n int64) {
	b.br, b.eof = br, false
	switch {
	case n >= 0:
		b.mode = bodyLength
		b.limited = io.LimitedReader{R: br, N: n}
	default:
		b.mode = bodyToClose
	}
}

// Read reads the body; io.EOF means all of it was read and the
// connection is ready for the next exchange.
func (b *framedBody) Read(p []byte) (int, error) {
	if b.eof {
		return 0, io.EOF
	}
	switch b.mode {
	case bodyLength:
		if b.limited.N == 0 {
			b.eof = true
			return 0, io.EOF
		}
		n, err := b.limited.Read(p)
		if err == io.EOF {
			if b.limited.N > 0 {
				return n, io.ErrUnexpectedEOF
			}
			b.eof = true
			return n, io.EOF
		}
		if err == nil && b.limited.N == 0 {
			b.eof = true
			return n, io.EOF
		}
		return n, err
	case bodyChunked:
		n, err := b.chunked.Read(p)
		if err == io.EOF {
			if terr := skipTrailer(b.br); terr != nil {
				return n, terr
			}
			b.eof = true
		}
		return n, err
	default:
		n, err := b.br.Read(p)
		if err == io.EOF {
			b.eof = true
		}
		return n, err
	}
}

// Close does nothing: the connection's owner decides what happens to it.
func (b *framedBody) Close() error { return nil }

// skipTrailer reads the trailer section after the last chunk, up to and
// including the empty line that ends the message.
func skipTrailer(br *bufio.Reader) error {
	for i := 0; ; i++ {
		line, err := readLine(br)
		if err != nil {
			if err == io.EOF {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		if len(line) == 0 {
			return nil
		}
		if i >= maxHeaderLines {
			return errHeaderTooLarge
		}
	}
}
