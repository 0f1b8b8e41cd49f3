package threescale_test

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/verdict-policy/verdict/threescale"
	"github.com/verdict-policy/verdict/threescale/threescaletest"
)

// fixture is a stub backend with one service of each version and an
// application in each.
type fixture struct {
	backend            *threescaletest.Backend
	client             *threescale.Client
	v1, v2, oidc, nath *threescale.Service
}

const (
	token     = "svc-token"
	userKey   = "uk-1"
	appID     = "app-1"
	appKey    = "key-1"
	accessTok = "at-1"
)

func newFixture(t *testing.T, o threescale.ClientOptions) *fixture {
	t.Helper()
	b := threescaletest.Start(t)
	b.AddService(threescaletest.Service{ID: "1", Token: token, ProviderKey: "pk", Version: "1"})
	b.AddService(threescaletest.Service{ID: "2", Token: token, Version: "2"})
	b.AddService(threescaletest.Service{ID: "3", Token: token, Version: "oauth"})
	b.AddApplication("1", threescaletest.Application{ID: "u1", UserKey: userKey, Plan: "Basic",
		Limits: []threescaletest.Limit{{Metric: "hits", Period: "minute", Max: 5}, {Metric: "hits", Period: "day", Max: 100}}})
	b.AddApplication("2", threescaletest.Application{ID: appID, Keys: []string{appKey}, Plan: "Pro"})
	b.AddApplication("3", threescaletest.Application{ID: "client-1", Keys: []string{"secret"}, AccessTokens: []string{accessTok}, Plan: "OAuth", RedirectURL: "https://cb.example"})
	if o.Endpoint == "" {
		o.Endpoint = b.URL()
	}
	c, err := threescale.NewClient(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	f := &fixture{backend: b, client: c}
	f.v1 = mustService(t, threescale.ServiceConfig{ID: "1", Version: threescale.VersionUserKey, AuthValue: token}, c)
	f.v2 = mustService(t, threescale.ServiceConfig{ID: "2", Version: threescale.VersionAppID, AuthValue: token}, c)
	f.oidc = mustService(t, threescale.ServiceConfig{ID: "3", Version: threescale.VersionOAuth, AuthValue: token, OIDC: true}, c)
	f.nath = mustService(t, threescale.ServiceConfig{ID: "3", Version: threescale.VersionOAuth, AuthValue: token}, c)
	return f
}

func mustService(t *testing.T, cfg threescale.ServiceConfig, c *threescale.Client) *threescale.Service {
	t.Helper()
	s, err := threescale.NewService(cfg, c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func hits(n int64) threescale.Usage {
	var u threescale.Usage
	u.Add("hits", n)
	return u
}

func TestClientAnswers(t *testing.T) {
	f := newFixture(t, threescale.ClientOptions{})
	pkService := mustService(t, threescale.ServiceConfig{ID: "1", Version: threescale.VersionUserKey, AuthType: threescale.ProviderKey, AuthValue: "pk"}, f.client)
	badToken := mustService(t, threescale.ServiceConfig{ID: "1", Version: threescale.VersionUserKey, AuthValue: "wrong"}, f.client)
	unknown := mustService(t, threescale.ServiceConfig{ID: "99", Version: threescale.VersionUserKey, AuthValue: token}, f.client)
	unknownPK := mustService(t, threescale.ServiceConfig{ID: "99", Version: threescale.VersionUserKey, AuthType: threescale.ProviderKey, AuthValue: "pk"}, f.client)
	cases := []struct {
		name    string
		req     threescale.Request
		authrep bool
		path    string
		outcome threescale.Outcome
		// reason is the rejection reason the client can tell: with
		// no_body, as APIcast asks, only a 409 carries one (in a header);
		// a refused call (403, 404) comes without a body.
		reason string
	}{
		{"user_key authorized", threescale.Request{Service: f.v1, Credentials: threescale.Credentials{UserKey: userKey}, Usage: hits(1)}, true,
			"/transactions/authrep.xml", threescale.Authorized, ""},
		{"provider key authorized", threescale.Request{Service: pkService, Credentials: threescale.Credentials{UserKey: userKey}, Usage: hits(1)}, false,
			"/transactions/authorize.xml", threescale.Authorized, ""},
		{"limits exceeded", threescale.Request{Service: f.v1, Credentials: threescale.Credentials{UserKey: userKey}, Usage: hits(50)}, true,
			"/transactions/authrep.xml", threescale.Denied, "limits_exceeded"},
		{"invalid user_key", threescale.Request{Service: f.v1, Credentials: threescale.Credentials{UserKey: "nope"}, Usage: hits(1)}, true,
			"/transactions/authrep.xml", threescale.Forbidden, ""},
		{"app_id and app_key", threescale.Request{Service: f.v2, Credentials: threescale.Credentials{AppID: appID, AppKey: appKey}, Usage: hits(1)}, true,
			"/transactions/authrep.xml", threescale.Authorized, ""},
		{"wrong app_key", threescale.Request{Service: f.v2, Credentials: threescale.Credentials{AppID: appID, AppKey: "bad"}, Usage: hits(1)}, true,
			"/transactions/authrep.xml", threescale.Denied, "application_key_invalid"},
		{"unknown app_id", threescale.Request{Service: f.v2, Credentials: threescale.Credentials{AppID: "ghost"}, Usage: hits(1)}, false,
			"/transactions/authorize.xml", threescale.NotFound, ""},
		{"wrong service token", threescale.Request{Service: badToken, Credentials: threescale.Credentials{UserKey: userKey}, Usage: hits(1)}, true,
			"/transactions/authrep.xml", threescale.Forbidden, ""},
		{"unknown service with a token", threescale.Request{Service: unknown, Credentials: threescale.Credentials{UserKey: userKey}, Usage: hits(1)}, true,
			"/transactions/authrep.xml", threescale.Forbidden, ""},
		{"unknown service with a provider key", threescale.Request{Service: unknownPK, Credentials: threescale.Credentials{UserKey: userKey}, Usage: hits(1)}, true,
			"/transactions/authrep.xml", threescale.Forbidden, ""},
		{"oidc client id", threescale.Request{Service: f.oidc, Credentials: threescale.Credentials{AppID: "client-1"}, Usage: hits(1)}, true,
			"/transactions/oauth_authrep.xml", threescale.Authorized, ""},
		{"native oauth token", threescale.Request{Service: f.nath, Credentials: threescale.Credentials{AccessToken: accessTok}, Usage: hits(1)}, false,
			"/transactions/oauth_authorize.xml", threescale.Authorized, ""},
		{"native oauth unknown token", threescale.Request{Service: f.nath, Credentials: threescale.Credentials{AccessToken: "nope"}, Usage: hits(1)}, false,
			"/transactions/oauth_authorize.xml", threescale.NotFound, "application_not_found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f.backend.ResetCalls()
			var r threescale.Result
			if tc.authrep {
				r = f.client.Authrep(t.Context(), &tc.req, 0)
			} else {
				r = f.client.Authorize(t.Context(), &tc.req)
			}
			if r.Outcome != tc.outcome || r.RejectionReason != tc.reason || r.Err != nil {
				t.Fatalf("outcome %v reason %q err %v; want %v %q", r.Outcome, r.RejectionReason, r.Err, tc.outcome, tc.reason)
			}
			calls := f.backend.Calls()
			if len(calls) != 1 || calls[0].Path != tc.path {
				t.Fatalf("calls %+v, want one to %s", calls, tc.path)
			}
			c := calls[0]
			if got := c.Header.Get("3scale-options"); !strings.Contains(got, "rejection_reason_header=1&limit_headers=1") {
				t.Fatalf("3scale-options %q", got)
			}
			wantBody := tc.req.Service == f.nath
			if strings.Contains(c.Header.Get("3scale-options"), "no_body=1") == wantBody {
				t.Fatalf("3scale-options %q for a service that needs a body: %v", c.Header.Get("3scale-options"), wantBody)
			}
			if c.Query.Get("service_id") != tc.req.Service.ID() {
				t.Fatalf("service_id %q", c.Query.Get("service_id"))
			}
		})
	}
}

func TestClientLimitHeadersAndBody(t *testing.T) {
	f := newFixture(t, threescale.ClientOptions{})
	req := threescale.Request{Service: f.v1, Credentials: threescale.Credentials{UserKey: userKey}, Usage: hits(2)}
	r := f.client.Authrep(t.Context(), &req, 0)
	// 2 of 5 used in the minute: one more identical call fits.
	if !r.Authorized || !r.Limits.Present || r.Limits.Remaining != 1 || r.Limits.MaxValue != 5 || r.Limits.Reset < 1 || r.Limits.Reset > 60 {
		t.Fatalf("result %+v", r)
	}
	if got := f.backend.Usage("1", "u1", "hits", "day"); got != 2 {
		t.Fatalf("authrep counted %d hits", got)
	}
	r = f.client.Authrep(t.Context(), &req, 0)
	r = f.client.Authrep(t.Context(), &req, 0)
	if r.Outcome != threescale.Denied || r.RejectionReason != threescale.ReasonLimitsExceeded || r.Limits.Remaining != 0 {
		t.Fatalf("third call %+v", r)
	}
	// The native OAuth service asks for the body and reads it.
	oreq := threescale.Request{Service: f.nath, Credentials: threescale.Credentials{AccessToken: accessTok}, Usage: hits(1)}
	r = f.client.Authorize(t.Context(), &oreq)
	if r.Err != nil || r.Plan != "OAuth" || r.Application == nil || r.Application.ID != "client-1" || r.Application.RedirectURL != "https://cb.example" {
		t.Fatalf("oauth body %+v", r)
	}
}

func TestClientReport(t *testing.T) {
	f := newFixture(t, threescale.ClientOptions{})
	var u threescale.Usage
	u.Add("hits", 3)
	r := f.client.Report(t.Context(), f.v1, []threescale.Transaction{
		{Credentials: threescale.Credentials{UserKey: userKey}, Usage: u},
		{Credentials: threescale.Credentials{UserKey: "unknown"}, Usage: u},
	})
	if r.Outcome != threescale.Accepted || r.Err != nil {
		t.Fatalf("report %+v", r)
	}
	if got := f.backend.Usage("1", "u1", "hits", "day"); got != 3 {
		t.Fatalf("reported %d hits", got)
	}
	c := f.backend.CallsTo("/transactions.xml")[0]
	if c.Method != "POST" || c.Header.Get("Content-Type") != "application/x-www-form-urlencoded" ||
		c.Query.Get("service_token") != token || c.Query.Get("service_id") != "1" ||
		c.Form.Get("transactions[0][user_key]") != userKey || c.Form.Get("transactions[1][usage][hits]") != "3" {
		t.Fatalf("report call %+v", c)
	}
	bad := mustService(t, threescale.ServiceConfig{ID: "1", Version: threescale.VersionUserKey, AuthValue: "wrong"}, f.client)
	r = f.client.Report(t.Context(), bad, []threescale.Transaction{{Credentials: threescale.Credentials{UserKey: userKey}, Usage: u}})
	if r.Outcome != threescale.Forbidden || r.ErrorCode != "service_token_invalid" {
		t.Fatalf("report with a wrong token %+v", r)
	}
}

func TestClientEndpointPathAndHost(t *testing.T) {
	b := threescaletest.Start(t)
	b.AddService(threescaletest.Service{ID: "1", Token: token})
	b.AddApplication("1", threescaletest.Application{UserKey: userKey})
	c, err := threescale.NewClient(threescale.ClientOptions{Endpoint: b.URL() + "/prefix/", Host: "su1.3scale.net", UserAgent: "test/1"})
	if err != nil {
		t.Fatal(err)
	}
	s := mustService(t, threescale.ServiceConfig{ID: "1", Version: threescale.VersionUserKey, AuthValue: token}, c)
	r := c.Authrep(t.Context(), &threescale.Request{Service: s, Credentials: threescale.Credentials{UserKey: userKey}, Usage: hits(1)}, 0)
	if r.Outcome != threescale.NotFound {
		t.Fatalf("outcome %v: the stub has no /prefix routes", r.Outcome)
	}
	call := b.Calls()[0]
	if call.Path != "/prefix/transactions/authrep.xml" || call.Host != "su1.3scale.net" || call.Header.Get("User-Agent") != "test/1" {
		t.Fatalf("call %+v", call)
	}
}

func TestClientRejectsBadEndpoints(t *testing.T) {
	for _, e := range []string{"", "backend:80", "ftp://b", "http://", "http://b/?x=1", "http://u:p@b", "http://b/#f", "http://[::1"} {
		if _, err := threescale.NewClient(threescale.ClientOptions{Endpoint: e}); err == nil {
			t.Errorf("endpoint %q accepted", e)
		}
	}
	if _, err := threescale.NewClient(threescale.ClientOptions{Endpoint: "http://b", ReadTimeout: -1}); err == nil {
		t.Error("a negative timeout accepted")
	}
}

func TestClientKeepsConnectionsAlive(t *testing.T) {
	f := newFixture(t, threescale.ClientOptions{})
	req := threescale.Request{Service: f.v2, Credentials: threescale.Credentials{AppID: appID, AppKey: appKey}, Usage: hits(1)}
	for range 20 {
		if r := f.client.Authorize(t.Context(), &req); !r.Authorized {
			t.Fatal(r)
		}
	}
	if n := f.backend.Connections(); n != 1 {
		t.Fatalf("20 sequential calls opened %d connections", n)
	}
}

func TestClientUnavailable(t *testing.T) {
	f := newFixture(t, threescale.ClientOptions{ReadTimeout: 300 * time.Millisecond})
	req := threescale.Request{Service: f.v1, Credentials: threescale.Credentials{UserKey: userKey}, Usage: hits(1)}

	t.Run("5xx", func(t *testing.T) {
		f.backend.FailWith(503)
		defer f.backend.FailWith(0)
		r := f.client.Authrep(t.Context(), &req, 0)
		if !r.Unavailable() || r.Status != 503 || r.Err == nil {
			t.Fatalf("%+v", r)
		}
	})
	t.Run("slow backend times out", func(t *testing.T) {
		f.backend.SetDelay(5 * time.Second)
		defer f.backend.SetDelay(0)
		start := time.Now()
		r := f.client.Authrep(t.Context(), &req, 0)
		if !r.Unavailable() || r.Status != 0 || r.Err == nil {
			t.Fatalf("%+v", r)
		}
		if d := time.Since(start); d > 4*time.Second {
			t.Fatalf("the read timeout of 300ms took %v", d)
		}
	})
	t.Run("cancelled context", func(t *testing.T) {
		f.backend.SetDelay(5 * time.Second)
		defer f.backend.SetDelay(0)
		ctx, cancel := context.WithCancel(t.Context())
		go func() { time.Sleep(50 * time.Millisecond); cancel() }()
		r := f.client.Authrep(ctx, &req, 0)
		if !r.Unavailable() || !errors.Is(r.Err, context.Canceled) {
			t.Fatalf("%+v", r)
		}
	})
	t.Run("stopped backend, errors keep secrets out", func(t *testing.T) {
		f.backend.Stop()
		defer f.backend.Restart()
		r := f.client.Authrep(t.Context(), &req, 0)
		var op *net.OpError
		if !r.Unavailable() || !errors.As(r.Err, &op) {
			t.Fatalf("%+v", r)
		}
		var ue *url.Error
		if errors.As(r.Err, &ue) || strings.Contains(r.Err.Error(), token) || strings.Contains(r.Err.Error(), userKey) {
			t.Fatalf("error %q quotes the query", r.Err)
		}
	})
	t.Run("restarted backend answers again on the same port", func(t *testing.T) {
		r := f.client.Authrep(t.Context(), &req, 0)
		if !r.Authorized {
			t.Fatalf("%+v", r)
		}
	})
	t.Run("missing credentials are not sent", func(t *testing.T) {
		n := len(f.backend.Calls())
		r := f.client.Authrep(t.Context(), &threescale.Request{Service: f.v1, Usage: hits(1)}, 0)
		if !errors.Is(r.Err, threescale.ErrNoCredentials) || len(f.backend.Calls()) != n {
			t.Fatalf("%+v", r)
		}
	})
}
