package threescale_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/verdict-policy/verdict/internal/redistest"
	"github.com/verdict-policy/verdict/store"
	"github.com/verdict-policy/verdict/threescale"
	"github.com/verdict-policy/verdict/threescale/threescaletest"
)

// redisStore opens a store on srv, as a separate instance would.
func redisStore(t *testing.T, srv *redistest.Server) *store.Redis {
	t.Helper()
	r, err := store.NewRedis(context.Background(), store.RedisOptions{
		URL: srv.URL(), KeyPrefix: t.Name() + ":", DialTimeout: time.Second, ReadTimeout: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

func TestSharedBatchAcrossInstances(t *testing.T) {
	srv := redistest.Start(t)
	f := newFixture(t, threescale.ClientOptions{})
	f.backend.AddApplication("1", threescaletest.Application{ID: "free", UserKey: freeKey})
	a := newAuthorizer(t, threescale.Options{Mode: threescale.ModeBatch, Store: redisStore(t, srv), BatchInterval: time.Hour})
	b := newAuthorizer(t, threescale.Options{Mode: threescale.ModeBatch, Store: redisStore(t, srv), BatchInterval: time.Hour})
	req := &threescale.Request{Service: f.v1, Credentials: threescale.Credentials{UserKey: freeKey}, Usage: hits(2)}

	fromBackend.check(t, "instance a", a.Authorize(t.Context(), req))
	fromCache.check(t, "instance b sees a's grant", b.Authorize(t.Context(), req))
	fromCache.check(t, "instance a again", a.Authorize(t.Context(), req))
	if n := len(f.backend.CallsTo(authorizePath)); n != 1 {
		t.Fatalf("%d authorize calls for one application on two instances", n)
	}
	// A denial is shared too.
	denied := &threescale.Request{Service: f.v1, Credentials: threescale.Credentials{UserKey: "nope"}, Usage: hits(1)}
	if d := a.Authorize(t.Context(), denied); d.Allowed || d.Source != threescale.FromBackend {
		t.Fatalf("a: %+v", d)
	}
	if d := b.Authorize(t.Context(), denied); d.Allowed || d.Source != threescale.FromCache || d.Status != 403 {
		t.Fatalf("b: %+v", d)
	}

	// Either instance reports what both counted, once.
	flush(t, b)
	flush(t, a)
	calls := f.backend.CallsTo(reportPath)
	if len(calls) != 1 || calls[0].Form.Get("transactions[0][usage][hits]") != "6" {
		t.Fatalf("reports %+v, want one of 6 hits", calls)
	}
	if got := f.backend.Usage("1", "free", "hits", "day"); got != 6 {
		t.Fatalf("backend counted %d hits", got)
	}
}

func TestSharedAuthrepCache(t *testing.T) {
	srv := redistest.Start(t)
	f := newFixture(t, threescale.ClientOptions{})
	a := newAuthorizer(t, threescale.Options{Store: redisStore(t, srv)})
	b := newAuthorizer(t, threescale.Options{Store: redisStore(t, srv)})
	req := &threescale.Request{Service: f.v2, Credentials: threescale.Credentials{AppID: appID, AppKey: appKey}, Usage: hits(1)}
	fromBackend.check(t, "a", authorizeAndReport(t, a, req))
	fromCache.check(t, "b", authorizeAndReport(t, b, req))
	// b's report learns of the suspension and drops the shared grant, so
	// a asks the backend next.
	f.backend.SetSuspended("2", appID, true)
	fromCache.check(t, "b before its report", authorizeAndReport(t, b, req))
	refused.check(t, "a after b's report", a.Authorize(t.Context(), req))
}

func TestSharedStoreOutage(t *testing.T) {
	srv := redistest.Start(t)
	f := newFixture(t, threescale.ClientOptions{})
	f.backend.AddApplication("1", threescaletest.Application{ID: "free", UserKey: freeKey})
	a := newAuthorizer(t, threescale.Options{Mode: threescale.ModeBatch, Store: redisStore(t, srv), BatchInterval: time.Hour})
	req := &threescale.Request{Service: f.v1, Credentials: threescale.Credentials{UserKey: freeKey}, Usage: hits(1)}
	fromBackend.check(t, "before", a.Authorize(t.Context(), req))
	fromCache.check(t, "cached", a.Authorize(t.Context(), req))

	srv.Stop()
	// Without the store every request asks the backend, and its usage is
	// kept in this instance.
	fromBackend.check(t, "store down", a.Authorize(t.Context(), req))
	fromBackend.check(t, "store down again", a.Authorize(t.Context(), req))
	if got := a.Pending(); got != 2 {
		t.Fatalf("pending in the instance %d, want 2", got)
	}
	if err := a.Flush(t.Context()); err == nil {
		t.Fatal("flush with the store down reported no error")
	}
	if got := f.backend.Usage("1", "free", "hits", "day"); got != 2 {
		t.Fatalf("backend counted %d hits: the instance's own must be sent", got)
	}

	srv.Restart() // empty: the two counted before the outage are lost with it
	fromBackend.check(t, "store back", a.Authorize(t.Context(), req))
	fromCache.check(t, "cached again", a.Authorize(t.Context(), req))
	flush(t, a)
	if got := f.backend.Usage("1", "free", "hits", "day"); got != 4 {
		t.Fatalf("backend counted %d hits, want 4", got)
	}
}

// TestSharedConcurrentCountingAndFlushing has two instances count and
// flush at the same time: every hit is reported exactly once.
func TestSharedConcurrentCountingAndFlushing(t *testing.T) {
	srv := redistest.Start(t)
	f := newFixture(t, threescale.ClientOptions{})
	f.backend.AddApplication("1", threescaletest.Application{ID: "free", UserKey: freeKey})
	insts := []*threescale.Authorizer{
		newAuthorizer(t, threescale.Options{Mode: threescale.ModeBatch, Store: redisStore(t, srv), BatchInterval: time.Hour}),
		newAuthorizer(t, threescale.Options{Mode: threescale.ModeBatch, Store: redisStore(t, srv), BatchInterval: time.Hour}),
	}
	const workers, each = 4, 100
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var flushers sync.WaitGroup
	for _, a := range insts {
		flushers.Add(1)
		go func() {
			defer flushers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				_ = a.Flush(context.Background())
				time.Sleep(time.Millisecond)
			}
		}()
	}
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := insts[w%2]
			req := &threescale.Request{Service: f.v1, Credentials: threescale.Credentials{UserKey: freeKey}, Usage: hits(1)}
			for range each {
				if d := a.Authorize(context.Background(), req); !d.Allowed {
					t.Errorf("refused: %+v", d)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	flushers.Wait()
	for _, a := range insts {
		flush(t, a)
	}
	if got := f.backend.Usage("1", "free", "hits", "eternity"); got != workers*each {
		t.Fatalf("backend counted %d hits, want %d", got, workers*each)
	}
}
