package contentcaching_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/verdict-policy/verdict/config"
	"github.com/verdict-policy/verdict/gateway"
	"github.com/verdict-policy/verdict/gateway/gatewaytest"
	"github.com/verdict-policy/verdict/internal/redistest"
	_ "github.com/verdict-policy/verdict/policies/content_caching"
	_ "github.com/verdict-policy/verdict/policies/maintenance_mode"
	_ "github.com/verdict-policy/verdict/policies/routing"
	"github.com/verdict-policy/verdict/store"
)

// TestThroughGateway runs APIcast's first content caching test in a real
// gateway in front of a real upstream: the second and third requests do
// not reach the upstream, and get its body and headers.
func TestThroughGateway(t *testing.T) {
	var hits atomic.Int32
	up := gatewaytest.StartUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("ETag", `"v1"`)
		_, _ = io.WriteString(w, "yay, api backend\n")
	})
	gw := gatewaytest.Start(t, `
services:
  - id: 42
    proxy:
      api_backend: `+up.URL+`
      policy_chain:
        - name: content_caching
          configuration:
            rules:
              - cache: true
                header: X-Cache-Status
                condition: {combine_op: and, operations: [{left: oo, op: "==", right: oo}]}
        - name: maintenance_mode
          configuration:
            condition: {operations: [{left: "{{ headers['X-Maintenance'] }}", left_type: liquid, op: "==", right: "on"}]}
        - name: apicast
`)
	for i, want := range []string{"MISS", "HIT", "HIT"} {
		res := gw.Do(t, gw.NewRequest("GET", "/foo", nil))
		if res.Status != 200 || res.Body != "yay, api backend\n" || res.Header.Get("X-Cache-Status") != want ||
			res.Header.Get("ETag") != `"v1"` || res.Header.Get("Content-Type") != "text/plain" {
			t.Fatalf("request %d: %d %q %v", i, res.Status, res.Body, res.Header)
		}
	}
	if n := hits.Load(); n != 1 {
		t.Fatalf("%d upstream requests, want 1", n)
	}

	// Access policies still decide for a response the cache holds.
	r := gw.NewRequest("GET", "/foo", nil)
	r.Header.Set("X-Maintenance", "on")
	if res := gw.Do(t, r); res.Status != 503 || res.Header.Get("X-Cache-Status") != "" {
		t.Fatalf("maintenance with a cached response: %d %v", res.Status, res.Header)
	}

	// A HEAD is answered from the GET's response, without a body.
	res := gw.Do(t, gw.NewRequest("HEAD", "/foo", nil))
	if res.Status != 200 || res.Body != "" || res.Header.Get("X-Cache-Status") != "HIT" || res.Header.Get("Content-Length") != "17" {
		t.Fatalf("HEAD: %d %q %v", res.Status, res.Body, res.Header)
	}
	if n := hits.Load(); n != 1 {
		t.Fatalf("%d upstream requests, want 1", n)
	}

	// A HEAD that misses goes upstream as a GET.
	res = gw.Do(t, gw.NewRequest("HEAD", "/bar", nil))
	if res.Status != 200 || res.Body != "" || res.Header.Get("X-Cache-Status") != "MISS" || up.Last(t).Method != "GET" {
		t.Fatalf("HEAD miss: %d %q %v, upstream got %s", res.Status, res.Body, res.Header, up.Last(t).Method)
	}
	if res := gw.Do(t, gw.NewRequest("GET", "/bar", nil)); res.Header.Get("X-Cache-Status") != "HIT" || res.Body != "yay, api backend\n" {
		t.Fatalf("GET after a HEAD miss: %v %q", res.Header, res.Body)
	}
}

// TestRoutedUpstreamsThroughGateway: requests a routing policy sends to
// different upstreams are kept apart, as nginx's key holds the upstream.
func TestRoutedUpstreamsThroughGateway(t *testing.T) {
	v1 := gatewaytest.StartUpstream(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "v1") })
	v2 := gatewaytest.StartUpstream(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "v2") })
	gw := gatewaytest.Start(t, `
services:
  - proxy:
      api_backend: `+v1.URL+`
      policy_chain:
        - {name: content_caching, configuration: {rules: [{cache: true}]}}
        - name: routing
          configuration:
            rules:
              - url: `+v2.URL+`
                condition: {operations: [{match: header, header_name: X-Version, op: "==", value: "2"}]}
        - name: apicast
`)
	for _, tt := range []struct{ version, body, cache string }{
		{"1", "v1", "MISS"}, {"2", "v2", "MISS"}, {"1", "v1", "HIT"}, {"2", "v2", "HIT"},
	} {
		r := gw.NewRequest("GET", "/items", nil)
		r.Header.Set("X-Version", tt.version)
		if res := gw.Do(t, r); res.Body != tt.body || res.Header.Get("X-Cache-Status") != tt.cache {
			t.Fatalf("version %s: %q %s, want %q %s", tt.version, res.Body, res.Header.Get("X-Cache-Status"), tt.body, tt.cache)
		}
	}
}

// startInstance serves cfgYAML with a gateway whose policies keep their
// state in st.
func startInstance(t *testing.T, st store.Store, cfgYAML string) string {
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
	return srv.URL
}

// TestSharedThroughRedis: two gateways keeping responses in one Redis
// serve each other's; with Redis down they bypass the cache and still
// answer.
func TestSharedThroughRedis(t *testing.T) {
	srv := redistest.Start(t)
	rs, err := store.NewRedis(context.Background(), store.RedisOptions{URL: srv.URL(), KeyPrefix: "cc-test:",
		DialTimeout: 200 * time.Millisecond, ReadTimeout: 500 * time.Millisecond, WriteTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rs.Close() })
	var hits atomic.Int32
	up := gatewaytest.StartUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		n := hits.Add(1)
		_, _ = fmt.Fprintf(w, "answer %d", n)
	})
	cfg := `
services:
  - id: 7
    proxy:
      api_backend: ` + up.URL + `
      policy_chain: [{name: content_caching, configuration: {rules: [{cache: true}]}}, {name: apicast}]
`
	a, b := startInstance(t, rs, cfg), startInstance(t, rs, cfg)
	get := func(base string) (string, string) {
		r, _ := http.NewRequest("GET", base+"/shared", nil)
		r.Host = "localhost"
		res, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return string(body), res.Header.Get("X-Cache-Status")
	}
	if body, cache := get(a); body != "answer 1" || cache != "MISS" {
		t.Fatalf("first on a: %q %s", body, cache)
	}
	if body, cache := get(b); body != "answer 1" || cache != "HIT" {
		t.Fatalf("then on b: %q %s", body, cache)
	}
	srv.Stop()
	for _, base := range []string{a, b} {
		if body, cache := get(base); cache != "BYPASS" || body == "" {
			t.Fatalf("Redis down: %q %s", body, cache)
		}
	}
}
