package tokenintrospection

import (
	"fmt"
	"testing"
	"time"
)

var t0 = time.Unix(1_800_000_000, 0)

func TestKeepUntil(t *testing.T) {
	tests := []struct {
		name   string
		maxTTL time.Duration
		exp    time.Duration // from t0; 0 for none
		until  time.Duration
		keep   bool
	}{
		{"exp only", 0, time.Hour, time.Hour, true},
		{"max ttl shorter than exp", time.Minute, time.Hour, time.Minute, true},
		{"exp shorter than max ttl", time.Hour, time.Minute, time.Minute, true},
		{"max ttl only", time.Minute, 0, time.Minute, true},
		{"neither", 0, 0, 0, false},
		{"exp passed", time.Hour, -time.Second, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &Policy{maxTTL: tt.maxTTL}
			a := answer{active: true}
			if tt.exp != 0 {
				a.exp = t0.Add(tt.exp)
			}
			until, keep := p.keepUntil(a, t0)
			if keep != tt.keep || (keep && !until.Equal(t0.Add(tt.until))) {
				t.Fatalf("keepUntil = %v, %v; want %v, %v", until.Sub(t0), keep, tt.until, tt.keep)
			}
		})
	}
}

func TestTokenCache(t *testing.T) {
	c := newTokenCache(3)
	for i := range 3 {
		c.put(fmt.Sprint(i), answer{active: true}, t0.Add(time.Duration(i+1)*time.Minute))
	}
	if _, ok := c.get("0", t0); !ok {
		t.Fatal("0 missing")
	}
	// 1 is now the least recently used.
	c.put("3", answer{active: true}, t0.Add(time.Hour))
	if _, ok := c.get("1", t0); ok {
		t.Fatal("the least recently used answer stayed")
	}
	for _, k := range []string{"0", "2", "3"} {
		if _, ok := c.get(k, t0); !ok {
			t.Fatalf("%s missing", k)
		}
	}
	// An answer is not served past its deadline, and goes then.
	if _, ok := c.get("0", t0.Add(time.Minute)); ok {
		t.Fatal("an expired answer was served")
	}
	if c.len() != 2 {
		t.Fatalf("%d entries after an expiry, want 2", c.len())
	}
	// Putting a kept token again refreshes it in place.
	c.put("2", answer{active: false}, t0.Add(2*time.Hour))
	if a, ok := c.get("2", t0.Add(90*time.Minute)); !ok || a.active {
		t.Fatalf("refreshed answer %+v, %v", a, ok)
	}
	if c.len() != 2 {
		t.Fatalf("%d entries, want 2", c.len())
	}
	// Fill and drain, checking the list stays consistent.
	for i := range 100 {
		c.put(fmt.Sprint("k", i), answer{}, t0.Add(time.Hour))
		if c.len() > 3 {
			t.Fatalf("%d entries, over the maximum of 3", c.len())
		}
	}
	n := 0
	for e := c.head; e != nil; e = e.next {
		n++
		if e.next != nil && e.next.prev != e {
			t.Fatal("broken list")
		}
	}
	if n != 3 || c.tail == nil || c.tail.next != nil {
		t.Fatalf("list of %d, tail %v", n, c.tail)
	}
}

func TestParseAnswer(t *testing.T) {
	tests := []struct {
		body   string
		active bool
		exp    int64
		err    bool
	}{
		{`{"active": true, "exp": 1800000060}`, true, 1_800_000_060, false},
		{`{"active": true, "exp": 1800000060.5}`, true, 1_800_000_060, false},
		{`{"active": false}`, false, 0, false},
		{`{"active": 1}`, false, 0, false},
		{`{"exp": "soon", "active": true}`, true, 0, false},
		{`{"active": true, "exp": -5}`, true, 0, false},
		{`{}`, false, 0, false},
		{`null`, false, 0, true},
		{`[]`, false, 0, true},
		{`"active"`, false, 0, true},
		{`{"active": true`, false, 0, true},
	}
	for _, tt := range tests {
		a, err := parseAnswer([]byte(tt.body))
		if (err != nil) != tt.err || a.active != tt.active || (tt.exp != 0) != !a.exp.IsZero() || (tt.exp != 0 && a.exp.Unix() != tt.exp) {
			t.Errorf("parseAnswer(%s) = %+v, %v", tt.body, a, err)
		}
	}
}

func TestParseDataURL(t *testing.T) {
	tests := []struct {
		in, out string
		err     bool
	}{
		{"data:application/x-x509-ca-cert;name=rsa.pem;base64,aGVsbG8=", "hello", false},
		{"data:;base64,aGVsbG8", "hello", false},
		{"data:;base64,aGVs\nbG8=", "hello", false},
		{"data:,hello%20world", "hello world", false},
		{"data:text/plain,a,b", "a,b", false},
		{"data:;base64,!!!", "", true},
		{"data:text/plain", "", true},
		{"http://x/", "", true},
		{"data:,%zz", "", true},
	}
	for _, tt := range tests {
		got, err := parseDataURL(tt.in)
		if (err != nil) != tt.err || string(got) != tt.out {
			t.Errorf("parseDataURL(%q) = %q, %v", tt.in, got, err)
		}
	}
}
