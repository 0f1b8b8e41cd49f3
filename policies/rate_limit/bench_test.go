package ratelimit_test

import (
	"net/http/httptest"
	"testing"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/internal/redistest"
	"github.com/verdict-policy/verdict/policies/internal/policytest"
	ratelimit "github.com/verdict-policy/verdict/policies/rate_limit"
	"github.com/verdict-policy/verdict/store"
)

// The limits are high enough that every benchmarked request passes.
var benchConfigs = []struct{ name, config string }{
	{"fixed window", `{"fixed_window_limiters": [{"key": {"name": "k"}, "count": 1000000000, "window": 3600}]}`},
	{"leaky bucket", `{"leaky_bucket_limiters": [{"key": {"name": "k"}, "rate": 1000000000, "burst": 1000000}]}`},
	{"connections", `{"connection_limiters": [{"key": {"name": "k"}, "conn": 1000000}]}`},
	{"fixed window, liquid key", `{"fixed_window_limiters": [{"key": {"name": "{{ headers['X-User'] }}", "name_type": "liquid"}, "count": 1000000000, "window": 3600}]}`},
	{"fixed window under a condition", `{"fixed_window_limiters": [{"key": {"name": "k"}, "count": 1000000000, "window": 3600, "condition": {"operations": [{"left": "{{ uri }}", "left_type": "liquid", "op": "==", "right": "/"}]}}]}`},
}

// benchDecision measures the policy's decision alone: the access phase
// (and log, which gives connection slots back) on one request's context.
func benchDecision(b *testing.B, st store.Store, config string) {
	ch, err := chain.Build([]chain.Entry{policytest.Entry(ratelimit.Name, config)},
		chain.Env{ServiceID: "1", Store: st})
	if err != nil {
		b.Fatal(err)
	}
	defer ch.Close()
	p := ch.Policies()[0].(*ratelimit.Policy)
	r := httptest.NewRequest("GET", "http://api.example.com/", nil)
	r.Header.Set("X-User", "ann")
	c := chain.NewContext(r, "192.0.2.1", nil, nil)
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Access(c); err != nil || c.Exited() {
			b.Fatalf("refused: %v %d", err, c.Response.Status)
		}
		if err := p.Log(c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecisionMemory(b *testing.B) {
	mem := store.NewMemory(store.MemoryOptions{})
	defer mem.Close()
	for _, bc := range benchConfigs {
		b.Run(bc.name, func(b *testing.B) { benchDecision(b, mem, bc.config) })
	}
}

func BenchmarkDecisionRedis(b *testing.B) {
	srv := redistest.Start(b)
	r := newRedis(b, srv, "bench:")
	for _, bc := range benchConfigs[:3] {
		b.Run(bc.name, func(b *testing.B) { benchDecision(b, r, bc.config) })
	}
	b.Run("ping (one round trip)", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := r.Ping(b.Context()); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkChain runs whole requests through a chain of the policy, as
// the gateway does, against the memory store.
func BenchmarkChain(b *testing.B) {
	mem := store.NewMemory(store.MemoryOptions{})
	defer mem.Close()
	ch, err := chain.Build([]chain.Entry{policytest.Entry(ratelimit.Name, benchConfigs[0].config)},
		chain.Env{ServiceID: "1", Store: mem})
	if err != nil {
		b.Fatal(err)
	}
	defer ch.Close()
	policytest.Benchmark(b, ch, httptest.NewRequest("GET", "http://api.example.com/", nil), 200, nil, nil)
}
