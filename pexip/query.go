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

// queryByte marks the bytes parseQuery stops at: the pair and key
// separators, the escapes and the forbidden ';'.
var queryByte = [256]bool{'&': true, '=': true, '%': true, '+': true, ';': true}

// parseQuery decodes a query string as a form (+ is a space) into dst.
// An error names the parameter whose key or value does not decode. One
// pass over the bytes finds each pair's end, its '=' and whether its key
// or value hold escapes.
func parseQuery(raw string, dst params) (params, error) {
	for raw != "" {
		eq, end := -1, len(raw)
		keyEsc, valEsc := false, false
	scan:
		for i := 0; i < len(raw); i++ {
			if !queryByte[raw[i]] {
				continue
			}
			switch raw[i] {
			case '&':
				end = i
				break scan
			case '=':
				if eq < 0 {
					eq = i
				}
			case ';':
				pair, _, _ := strings.Cut(raw, "&")
				return dst, fmt.Errorf("parameter %q holds a raw ';'; escape it as %%3B", truncate(pair))
			default: // '%' or '+'
				if eq < 0 {
					keyEsc = true
				} else {
					valEsc = true
				}
			}
		}
		pair := raw[:end]
		if end < len(raw) {
			raw = raw[end+1:]
		} else {
			raw = ""
		}
		if pair == "" {
			continue
		}
		k, v := pair, ""
		if eq >= 0 {
			k, v = pair[:eq], pair[eq+1:]
		}
		key := k
		if keyEsc {
			var err error
			if key, err = url.QueryUnescape(k); err != nil {
				return dst, fmt.Errorf("parameter name %q: %w", truncate(k), err)
			}
		}
		if valEsc {
			if err := checkEscapes(v); err != nil {
				return dst, fmt.Errorf("parameter %s: %w", truncate(key), err)
			}
		}
		dst = append(dst, param{key: key, value: v, escaped: valEsc})
	}
	return dst, nil
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
