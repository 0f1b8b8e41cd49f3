package contentcaching

import (
	"encoding/binary"
	"errors"
	"net/http"
	"time"
)

// entry is a kept response.
type entry struct {
	// freshUntil is when the response stops being fresh; it stays in the
	// store a while longer, so that a request after it is told EXPIRED.
	freshUntil time.Time
	status     int
	// vary holds the request header names the response varies by and the
	// values the request that fetched it had, in pairs.
	vary   []string
	header http.Header
	body   []byte
}

// entryVersion starts every encoded entry, so that a change of layout
// reads old entries as misses instead of garbage.
const entryVersion = 1

var errCorrupt = errors.New("corrupt cache entry")

// encode lays the entry out as: version, fresh-until (Unix nanoseconds),
// status, the vary pairs, the header fields (name, number of values,
// values), then the body; lengths and numbers are varints.
func (e *entry) encode() []byte {
	n := 32 + len(e.body)
	for _, s := range e.vary {
		n += len(s) + 2
	}
	for k, vs := range e.header {
		n += len(k) + 4
		for _, v := range vs {
			n += len(v) + 2
		}
	}
	b := make([]byte, 0, n)
	b = append(b, entryVersion)
	b = binary.AppendVarint(b, e.freshUntil.UnixNano())
	b = binary.AppendUvarint(b, uint64(e.status))
	b = binary.AppendUvarint(b, uint64(len(e.vary)))
	for _, s := range e.vary {
		b = appendString(b, s)
	}
	b = binary.AppendUvarint(b, uint64(len(e.header)))
	for k, vs := range e.header {
		b = appendString(b, k)
		b = binary.AppendUvarint(b, uint64(len(vs)))
		for _, v := range vs {
			b = appendString(b, v)
		}
	}
	return append(b, e.body...)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decodeEntry reads an encoded entry; anything malformed is errCorrupt.
func decodeEntry(b []byte) (*entry, error) {
	d := decoder{b: b}
	if len(b) == 0 || b[0] != entryVersion {
		return nil, errCorrupt
	}
	d.b = d.b[1:]
	e := &entry{}
	e.freshUntil = time.Unix(0, d.varint())
	status := d.uvarint()
	if status < 100 || status > 599 {
		return nil, errCorrupt
	}
	e.status = int(status)
	nv := d.count()
	if nv%2 != 0 {
		return nil, errCorrupt
	}
	for range nv {
		e.vary = append(e.vary, d.string())
	}
	nh := d.count()
	e.header = make(http.Header, nh)
	for range nh {
		k := d.string()
		n := d.count()
		vs := make([]string, 0, n)
		for range n {
			vs = append(vs, d.string())
		}
		if d.err == nil {
			e.header[k] = vs
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	e.body = d.b
	return e, nil
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a number of items, each at least one byte long, so it
// cannot exceed what is left.
func (d *decoder) count() int {
	v := d.uvarint()
	if v > uint64(len(d.b)) {
		d.err = errCorrupt
		return 0
	}
	return int(v)
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)) {
		d.err = errCorrupt
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}
