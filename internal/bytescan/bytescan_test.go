package bytescan

import (
	"encoding/binary"
	"testing"
)

// check compares the word tests with a byte-by-byte answer.
func check(t *testing.T, w [8]byte, n, b byte) {
	t.Helper()
	x := binary.LittleEndian.Uint64(w[:])
	var less, has, high bool
	for _, c := range w {
		less = less || c < n && n <= 0x80
		has = has || c == b
		high = high || c >= 0x80
	}
	if got := Less(x, n); got != less {
		t.Fatalf("Less(%q, %#x) = %v, want %v", w, n, got, less)
	}
	if got := Has(x, b); got != has {
		t.Fatalf("Has(%q, %#x) = %v, want %v", w, b, got, has)
	}
	if got := High(x); got != high {
		t.Fatalf("High(%q) = %v, want %v", w, got, high)
	}
}

func TestEveryByteAtEveryPosition(t *testing.T) {
	// Backgrounds around the edges: below, at and above the bounds, and
	// high bytes that could borrow.
	for _, bg := range []byte{0x00, 0x20, 0x21, 0x3d, 0x7f, 0x80, 0xff} {
		for pos := range 8 {
			for c := range 256 {
				var w [8]byte
				for i := range w {
					w[i] = bg
				}
				w[pos] = byte(c)
				for _, nb := range [][2]byte{{0x21, '='}, {0x20, '"'}, {0x80, '%'}, {0x01, 0x00}, {0x00, 0xff}} {
					check(t, w, nb[0], nb[1])
				}
			}
		}
	}
}

func TestWord(t *testing.T) {
	if got, want := Word("xabcdefgh", 1), binary.LittleEndian.Uint64([]byte("abcdefgh")); got != want {
		t.Fatalf("Word = %#x, want %#x", got, want)
	}
}

func FuzzWordTests(f *testing.F) {
	f.Add([]byte("sip:alic"), byte(0x21), byte('='))
	f.Add([]byte{0x80, 0x21, 0x20, 0xff, 0x3d, 0x22, 0x7f, 0}, byte(0x80), byte('"'))
	f.Fuzz(func(t *testing.T, in []byte, n, b byte) {
		if len(in) < 8 || n > 0x80 {
			return
		}
		check(t, [8]byte(in[:8]), n, b)
	})
}
