package rethink

import (
	"bytes"
	"unicode/utf8"

	"github.com/verdict-policy/verdict/internal/jsonenc"
)

// A forwarded message that no obligation changed differs from the one
// received only in body.auth. Rather than encode it again, the answer then
// copies the message's bytes from the request with body.auth written in:
// the message leaves as it came, field order and all, at the cost of a
// copy. rawMessage finds where the parts to patch lie.

// rawMessage locates a message inside a request body.
type rawMessage struct {
	data []byte // the message's JSON object
	// auth is the span of body.auth's value, when the body has the key;
	// body is the offset just after the body's '{' when it has not;
	// end is the offset of the message's closing '}' when it has no body.
	authStart, authEnd int
	bodyOpen           int
	end                int
	ok                 bool
}

// locate finds the message of a request body that decodeJSON accepted. It
// reports ok false for anything it does not expect (a key given twice, a
// body that is not an object, invalid UTF-8), and the answer is then
// encoded from the decoded message instead.
func locate(body []byte) rawMessage {
	var rm rawMessage
	s := scanner{data: body}
	start, end, ok := s.member(0, "message")
	if !ok || body[start] != '{' || !utf8.Valid(body[start:end]) {
		return rm
	}
	rm.data = body[start:end]
	m := scanner{data: rm.data}
	bs, _, found := m.member(0, "body")
	if !m.ok {
		return rm
	}
	rm.authStart, rm.bodyOpen, rm.end = -1, -1, -1
	switch {
	case !found:
		rm.end = len(rm.data) - 1
	case rm.data[bs] == '{':
		b := scanner{data: rm.data}
		as, ae, hasAuth := b.member(bs, "auth")
		if !b.ok {
			return rm
		}
		if hasAuth {
			rm.authStart, rm.authEnd = as, ae
		} else {
			rm.bodyOpen = bs + 1
		}
	default:
		return rm // null body: encode normally
	}
	rm.ok = true
	return rm
}

// maxSplicedKeys is the most keys locate follows in one object.
const maxSplicedKeys = 32

// locateDecoded is locate over a request body that dec has just decoded,
// reading the spans dec recorded instead of scanning the body again. It
// accepts and rejects what locate does.
func locateDecoded(body []byte, dec *jsonenc.Decoder) rawMessage {
	var rm rawMessage
	objs, members := dec.Objects(), dec.Members()
	// plain is what locate needs of an object on the way: keys without
	// escapes, none twice, not too many.
	plain := func(o *jsonenc.Object) bool {
		return !o.EscapedKeys && !o.Repeated && o.Members <= maxSplicedKeys
	}
	// value finds the value of key in object i, and the object it is when
	// it is one.
	value := func(i int, key string) (start, end, obj int, found bool) {
		obj = -1
		for _, m := range members {
			if m.Object == i && m.Key == key {
				start, end, found = m.Start, m.End, true
			}
		}
		if found && body[start] == '{' {
			for j := i + 1; j < len(objs); j++ {
				if objs[j].Start == start {
					obj = j
					break
				}
			}
		}
		return start, end, obj, found
	}
	if len(objs) == 0 || objs[0].Depth != 0 || !plain(&objs[0]) {
		return rm
	}
	start, end, mi, found := value(0, "message")
	if !found || mi < 0 || !plain(&objs[mi]) || !dec.ValidUTF8() && !utf8.Valid(body[start:end]) {
		return rm
	}
	rm.data = body[start:end]
	rm.authStart, rm.bodyOpen, rm.end = -1, -1, -1
	bs, _, bi, found := value(mi, "body")
	switch {
	case !found:
		rm.end = len(rm.data) - 1
	case bi >= 0:
		if !plain(&objs[bi]) {
			return rm
		}
		as, ae, _, hasAuth := value(bi, "auth")
		if hasAuth {
			rm.authStart, rm.authEnd = as-start, ae-start
		} else {
			rm.bodyOpen = bs - start + 1
		}
	default:
		return rm // null body: encode normally
	}
	rm.ok = true
	return rm
}

// appendWithAuth appends the message with body.auth set to auth.
func (rm *rawMessage) appendWithAuth(b []byte, auth bool) []byte {
	val := "false"
	if auth {
		val = "true"
	}
	switch {
	case rm.authStart >= 0:
		b = append(b, rm.data[:rm.authStart]...)
		b = append(b, val...)
		return append(b, rm.data[rm.authEnd:]...)
	case rm.bodyOpen >= 0:
		b = append(b, rm.data[:rm.bodyOpen]...)
		b = append(b, `"auth":`...)
		b = append(b, val...)
		rest := rm.data[rm.bodyOpen:]
		if t := bytes.TrimLeft(rest, " \t\r\n"); len(t) > 0 && t[0] != '}' {
			b = append(b, ',')
		}
		return append(b, rest...)
	default:
		b = append(b, rm.data[:rm.end]...)
		if t := bytes.TrimRight(rm.data[:rm.end], " \t\r\n"); len(t) > 0 && t[len(t)-1] != '{' {
			b = append(b, ',')
		}
		b = append(b, `"body":{"auth":`...)
		b = append(b, val...)
		b = append(b, '}')
		return append(b, rm.data[rm.end:]...)
	}
}

// scanner walks valid JSON.
type scanner struct {
	data []byte
	pos  int
	ok   bool
}

func (s *scanner) space() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// member finds key among the members of the object that opens at offset
// at (after white space) and returns the span of its value. It sets s.ok
// when the object was walked to its end with no key given twice.
func (s *scanner) member(at int, key string) (int, int, bool) {
	s.pos, s.ok = at, false
	s.space()
	if s.pos >= len(s.data) || s.data[s.pos] != '{' {
		return 0, 0, false
	}
	s.pos++
	var seen [32][2]int // the keys' spans
	n := 0
	start, end, found := 0, 0, false
	for {
		s.space()
		if s.pos >= len(s.data) {
			return 0, 0, false
		}
		if s.data[s.pos] == '}' {
			s.pos++
			s.ok = true
			return start, end, found
		}
		if s.data[s.pos] == ',' {
			s.pos++
			s.space()
		}
		ks := s.pos
		if !s.skip() {
			return 0, 0, false
		}
		k := s.data[ks+1 : s.pos-1] // raw, escapes included
		if bytes.IndexByte(k, '\\') >= 0 || n == len(seen) {
			return 0, 0, false // unusual keys: let the encoder do it
		}
		for _, prev := range seen[:n] {
			if bytes.Equal(s.data[prev[0]:prev[1]], k) {
				return 0, 0, false
			}
		}
		seen[n] = [2]int{ks + 1, s.pos - 1}
		n++
		s.space()
		s.pos++ // ':'
		s.space()
		vs := s.pos
		if !s.skip() {
			return 0, 0, false
		}
		if string(k) == key {
			start, end, found = vs, s.pos, true
		}
	}
}

// skip moves past one value.
func (s *scanner) skip() bool {
	if s.pos >= len(s.data) {
		return false
	}
	switch s.data[s.pos] {
	case '"':
		for s.pos++; s.pos < len(s.data); s.pos++ {
			switch s.data[s.pos] {
			case '\\':
				s.pos++
			case '"':
				s.pos++
				return true
			}
		}
		return false
	case '{', '[':
		depth := 0
		for ; s.pos < len(s.data); s.pos++ {
			switch s.data[s.pos] {
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					s.pos++
					return true
				}
			case '"':
				if !s.skip() {
					return false
				}
				s.pos--
			}
		}
		return false
	default:
		for s.pos < len(s.data) {
			switch s.data[s.pos] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return true
			}
			s.pos++
		}
		return true
	}
}
