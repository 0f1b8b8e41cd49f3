package contentcaching

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// statusSet is the set of upstream statuses whose responses are kept.
type statusSet struct {
	any   bool
	codes map[int]bool
}

func (s statusSet) has(code int) bool { return s.any || s.codes[code] }

// parseStatusCodes reads APICAST_CACHE_STATUS_CODES: statuses separated by
// spaces, or "any", as nginx's proxy_cache_valid takes them.
func parseStatusCodes(s string) (statusSet, error) {
	set := statusSet{codes: map[int]bool{}}
	for _, f := range strings.Fields(s) {
		if f == "any" {
			set.any = true
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 100 || n > 599 {
			return set, fmt.Errorf("%q is not a status from 100 to 599 or any", f)
		}
		set.codes[n] = true
	}
	if !set.any && len(set.codes) == 0 {
		return set, errors.New("no status")
	}
	return set, nil
}

// nginxUnits are the units of nginx's time notation.
var nginxUnits = map[string]time.Duration{
	"ms": time.Millisecond,
	"s":  time.Second,
	"m":  time.Minute,
	"h":  time.Hour,
	"d":  24 * time.Hour,
	"w":  7 * 24 * time.Hour,
	"M":  30 * 24 * time.Hour,
	"y":  365 * 24 * time.Hour,
}

// maxTime bounds a configured freshness: a year.
const maxTime = 365 * 24 * time.Hour

// parseNginxTime reads a time in nginx's notation: numbers with units
// (ms, s, m, h, d, w, M, y; seconds without one), one after the other,
// possibly separated by spaces, such as "1m", "90", "1h 30m" or "1d12h".
func parseNginxTime(s string) (time.Duration, error) {
	rest := strings.TrimSpace(s)
	if rest == "" {
		return 0, errors.New("empty time")
	}
	var total time.Duration
	for rest != "" {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 || i > 10 {
			return 0, fmt.Errorf("%q is not a time such as 30s, 1m or 1h 30m", s)
		}
		n, _ := strconv.ParseInt(rest[:i], 10, 64)
		rest = rest[i:]
		j := 0
		for j < len(rest) && (rest[j] >= 'a' && rest[j] <= 'z' || rest[j] >= 'A' && rest[j] <= 'Z') {
			j++
		}
		unit := time.Second
		if j > 0 {
			u, ok := nginxUnits[rest[:j]]
			if !ok {
				return 0, fmt.Errorf("%q: unknown unit %q (ms, s, m, h, d, w, M, y)", s, rest[:j])
			}
			unit = u
		}
		rest = strings.TrimLeft(rest[j:], " ")
		if n > int64(maxTime/unit) {
			return 0, fmt.Errorf("%q is longer than a year", s)
		}
		total += time.Duration(n) * unit
		if total > maxTime {
			return 0, fmt.Errorf("%q is longer than a year", s)
		}
	}
	return total, nil
}

// cacheControl is what a response's Cache-Control says about keeping it.
type cacheControl struct {
	noStore, noCache, private, public, mustRevalidate bool
	// maxAge and sMaxAge are -1 when absent.
	maxAge, sMaxAge int64
}

// parseCacheControl reads every Cache-Control value of h. Directive names
// are case-insensitive; a number may be quoted; a malformed age counts as
// 0, so that the response is not kept.
func parseCacheControl(values []string) cacheControl {
	cc := cacheControl{maxAge: -1, sMaxAge: -1}
	for _, v := range values {
		for _, d := range strings.Split(v, ",") {
			name, arg, _ := strings.Cut(strings.TrimSpace(d), "=")
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "no-store":
				cc.noStore = true
			case "no-cache":
				cc.noCache = true
			case "private":
				cc.private = true
			case "public":
				cc.public = true
			case "must-revalidate":
				cc.mustRevalidate = true
			case "max-age":
				cc.maxAge = age(arg)
			case "s-maxage":
				cc.sMaxAge = age(arg)
			}
		}
	}
	return cc
}

func age(arg string) int64 {
	arg = strings.Trim(strings.TrimSpace(arg), `"`)
	n, err := strconv.ParseInt(arg, 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return min(n, math.MaxInt32)
}

// lifetime says whether a response may be kept and for how long it stays
// fresh: s-maxage, else max-age, else Expires, else the default; the
// request had an Authorization header when authorized is set (RFC 9111,
// section 3.5).
func lifetime(h http.Header, authorized bool, now time.Time, def time.Duration) (time.Duration, bool) {
	cc := parseCacheControl(h["Cache-Control"])
	if cc.noStore || cc.noCache || cc.private {
		return 0, false
	}
	if len(h["Set-Cookie"]) > 0 {
		return 0, false
	}
	for _, v := range h["Vary"] {
		for _, name := range strings.Split(v, ",") {
			if strings.TrimSpace(name) == "*" {
				return 0, false
			}
		}
	}
	if authorized && !cc.public && !cc.mustRevalidate && cc.sMaxAge < 0 {
		return 0, false
	}
	var d time.Duration
	switch {
	case cc.sMaxAge >= 0:
		d = time.Duration(cc.sMaxAge) * time.Second
	case cc.maxAge >= 0:
		d = time.Duration(cc.maxAge) * time.Second
	case len(h["Expires"]) > 0:
		exp, err := http.ParseTime(h.Get("Expires"))
		if err != nil {
			// An invalid Expires, such as 0, means already expired.
			return 0, false
		}
		d = exp.Sub(now)
	default:
		d = def
	}
	return d, d > 0
}

// varyNames returns the request header names a response varies by,
// canonical, once each.
func varyNames(h http.Header) []string {
	var out []string
	for _, v := range h["Vary"] {
		for _, name := range strings.Split(v, ",") {
			if name = strings.TrimSpace(name); name == "" {
				continue
			}
			name = http.CanonicalHeaderKey(name)
			dup := false
			for _, o := range out {
				dup = dup || o == name
			}
			if !dup {
				out = append(out, name)
			}
		}
	}
	return out
}
