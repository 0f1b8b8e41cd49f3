package ratelimit_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/verdict-policy/verdict/config"
	"github.com/verdict-policy/verdict/gateway"
	"github.com/verdict-policy/verdict/gateway/gatewaytest"
	"github.com/verdict-policy/verdict/internal/redistest"
	_ "github.com/verdict-policy/verdict/policies/rate_limit"
	"github.com/verdict-policy/verdict/store"
)

// instance is one gateway on a loopback port whose policies count in st.
type instance struct{ url string }

func startInstance(t *testing.T, st store.Store, cfgYAML string) instance {
	t.Helper()
	gw, err := gateway.New(gateway.Options{Store: func(config.Store) (store.Store, error) { return st, nil }})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "verdict.yaml")
	if err := os.WriteFile(file, []byte(cfgYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	docs, err := cfg.Compile()
	if err != nil {
		t.Fatal(err)
	}
	install, err := gw.Prepare(cfg, docs)
	if err != nil {
		t.Fatal(err)
	}
	install()
	srv := httptest.NewServer(gw)
	t.Cleanup(func() {
		srv.Close()
		_ = gw.Close()
	})
	return instance{url: srv.URL}
}

func (in instance) get(t *testing.T, path, tenant string) (int, string, http.Header) {
	t.Helper()
	r, err := http.NewRequest("GET", in.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Host = "localhost"
	r.Header.Set("X-Tenant", tenant)
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body), res.Header
}

// limited is a service allowing limit requests an hour, on_store_error
// as given.
func limited(upstream string, limit int, onStoreError string) string {
	return fmt.Sprintf(`
services:
  - id: 1
    proxy:
      api_backend: %s
      policy_chain:
        - name: rate_limit
          configuration:
            on_store_error: %s
            fixed_window_limiters:
              - {key: {name: "{{ headers['X-Tenant'] }}", name_type: liquid}, count: %d, window: 3600}
        - name: apicast
`, upstream, onStoreError, limit)
}

// avoidHourEdge waits out the last seconds of an hour, so that a test's
// requests fall in one hourly window.
func avoidHourEdge() {
	if left := time.Until(time.Now().Truncate(time.Hour).Add(time.Hour)); left < 15*time.Second {
		time.Sleep(left + 100*time.Millisecond)
	}
}

// send makes n requests alternately through the instances and counts the
// statuses.
func send(t *testing.T, n int, tenant string, ins ...instance) map[int]int {
	t.Helper()
	got := map[int]int{}
	for i := range n {
		r, err := http.NewRequest("GET", ins[i%len(ins)].url+"/x", nil)
		if err != nil {
			t.Fatal(err)
		}
		r.Host = "localhost"
		r.Header.Set("X-Tenant", tenant)
		res, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 && strings.Contains(string(body), "127.0.0.1") {
			t.Fatalf("a store address leaked into the body: %q", body)
		}
		got[res.StatusCode]++
	}
	return got
}

func newRedis(t testing.TB, srv *redistest.Server, prefix string) *store.Redis {
	t.Helper()
	r, err := store.NewRedis(context.Background(), store.RedisOptions{
		URL: srv.URL(), KeyPrefix: prefix, DialTimeout: 200 * time.Millisecond,
		ReadTimeout: 500 * time.Millisecond, WriteTimeout: 500 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// TestLimitSharedThroughRedis runs two gateways counting in one Redis: the
// limit holds across both.
func TestLimitSharedThroughRedis(t *testing.T) {
	srv := redistest.Start(t)
	up := gatewaytest.StartUpstream(t, nil)
	prefix := t.Name() + ":"
	a := startInstance(t, newRedis(t, srv, prefix), limited(up.URL, 5, "allow"))
	b := startInstance(t, newRedis(t, srv, prefix), limited(up.URL, 5, "allow"))
	avoidHourEdge()
	got := send(t, 16, "acme", a, b)
	if got[200] != 5 || got[429] != 11 {
		t.Fatalf("statuses %v: want exactly 5 passed and 11 refused across both instances", got)
	}
	if n := len(up.Requests()); n != 5 {
		t.Errorf("the upstream saw %d requests, want 5", n)
	}
	status, body, h := b.get(t, "/x", "acme")
	if status != 429 || body != "Too Many Requests\n" || h.Get("RateLimit-Limit") != "5" ||
		h.Get("RateLimit-Remaining") != "0" || h.Get("Retry-After") == "" {
		t.Errorf("a refusal: %d %q %v", status, body, h)
	}
}

// TestLimitPerInstanceInMemory runs the same two gateways, each counting
// in its own memory store: each allows the limit.
func TestLimitPerInstanceInMemory(t *testing.T) {
	up := gatewaytest.StartUpstream(t, nil)
	memA, memB := store.NewMemory(store.MemoryOptions{}), store.NewMemory(store.MemoryOptions{})
	t.Cleanup(func() { _ = memA.Close(); _ = memB.Close() })
	a := startInstance(t, memA, limited(up.URL, 5, "allow"))
	b := startInstance(t, memB, limited(up.URL, 5, "allow"))
	avoidHourEdge()
	got := send(t, 16, "acme", a, b)
	if got[200] != 10 || got[429] != 6 {
		t.Fatalf("statuses %v: want 5 passed on each instance (10) and 6 refused", got)
	}
}

// TestRedisOutage stops Redis under two gateways, one allowing and one
// denying on store errors, and brings it back.
func TestRedisOutage(t *testing.T) {
	srv := redistest.Start(t)
	up := gatewaytest.StartUpstream(t, nil)
	prefix := t.Name() + ":"
	allow := startInstance(t, newRedis(t, srv, prefix), limited(up.URL, 3, "allow"))
	deny := startInstance(t, newRedis(t, srv, prefix), limited(up.URL, 3, "deny"))
	avoidHourEdge()
	if got := send(t, 4, "before", allow, deny); got[200] != 3 || got[429] != 1 {
		t.Fatalf("before the outage: %v, want 3 passed and 1 refused", got)
	}

	srv.Stop()
	if got := send(t, 5, "during", allow); got[200] != 5 {
		t.Errorf("on_store_error allow during the outage: %v, want every request passed", got)
	}
	if got := send(t, 5, "during", deny); got[503] != 5 {
		t.Errorf("on_store_error deny during the outage: %v, want every request 503", got)
	}
	status, body, _ := deny.get(t, "/x", "during")
	if status != 503 || body != "Service Unavailable\n" {
		t.Errorf("deny body %d %q, want the bare status text", status, body)
	}

	srv.Restart()
	// The restarted server is empty: a fresh count, shared again.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if s, _, _ := deny.get(t, "/warmup", "warmup"); s != 503 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := send(t, 6, "after", allow, deny); got[200] != 3 || got[429] != 3 {
		t.Fatalf("after Redis returned: %v, want 3 passed and 3 refused", got)
	}
}

// TestWindowZeroThroughGateway loads APIcast's window of 0 through the
// gateway and counts it as one second, on a store with a fake clock.
func TestWindowZeroThroughGateway(t *testing.T) {
	up := gatewaytest.StartUpstream(t, nil)
	var mu sync.Mutex
	now := time.Unix(2_000_000, 500_000_000)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	mem := store.NewMemory(store.MemoryOptions{SweepInterval: -1, Now: clock})
	t.Cleanup(func() { _ = mem.Close() })
	in := startInstance(t, mem, `
services:
  - id: 42
    proxy:
      api_backend: `+up.URL+`
      policy_chain:
        - name: rate_limit
          configuration:
            fixed_window_limiters: [{key: {name: test22}, count: 1, window: 0}]
            limits_exceeded_error: {status_code: 429}
        - name: apicast
`)
	if s, body, _ := in.get(t, "/", ""); s != 200 {
		t.Fatalf("first request %d %q", s, body)
	}
	if s, _, h := in.get(t, "/", ""); s != 429 || h.Get("Retry-After") != "1" {
		t.Fatalf("second request %d, Retry-After %q: want 429 within one second", s, h.Get("Retry-After"))
	}
	mu.Lock()
	now = now.Add(time.Second)
	mu.Unlock()
	if s, body, _ := in.get(t, "/", ""); s != 200 {
		t.Errorf("a second later %d %q, want 200", s, body)
	}
}

// TestStoreDownThroughGateway replays APIcast's rate-limit tests 3 and 23
// through the gateway: a Redis server that cannot be reached is a
// configuration error, 500 by default, or logged and let through.
func TestStoreDownThroughGateway(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	up := gatewaytest.StartUpstream(t, nil)
	for _, tt := range []struct {
		settings string
		status   int
	}{
		{"", 500},
		{"\n            configuration_error: {error_handling: log}", 200},
	} {
		gw := gatewaytest.Start(t, `
services:
  - id: 42
    proxy:
      api_backend: `+up.URL+`
      policy_chain:
        - name: rate_limit
          configuration:
            connection_limiters: [{key: {name: test3, scope: global}, conn: 20, burst: 10, delay: 0.5}]
            redis_url: "redis://`+addr+`/1"`+tt.settings+`
        - name: apicast
`)
		res := gw.Do(t, gw.NewRequest("GET", "/", nil))
		if res.Status != tt.status || strings.Contains(res.Body, addr) {
			t.Errorf("settings %q: got %d %q, want %d", tt.settings, res.Status, res.Body, tt.status)
		}
		if logs := strings.Join(gw.Logs(), "\n"); !strings.Contains(logs, "the store cannot be reached") {
			t.Errorf("settings %q: the failure is not logged:\n%s", tt.settings, logs)
		}
	}
}
