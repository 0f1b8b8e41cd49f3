package oidc

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestParseIssuer(t *testing.T) {
	tests := []struct {
		name, raw      string
		url, conf      string
		client, secret string
		err            bool
	}{
		{"plain", "https://idp.test/realms/a", "https://idp.test/realms/a", "https://idp.test/realms/a/.well-known/openid-configuration", "", "", false},
		{"trailing slash", "https://idp.test/realms/a/", "https://idp.test/realms/a/", "https://idp.test/realms/a/.well-known/openid-configuration", "", "", false},
		{"credentials", "http://app:appsec@idp.test:8080/issuer", "http://idp.test:8080/issuer", "http://idp.test:8080/issuer/.well-known/openid-configuration", "app", "appsec", false},
		{"user only", "http://app@idp.test/x", "http://idp.test/x", "http://idp.test/x/.well-known/openid-configuration", "app", "", false},
		{"escaped secret", "http://app:a%40b@idp.test/x", "http://idp.test/x", "http://idp.test/x/.well-known/openid-configuration", "app", "a@b", false},
		{"no scheme", "idp.test/realms/a", "", "", "", "", true},
		{"ftp", "ftp://idp.test/", "", "", "", "", true},
		{"no host", "https:///realms", "", "", "", "", true},
		{"query", "https://idp.test/?a=1", "", "", "", "", true},
		{"fragment", "https://idp.test/#x", "", "", "", "", true},
		{"bad escape", "https://idp.test/%zz", "", "", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is, err := ParseIssuer(tt.raw)
			if tt.err {
				if err == nil {
					t.Fatalf("accepted: %+v", is)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if is.URL != tt.url || is.ConfigurationURL != tt.conf || is.ClientID != tt.client || is.ClientSecret != tt.secret {
				t.Fatalf("got %+v", is)
			}
		})
	}
}

func TestParseMetadata(t *testing.T) {
	tests := []struct {
		name, doc     string
		introspection string
		err           bool
	}{
		{"full", `{"issuer": "https://idp.test", "jwks_uri": "https://idp.test/keys", "introspection_endpoint": "https://idp.test/i", "id_token_signing_alg_values_supported": ["RS256"]}`, "https://idp.test/i", false},
		{"deprecated introspection name", `{"issuer": "x", "token_introspection_endpoint": "http://idp.test/old"}`, "http://idp.test/old", false},
		{"both names: the standard one wins", `{"token_introspection_endpoint": "http://idp.test/old", "introspection_endpoint": "http://idp.test/new"}`, "http://idp.test/new", false},
		{"no endpoints", `{}`, "", false},
		{"not an object", `[1]`, "", true},
		{"issuer not a string", `{"issuer": 1}`, "", true},
		{"relative jwks_uri", `{"jwks_uri": "/keys"}`, "", true},
		{"javascript endpoint", `{"introspection_endpoint": "javascript:alert(1)"}`, "", true},
		{"not JSON", `<html></html>`, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			md, err := ParseMetadata([]byte(tt.doc))
			if tt.err {
				if err == nil {
					t.Fatalf("accepted: %+v", md)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if md.Introspection() != tt.introspection {
				t.Fatalf("introspection endpoint %q", md.Introspection())
			}
		})
	}
}

func TestIsJSON(t *testing.T) {
	for ct, want := range map[string]bool{
		"application/json":               true,
		"application/json;charset=utf-8": true,
		"Application/JSON":               true,
		"application/jwk-set+json":       true,
		"text/html":                      false,
		"":                               false,
		"application/jsonx":              false,
	} {
		if got := IsJSON(ct); got != want {
			t.Errorf("IsJSON(%q) = %v", ct, got)
		}
	}
}

// clock is a settable time for the tests.
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

func TestDiscovery(t *testing.T) {
	var fetches atomic.Int32
	var down atomic.Bool
	issuer := "https://first.test"
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		if r.URL.Path != "/realm/.well-known/openid-configuration" {
			http.NotFound(w, r)
			return
		}
		if down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		mu.Lock()
		iss := issuer
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json;charset=utf-8")
		_, _ = io.WriteString(w, `{"issuer": "`+iss+`", "jwks_uri": "http://idp.test/keys"}`)
	}))
	defer srv.Close()
	is, err := ParseIssuer(srv.URL + "/realm")
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	d := NewDiscovery(is, Options{Refresh: time.Minute, MinInterval: 10 * time.Second, Clock: clk.now, Logger: slog.New(slog.DiscardHandler)})

	md, err := d.Get()
	if err != nil || md.Issuer != "https://first.test" {
		t.Fatalf("first get: %+v, %v", md, err)
	}
	for range 10 {
		if _, err := d.Get(); err != nil {
			t.Fatal(err)
		}
	}
	if n := fetches.Load(); n != 1 {
		t.Fatalf("%d fetches for fresh metadata, want 1", n)
	}

	// Stale: the cached metadata serves at once while one fetch replaces it.
	mu.Lock()
	issuer = "https://second.test"
	mu.Unlock()
	clk.add(2 * time.Minute)
	if md, _ := d.Get(); md.Issuer != "https://first.test" {
		t.Fatalf("a stale get waited for the fetch: %q", md.Issuer)
	}
	waitFor(t, func() bool { md, _ := d.Get(); return md.Issuer == "https://second.test" })

	// The provider goes down: the last good metadata stays.
	down.Store(true)
	clk.add(2 * time.Minute)
	before := fetches.Load()
	_, _ = d.Get()
	waitFor(t, func() bool { return fetches.Load() > before && !d.refreshing.Load() })
	if md, err := d.Get(); err != nil || md.Issuer != "https://second.test" {
		t.Fatalf("after a failed refresh: %+v, %v", md, err)
	}
}

func TestDiscoveryUnavailable(t *testing.T) {
	var fetches atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, "<html>login</html>")
	}))
	defer srv.Close()
	is, _ := ParseIssuer(srv.URL)
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	d := NewDiscovery(is, Options{MinInterval: 10 * time.Second, Clock: clk.now, Logger: slog.New(slog.DiscardHandler)})
	for range 5 {
		if _, err := d.Get(); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("error %v, want ErrUnavailable", err)
		}
	}
	if n := fetches.Load(); n != 1 {
		t.Fatalf("%d fetches within the minimum interval, want 1", n)
	}
	clk.add(11 * time.Second)
	_, _ = d.Get()
	if n := fetches.Load(); n != 2 {
		t.Fatalf("%d fetches after the minimum interval, want 2", n)
	}

	// A provider that cannot be reached at all.
	srv.Close()
	d = NewDiscovery(is, Options{Logger: slog.New(slog.DiscardHandler)})
	if _, err := d.Get(); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("error %v, want ErrUnavailable", err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
