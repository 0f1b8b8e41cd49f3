package threescale_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/verdict-policy/verdict/threescale"
	"github.com/verdict-policy/verdict/threescale/threescaletest"
)

const (
	authrepPath   = "/transactions/authrep.xml"
	authorizePath = "/transactions/authorize.xml"
	reportPath    = "/transactions.xml"
)

func newAuthorizer(t *testing.T, o threescale.Options) *threescale.Authorizer {
	t.Helper()
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	a, err := threescale.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close(context.Background()) })
	return a
}

func flush(t *testing.T, a *threescale.Authorizer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := a.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
}

// expect checks the parts of a decision a test cares about.
type expect struct {
	allowed     bool
	status      int
	source      threescale.Source
	called      bool
	unavailable bool
}

func (e expect) check(t *testing.T, what string, d threescale.Decision) {
	t.Helper()
	got := expect{d.Allowed, d.Status, d.Source, d.BackendCalled, d.Unavailable}
	if got != e {
		t.Fatalf("%s: decision %+v (reason %q, err %v), want %+v", what, got, d.Reason, d.Err, e)
	}
}

var (
	fromBackend  = expect{allowed: true, source: threescale.FromBackend, called: true}
	fromCache    = expect{allowed: true, source: threescale.FromCache}
	outageCache  = expect{allowed: true, source: threescale.FromCache, called: true, unavailable: true}
	outageDenied = expect{status: 403, source: threescale.FromNothing, called: true, unavailable: true}
	refused      = expect{status: 403, source: threescale.FromBackend, called: true}
)

// authorizeAndReport authorizes and, after a cached authorization, makes
// the report post_action makes and waits for it.
func authorizeAndReport(t *testing.T, a *threescale.Authorizer, r *threescale.Request) threescale.Decision {
	t.Helper()
	d := a.Authorize(t.Context(), r)
	a.Report(r, d, 200)
	flush(t, a)
	return d
}

func TestAuthrepCacheModesThroughAnOutage(t *testing.T) {
	cases := []struct {
		mode threescale.CacheMode
		// second is the request after one authorized by the backend;
		// duringOutage the two after the backend stopped; neverSeen an
		// application first seen during the outage.
		second       expect
		duringOutage [2]expect
		neverSeen    expect
	}{
		{threescale.CacheStrict, fromCache, [2]expect{fromCache, outageDenied}, outageDenied},
		{threescale.CacheResilient, fromCache, [2]expect{fromCache, fromCache}, outageDenied},
		{threescale.CacheAllow, fromCache, [2]expect{fromCache, fromCache}, outageCache},
		{threescale.CacheNone, fromBackend, [2]expect{outageDenied, outageDenied}, outageDenied},
	}
	for _, tc := range cases {
		t.Run(tc.mode.String(), func(t *testing.T) {
			f := newFixture(t, threescale.ClientOptions{ConnectTimeout: time.Second})
			f.backend.AddApplication("1", threescaletest.Application{ID: "u2", UserKey: "other"})
			a := newAuthorizer(t, threescale.Options{Caching: tc.mode})
			req := &threescale.Request{Service: f.v1, Credentials: threescale.Credentials{UserKey: userKey}, Usage: hits(1)}

			fromBackend.check(t, "first", authorizeAndReport(t, a, req))
			tc.second.check(t, "second", authorizeAndReport(t, a, req))
			calls := len(f.backend.CallsTo(authrepPath))
			if calls != 2 {
				t.Fatalf("%d authrep calls for two requests: a cached one is reported afterwards", calls)
			}
			if got := f.backend.Usage("1", "u1", "hits", "day"); got != 2 {
				t.Fatalf("backend counted %d hits", got)
			}

			f.backend.Stop()
			tc.duringOutage[0].check(t, "first during the outage", authorizeAndReport(t, a, req))
			tc.duringOutage[1].check(t, "second during the outage", authorizeAndReport(t, a, req))
			other := &threescale.Request{Service: f.v1, Credentials: threescale.Credentials{UserKey: "other"}, Usage: hits(1)}
			tc.neverSeen.check(t, "never seen", authorizeAndReport(t, a, other))
		})
	}
}

func TestAuthrepDenialsAndTheCache(t *testing.T) {
	cases := []struct {
		mode threescale.CacheMode
		// afterOutage is the request of a denied application while the
		// backend is down.
		afterOutage expect
	}{
		{threescale.CacheStrict, outageDenied},
		{threescale.CacheResilient, outageDenied}, // the cached 409 denies
		{threescale.CacheAllow, outageDenied},     // a cached denial is not replaced
		{threescale.CacheNone, outageDenied},
	}
	for _, tc := range cases {
		t.Run(tc.mode.String(), func(t *testing.T) {
			f := newFixture(t, threescale.ClientOptions{})
			a := newAuthorizer(t, threescale.Options{Caching: tc.mode})
			req := &threescale.Request{Service: f.v1, Credentials: threescale.Credentials{UserKey: userKey}, Usage: hits(1)}
			fromBackend.check(t, "granted", authorizeAndReport(t, a, req))
			f.backend.SetSuspended("1", "u1", true)
			// Strict, resilient and allow hold the grant: the request
			// passes once more and its report notices the suspension.
			d := authorizeAndReport(t, a, req)
			if tc.mode != threescale.CacheNone {
				fromCache.check(t, "cached grant", d)
			}
			d = authorizeAndReport(t, a, req)
			refused.check(t, "after the suspension", d)
			if d.Reason != "application_not_active" {
				t.Fatalf("reason %q", d.Reason)
			}
			f.backend.Stop()
			tc.afterOutage.check(t, "during the outage", authorizeAndReport(t, a, req))
		})
	}
}

func TestAuthrepLimitsExceeded(t *testing.T) {
	f := newFixture(t, threescale.ClientOptions{})
	f.backend.AddApplication("1", threescaletest.Application{ID: "off", UserKey: "disabled",
		Limits: []threescaletest.Limit{{Metric: "hits", Period: "month", Max: 0}}})
	a := newAuthorizer(t, threescale.Options{})
	req := &threescale.Request{Service: f.v1, Credentials: threescale.Credentials{UserKey: userKey}, Usage: hits(6)}
	d := a.Authorize(t.Context(), req)
	if d.Allowed || d.Status != http.StatusTooManyRequests || d.Reason != threescale.ReasonLimitsExceeded {
		t.Fatalf("decision %+v", d)
	}
	if d.RetryAfter < 1 || d.RetryAfter > 60 {
		t.Fatalf("retry after %d s for a per-minute limit", d.RetryAfter)
	}
	if d.Result == nil || d.Result.Limits.MaxValue != 5 {
		t.Fatalf("the backend's answer is not passed on: %+v", d.Result)
	}
	// A metric the plan disables (limit 0) is a plain refusal.
	d = a.Authorize(t.Context(), &threescale.Request{Service: f.v1, Credentials: threescale.Credentials{UserKey: "disabled"}, Usage: hits(1)})
	if d.Allowed || d.Status != http.StatusForbidden || d.Reason != "" || d.RetryAfter != 0 {
		t.Fatalf("disabled metric: %+v", d)
	}
}

func TestAuthrepReportsResponseCodes(t *testing.T) {
	for _, on := range []bool{false, true} {
		t.Run(strconv.FormatBool(on), func(t *testing.T) {
			f := newFixture(t, threescale.ClientOptions{})
			a := newAuthorizer(t, threescale.Options{ResponseCodes: on})
			req := &threescale.Request{Service: f.v1, Credentials: threescale.Credentials{UserKey: userKey}, Usage: hits(1)}
			a.Authorize(t.Context(), req)
			d := a.Authorize(t.Context(), req)
			a.Report(req, d, 503)
			flush(t, a)
			calls := f.backend.CallsTo(authrepPath)
			if len(calls) != 2 {
				t.Fatalf("%d calls", len(calls))
			}
			if got := calls[1].Query.Get("log[code]"); (got == "503") != on || on && calls[0].Query.Has("log[code]") {
				t.Fatalf("log[code] %q with response codes %v", got, on)
			}
		})
	}
}

func TestAuthrepReportOnlyAfterCachedGrants(t *testing.T) {
	f := newFixture(t, threescale.ClientOptions{})
	a := newAuthorizer(t, threescale.Options{})
	req := &threescale.Request{Service: f.v1, Credentials: threescale.Credentials{UserKey: userKey}, Usage: hits(1)}
	d := a.Authorize(t.Context(), req) // reported by the authrep itself
	if d.ReportPending {
		t.Fatal("a backend-decided request asks for a report")
	}
	a.Report(req, d, 200)
	a.Report(req, threescale.Decision{}, 200)
	flush(t, a)
	if n := len(f.backend.CallsTo(authrepPath)); n != 1 {
		t.Fatalf("%d authrep calls, want 1", n)
	}
}

// TestAuthrepCancelledRequestLeavesTheCache: a request whose client gave
// up while the backend was asked must not be taken for an outage. In
// allow mode that would cache a grant the backend never gave.
func TestAuthrepCancelledRequestLeavesTheCache(t *testing.T) {
	f := newFixture(t, threescale.ClientOptions{})
	a := newAuthorizer(t, threescale.Options{Caching: threescale.CacheAllow})
	f.backend.SetSuspended("1", "u1", true)
	f.backend.SetDelay(5 * time.Second)
	req := &threescale.Request{Service: f.v1, Credentials: threescale.Credentials{UserKey: userKey}, Usage: hits(1)}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	d := a.Authorize(ctx, req)
	cancel()
	if d.Allowed || !errors.Is(d.Err, context.DeadlineExceeded) {
		t.Fatalf("cancelled: %+v", d)
	}
	f.backend.SetDelay(0)
	d = a.Authorize(t.Context(), req)
	refused.check(t, "after the cancelled one", d)
}

func TestAuthorizeRejectsIncompleteRequests(t *testing.T) {
	f := newFixture(t, threescale.ClientOptions{})
	a := newAuthorizer(t, threescale.Options{})
	cases := []struct {
		name   string
		req    *threescale.Request
		status int
	}{
		{"no request", nil, 403},
		{"no service", &threescale.Request{Usage: hits(1)}, 403},
		{"no user_key", &threescale.Request{Service: f.v1, Credentials: threescale.Credentials{AppID: "x"}, Usage: hits(1)}, 401},
		{"no app_id", &threescale.Request{Service: f.v2, Credentials: threescale.Credentials{AppKey: "x"}, Usage: hits(1)}, 401},
		{"no oauth credential", &threescale.Request{Service: f.oidc, Usage: hits(1)}, 401},
		{"empty usage", &threescale.Request{Service: f.v1, Credentials: threescale.Credentials{UserKey: userKey}}, 404},
	}
	for _, tc := range cases {
		d := a.Authorize(t.Context(), tc.req)
		if d.Allowed || d.Status != tc.status || d.Err == nil || d.BackendCalled {
			t.Errorf("%s: %+v", tc.name, d)
		}
	}
	if n := len(f.backend.Calls()); n != 0 {
		t.Fatalf("%d backend calls for incomplete requests", n)
	}
}

func TestAuthrepTTL(t *testing.T) {
	f := newFixture(t, threescale.ClientOptions{})
	clock := threescaletest.NewClock(time.Unix(1_800_000_000, 0))
	a := newAuthorizer(t, threescale.Options{CacheTTL: time.Minute, Clock: clock})
	req := &threescale.Request{Service: f.v2, Credentials: threescale.Credentials{AppID: appID, AppKey: appKey}, Usage: hits(1)}
	fromBackend.check(t, "first", a.Authorize(t.Context(), req))
	clock.Advance(59 * time.Second)
	fromCache.check(t, "within the ttl", a.Authorize(t.Context(), req))
	clock.Advance(2 * time.Second)
	fromBackend.check(t, "after the ttl", a.Authorize(t.Context(), req))
	// A request's own TTL (an OIDC token's lifetime) wins.
	short := *req
	short.Usage = hits(2)
	short.TTL = 5 * time.Second
	fromBackend.check(t, "short first", a.Authorize(t.Context(), &short))
	clock.Advance(6 * time.Second)
	fromBackend.check(t, "short after its ttl", a.Authorize(t.Context(), &short))
}

func TestAuthrepPerRequestCaching(t *testing.T) {
	f := newFixture(t, threescale.ClientOptions{})
	a := newAuthorizer(t, threescale.Options{Caching: threescale.CacheStrict})
	req := &threescale.Request{Service: f.v1, Credentials: threescale.Credentials{UserKey: userKey}, Usage: hits(1), Caching: threescale.CacheNone}
	fromBackend.check(t, "first", a.Authorize(t.Context(), req))
	fromBackend.check(t, "caching none on the request", a.Authorize(t.Context(), req))
}

func TestReportCopiesTheRequest(t *testing.T) {
	f := newFixture(t, threescale.ClientOptions{})
	f.backend.SetDelay(100 * time.Millisecond)
	a := newAuthorizer(t, threescale.Options{})
	req := &threescale.Request{Service: f.v2, Credentials: threescale.Credentials{AppID: appID, AppKey: appKey}, Usage: hits(1)}
	a.Authorize(t.Context(), req)
	d := a.Authorize(t.Context(), req)
	a.Report(req, d, 200)
	// The caller reuses its request at once, as a pooled one would be.
	req.Usage.Reset()
	req.Usage.Add("other", 9)
	req.Credentials.AppID = "someone-else"
	flush(t, a)
	calls := f.backend.CallsTo(authrepPath)
	if len(calls) != 2 || calls[1].Query.Get("usage[hits]") != "1" || calls[1].Query.Has("usage[other]") || calls[1].Query.Get("app_id") != appID {
		t.Fatalf("report sent %+v", calls[len(calls)-1].Query)
	}
}
