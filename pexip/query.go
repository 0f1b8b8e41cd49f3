package pexip

import (
	"fmt"
	"net/url"
	"strings"
)

// param is one query parameter, decoded.
type param struct{ key, value string }

// params are a request's query parameters in the order sent. A list is
// cheaper than url.Values here: a request has a few dozen parameters and a
// decision reads each at most once.
type params []param

// get returns the first value of key.
func (ps params) get(key string) (string, bool) {
	for i := range ps {
		if ps[i].key == key {
			return ps[i].value, true
		}
	}
	return "", false
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
		key, err := url.QueryUnescape(k)
		if err != nil {
			return dst, fmt.Errorf("parameter name %q: %w", truncate(k), err)
		}
		value, err := url.QueryUnescape(v)
		if err != nil {
			return dst, fmt.Errorf("parameter %s: %w", truncate(key), err)
		}
		dst = append(dst, param{key, value})
	}
	return dst, nil
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
