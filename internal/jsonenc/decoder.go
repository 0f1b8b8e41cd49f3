package jsonenc

import "math"

// Decoder decodes one JSON document after another into the values Decode
// gives, for less: the maps of the previous document are cleared and
// reused, strings are slices of one copy of the input, and small whole
// numbers come boxed in advance. It also records where the objects near
// the top of the document lie, and the spans of their members, for callers
// that copy parts of the input rather than encode them again.
//
// The maps a Decode returns belong to the Decoder: they are valid until
// the next call of Decode or Reset, and must not be kept beyond it. The
// strings, numbers and arrays inside them may be kept. A Decoder is not
// safe for concurrent use; the zero value is ready to use.
type Decoder struct {
	// Depth is how deep objects are recorded in Objects: 0 records the
	// top-level object only.
	Depth int

	src         string
	free, used  []map[string]any
	objects     []Object
	members     []Member
	invalidUTF8 bool
}

// Object is where a decoded object lies in the input.
type Object struct {
	// Start is the offset of its '{', End the offset just after its '}'.
	Start, End int
	// Depth is its nesting depth; the top-level value is at depth 0.
	Depth int
	// Map is its decoded value.
	Map map[string]any
	// Members counts the members as written, a key given twice counting
	// twice.
	Members int
	// Repeated tells whether a key is given more than once.
	Repeated bool
	// EscapedKeys tells whether a key is written with a backslash escape.
	EscapedKeys bool
}

// Member is where the value of one member of a recorded object lies.
type Member struct {
	// Object indexes the object in Objects.
	Object int
	// Key is the member's decoded key.
	Key string
	// Start and End delimit its value in the input.
	Start, End int
}

// Limits on what a Decoder keeps for the next document, so that one big
// document does not pin memory.
const (
	maxPooledMaps    = 256
	maxPooledMapSize = 64
)

// Decode decodes data as Decode does. The maps of the previous document
// are reused: see the type's documentation.
func (r *Decoder) Decode(data []byte) (any, error) {
	r.Reset()
	r.src = string(data)
	d := jsonDecoder{data: data, r: r}
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

// Reset clears and takes back the maps of the previous document, and
// forgets its objects.
func (r *Decoder) Reset() {
	for _, m := range r.used {
		if len(m) <= maxPooledMapSize && len(r.free) < maxPooledMaps {
			clear(m)
			r.free = append(r.free, m)
		}
	}
	clear(r.used)
	r.used = r.used[:0]
	// The records are overwritten by the next document; until then they
	// only hold pooled maps and slices of the last input.
	r.objects = r.objects[:0]
	r.members = r.members[:0]
	r.src = ""
	r.invalidUTF8 = false
}

// Objects lists the objects of the last document down to Depth, in the
// order they open.
func (r *Decoder) Objects() []Object { return r.objects }

// Members lists the members of the recorded objects, each object's in the
// order they are written; members of different objects may interleave.
func (r *Decoder) Members() []Member { return r.members }

// ValidUTF8 reports whether the strings of the last document were all
// valid UTF-8 as written (Decode replaces invalid bytes with U+FFFD).
func (r *Decoder) ValidUTF8() bool { return !r.invalidUTF8 }

func (r *Decoder) newMap() map[string]any {
	var m map[string]any
	if n := len(r.free); n > 0 {
		m = r.free[n-1]
		r.free[n-1] = nil
		r.free = r.free[:n-1]
	} else {
		m = make(map[string]any)
	}
	r.used = append(r.used, m)
	return m
}

// open records an object opening at start, unless it lies deeper than
// r.Depth; it returns its index, or -1.
func (r *Decoder) open(start, depth int, m map[string]any) int {
	if depth > r.Depth {
		return -1
	}
	r.objects = append(r.objects, Object{Start: start, Depth: depth, Map: m})
	return len(r.objects) - 1
}

func (r *Decoder) close(obj, end int) {
	o := &r.objects[obj]
	o.End = end
	o.Repeated = o.Members != len(o.Map)
}

func (r *Decoder) member(obj int, key string, start, end int) {
	r.objects[obj].Members++
	r.members = append(r.members, Member{Object: obj, Key: key, Start: start, End: end})
}

// smallNumbers are the whole numbers that ids, versions, counts and
// status codes mostly are, boxed once.
var smallNumbers = func() (n [1024]any) {
	for i := range n {
		n[i] = float64(i)
	}
	return n
}()

// number decodes the number at d.pos: whole numbers of up to 15 digits
// directly (a float64 holds them exactly, as ParseFloat would give them),
// others through the general path.
func (r *Decoder) number(d *jsonDecoder) (any, error) {
	b, p := d.data, d.pos
	neg := b[p] == '-'
	if neg {
		p++
	}
	start := p
	var n uint64
	for p < len(b) && b[p] >= '0' && b[p] <= '9' && p-start < 15 {
		n = n*10 + uint64(b[p]-'0')
		p++
	}
	digits := p - start
	if digits == 0 || digits > 1 && b[start] == '0' || p < len(b) && (b[p] == '.' || b[p] == 'e' || b[p] == 'E' || b[p] >= '0' && b[p] <= '9') {
		// Not a plain whole number (or a malformed one): the general path
		// parses it and reports errors.
		f, err := d.float()
		if err != nil {
			return nil, err
		}
		return boxNumber(f), nil
	}
	d.pos = p
	f := float64(n)
	if neg {
		f = -f
	}
	return boxNumber(f), nil
}

// boxNumber returns f as an any, without allocating for a small whole
// number.
func boxNumber(f float64) any {
	if f >= 0 && f < float64(len(smallNumbers)) && f == math.Trunc(f) && !(f == 0 && math.Signbit(f)) {
		return smallNumbers[int(f)]
	}
	return f
}
