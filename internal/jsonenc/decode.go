package jsonenc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// Decode and AppendValue turn JSON into plain Go values (map[string]any,
// []any, string, float64, bool, nil) and back without reflection; they
// accept and produce exactly what encoding/json does for such values (a
// fuzz test holds them to it), at a fraction of its cost.

// maxDepth bounds the nesting of a decoded value, so that a hostile body
// cannot exhaust the stack.
const maxDepth = 512

// SyntaxError is a JSON syntax error at a byte offset.
type SyntaxError struct {
	// Offset is the byte offset of the problem in the input.
	Offset int
	// Msg says what is wrong.
	Msg string
}

// Error formats the error with its offset.
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at byte offset %d: %s", e.Offset, e.Msg)
}

// Decode decodes one JSON value that fills data, but for white space,
// into the values encoding/json would give an any: map[string]any, []any,
// string, float64, bool and nil.
func Decode(data []byte) (any, error) {
	d := jsonDecoder{data: data}
	d.space()
	v, err := d.value(0)
	if err != nil {
		return nil, err
	}
	d.space()
	if d.pos < len(d.data) {
		return nil, d.errorf("unexpected data after the JSON value")
	}
	return v, nil
}

type jsonDecoder struct {
	data []byte
	pos  int
	// r, when not nil, is the Decoder this decoding is for: maps come
	// from its pool, strings are slices of r.src, and objects are recorded.
	r *Decoder
}

func (d *jsonDecoder) errorf(format string, args ...any) error {
	return &SyntaxError{Offset: d.pos, Msg: fmt.Sprintf(format, args...)}
}

func (d *jsonDecoder) space() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// ErrEnd is the error of input that ends before its JSON value is complete.
var ErrEnd = errors.New("the JSON ends before it is complete")

func (d *jsonDecoder) value(depth int) (any, error) {
	if d.pos >= len(d.data) {
		return nil, ErrEnd
	}
	if depth > maxDepth {
		return nil, d.errorf("nested more than %d deep", maxDepth)
	}
	switch c := d.data[d.pos]; {
	case c == '{':
		return d.object(depth)
	case c == '[':
		return d.array(depth)
	case c == '"':
		s, err := d.string()
		if err != nil {
			return nil, err
		}
		if w, ok := words[s]; ok {
			return w.v, nil
		}
		return s, nil
	case c == '-' || c >= '0' && c <= '9':
		if d.r != nil {
			return d.r.number(d)
		}
		return d.number()
	case c == 't':
		return d.literal("true", true)
	case c == 'f':
		return d.literal("false", false)
	case c == 'n':
		return d.literal("null", nil)
	default:
		return nil, d.errorf("unexpected %q", c)
	}
}

func (d *jsonDecoder) literal(word string, v any) (any, error) {
	end := d.pos + len(word)
	if end > len(d.data) {
		if string(d.data[d.pos:]) == word[:len(d.data)-d.pos] {
			return nil, ErrEnd
		}
		return nil, d.errorf("unexpected %q", d.data[d.pos])
	}
	if string(d.data[d.pos:end]) != word {
		return nil, d.errorf("unexpected %q", d.data[d.pos])
	}
	d.pos = end
	return v, nil
}

func (d *jsonDecoder) object(depth int) (any, error) {
	start := d.pos
	d.pos++ // {
	var m map[string]any
	obj := -1
	if d.r != nil {
		m = d.r.newMap()
		obj = d.r.open(start, depth, m)
	} else {
		m = make(map[string]any)
	}
	d.space()
	if d.pos < len(d.data) && d.data[d.pos] == '}' {
		d.pos++
		if obj >= 0 {
			d.r.close(obj, d.pos)
		}
		return m, nil
	}
	for {
		d.space()
		if d.pos >= len(d.data) {
			return nil, ErrEnd
		}
		if d.data[d.pos] != '"' {
			return nil, d.errorf("expected a string key, found %q", d.data[d.pos])
		}
		ks := d.pos
		k, err := d.string()
		if err != nil {
			return nil, err
		}
		if obj >= 0 && bytes.IndexByte(d.data[ks+1:d.pos-1], '\\') >= 0 {
			d.r.objects[obj].EscapedKeys = true
		}
		d.space()
		if d.pos >= len(d.data) {
			return nil, ErrEnd
		}
		if d.data[d.pos] != ':' {
			return nil, d.errorf("expected ':' after an object key, found %q", d.data[d.pos])
		}
		d.pos++
		d.space()
		vs := d.pos
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		m[k] = v
		if obj >= 0 {
			d.r.member(obj, k, vs, d.pos)
		}
		d.space()
		if d.pos >= len(d.data) {
			return nil, ErrEnd
		}
		switch d.data[d.pos] {
		case ',':
			d.pos++
		case '}':
			d.pos++
			if obj >= 0 {
				d.r.close(obj, d.pos)
			}
			return m, nil
		default:
			return nil, d.errorf("expected ',' or '}' in an object, found %q", d.data[d.pos])
		}
	}
}

func (d *jsonDecoder) array(depth int) (any, error) {
	d.pos++ // [
	a := []any{}
	d.space()
	if d.pos < len(d.data) && d.data[d.pos] == ']' {
		d.pos++
		return a, nil
	}
	for {
		d.space()
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		a = append(a, v)
		d.space()
		if d.pos >= len(d.data) {
			return nil, ErrEnd
		}
		switch d.data[d.pos] {
		case ',':
			d.pos++
		case ']':
			d.pos++
			return a, nil
		default:
			return nil, d.errorf("expected ',' or ']' in an array, found %q", d.data[d.pos])
		}
	}
}

// number scans a JSON number and converts it to float64.
func (d *jsonDecoder) number() (any, error) {
	f, err := d.float()
	if err != nil {
		return nil, err
	}
	return f, nil
}

// float scans a JSON number.
func (d *jsonDecoder) float() (float64, error) {
	start, p, b := d.pos, d.pos, d.data
	digits := func() int {
		n := 0
		for p < len(b) && b[p] >= '0' && b[p] <= '9' {
			p++
			n++
		}
		return n
	}
	if b[p] == '-' {
		p++
	}
	if p >= len(b) {
		return 0, ErrEnd
	}
	if b[p] == '0' {
		p++
	} else if digits() == 0 {
		d.pos = p
		return 0, d.errorf("a number needs digits")
	}
	if p < len(b) && b[p] == '.' {
		p++
		if digits() == 0 {
			if p >= len(b) {
				return 0, ErrEnd
			}
			d.pos = p
			return 0, d.errorf("a number needs digits after '.'")
		}
	}
	if p < len(b) && (b[p] == 'e' || b[p] == 'E') {
		p++
		if p < len(b) && (b[p] == '+' || b[p] == '-') {
			p++
		}
		if digits() == 0 {
			if p >= len(b) {
				return 0, ErrEnd
			}
			d.pos = p
			return 0, d.errorf("a number needs digits in its exponent")
		}
	}
	var f float64
	var err error
	if d.r != nil {
		f, err = strconv.ParseFloat(d.r.src[start:p], 64)
	} else {
		f, err = strconv.ParseFloat(string(b[start:p]), 64)
	}
	if err != nil {
		d.pos = start
		return 0, d.errorf("number %s is out of range", b[start:p])
	}
	d.pos = p
	return f, nil
}

// string decodes a JSON string at d.pos. Invalid UTF-8 and lone
// surrogates become U+FFFD, as encoding/json does.
func (d *jsonDecoder) string() (string, error) {
	d.pos++ // "
	start := d.pos
	// The common case: no escapes, plain ASCII.
	p := start
	for p < len(d.data) && plainASCII[d.data[p]] {
		p++
	}
	if p < len(d.data) && d.data[p] == '"' {
		d.pos = p + 1
		if d.r != nil {
			return d.r.src[start:p], nil
		}
		return intern(d.data[start:p]), nil
	}
	var out []byte
	p = start
	for {
		if p >= len(d.data) {
			return "", ErrEnd
		}
		c := d.data[p]
		switch {
		case c == '"':
			d.pos = p + 1
			return string(out), nil
		case c < 0x20:
			d.pos = p
			return "", d.errorf("control character %q in a string", c)
		case c == '\\':
			if p+1 >= len(d.data) {
				return "", ErrEnd
			}
			p++
			switch e := d.data[p]; e {
			case '"', '\\', '/':
				out = append(out, e)
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r, n, err := d.hex4(p + 1)
				if err != nil {
					return "", err
				}
				p = n - 1
				if utf16.IsSurrogate(r) {
					r2, n2, err := d.hex4(n + 2)
					if err == nil && n+1 < len(d.data) && d.data[n] == '\\' && d.data[n+1] == 'u' {
						if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
							r, p = dec, n2-1
						} else {
							r = utf8.RuneError
						}
					} else {
						r = utf8.RuneError
					}
				}
				out = utf8.AppendRune(out, r)
			default:
				d.pos = p
				return "", d.errorf("invalid escape '\\%c' in a string", e)
			}
			p++
		case c < utf8.RuneSelf:
			out = append(out, c)
			p++
		default:
			r, size := utf8.DecodeRune(d.data[p:])
			if r == utf8.RuneError && size == 1 {
				if d.r != nil {
					d.r.invalidUTF8 = true
				}
				out = utf8.AppendRune(out, utf8.RuneError)
			} else {
				out = append(out, d.data[p:p+size]...)
			}
			p += size
		}
	}
}

// words are the field names and values that most messages carry, kept
// as strings and as interface values so that decoding them allocates
// nothing.
var words = func() map[string]word {
	m := make(map[string]word)
	for _, w := range [...]string{
		"id", "type", "from", "to", "body", "value", "message", "direction",
		"attributes", "ingress", "egress", "create", "read", "update", "delete",
		"subscribe", "unsubscribe", "response", "forward", "execute", "auth",
		"code", "identity", "userProfile", "username", "idp", "assertion",
		"resource", "resources", "source", "version", "attribute", "status",
		"number", "allocated", "expires", "descriptor", "user", "url", "runtime",
		"dataSchemes", "subscriber", "schema", "policy",
	} {
		m[w] = word{w, w}
	}
	return m
}()

type word struct {
	s string
	v any
}

// intern returns the string of b, without allocating for a known word.
func intern(b []byte) string {
	if w, ok := words[string(b)]; ok {
		return w.s
	}
	return string(b)
}

// hex4 reads the four hex digits of a \u escape at p and returns the code
// unit and the offset after them.
func (d *jsonDecoder) hex4(p int) (rune, int, error) {
	if p+4 > len(d.data) {
		return 0, 0, ErrEnd
	}
	var r rune
	for _, c := range d.data[p : p+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			d.pos = p
			return 0, 0, d.errorf("invalid \\u escape in a string")
		}
	}
	return r, p + 4, nil
}

// appendJSON appends the JSON form of v to b. Object keys are sorted, as
// encoding/json sorts them, so that answers are stable. Values of other
// types than the decoded ones go through encoding/json.
func AppendValue(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return AppendString(b, x), nil
	case float64:
		return appendFloat(b, x)
	case bool:
		if x {
			return append(b, "true"...), nil
		}
		return append(b, "false"...), nil
	case map[string]any:
		return appendObject(b, x)
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = AppendValue(b, e); err != nil {
				return b, err
			}
		}
		return append(b, ']'), nil
	case int:
		return strconv.AppendInt(b, int64(x), 10), nil
	}
	data, err := json.Marshal(v)
	if err != nil {
		return b, err
	}
	return append(b, data...), nil
}

func appendObject(b []byte, m map[string]any) ([]byte, error) {
	var small [16]string
	keys := small[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendString(b, k)
		b = append(b, ':')
		var err error
		if b, err = AppendValue(b, m[k]); err != nil {
			return b, err
		}
	}
	return append(b, '}'), nil
}

// appendFloat formats f as encoding/json does.
func appendFloat(b []byte, f float64) ([]byte, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return b, fmt.Errorf("json: unsupported value: %v", f)
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// Turn e-09 into e-9.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, nil
}
