package jwtparser_test

import (
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/policies/internal/policytest"
	jwtparser "github.com/verdict-policy/verdict/policies/jwt_parser"
)

var quiet = slog.New(slog.DiscardHandler)

func build(t testing.TB, config string) *chain.Chain {
	t.Helper()
	ch, err := chain.Build([]chain.Entry{policytest.Entry(jwtparser.Name, config)}, chain.Env{Logger: quiet})
	if err != nil {
		t.Fatalf("building the chain: %v", err)
	}
	return ch
}

func run(ch *chain.Chain, auth string) policytest.Result {
	r := httptest.NewRequest("GET", "http://api.test/echo", nil)
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	return policytest.Run(ch, r, "192.0.2.1", nil, 0)
}

// TestAcceptsEmptyConfiguration ports APIcast's test 1: the policy loads
// without configuration and lets requests without a token through; a
// token cannot be verified and is refused.
func TestAcceptsEmptyConfiguration(t *testing.T) {
	ch := build(t, `{}`)
	if res := run(ch, ""); !res.Proxied {
		t.Fatalf("request without token: %d %q", res.Status, res.Body)
	}
	if res := run(ch, "Bearer a.b.c"); res.Proxied || res.Status != 403 {
		t.Fatalf("token without a provider: %d, proxied %v", res.Status, res.Proxied)
	}
}

// TestVerify ports APIcast's test 2 and the claim checks of its OpenID
// Connect verifier: the provider's keys are found through discovery and a
// good token's claims are shared as jwt; every other token is refused
// with 403.
func TestVerify(t *testing.T) {
	p := startProvider(t)
	ch := build(t, `{"issuer_endpoint": "`+p.endpoint()+`"}`)
	now := time.Now().Unix()
	tests := []struct {
		name   string
		token  string
		status int
	}{
		{"good", p.token(t, rsaKey, "somekid", nil), 200},
		{"good, audience list", p.token(t, rsaKey, "somekid", map[string]any{"aud": []string{"a", "b"}}), 200},
		{"good, no typ", p.token(t, rsaKey, "somekid", map[string]any{"typ": nil}), 200},
		{"good, no kid", p.token(t, rsaKey, "", nil), 200},
		{"expired", p.token(t, rsaKey, "somekid", map[string]any{"exp": now - 60}), 403},
		{"not yet valid", p.token(t, rsaKey, "somekid", map[string]any{"nbf": now + 600}), 403},
		{"another issuer", p.token(t, rsaKey, "somekid", map[string]any{"iss": "https://evil.example.com/realms/api"}), 403},
		{"no issuer", p.token(t, rsaKey, "somekid", map[string]any{"iss": nil}), 403},
		{"no sub", p.token(t, rsaKey, "somekid", map[string]any{"sub": nil}), 403},
		{"no aud", p.token(t, rsaKey, "somekid", map[string]any{"aud": nil}), 403},
		{"empty aud list", p.token(t, rsaKey, "somekid", map[string]any{"aud": []string{}}), 403},
		{"no exp", p.token(t, rsaKey, "somekid", map[string]any{"exp": nil}), 403},
		{"negative iat", p.token(t, rsaKey, "somekid", map[string]any{"iat": -1}), 403},
		{"an ID token", p.token(t, rsaKey, "somekid", map[string]any{"typ": "ID"}), 403},
		{"an algorithm the provider does not list", p.token(t, ecKey, "eckid", nil), 403},
		{"signed by another key", p.token(t, rsa2, "somekid", nil), 403},
		{"an unknown kid", p.token(t, rsa2, "otherkid", nil), 403},
		{"malformed", "a.b.c", 403},
		{"unsigned", strings.Join(strings.Split(p.token(t, rsaKey, "somekid", nil), ".")[:2], ".") + ".", 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := run(ch, "Bearer "+tt.token)
			if res.Status != tt.status || res.Proxied != (tt.status == 200) {
				t.Fatalf("got %d %q (proxied %v), want %d", res.Status, res.Body, res.Proxied, tt.status)
			}
			claims, shared := res.Context.Get("jwt")
			if shared != (tt.status == 200) {
				t.Fatalf("claims shared: %v", shared)
			}
			if shared && claims.(map[string]any)["sub"] != "someone" {
				t.Fatalf("claims %v", claims)
			}
			if tt.status == 403 && string(res.Body) != "Authentication failed\n" {
				t.Fatalf("body %q", res.Body)
			}
		})
	}
	if n := p.metaCalls.Load(); n != 1 {
		t.Errorf("%d metadata fetches, want 1", n)
	}
	// The unknown kid does not fetch the keys again within ten seconds
	// of the last fetch.
	if n := p.keyCalls.Load(); n != 1 {
		t.Errorf("%d key set fetches, want 1", n)
	}

	// With ES256 listed, the EC key's token passes.
	p.set(func(p *provider) { p.algs = []string{"RS256", "ES256"} })
	ch = build(t, `{"issuer_endpoint": "`+p.endpoint()+`"}`)
	if res := run(ch, "Bearer "+p.token(t, ecKey, "eckid", nil)); !res.Proxied {
		t.Fatalf("ES256 token with ES256 listed: %d", res.Status)
	}
}

// TestRequired: without a token, required answers 401 with a Bearer
// challenge; otherwise the request goes on without claims. A header that
// is not a Bearer token counts as no token, as in APIcast.
func TestRequired(t *testing.T) {
	p := startProvider(t)
	for _, tt := range []struct {
		config, auth string
		status       int
	}{
		{`{"issuer_endpoint": "` + p.endpoint() + `", "required": true}`, "", 401},
		{`{"issuer_endpoint": "` + p.endpoint() + `", "required": true}`, "Basic YTpi", 401},
		{`{"issuer_endpoint": "` + p.endpoint() + `", "required": false}`, "", 200},
		{`{"issuer_endpoint": "` + p.endpoint() + `"}`, "Basic YTpi", 200},
		{`{"required": true}`, "", 401},
	} {
		res := run(build(t, tt.config), tt.auth)
		if res.Status != tt.status {
			t.Errorf("%s with %q: got %d, want %d", tt.config, tt.auth, res.Status, tt.status)
			continue
		}
		if tt.status == 401 && (res.Header.Get("WWW-Authenticate") != "Bearer" || string(res.Body) != "Authentication parameters missing\n") {
			t.Errorf("%s: challenge %q, body %q", tt.config, res.Header.Get("WWW-Authenticate"), res.Body)
		}
		if _, ok := res.Context.Get("jwt"); ok {
			t.Errorf("%s with %q: claims shared without a token", tt.config, tt.auth)
		}
	}
	if n := p.metaCalls.Load(); n != 0 {
		t.Errorf("%d metadata fetches for requests without a token, want 0", n)
	}
}

// TestProviderUnavailable: when the metadata or the keys cannot be had,
// tokens get 503, never a pass.
func TestProviderUnavailable(t *testing.T) {
	p := startProvider(t)
	p.set(func(p *provider) { p.down = true })
	ch := build(t, `{"issuer_endpoint": "`+p.endpoint()+`"}`)
	tok := p.token(t, rsaKey, "somekid", nil)
	if res := run(ch, "Bearer "+tok); res.Status != 503 || string(res.Body) != "Token signing keys unavailable\n" {
		t.Fatalf("provider down: %d %q", res.Status, res.Body)
	}

	q := startProvider(t)
	q.set(func(p *provider) { p.noJWKS = true })
	ch = build(t, `{"issuer_endpoint": "`+q.endpoint()+`"}`)
	if res := run(ch, "Bearer "+q.token(t, rsaKey, "somekid", nil)); res.Status != 503 {
		t.Fatalf("metadata without jwks_uri: %d %q", res.Status, res.Body)
	}
}

// TestKeyRotation: a token signed with a key the provider added after the
// keys were fetched is verified once the set is fetched again, which a
// new kid causes at once.
func TestKeyRotation(t *testing.T) {
	p := startProvider(t)
	pol, err := jwtparser.NewWith([]byte(`{"issuer_endpoint": "`+p.endpoint()+`"}`), quiet, jwtparser.Options{MinInterval: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	status := func(token string) int {
		r := httptest.NewRequest("GET", "http://api.test/", nil)
		r.Header.Set("Authorization", "Bearer "+token)
		c := chain.NewContext(r, "192.0.2.1", nil, nil)
		if err := pol.Rewrite(c); err != nil {
			t.Fatal(err)
		}
		if !c.Exited() {
			return 200
		}
		return c.Response.Status
	}
	if s := status(p.token(t, rsaKey, "somekid", nil)); s != 200 {
		t.Fatalf("first token: %d", s)
	}
	p.set(func(p *provider) { p.keys["newkid"] = rsa2 })
	if s := status(p.token(t, rsa2, "newkid", nil)); s != 200 {
		t.Fatalf("token of the new key: %d", s)
	}
	if n := p.keyCalls.Load(); n != 2 {
		t.Fatalf("%d key set fetches, want 2", n)
	}
	// A kid the provider does not have is refused after one more fetch.
	if s := status(p.token(t, rsa2, "nokid", nil)); s != 403 {
		t.Fatalf("unknown kid: %d", s)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct{ name, config, want string }{
		{"issuer not a URL", `{"issuer_endpoint": "sso.example.com/realms/api"}`, "issuer_endpoint"},
		{"issuer with a query", `{"issuer_endpoint": "https://sso.example.com/?realm=api"}`, "issuer_endpoint"},
		{"required not a boolean", `{"required": "yes"}`, "required"},
		{"unknown field", `{"issuer": "https://sso.example.com"}`, "issuer"},
	}
	var golden strings.Builder
	for _, tt := range tests {
		_, err := chain.Build([]chain.Entry{policytest.Entry(jwtparser.Name, tt.config)}, chain.Env{Logger: quiet})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one naming %q", tt.name, err, tt.want)
			continue
		}
		fmt.Fprintf(&golden, "%s\n\t%s\n\t%v\n", tt.name, tt.config, err)
	}
	policytest.Golden(t, "load_errors.golden", golden.String())
}
