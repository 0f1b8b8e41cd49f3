package contentcaching

import (
	"net/http"
	"testing"
	"time"
)

// FuzzParseNginxTime: an accepted time is at most a year and not
// negative.
func FuzzParseNginxTime(f *testing.F) {
	for _, s := range []string{"1m", "1h 30m", "90", "500ms", "1y", "5x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseNginxTime(s)
		if err == nil && (d < 0 || d > maxTime) {
			t.Fatalf("%q = %v", s, d)
		}
	})
}

// FuzzLifetime: arbitrary Cache-Control and Expires values give a
// positive lifetime or none.
func FuzzLifetime(f *testing.F) {
	f.Add("max-age=60, public", "", true)
	f.Add(`s-maxage="5"`, "Thu, 01 Jan 2099 00:00:00 GMT", false)
	f.Add("no-store", "0", false)
	f.Fuzz(func(t *testing.T, cc, expires string, authorized bool) {
		h := http.Header{"Cache-Control": {cc}}
		if expires != "" {
			h.Set("Expires", expires)
		}
		d, keep := lifetime(h, authorized, time.Unix(1_800_000_000, 0), time.Minute)
		if keep && d <= 0 {
			t.Fatalf("kept with lifetime %v", d)
		}
	})
}

// FuzzDecodeEntry: a store may hold anything under a key; decoding must
// refuse what it cannot read, never panic, and read back what it wrote.
func FuzzDecodeEntry(f *testing.F) {
	e := entry{freshUntil: time.Unix(1_800_000_000, 0), status: 200, vary: []string{"A", "b"},
		header: http.Header{"Content-Type": {"text/plain"}}, body: []byte("x")}
	f.Add(e.encode())
	f.Add([]byte{1, 0, 200, 1, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := decodeEntry(data)
		if err != nil {
			return
		}
		again, err := decodeEntry(got.encode())
		if err != nil || again.status != got.status || string(again.body) != string(got.body) || len(again.header) != len(got.header) {
			t.Fatalf("round trip of %x: %+v, %v", data, again, err)
		}
	})
}
