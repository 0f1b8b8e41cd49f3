package h1

import (
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"

	"github.com/verdict-policy/verdict/internal/bytescan"
	"github.com/verdict-policy/verdict/internal/httpx"
)

// parse parses the head in c.buf[c.r:end] into c.req, consumes it and
// sets up the body reader. The head is turned into one string that the
// method, URL, and header values share.
func (c *conn) parse(end int) error {
	head := string(c.buf[c.r:end])
	c.r = end

	line, rest := nextLine(head)
	method, line, ok1 := strings.Cut(line, " ")
	target, proto, ok2 := strings.Cut(line, " ")
	if !ok1 || !ok2 {
		return badRequest(http.StatusBadRequest, "malformed request line")
	}
	if strings.IndexByte(proto, ' ') >= 0 {
		return badRequest(http.StatusBadRequest, "malformed request line: more than three parts (a space in the target is escaped as %20)")
	}
	if method == "" || !httpx.IsToken(method) {
		return badRequest(http.StatusBadRequest, "invalid method "+strconv.Quote(method))
	}
	major, minor, ok := parseVersion(proto)
	if !ok {
		return badRequest(http.StatusBadRequest, "malformed HTTP version "+strconv.Quote(proto))
	}
	if major != 1 {
		return badRequest(http.StatusHTTPVersionNotSupported, "only HTTP/1.0 and HTTP/1.1 are served")
	}
	if target == "" || !validTarget(target) {
		return badRequest(http.StatusBadRequest, "invalid request target "+strconv.Quote(clip(target)))
	}

	h := c.hdr
	for k, v := range h {
		h[k] = v[:0]
	}
	hosts := 0
	host := ""
	for rest != "" {
		line, rest = nextLine(rest)
		if line == "" {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			return badRequest(http.StatusBadRequest, "obsolete line folding in the header")
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || name == "" || !httpx.IsToken(name) {
			return badRequest(http.StatusBadRequest, "malformed header line "+strconv.Quote(clip(line)))
		}
		value = strings.Trim(value, " \t")
		if !validValue(value) {
			return badRequest(http.StatusBadRequest, "invalid value of header "+name)
		}
		key := canonicalKey(name)
		if key == "Host" {
			hosts++
			host = value
			continue
		}
		h[key] = append(h[key], value)
	}
	for k, v := range h {
		if len(v) == 0 {
			delete(h, k)
		}
	}

	c.url = url.URL{}
	switch {
	case target[0] == '/':
		path, query, hasQuery := strings.Cut(target, "?")
		if plainPath(path) {
			c.url.Path, c.url.RawQuery = path, query
			c.url.ForceQuery = hasQuery && query == ""
			break
		}
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return badRequest(http.StatusBadRequest, "invalid request target: "+err.Error())
		}
		c.url = *u
	case target == "*":
		if method != http.MethodOptions {
			return badRequest(http.StatusBadRequest, "the request target * is for OPTIONS only")
		}
		c.url.Path = "*"
	default:
		u, err := url.ParseRequestURI(target)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return badRequest(http.StatusBadRequest, "invalid request target "+strconv.Quote(clip(target)))
		}
		c.url = *u
	}
	if hosts > 1 {
		return badRequest(http.StatusBadRequest, "more than one Host header")
	}
	if hosts == 0 && minor >= 1 {
		return badRequest(http.StatusBadRequest, "missing required Host header")
	}
	if !validHost(host) {
		return badRequest(http.StatusBadRequest, "malformed Host header "+strconv.Quote(clip(host)))
	}
	if c.url.Host != "" {
		// An absolute-form target names the host; a Host header is
		// still required, as by net/http, and ignored.
		host = c.url.Host
	}

	// The template carries the connection's context, which only
	// WithContext can set; copying it costs nothing.
	c.req = c.tmpl
	r := &c.req
	r.Method, r.URL, r.Proto, r.ProtoMajor, r.ProtoMinor = method, &c.url, proto, major, minor
	r.Header, r.Body, r.Host, r.RemoteAddr, r.RequestURI, r.TLS = h, http.NoBody, host, c.remote, target, c.tls

	conn := h["Connection"]
	if minor == 0 {
		c.req.Close = !hasToken(conn, "keep-alive")
	} else {
		c.req.Close = hasToken(conn, "close")
	}
	if ex := h["Expect"]; len(ex) > 0 {
		if len(ex) != 1 || !strings.EqualFold(ex[0], "100-continue") {
			return badRequest(http.StatusExpectationFailed, "unsupported expectation "+strconv.Quote(clip(strings.Join(ex, ", "))))
		}
	}
	// An HTTP/1.0 client knows no 100 Continue: it sends the body anyway.
	return c.setBody(minor, minor >= 1 && len(h["Expect"]) == 1)
}

// setBody reads the framing headers and gives the request its body.
func (c *conn) setBody(minor int, expectContinue bool) error {
	h := c.hdr
	te, cl := h["Transfer-Encoding"], h["Content-Length"]
	c.body.reset()
	if len(te) > 0 {
		if minor == 0 {
			return badRequest(http.StatusBadRequest, "Transfer-Encoding on an HTTP/1.0 request")
		}
		if len(cl) > 0 {
			return badRequest(http.StatusBadRequest, "both Transfer-Encoding and Content-Length")
		}
		if len(te) != 1 || !strings.EqualFold(te[0], "chunked") {
			return badRequest(http.StatusNotImplemented, "unsupported transfer encoding "+strconv.Quote(clip(strings.Join(te, ", "))))
		}
		delete(h, "Transfer-Encoding")
		c.req.TransferEncoding = []string{"chunked"}
		c.req.ContentLength = -1
		c.body.startChunked(expectContinue)
		c.req.Body = &c.body
		return nil
	}
	if len(cl) > 0 {
		n, err := strconv.ParseInt(cl[0], 10, 64)
		if err != nil || cl[0][0] < '0' || cl[0][0] > '9' { // no sign, not even "-0"
			return badRequest(http.StatusBadRequest, "invalid Content-Length "+strconv.Quote(clip(cl[0])))
		}
		for _, v := range cl[1:] {
			if v != cl[0] {
				return badRequest(http.StatusBadRequest, "conflicting Content-Length values")
			}
		}
		c.req.ContentLength = n
		if n > 0 {
			c.body.start(n, expectContinue)
			c.req.Body = &c.body
		}
	}
	return nil
}

// nextLine splits s after its first line, dropping the line's CRLF or LF.
func nextLine(s string) (line, rest string) {
	i := strings.IndexByte(s, '\n')
	if i < 0 {
		return s, ""
	}
	line, rest = s[:i], s[i+1:]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, rest
}

func parseVersion(p string) (major, minor int, ok bool) {
	switch p {
	case "HTTP/1.1":
		return 1, 1, true
	case "HTTP/1.0":
		return 1, 0, true
	}
	v, found := strings.CutPrefix(p, "HTTP/")
	if !found {
		return 0, 0, false
	}
	a, b, found := strings.Cut(v, ".")
	if !found || len(a) != 1 || len(b) != 1 || a[0] < '0' || a[0] > '9' || b[0] < '0' || b[0] > '9' {
		return 0, 0, false
	}
	return int(a[0] - '0'), int(b[0] - '0'), true
}

// pathChars marks the bytes url.URL leaves as they are in a path: a path
// of them alone parses to itself, with no RawPath.
var pathChars = charSet("-_.~$&+,/:;=@")

// plainPath reports whether path needs no unescaping and gets no RawPath
// from url.ParseRequestURI, which parses the other paths as for net/http.
func plainPath(path string) bool { return only(&pathChars, path) }

// validTarget rejects control bytes, spaces and DEL in a request target.
// Targets are long (a Pexip query is half a kilobyte), so eight bytes are
// checked at a time.
func validTarget(s string) bool {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		if x := bytescan.Word(s, i); bytescan.Less(x, 0x21) || bytescan.Has(x, 0x7f) {
			break
		}
	}
	for ; i < len(s); i++ {
		if b := s[i]; b <= ' ' || b == 0x7f {
			return false
		}
	}
	return true
}

// validValue rejects control bytes other than tab in a header value.
func validValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if b := s[i]; (b < ' ' && b != '\t') || b == 0x7f {
			return false
		}
	}
	return true
}

// canonicalKey returns the canonical form of a header name without
// allocating when it is canonical already, as almost every client sends.
func canonicalKey(name string) string {
	upper := true
	for i := 0; i < len(name); i++ {
		b := name[i]
		if upper && 'a' <= b && b <= 'z' || !upper && 'A' <= b && b <= 'Z' {
			return textproto.CanonicalMIMEHeaderKey(name)
		}
		upper = b == '-'
	}
	return name
}

// hasToken reports whether a comma-separated header holds tok, ignoring
// case.
func hasToken(values []string, tok string) bool {
	for _, v := range values {
		for v != "" {
			var item string
			item, v, _ = strings.Cut(v, ",")
			if strings.EqualFold(strings.Trim(item, " \t"), tok) {
				return true
			}
		}
	}
	return false
}

// clip shortens text quoted in an error message.
func clip(s string) string {
	if len(s) > 100 {
		return s[:100] + "..."
	}
	return s
}

// hostChars marks the bytes of a Host value (RFC 3986's host and port):
// letters, digits, the unreserved and sub-delimiter marks, ':' before a
// port or inside an IPv6 literal, its brackets, and '%' of an escape or
// a zone.
var hostChars = charSet("-._~!$&'()*+,;=:[]%")

// validHost reports whether h is made of hostChars.
func validHost(h string) bool { return only(&hostChars, h) }

// charSet returns the set of ASCII letters, digits and marks.
func charSet(marks string) (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for i := 0; i < len(marks); i++ {
		t[marks[i]] = true
	}
	return t
}

// only reports whether every byte of s is in set.
func only(set *[256]bool, s string) bool {
	for i := 0; i < len(s); i++ {
		if !set[s[i]] {
			return false
		}
	}
	return true
}
