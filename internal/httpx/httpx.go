// Package httpx holds the small pieces of HTTP grammar that several parts
// of Verdict check the same way: what a token (a method, a header field
// name) is, what a field value may hold, and which header fields belong to
// one connection and are never forwarded. It parses no messages; internal/h1
// reads and writes HTTP/1.1, the front doors and policies use these checks
// on names and values they are given in configuration or by a policy.
package httpx

import (
	"net/http"
	"net/textproto"
	"strings"
)

// tokenByte marks the bytes of a token (RFC 9110, 5.6.2): tchar.
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

// IsTokenByte reports whether c may appear in a token.
func IsTokenByte(c byte) bool { return tokenByte[c] }

// IsToken reports whether s is a token (RFC 9110, 5.6.2): one or more
// tchar. Methods and header field names are tokens.
func IsToken[T string | []byte](s T) bool {
	for i := 0; i < len(s); i++ {
		if !tokenByte[s[i]] {
			return false
		}
	}
	return len(s) > 0
}

// ValidFieldName reports whether s may be sent as a header field name.
func ValidFieldName(s string) bool { return IsToken(s) }

// ValidFieldValue reports whether s may be sent as a header field value:
// no control byte but horizontal tab, and no DEL (RFC 9110, 5.5). A value
// that broke this rule could end the field or the head early.
func ValidFieldValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// HopByHop lists, in canonical form, the standard header fields of one
// connection (RFC 9110, 7.6.1, and the older Keep-Alive, Proxy-Connection
// and Proxy-Authenticate/Authorization): a proxy never forwards them.
var HopByHop = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// IsHopByHop reports whether the canonical name is one of HopByHop.
func IsHopByHop(name string) bool {
	for _, h := range HopByHop {
		if h == name {
			return true
		}
	}
	return false
}

// RemoveHopByHop deletes from h the HopByHop fields.
func RemoveHopByHop(h http.Header) {
	for _, k := range HopByHop {
		delete(h, k)
	}
}

// RemoveConnectionNamed deletes from h the fields its Connection header
// names; they belong to the connection the header came on. The options
// close and keep-alive are not field names and are skipped. Connection
// itself is left for RemoveHopByHop.
func RemoveConnectionNamed(h http.Header) {
	values, ok := h["Connection"]
	if !ok {
		return
	}
	for _, v := range values {
		for v != "" {
			var name string
			name, v, _ = strings.Cut(v, ",")
			name = textproto.TrimString(name)
			if name == "" || strings.EqualFold(name, "close") || strings.EqualFold(name, "keep-alive") {
				continue
			}
			delete(h, textproto.CanonicalMIMEHeaderKey(name))
		}
	}
}

// HeaderValue returns the value of the field name in h, matched without
// regard to case, with several field lines joined by ", " as RFC 9110
// (5.3) combines them; ok is false when h has no such field. It allocates
// only to join several lines.
func HeaderValue(h http.Header, name string) (value string, ok bool) {
	vs, ok := h[name]
	if !ok {
		for k, v := range h {
			if strings.EqualFold(k, name) {
				vs, ok = v, true
				break
			}
		}
	}
	switch {
	case !ok || len(vs) == 0:
		return "", false
	case len(vs) == 1:
		return vs[0], true
	}
	return strings.Join(vs, ", "), true
}

// HeaderObject returns every field of h as one object, lower-case name to
// value (several lines joined by ", "), for templates and policies that
// read the headers whole.
func HeaderObject(h http.Header) map[string]any {
	m := make(map[string]any, len(h))
	for k, vs := range h {
		switch len(vs) {
		case 0:
		case 1:
			m[strings.ToLower(k)] = vs[0]
		default:
			m[strings.ToLower(k)] = strings.Join(vs, ", ")
		}
	}
	return m
}
