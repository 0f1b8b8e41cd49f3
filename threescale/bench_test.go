package threescale_test

import (
	"context"
	"testing"

	"github.com/verdict-policy/verdict/internal/redistest"
	"github.com/verdict-policy/verdict/store"
	"github.com/verdict-policy/verdict/threescale"
	"github.com/verdict-policy/verdict/threescale/threescaletest"
)

// cachedSetup returns an authorizer and a request whose authorization is
// cached.
func cachedSetup(tb testing.TB, o threescale.Options) (*threescale.Authorizer, *threescale.Request) {
	tb.Helper()
	b := threescaletest.Start(tb)
	b.AddService(threescaletest.Service{ID: "42", Token: "tok", Version: "2"})
	b.AddApplication("42", threescaletest.Application{ID: "app-id-0123456789", Keys: []string{"app-key-abcdef"}})
	c, err := threescale.NewClient(threescale.ClientOptions{Endpoint: b.URL()})
	if err != nil {
		tb.Fatal(err)
	}
	s, err := threescale.NewService(threescale.ServiceConfig{ID: "42", Version: threescale.VersionAppID, AuthValue: "tok"}, c)
	if err != nil {
		tb.Fatal(err)
	}
	a, err := threescale.New(o)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = a.Close(context.Background()) })
	req := &threescale.Request{Service: s, Credentials: threescale.Credentials{AppID: "app-id-0123456789", AppKey: "app-key-abcdef"}}
	req.Usage.Add("hits", 1)
	req.Usage.Add("search", 2)
	if d := a.Authorize(context.Background(), req); !d.Allowed || d.Source != threescale.FromBackend {
		tb.Fatalf("first authorization: %+v", d)
	}
	if d := a.Authorize(context.Background(), req); d.Source != threescale.FromCache {
		tb.Fatalf("second authorization not cached: %+v", d)
	}
	return a, req
}

// TestCachedAuthorizationAllocatesNothing guards the hot path: with the
// state in this process, a cached authorization (and, in batch mode, the
// counting of its usage) allocates nothing.
func TestCachedAuthorizationAllocatesNothing(t *testing.T) {
	for _, mode := range []threescale.Mode{threescale.ModeAuthrep, threescale.ModeBatch} {
		t.Run(mode.String(), func(t *testing.T) {
			a, req := cachedSetup(t, threescale.Options{Mode: mode})
			ctx := context.Background()
			allocs := testing.AllocsPerRun(1000, func() {
				if d := a.Authorize(ctx, req); !d.Allowed {
					t.Fatal(d)
				}
			})
			if allocs != 0 {
				t.Fatalf("%v allocations per cached authorization", allocs)
			}
		})
	}
}

func benchCached(b *testing.B, o threescale.Options) {
	a, req := cachedSetup(b, o)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if d := a.Authorize(ctx, req); !d.Allowed {
			b.Fatal(d)
		}
	}
}

func BenchmarkCachedAuthrep(b *testing.B) { benchCached(b, threescale.Options{}) }

func BenchmarkCachedBatch(b *testing.B) {
	benchCached(b, threescale.Options{Mode: threescale.ModeBatch})
}

func BenchmarkCachedBatchParallel(b *testing.B) {
	a, req := cachedSetup(b, threescale.Options{Mode: threescale.ModeBatch})
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if d := a.Authorize(ctx, req); !d.Allowed {
				b.Error(d)
				return
			}
		}
	})
}

// BenchmarkCachedBatchMemoryStore goes through the store interface: what
// a shared store costs beyond the network.
func BenchmarkCachedBatchMemoryStore(b *testing.B) {
	m := store.NewMemory(store.MemoryOptions{})
	b.Cleanup(func() { _ = m.Close() })
	benchCached(b, threescale.Options{Mode: threescale.ModeBatch, Store: m})
}

func BenchmarkCachedBatchRedis(b *testing.B) {
	srv := redistest.Start(b)
	r, err := store.NewRedis(context.Background(), store.RedisOptions{URL: srv.URL()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = r.Close() })
	benchCached(b, threescale.Options{Mode: threescale.ModeBatch, Store: r})
}
