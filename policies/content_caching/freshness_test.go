package contentcaching

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/policies/internal/policytest"
)

func TestParseNginxTime(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"1m", time.Minute, false},
		{"90", 90 * time.Second, false},
		{"30s", 30 * time.Second, false},
		{"1h 30m", 90 * time.Minute, false},
		{"1d12h", 36 * time.Hour, false},
		{"500ms", 500 * time.Millisecond, false},
		{"2w", 14 * 24 * time.Hour, false},
		{"1M", 30 * 24 * time.Hour, false},
		{"1y", 365 * 24 * time.Hour, false},
		{" 5m ", 5 * time.Minute, false},
		{"", 0, true},
		{"m", 0, true},
		{"5x", 0, true},
		{"1y1s", 0, true},
		{"99999999999s", 0, true},
		{"-5s", 0, true},
		{"1.5h", 0, true},
	}
	for _, tt := range tests {
		got, err := parseNginxTime(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("parseNginxTime(%q) = %v, %v", tt.in, got, err)
		}
	}
}

func TestParseStatusCodes(t *testing.T) {
	set, err := parseStatusCodes("200 302\t404")
	if err != nil || !set.has(200) || !set.has(302) || !set.has(404) || set.has(201) {
		t.Fatalf("%+v, %v", set, err)
	}
	if set, err := parseStatusCodes("any"); err != nil || !set.has(599) {
		t.Fatalf("any: %+v, %v", set, err)
	}
	for _, bad := range []string{"", "  ", "600", "2OO", "200,302"} {
		if _, err := parseStatusCodes(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestLifetime(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	def := time.Minute
	tests := []struct {
		name       string
		h          http.Header
		authorized bool
		want       time.Duration
		keep       bool
	}{
		{"nothing: the default", nil, false, def, true},
		{"max-age", http.Header{"Cache-Control": {"max-age=300"}}, false, 300 * time.Second, true},
		{"s-maxage wins", http.Header{"Cache-Control": {"max-age=300, s-maxage=30"}}, false, 30 * time.Second, true},
		{"two header lines", http.Header{"Cache-Control": {"public", "max-age=10"}}, false, 10 * time.Second, true},
		{"upper case", http.Header{"Cache-Control": {"MAX-AGE=10"}}, false, 10 * time.Second, true},
		{"malformed age", http.Header{"Cache-Control": {"max-age=ten"}}, false, 0, false},
		{"max-age over Expires", http.Header{"Cache-Control": {"max-age=10"}, "Expires": {"Thu, 01 Jan 1970 00:00:00 GMT"}}, false, 10 * time.Second, true},
		{"Expires", http.Header{"Expires": {now.Add(time.Hour).UTC().Format(http.TimeFormat)}}, false, time.Hour, true},
		{"no-cache", http.Header{"Cache-Control": {"max-age=10, no-cache"}}, false, 0, false},
		{"authorized, plain", nil, true, 0, false},
		{"authorized, public", http.Header{"Cache-Control": {"public"}}, true, def, true},
		{"authorized, must-revalidate", http.Header{"Cache-Control": {"must-revalidate, max-age=5"}}, true, 5 * time.Second, true},
		{"authorized, s-maxage", http.Header{"Cache-Control": {"s-maxage=5"}}, true, 5 * time.Second, true},
		{"Vary by a header", http.Header{"Vary": {"Accept-Encoding"}}, false, def, true},
	}
	for _, tt := range tests {
		got, keep := lifetime(tt.h, tt.authorized, now, def)
		if keep != tt.keep || (keep && got != tt.want) {
			t.Errorf("%s: %v, %v; want %v, %v", tt.name, got, keep, tt.want, tt.keep)
		}
	}
	if got := varyNames(http.Header{"Vary": {"accept-encoding, Origin", "ORIGIN"}}); !reflect.DeepEqual(got, []string{"Accept-Encoding", "Origin"}) {
		t.Errorf("varyNames = %v", got)
	}
}

func TestEntryRoundTrip(t *testing.T) {
	e := entry{freshUntil: time.Unix(1_800_000_000, 123), status: 302,
		vary:   []string{"Accept-Language", "en, fr"},
		header: http.Header{"Location": {"/x"}, "X-Multi": {"a", "b"}, "X-Empty": {}},
		body:   []byte("hello")}
	got, err := decodeEntry(e.encode())
	if err != nil {
		t.Fatal(err)
	}
	if !got.freshUntil.Equal(e.freshUntil) || got.status != e.status || !reflect.DeepEqual(got.vary, e.vary) ||
		!reflect.DeepEqual(got.header, e.header) || string(got.body) != "hello" {
		t.Fatalf("got %+v", got)
	}
	enc := e.encode()
	for i := range len(enc) - len(e.body) {
		if _, err := decodeEntry(enc[:i]); err == nil {
			t.Fatalf("a truncated entry of %d bytes decoded", i)
		}
	}
	if _, err := decodeEntry(append([]byte{9}, enc[1:]...)); err == nil {
		t.Fatal("an entry of another version decoded")
	}
}

// clock is a settable time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestFreshness: a kept response is served while fresh, then the next
// request is told EXPIRED and fetches it again, which keeps it afresh.
func TestFreshness(t *testing.T) {
	ch, err := chain.Build([]chain.Entry{{Name: Name, Configuration: json.RawMessage(`{"max_time": "2m", "rules": [{"cache": true}]}`)}},
		chain.Env{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	clk := &clock{t: time.Now()}
	ch.Policies()[0].(*Policy).now = clk.now
	calls := 0
	maxAge := ""
	up := func(*http.Request) (int, http.Header, []byte) {
		calls++
		h := http.Header{}
		if maxAge != "" {
			h.Set("Cache-Control", "max-age="+maxAge)
		}
		return 200, h, []byte("v")
	}
	get := func() string {
		res := policytest.Run(ch, httptest.NewRequest("GET", "http://api.test/r", nil), "192.0.2.1", up, 0)
		return res.Header.Get("X-Cache-Status")
	}
	steps := []struct {
		advance time.Duration
		status  string
		calls   int
	}{
		{0, "MISS", 1},
		{119 * time.Second, "HIT", 1},
		{2 * time.Second, "EXPIRED", 2},
		{time.Minute, "HIT", 2},
	}
	for i, s := range steps {
		clk.add(s.advance)
		if got := get(); got != s.status || calls != s.calls {
			t.Fatalf("step %d: %s after %d upstream requests, want %s after %d", i, got, calls, s.status, s.calls)
		}
	}
	// max-age from the upstream overrides max_time.
	maxAge = "10"
	clk.add(2 * time.Minute)
	if got := get(); got != "EXPIRED" {
		t.Fatalf("got %s", got)
	}
	clk.add(11 * time.Second)
	if got := get(); got != "EXPIRED" {
		t.Fatalf("after max-age: %s", got)
	}
}
