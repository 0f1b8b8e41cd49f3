package ratelimit_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/policies/internal/policytest"
	ratelimit "github.com/verdict-policy/verdict/policies/rate_limit"
	"github.com/verdict-policy/verdict/store"
)

// build builds a chain of one rate_limit policy counting in st (a store
// of the policy's own when nil), for service.
func build(t testing.TB, config, service string, st store.Store) *chain.Chain {
	t.Helper()
	env := chain.Env{ServiceID: service}
	if st != nil {
		env.Store = st
	}
	ch, err := chain.Build([]chain.Entry{policytest.Entry(ratelimit.Name, config)}, env)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	t.Cleanup(func() { _ = ch.Close() })
	return ch
}

// req is one request of a sequence and what it should get.
type req struct {
	path   string
	header string // "Name: value", optional
	status int
}

func TestRateLimit(t *testing.T) {
	const hourWindow = `"window": 3600`
	tests := []struct {
		name   string
		config string
		reqs   []req
	}{
		{"fixed window: count passes, the rest are refused",
			`{"fixed_window_limiters": [{"key": {"name": "k"}, "count": 2, ` + hourWindow + `}]}`,
			[]req{{"/", "", 200}, {"/", "", 200}, {"/", "", 429}, {"/", "", 429}}},
		{"fixed window: custom status",
			`{"fixed_window_limiters": [{"key": {"name": "k"}, "count": 1, ` + hourWindow + `}], "limits_exceeded_error": {"status_code": 503}}`,
			[]req{{"/", "", 200}, {"/", "", 503}}},
		{"fixed window: error_handling log lets requests through",
			`{"fixed_window_limiters": [{"key": {"name": "k"}, "count": 1, ` + hourWindow + `}], "limits_exceeded_error": {"error_handling": "log"}}`,
			[]req{{"/", "", 200}, {"/", "", 200}, {"/", "", 200}}},
		{"liquid key: one count per header value",
			`{"fixed_window_limiters": [{"key": {"name": "{{ headers['X-User'] }}", "name_type": "liquid"}, "count": 1, ` + hourWindow + `}]}`,
			[]req{{"/", "X-User: ann", 200}, {"/", "X-User: bob", 200}, {"/", "X-User: ann", 429}, {"/", "X-User: bob", 429}}},
		{"condition: only matching requests count",
			`{"fixed_window_limiters": [{"key": {"name": "k"}, "count": 1, ` + hourWindow + `, "condition": {"operations": [{"left": "{{ uri }}", "left_type": "liquid", "op": "matches", "right": "^/limited"}]}}]}`,
			[]req{{"/limited/a", "", 200}, {"/free", "", 200}, {"/free", "", 200}, {"/limited/b", "", 429}}},
		{"condition: or of two operations",
			`{"fixed_window_limiters": [{"key": {"name": "k"}, "count": 1, ` + hourWindow + `, "condition": {"combine_op": "or", "operations": [{"left": "{{ uri }}", "left_type": "liquid", "op": "==", "right": "/a"}, {"left": "{{ uri }}", "left_type": "liquid", "op": "==", "right": "/b"}]}}]}`,
			[]req{{"/a", "", 200}, {"/c", "", 200}, {"/b", "", 429}}},
		{"two windows: the tighter one refuses",
			`{"fixed_window_limiters": [{"key": {"name": "wide"}, "count": 10, ` + hourWindow + `}, {"key": {"name": "narrow"}, "count": 1, ` + hourWindow + `}]}`,
			[]req{{"/", "", 200}, {"/", "", 429}}},
		{"leaky bucket: beyond rate and burst is refused",
			`{"leaky_bucket_limiters": [{"key": {"name": "k"}, "rate": 0.01, "burst": 0}]}`,
			[]req{{"/", "", 200}, {"/", "", 429}}},
		{"key renders empty: configuration_error exits with 500",
			`{"fixed_window_limiters": [{"key": {"name": "{{ headers['X-None'] }}", "name_type": "liquid"}, "count": 1}]}`,
			[]req{{"/", "", 500}}},
		{"key renders empty: configuration_error log skips the limiter",
			`{"fixed_window_limiters": [{"key": {"name": "{{ headers['X-None'] }}", "name_type": "liquid"}, "count": 1}], "configuration_error": {"error_handling": "log"}}`,
			[]req{{"/", "", 200}, {"/", "", 200}}},
		{"invalid key template renders empty: configuration_error exits with 500",
			`{"fixed_window_limiters": [{"key": {"name": "{{ x | nope }}", "name_type": "liquid"}, "count": 1}]}`,
			[]req{{"/", "", 500}}},
		{"condition fails to render a regex: configuration_error status",
			`{"fixed_window_limiters": [{"key": {"name": "k"}, "count": 1, "condition": {"operations": [{"left": "a", "op": "matches", "right": "{{ headers['X-Re'] }}", "right_type": "liquid"}]}}], "configuration_error": {"status_code": 418}}`,
			[]req{{"/", "X-Re: (", 418}}},
		{"no limiters: everything passes",
			`{}`,
			[]req{{"/", "", 200}, {"/", "", 200}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := build(t, tt.config, "7", nil)
			for i, rq := range tt.reqs {
				r := httptest.NewRequest("GET", "http://api.example.com"+rq.path, nil)
				if k, v, ok := strings.Cut(rq.header, ":"); ok {
					r.Header.Set(k, strings.TrimSpace(v))
				}
				res := policytest.Run(ch, r, "192.0.2.1", nil, 0)
				if res.Status != rq.status {
					t.Fatalf("request %d (%s %s): status %d, want %d", i, rq.path, rq.header, res.Status, rq.status)
				}
				if rq.status == 429 {
					for _, h := range []string{"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "Retry-After"} {
						if res.Header.Get(h) == "" {
							t.Errorf("request %d: no %s header: %v", i, h, res.Header)
						}
					}
				}
			}
		})
	}
}

func TestRateLimitHeaders(t *testing.T) {
	ch := build(t, `{"fixed_window_limiters": [{"key": {"name": "k"}, "count": 3, "window": 60}]}`, "1", nil)
	var res policytest.Result
	for range 4 {
		res = policytest.Run(ch, httptest.NewRequest("GET", "http://api.example.com/", nil), "192.0.2.1", nil, 0)
	}
	if res.Status != 429 || res.Header.Get("RateLimit-Limit") != "3" || res.Header.Get("RateLimit-Remaining") != "0" {
		t.Fatalf("got %d %v", res.Status, res.Header)
	}
	reset := res.Header.Get("RateLimit-Reset")
	if reset != res.Header.Get("Retry-After") || reset < "1" || len(reset) > 2 || (len(reset) == 2 && reset > "60") {
		t.Errorf("reset %q, Retry-After %q: want the same 1..60 seconds", reset, res.Header.Get("Retry-After"))
	}
	if string(res.Body) != "Too Many Requests\n" {
		t.Errorf("body %q", res.Body)
	}
}

func TestScopes(t *testing.T) {
	mem := store.NewMemory(store.MemoryOptions{})
	t.Cleanup(func() { _ = mem.Close() })
	const service = `{"fixed_window_limiters": [{"key": {"name": "k"}, "count": 1, "window": 3600}]}`
	const global = `{"fixed_window_limiters": [{"key": {"name": "k", "scope": "global"}, "count": 1, "window": 3600}]}`
	status := func(ch *chain.Chain) int {
		return policytest.Run(ch, httptest.NewRequest("GET", "http://api.example.com/", nil), "192.0.2.1", nil, 0).Status
	}
	s1, s2 := build(t, service, "1", mem), build(t, service, "2", mem)
	if a, b := status(s1), status(s2); a != 200 || b != 200 {
		t.Errorf("service scope: services 1 and 2 got %d and %d, want their own counts", a, b)
	}
	g1, g2 := build(t, global, "1", mem), build(t, global, "2", mem)
	if a, b := status(g1), status(g2); a != 200 || b != 429 {
		t.Errorf("global scope: services 1 and 2 got %d and %d, want one shared count", a, b)
	}
}

// TestConnections holds requests in flight between access and log.
func TestConnections(t *testing.T) {
	ch := build(t, `{"connection_limiters": [{"key": {"name": "k"}, "conn": 2, "burst": 1, "delay": 0.05}]}`, "1", nil)
	newCtx := func() *chain.Context {
		return chain.NewContext(httptest.NewRequest("GET", "http://api.example.com/", nil), "192.0.2.1", nil, ch.Exports())
	}
	var held []*chain.Context
	for i := range 2 {
		c := newCtx()
		start := time.Now()
		ch.Access(c)
		if c.Exited() || time.Since(start) > 40*time.Millisecond {
			t.Fatalf("request %d within conn: exited %v after %v", i, c.Exited(), time.Since(start))
		}
		held = append(held, c)
	}
	burst := newCtx()
	start := time.Now()
	ch.Access(burst)
	if burst.Exited() || time.Since(start) < 50*time.Millisecond {
		t.Fatalf("the request in the burst: exited %v after %v, want a delay of 50ms", burst.Exited(), time.Since(start))
	}
	over := newCtx()
	ch.Access(over)
	if !over.Exited() || over.Response.Status != 429 {
		t.Fatalf("beyond conn+burst: status %d", over.Response.Status)
	}
	ch.Log(over)
	for _, c := range append(held, burst) {
		ch.Log(c)
	}
	again := newCtx()
	ch.Access(again)
	if again.Exited() {
		t.Fatalf("after the slots were given back: status %d", again.Response.Status)
	}
	ch.Log(again)
}

// TestStoreDown counts in a Redis server that is not there.
func TestStoreDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	for _, tt := range []struct {
		name, settings string
		status         int
	}{
		// APIcast's rate-limit tests 3 and 23: without on_store_error,
		// configuration_error decides.
		{"default: configuration_error exits with 500", ``, 500},
		{"configuration_error status", `"configuration_error": {"status_code": 502}, `, 502},
		{"configuration_error log lets requests through", `"configuration_error": {"error_handling": "log"}, `, 200},
		{"allow", `"on_store_error": "allow", `, 200},
		{"deny", `"on_store_error": "deny", "configuration_error": {"error_handling": "log"}, `, 503},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ch := build(t, `{"redis_url": "redis://`+addr+`/0", `+tt.settings+`"fixed_window_limiters": [{"key": {"name": "k"}, "count": 1}]}`, "1", nil)
			for range 3 {
				res := policytest.Run(ch, httptest.NewRequest("GET", "http://api.example.com/", nil), "192.0.2.1", nil, 0)
				if res.Status != tt.status {
					t.Fatalf("status %d, want %d", res.Status, tt.status)
				}
				if strings.Contains(string(res.Body), "refused") || strings.Contains(string(res.Body), addr) {
					t.Fatalf("the store's error leaked into the body: %q", res.Body)
				}
			}
			p := ch.Policies()[0].(*ratelimit.Policy)
			if p.StoreErrors() != 3 {
				t.Errorf("store errors counted %d, want 3", p.StoreErrors())
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct{ config, want string }{
		{`{"fixed_window_limiters": [{"key": {"name": "k"}, "count": 0}]}`, "fixed_window_limiters.0.count"},
		{`{"fixed_window_limiters": [{"key": {"name": "k"}}]}`, "count"},
		{`{"leaky_bucket_limiters": [{"key": {"name": "k"}, "rate": 0}]}`, "rate"},
		{`{"connection_limiters": [{"key": {"name": "k"}, "conn": 1, "delay": 0}]}`, "delay"},
		{`{"fixed_window_limiters": [{"key": {"name": "k", "scope": "world"}, "count": 1}]}`, "scope"},
		{`{"fixed_window_limiters": [{"key": {"name": "k"}, "count": 1, "condition": {"operations": [{"left": "a", "op": "matches", "right": "("}]}}]}`, `fixed_window_limiters[0].condition.operations[0].right: invalid regular expression`},
		{`{"on_store_error": "maybe"}`, "on_store_error"},
		{`{"limits_exceeded_error": {"status_code": 99}}`, "status_code"},
		{`{"redis_url": "mysql://x"}`, "redis_url"},
		{`{"unknown": 1}`, "unknown"},
	}
	var golden strings.Builder
	for _, tt := range tests {
		_, err := chain.Build([]chain.Entry{policytest.Entry(ratelimit.Name, tt.config)}, chain.Env{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("config %s: error %v, want one mentioning %q", tt.config, err, tt.want)
			continue
		}
		fmt.Fprintf(&golden, "%s\n\t%v\n", tt.config, err)
	}
	policytest.Golden(t, "load_errors.golden", golden.String())
}

func TestDelayEndsWithTheClient(t *testing.T) {
	ch := build(t, `{"leaky_bucket_limiters": [{"key": {"name": "k"}, "rate": 0.01, "burst": 5}]}`, "1", nil)
	// The first request fills the rate; the second waits 100 s unless its
	// client goes away.
	policytest.Run(ch, httptest.NewRequest("GET", "http://api.example.com/", nil), "192.0.2.1", nil, 0)
	r := httptest.NewRequest("GET", "http://api.example.com/", nil)
	ctx, cancel := context.WithTimeout(r.Context(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	res := policytest.Run(ch, r.WithContext(ctx), "192.0.2.1", nil, 0)
	if time.Since(start) > 5*time.Second || res.Status != http.StatusOK {
		t.Fatalf("status %d after %v", res.Status, time.Since(start))
	}
}

// TestServiceScopeInTheGlobalChain counts a service-scoped key of the
// global chain per service of the request.
func TestServiceScopeInTheGlobalChain(t *testing.T) {
	for _, name := range []string{`"name": "k"`, `"name": "{{ host }}", "name_type": "liquid"`} {
		ch := build(t, `{"fixed_window_limiters": [{"key": {`+name+`}, "count": 1, "window": 3600}]}`, "", nil)
		status := func(service string) int {
			c := chain.NewContext(httptest.NewRequest("GET", "http://api.example.com/", nil), "192.0.2.1", nil, nil)
			c.ServiceID = service
			ch.Access(c)
			if c.Exited() {
				return c.Response.Status
			}
			return 200
		}
		if got := []int{status("1"), status("2"), status("1"), status("2")}; got[0] != 200 || got[1] != 200 || got[2] != 429 || got[3] != 429 {
			t.Errorf("%s: statuses %v, want one pass per service", name, got)
		}
	}
}

// TestOwnStoreLifecycle builds policies with stores of their own: nothing
// is opened before a request needs it, and a closed policy opens nothing.
func TestOwnStoreLifecycle(t *testing.T) {
	for _, cfg := range []string{
		`{"on_store_error": "allow", "fixed_window_limiters": [{"key": {"name": "k"}, "count": 1}]}`,
		`{"on_store_error": "allow", "redis_url": "redis://127.0.0.1:1/0", "fixed_window_limiters": [{"key": {"name": "k"}, "count": 1}]}`,
	} {
		ch, err := chain.Build([]chain.Entry{policytest.Entry(ratelimit.Name, cfg)}, chain.Env{})
		if err != nil {
			t.Fatal(err)
		}
		if err := ch.Close(); err != nil {
			t.Fatalf("close before any request: %v", err)
		}
		res := policytest.Run(ch, httptest.NewRequest("GET", "http://api.example.com/", nil), "192.0.2.1", nil, 0)
		if res.Status != 200 || ch.Policies()[0].(*ratelimit.Policy).StoreErrors() != 1 {
			t.Errorf("%s: a request after Close got %d (%v)", cfg, res.Status, res.Context.Failed())
		}
	}
}

// TestWindowZeroIsOneSecond is APIcast's "Window is set to 0 and default
// is 1": window 0 loads and counts in windows of one second. A fake clock
// keeps the two requests in one window, whatever the machine's speed.
func TestWindowZeroIsOneSecond(t *testing.T) {
	for _, window := range []string{`, "window": 0`, ``} {
		now := time.Unix(1_000_000, 250_000_000)
		mem := store.NewMemory(store.MemoryOptions{SweepInterval: -1, Now: func() time.Time { return now }})
		t.Cleanup(func() { _ = mem.Close() })
		ch := build(t, `{"fixed_window_limiters": [{"key": {"name": "test22"}, "count": 1`+window+`}], "limits_exceeded_error": {"status_code": 429}}`, "42", mem)
		status := func() (int, string) {
			res := policytest.Run(ch, httptest.NewRequest("GET", "http://api.example.com/", nil), "192.0.2.1", nil, 0)
			return res.Status, res.Header.Get("Retry-After")
		}
		if s, _ := status(); s != 200 {
			t.Fatalf("window%s: first request %d, want 200", window, s)
		}
		if s, retry := status(); s != 429 || retry != "1" {
			t.Fatalf("window%s: second request %d with Retry-After %q, want 429 within one second", window, s, retry)
		}
		now = now.Add(time.Second)
		if s, _ := status(); s != 200 {
			t.Errorf("window%s: a second later %d, want 200 in the next window", window, s)
		}
	}
}
