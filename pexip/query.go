package pexip

import (
	"fmt"
	"net/url"
	"strings"
)

// param is one query parameter. Its key is decoded at once; its value only
// when it is read, as most of the parameters Infinity sends are never asked
// for.
type param struct {
	key, value string
	escaped    bool // value still holds %XX escapes or '+'
}

// params are a request's query parameters in the order sent. A list is
// cheaper than url.Values here: a request has a few dozen parameters and a
// decision reads each at most once.
type params []param

// get returns the first value of key.
func (ps params) get(key string) (string, bool) {
	for i := range ps {
		if ps[i].key == key {
			return ps.at(i), true
		}
	}
	return "", false
}

// at returns the decoded value of parameter i, decoding it on first use.
// parseQuery has checked that it decodes.
func (ps params) at(i int) string {
	p := &ps[i]
	if p.escaped {
		p.value, _ = url.QueryUnescape(p.value)
		p.escaped = false
	}
	return p.value
}

// value returns the first value of key, or "".
func (ps params) value(key string) string {
	v, _ := ps.get(key)
	return v
}

// parseQuery decodes a query string as a form (+ is a space) into dst.
// An error names the parameter whose key or value does not decode.
func parseQuery(raw string, dst params) (params, error) {
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" {
			continue
		}
		if strings.IndexByte(pair, ';') >= 0 {
			return dst, fmt.Errorf("parameter %q holds a raw ';'; escape it as %%3B", truncate(pair))
		}
		k, v, _ := strings.Cut(pair, "=")
		key := k
		if hasEscapes(k) {
			var err error
			if key, err = url.QueryUnescape(k); err != nil {
				return dst, fmt.Errorf("parameter name %q: %w", truncate(k), err)
			}
		}
		escaped := hasEscapes(v)
		if escaped {
			if err := checkEscapes(v); err != nil {
				return dst, fmt.Errorf("parameter %s: %w", truncate(key), err)
			}
		}
		dst = append(dst, param{key: key, value: v, escaped: escaped})
	}
	return dst, nil
}

// hasEscapes reports whether a form value holds '%' or '+', which decode
// to something else.
func hasEscapes(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '%' || c == '+' {
			return true
		}
	}
	return false
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// checkEscapes reports a '%' not followed by two hex digits, the one way a
// form value fails to decode, without decoding it.
func checkEscapes(s string) error {
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			continue
		}
		if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
			end := min(i+3, len(s))
			return url.EscapeError(s[i:end])
		}
		i += 2
	}
	return nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
