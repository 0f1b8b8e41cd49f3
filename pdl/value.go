package pdl

import (
	"encoding/json"
	"strconv"
	"strings"
)

// number reads v as a number: Go numeric types, json.Number and strings
// that parse as a float.
func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int:
		return float64(x), true
	case string:
		return parseNumber(x)
	case int64:
		return float64(x), true
	case float32:
		return float64(x), true
	case int32:
		return float64(x), true
	case uint:
		return float64(x), true
	case uint32:
		return float64(x), true
	case uint64:
		return float64(x), true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	}
	return 0, false
}

// isNumeric reports whether v holds a Go number (not a numeric string).
func isNumeric(v any) bool {
	switch v.(type) {
	case float64, int, int64, float32, int32, uint, uint32, uint64, json.Number:
		return true
	}
	return false
}

func parseNumber(s string) (float64, bool) {
	if s == "" {
		return 0, false
	}
	if c := s[0]; !(c >= '0' && c <= '9') && c != '-' && c != '+' && c != '.' {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}

// list returns the length of v and whether it is a list.
func listLen(v any) (int, bool) {
	switch x := v.(type) {
	case []any:
		return len(x), true
	case []string:
		return len(x), true
	case []map[string]any:
		return len(x), true
	case []float64:
		return len(x), true
	case []int:
		return len(x), true
	}
	return 0, false
}

// eachItem calls f for each element of a list value until f returns true.
func anyItem(v any, f func(any) bool) bool {
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			if f(e) {
				return true
			}
		}
	case []string:
		for _, e := range x {
			if f(e) {
				return true
			}
		}
	case []map[string]any:
		for _, e := range x {
			if f(e) {
				return true
			}
		}
	case []float64:
		for _, e := range x {
			if f(e) {
				return true
			}
		}
	case []int:
		for _, e := range x {
			if f(e) {
				return true
			}
		}
	}
	return false
}

// itemAt returns element i of a list value.
func itemAt(v any, i int) any {
	switch x := v.(type) {
	case []any:
		return x[i]
	case []string:
		return x[i]
	case []map[string]any:
		return x[i]
	case []float64:
		return x[i]
	case []int:
		return x[i]
	}
	return nil
}

// text returns the string form of a scalar: strings as they are, booleans
// as true/false, numbers in their shortest form. Lists, objects and nil
// have none.
func text(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case bool:
		if x {
			return "true", true
		}
		return "false", true
	case json.Number:
		return string(x), true
	}
	if f, ok := number(v); ok && isNumeric(v) {
		return strconv.FormatFloat(f, 'f', -1, 64), true
	}
	return "", false
}

// equal compares a value with a parameter value by the rules of equals,
// without the "*" wildcard. fold makes string comparisons case-insensitive.
func equal(v, p any, fold bool) bool {
	if v == nil || p == nil {
		return false
	}
	switch pv := p.(type) {
	case string:
		switch x := v.(type) {
		case string:
			if fold {
				return strings.EqualFold(x, pv)
			}
			return x == pv
		case bool:
			return (x && pv == "true") || (!x && pv == "false")
		}
		if isNumeric(v) {
			f, ok := number(v)
			g, ok2 := parseNumber(pv)
			return ok && ok2 && f == g
		}
		if n, ok := listLen(v); ok {
			if g, ok2 := parseNumber(pv); ok2 {
				return float64(n) == g
			}
		}
		return false
	case bool:
		switch x := v.(type) {
		case bool:
			return x == pv
		case string:
			return (pv && x == "true") || (!pv && x == "false")
		}
		return false
	case map[string]any:
		m, ok := v.(map[string]any)
		if !ok || len(m) != len(pv) {
			return false
		}
		for k, e := range pv {
			if !equal(m[k], e, fold) {
				return false
			}
		}
		return true
	}
	if isNumeric(p) {
		g, _ := number(p)
		if n, ok := listLen(v); ok {
			return float64(n) == g
		}
		f, ok := number(v)
		return ok && f == g
	}
	if pn, ok := listLen(p); ok {
		vn, ok := listLen(v)
		if !ok || vn != pn {
			return false
		}
		for i := 0; i < vn; i++ {
			if !equal(itemAt(v, i), itemAt(p, i), fold) {
				return false
			}
		}
		return true
	}
	return false
}

// magnitude is the number a value compares by in moreThan and friends: a
// list's length, or the value read as a number.
func magnitude(v any) (float64, bool) {
	if n, ok := listLen(v); ok {
		return float64(n), true
	}
	return number(v)
}
