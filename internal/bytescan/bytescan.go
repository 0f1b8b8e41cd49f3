// Package bytescan tests eight bytes of a string at a time, for the
// scanners on a request's path that look at every byte of long text (a
// request target, a log line's values) for a few kinds of byte.
//
// Each test is exact about whether some byte of the word matches, not
// about which: a caller finding a match looks at those eight bytes one by
// one.
package bytescan

import (
	"encoding/binary"
	"unsafe"
)

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// Word returns the eight bytes of s from i as one word, the first byte
// lowest. s must hold them.
func Word(s string, i int) uint64 {
	return binary.LittleEndian.Uint64(unsafe.Slice(unsafe.StringData(s[i:i+8]), 8))
}

// Less reports whether some byte of x is below n, for n up to 0x80.
// Bytes of 0x80 and above never count as below.
func Less(x uint64, n byte) bool {
	// A borrow only crosses out of a byte that is itself below n.
	return (x-ones*uint64(n))&^x&highs != 0
}

// Has reports whether some byte of x equals b.
func Has(x uint64, b byte) bool {
	y := x ^ (ones * uint64(b))
	return (y-ones)&^y&highs != 0
}

// High reports whether some byte of x is 0x80 or above.
func High(x uint64) bool { return x&highs != 0 }
