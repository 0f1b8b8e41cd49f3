package threescale_test

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/verdict-policy/verdict/threescale"
	"github.com/verdict-policy/verdict/threescale/threescaletest"
)

// freeKey is the user_key of an application without limits.
const freeKey = "free-key"

// batchFixture is a backend, a fake clock and a batch-mode authorizer.
type batchFixture struct {
	*fixture
	clock *threescaletest.Clock
	authz *threescale.Authorizer
}

func newBatch(t *testing.T, o threescale.Options) *batchFixture {
	t.Helper()
	f := newFixture(t, threescale.ClientOptions{ConnectTimeout: time.Second, ReadTimeout: 2 * time.Second})
	clock := threescaletest.NewClock(time.Unix(1_800_000_000, 0))
	o.Mode = threescale.ModeBatch
	o.Clock = clock
	a := newAuthorizer(t, o)
	f.backend.AddApplication("1", threescaletest.Application{ID: "free", UserKey: freeKey})
	if !clock.WaitTicker() {
		t.Fatal("the authorizer started no report timer")
	}
	return &batchFixture{fixture: f, clock: clock, authz: a}
}

func (b *batchFixture) userReq(key string, n int64) *threescale.Request {
	return &threescale.Request{Service: b.v1, Credentials: threescale.Credentials{UserKey: key}, Usage: hits(n)}
}

func TestBatchCachesAndReportsOnTheInterval(t *testing.T) {
	b := newBatch(t, threescale.Options{})
	req := b.userReq(freeKey, 2)
	fromBackend.check(t, "first", b.authz.Authorize(t.Context(), req))
	for i := range 3 {
		fromCache.check(t, "cached "+string(rune('1'+i)), b.authz.Authorize(t.Context(), req))
	}
	if n := len(b.backend.CallsTo(authorizePath)); n != 1 {
		t.Fatalf("%d authorize calls for four requests", n)
	}
	if n := len(b.backend.CallsTo(authrepPath)); n != 0 {
		t.Fatalf("batch mode made %d authrep calls", n)
	}
	if got := b.authz.Pending(); got != 8 {
		t.Fatalf("pending %d hits, want 8", got)
	}

	// Nothing is reported before the interval has passed.
	if ticks := b.clock.Advance(9 * time.Second); ticks != 0 {
		t.Fatalf("%d ticks after 9 s of a 10 s interval", ticks)
	}
	if ticks := b.clock.Advance(time.Second); ticks != 1 {
		t.Fatalf("%d ticks after 10 s", ticks)
	}
	calls := b.backend.WaitCalls(reportPath, 1, 10*time.Second)
	c := calls[0]
	if c.Form.Get("transactions[0][user_key]") != freeKey || c.Form.Get("transactions[0][usage][hits]") != "8" ||
		c.Query.Get("service_id") != "1" || c.Query.Get("service_token") != token {
		t.Fatalf("report %+v", c)
	}
	waitFor(t, "the report to be taken off the batch", func() bool { return b.authz.Pending() == 0 })
	if got := b.backend.Usage("1", "free", "hits", "day"); got != 8 {
		t.Fatalf("backend counted %d hits", got)
	}

	// The authorization cached at 0 s expired at 10 s (auths_ttl's
	// default): the backend is asked again, and the answer cached anew.
	fromBackend.check(t, "after the ttl", b.authz.Authorize(t.Context(), req))
	b.clock.Advance(9 * time.Second)
	fromCache.check(t, "within the new ttl", b.authz.Authorize(t.Context(), req))
	b.clock.Advance(time.Second)
	b.backend.WaitCalls(reportPath, 2, 10*time.Second)
	fromBackend.check(t, "after the new ttl", b.authz.Authorize(t.Context(), req))
	if n := len(b.backend.CallsTo(authorizePath)); n != 3 {
		t.Fatalf("%d authorize calls, want 3", n)
	}
}

func TestBatchCachesDenials(t *testing.T) {
	b := newBatch(t, threescale.Options{AuthsTTL: time.Minute})
	cases := []struct {
		name   string
		req    *threescale.Request
		status int
		reason string
	}{
		{"limits exceeded", b.userReq(userKey, 50), 429, "limits_exceeded"},
		{"invalid user key", b.userReq("nope", 1), 403, ""},
		{"wrong app key", &threescale.Request{Service: b.v2, Credentials: threescale.Credentials{AppID: appID, AppKey: "x"}, Usage: hits(1)}, 403, "application_key_invalid"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b.backend.ResetCalls()
			for i, src := range []threescale.Source{threescale.FromBackend, threescale.FromCache} {
				d := b.authz.Authorize(t.Context(), tc.req)
				if d.Allowed || d.Status != tc.status || d.Reason != tc.reason || d.Source != src {
					t.Fatalf("request %d: %+v, want %d %q from %v", i+1, d, tc.status, tc.reason, src)
				}
			}
			if n := len(b.backend.Calls()); n != 1 {
				t.Fatalf("%d backend calls for a denial asked twice", n)
			}
		})
	}
	flush(t, b.authz)
	if n := len(b.backend.CallsTo(reportPath)); n != 0 {
		t.Fatalf("denied requests were reported (%d calls)", n)
	}
}

func TestBatchReportSurvivesAnOutage(t *testing.T) {
	b := newBatch(t, threescale.Options{})
	req := b.userReq(userKey, 1)
	b.authz.Authorize(t.Context(), req)
	b.authz.Authorize(t.Context(), req)
	b.backend.Stop()
	if err := b.authz.Flush(t.Context()); err == nil || !strings.Contains(err.Error(), "kept for the next flush") {
		t.Fatalf("flush to a stopped backend: %v", err)
	}
	if got := b.authz.Pending(); got != 2 {
		t.Fatalf("pending %d after a failed report, want 2", got)
	}
	// While the backend is down a cached grant still counts.
	fromCache.check(t, "cached during the outage", b.authz.Authorize(t.Context(), req))
	b.backend.Restart()
	flush(t, b.authz)
	if got := b.backend.Usage("1", "u1", "hits", "day"); got != 3 {
		t.Fatalf("backend counted %d hits after the outage, want 3", got)
	}
}

func TestBatchRefusedReportIsDropped(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := threescale.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	b := newBatch(t, threescale.Options{Metrics: m})
	b.authz.Authorize(t.Context(), b.userReq(userKey, 1))
	// The service's token is revoked before the report is sent.
	b.backend.AddService(threescaletest.Service{ID: "1", Token: "rotated"})
	err = b.authz.Flush(t.Context())
	if err == nil || !strings.Contains(err.Error(), "refused with 403 service_token_invalid") {
		t.Fatalf("flush: %v", err)
	}
	if got := b.authz.Pending(); got != 0 {
		t.Fatalf("a refused report is retried: %d pending", got)
	}
	if v := metricValue(t, reg, "verdict_threescale_report_dropped_total"); v != 1 {
		t.Fatalf("dropped counter %v", v)
	}
}

func TestBatchWithCachingFallback(t *testing.T) {
	cases := []struct {
		mode     threescale.CacheMode
		granted  expect // an application granted before the outage
		unknown  expect // one never seen
		reported int64
	}{
		{threescale.CacheNone, outageDenied, outageDenied, 1},
		{threescale.CacheStrict, outageDenied, outageDenied, 1},
		{threescale.CacheResilient, outageCache, outageDenied, 2},
		{threescale.CacheAllow, outageCache, outageCache, 2},
	}
	for _, tc := range cases {
		t.Run(tc.mode.String(), func(t *testing.T) {
			// An auths TTL of one second stands for a batcher cache that
			// has expired when the outage starts.
			b := newBatch(t, threescale.Options{Caching: tc.mode, AuthsTTL: time.Second})
			b.backend.AddApplication("1", threescaletest.Application{ID: "u2", UserKey: "other"})
			req := b.userReq(userKey, 1)
			fromBackend.check(t, "before", b.authz.Authorize(t.Context(), req))
			b.clock.Advance(2 * time.Second)
			b.backend.FailWith(http.StatusBadGateway)
			tc.granted.check(t, "granted before", b.authz.Authorize(t.Context(), req))
			tc.unknown.check(t, "never seen", b.authz.Authorize(t.Context(), b.userReq("other", 1)))
			b.backend.FailWith(0)
			flush(t, b.authz)
			if got := b.backend.Usage("1", "u1", "hits", "day"); got != tc.reported {
				t.Fatalf("backend counted %d hits, want %d", got, tc.reported)
			}
		})
	}
}

func TestBatchCloseReportsWhatIsPending(t *testing.T) {
	f := newFixture(t, threescale.ClientOptions{})
	a, err := threescale.New(threescale.Options{Mode: threescale.ModeBatch, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	req := &threescale.Request{Service: f.v2, Credentials: threescale.Credentials{AppID: appID, AppKey: appKey}, Usage: hits(3)}
	a.Authorize(t.Context(), req)
	a.Authorize(t.Context(), req)
	if err := a.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	c := f.backend.CallsTo(reportPath)
	if len(c) != 1 || c[0].Form.Get("transactions[0][app_id]") != appID || c[0].Form.Has("transactions[0][app_key]") ||
		c[0].Form.Get("transactions[0][usage][hits]") != "6" {
		t.Fatalf("report at close %+v", c)
	}
	if err := a.Close(t.Context()); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

func TestBatchSplitsLargeReports(t *testing.T) {
	b := newBatch(t, threescale.Options{})
	const apps = 1200
	for i := range apps {
		key := "k" + strconv.Itoa(i)
		b.backend.AddApplication("1", threescaletest.Application{UserKey: key})
		b.authz.Authorize(t.Context(), b.userReq(key, 1))
	}
	flush(t, b.authz)
	calls := b.backend.CallsTo(reportPath)
	if len(calls) < 2 {
		t.Fatalf("%d report calls for %d applications", len(calls), apps)
	}
	n := 0
	for _, c := range calls {
		if len(c.Form) > 1000 {
			t.Fatalf("a report of %d parameters", len(c.Form))
		}
		n += len(c.Form) / 2
	}
	if n != apps {
		t.Fatalf("%d transactions reported, want %d", n, apps)
	}
}

func TestBatchConcurrentRequestsLoseNoHits(t *testing.T) {
	b := newBatch(t, threescale.Options{})
	b.backend.AddApplication("2", threescaletest.Application{ID: "a2", Keys: nil})
	const workers, each = 8, 250
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := b.userReq(freeKey, 1)
			if w%2 == 1 {
				req = &threescale.Request{Service: b.v2, Credentials: threescale.Credentials{AppID: "a2"}, Usage: hits(1)}
			}
			for i := range each {
				if d := b.authz.Authorize(context.Background(), req); !d.Allowed {
					t.Errorf("request %d refused: %+v", i, d)
					return
				}
				if i%50 == 0 {
					b.clock.Advance(10 * time.Second) // reports race with the counting
				}
			}
		}()
	}
	wg.Wait()
	flush(t, b.authz)
	got := b.backend.Usage("1", "free", "hits", "eternity") + b.backend.Usage("2", "a2", "hits", "eternity")
	if got != workers*each {
		t.Fatalf("backend counted %d hits, want %d", got, workers*each)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// metricValue returns the value of a counter without labels.
func metricValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func TestBatchConcurrentMissesAskTheBackendOnce(t *testing.T) {
	b := newBatch(t, threescale.Options{})
	b.backend.SetDelay(300 * time.Millisecond)
	const n = 10
	var wg sync.WaitGroup
	decisions := make([]threescale.Decision, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			decisions[i] = b.authz.Authorize(context.Background(), b.userReq(freeKey, 1))
		}()
	}
	wg.Wait()
	for i, d := range decisions {
		if !d.Allowed {
			t.Fatalf("request %d: %+v", i, d)
		}
	}
	if calls := len(b.backend.CallsTo(authorizePath)); calls != 1 {
		t.Fatalf("%d authorize calls for %d concurrent requests", calls, n)
	}
	if got := b.authz.Pending(); got != n {
		t.Fatalf("%d hits pending, want %d", got, n)
	}
}

func TestBatchWaitersOutliveACancelledCaller(t *testing.T) {
	b := newBatch(t, threescale.Options{})
	b.backend.SetDelay(300 * time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan threescale.Decision, 1)
	go func() { first <- b.authz.Authorize(ctx, b.userReq(freeKey, 1)) }()
	b.backend.WaitArrivals(1, 10*time.Second) // the first caller's call is on its way
	second := make(chan threescale.Decision, 1)
	go func() { second <- b.authz.Authorize(context.Background(), b.userReq(freeKey, 1)) }()
	time.Sleep(50 * time.Millisecond) // the second caller waits for the first's answer
	cancel()
	if d := <-first; d.Allowed || d.Err == nil {
		t.Fatalf("cancelled caller: %+v", d)
	}
	if d := <-second; !d.Allowed {
		t.Fatalf("waiting caller: %+v", d)
	}
	if n := len(b.backend.CallsTo(authorizePath)); n != 2 {
		t.Fatalf("%d authorize calls: the waiter must ask again after the first caller gave up", n)
	}
}
