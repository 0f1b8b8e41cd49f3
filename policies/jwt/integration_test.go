package jwt_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/verdict-policy/verdict/gateway/gatewaytest"
	_ "github.com/verdict-policy/verdict/policies/headers"
)

// TestThroughGateway runs the policy in a real gateway in front of a real
// upstream, with its keys served by a real JWKS endpoint: the claims reach
// a Liquid header, refusals never reach the upstream, and the key set is
// fetched once for many requests.
func TestThroughGateway(t *testing.T) {
	k := genKeys()
	var fetches atomic.Int32
	keys := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(jwks(t, map[string]any{"k-rsa": k.rsa, "k-ed": k.ed, "k-ec": k.ec}))
	}))
	defer keys.Close()
	up := gatewaytest.StartUpstream(t, nil)
	gw := gatewaytest.Start(t, `
services:
  - id: 1
    proxy:
      api_backend: `+up.URL+`
      policy_chain:
        - name: jwt
          configuration: {jwks_url: "`+keys.URL+`", issuer: "https://idp.test", audience: orders, leeway: 5}
        - name: headers
          configuration:
            request:
              - {op: set, header: X-User, value: "{{ jwt.sub }}", value_type: liquid}
              - {op: delete, header: Authorization}
        - name: apicast
`)
	now := time.Now().Unix()
	good := map[string]any{"sub": "alice", "iss": "https://idp.test", "aud": []string{"orders", "billing"}, "exp": now + 60}
	tests := []struct {
		name   string
		token  string
		status int
		reason string
	}{
		{"RS256", sign(t, k.rsa, map[string]any{"alg": "RS256", "kid": "k-rsa"}, good), 200, ""},
		{"ES256", sign(t, k.ec, map[string]any{"alg": "ES256", "kid": "k-ec"}, good), 200, ""},
		{"EdDSA", sign(t, k.ed, map[string]any{"alg": "EdDSA", "kid": "k-ed"}, good), 200, ""},
		{"expired", sign(t, k.ed, map[string]any{"alg": "EdDSA", "kid": "k-ed"}, map[string]any{"sub": "a", "iss": "https://idp.test", "aud": "orders", "exp": now - 60}), 401, "expired"},
		{"not yet valid", sign(t, k.ed, map[string]any{"alg": "EdDSA", "kid": "k-ed"}, map[string]any{"sub": "a", "iss": "https://idp.test", "aud": "orders", "nbf": now + 60}), 401, "not valid yet"},
		{"wrong audience", sign(t, k.ed, map[string]any{"alg": "EdDSA", "kid": "k-ed"}, map[string]any{"sub": "a", "iss": "https://idp.test", "aud": "other"}), 401, "audience"},
		{"wrong key", sign(t, k.edOther, map[string]any{"alg": "EdDSA", "kid": "k-ed"}, good), 401, "signature"},
		{"alg none", sign(t, nil, map[string]any{"alg": "none"}, good), 401, "algorithm"},
		{"no token", "", 401, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(up.Requests())
			r := gw.NewRequest("GET", "/orders?x=1", nil)
			if tt.token != "" {
				r.Header.Set("Authorization", "Bearer "+tt.token)
			}
			res := gw.Do(t, r)
			if res.Status != tt.status {
				t.Fatalf("got %d %q, want %d", res.Status, res.Body, tt.status)
			}
			reached := len(up.Requests()) > before
			if reached != (tt.status == 200) {
				t.Fatalf("upstream reached: %v", reached)
			}
			if tt.status == 200 {
				got := up.Last(t)
				if got.Header.Get("X-User") != "alice" || got.Header.Get("Authorization") != "" {
					t.Fatalf("upstream headers %v", got.Header)
				}
				return
			}
			challenge := res.Header.Get("WWW-Authenticate")
			if !strings.HasPrefix(challenge, "Bearer ") || !strings.Contains(challenge, tt.reason) {
				t.Fatalf("WWW-Authenticate %q, want a Bearer challenge with %q", challenge, tt.reason)
			}
		})
	}
	if n := fetches.Load(); n != 1 {
		t.Errorf("the key set was fetched %d times, want once", n)
	}
}

// TestReloadWithBadKeys reloads the gateway with a key file that does not
// parse: the reload fails naming the policy, and the running chain keeps
// verifying with its keys.
func TestReloadWithBadKeys(t *testing.T) {
	k := genKeys()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(good, jwks(t, map[string]any{"k1": k.ed}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte(`{"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "short"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	up := gatewaytest.StartUpstream(t, nil)
	cfg := func(file string) string {
		return `
services:
  - id: 1
    proxy:
      api_backend: ` + up.URL + `
      policy_chain:
        - {name: jwt, configuration: {jwks_file: "` + file + `"}}
        - name: apicast
`
	}
	gw := gatewaytest.Start(t, cfg(good))
	token := sign(t, k.ed, map[string]any{"alg": "EdDSA", "kid": "k1"}, map[string]any{"sub": "a"})
	err := gw.Reload(cfg(bad))
	if err == nil || !strings.Contains(err.Error(), "jwks_file") || !strings.Contains(err.Error(), "policy_chain[0]") {
		t.Fatalf("reload error %v, want one naming the policy and jwks_file", err)
	}
	r := gw.NewRequest("GET", "/x", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	if res := gw.Do(t, r); res.Status != 200 {
		t.Fatalf("after the failed reload: %d %q", res.Status, res.Body)
	}
	if res := gw.Do(t, gw.NewRequest("GET", "/x", nil)); res.Status != 401 {
		t.Fatalf("without a token after the failed reload: %d", res.Status)
	}
}

// TestKeyRotation rotates the keys a JWKS endpoint serves: a token signed
// with the new key is accepted once the refresh interval allows a fetch,
// and a token of the retired key is refused after the set is replaced.
func TestKeyRotation(t *testing.T) {
	k := genKeys()
	var served atomic.Value
	served.Store(jwks(t, map[string]any{"old": k.rsa}))
	keys := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(served.Load().([]byte))
	}))
	defer keys.Close()
	up := gatewaytest.StartUpstream(t, nil)
	gw := gatewaytest.Start(t, `
services:
  - id: 1
    proxy:
      api_backend: `+up.URL+`
      policy_chain:
        - {name: jwt, configuration: {jwks_url: "`+keys.URL+`", jwks_refresh: 1}}
        - name: apicast
`)
	status := func(token string) int {
		r := gw.NewRequest("GET", "/x", nil)
		r.Header.Set("Authorization", "Bearer "+token)
		return gw.Do(t, r).Status
	}
	oldTok := sign(t, k.rsa, map[string]any{"alg": "RS256", "kid": "old"}, map[string]any{"sub": "a", "n": 1})
	newTok := sign(t, k.ed, map[string]any{"alg": "EdDSA", "kid": "new"}, map[string]any{"sub": "a"})
	if s := status(oldTok); s != 200 {
		t.Fatalf("old key before rotation: %d", s)
	}
	served.Store(jwks(t, map[string]any{"new": k.ed}))
	deadline := time.Now().Add(5 * time.Second)
	for status(newTok) != 200 {
		if time.Now().After(deadline) {
			t.Fatal("the new key was not picked up in 5 s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	// A token of the retired key that was never verified before is refused.
	retired := sign(t, k.rsa, map[string]any{"alg": "RS256", "kid": "old"}, map[string]any{"sub": "a", "n": 2})
	if s := status(retired); s != 401 {
		t.Fatalf("retired key after rotation: %d", s)
	}
}

// TestRelativeKeyFile names the key file relative to the configuration
// file: it is found in the configuration's directory, whatever the
// process's working directory.
func TestRelativeKeyFile(t *testing.T) {
	k := genKeys()
	up := gatewaytest.StartUpstream(t, nil)
	gw := gatewaytest.Start(t, "services: []\n")
	if err := os.WriteFile(filepath.Join(gw.Dir(), "keys.json"), jwks(t, map[string]any{"k1": k.ed}), 0o600); err != nil {
		t.Fatal(err)
	}
	err := gw.Reload(`
services:
  - id: 1
    proxy:
      api_backend: ` + up.URL + `
      policy_chain:
        - {name: jwt, configuration: {jwks_file: keys.json}}
        - name: apicast
`)
	if err != nil {
		t.Fatalf("a key file relative to the configuration: %v", err)
	}
	r := gw.NewRequest("GET", "/x", nil)
	r.Header.Set("Authorization", "Bearer "+sign(t, k.ed, map[string]any{"alg": "EdDSA", "kid": "k1"}, map[string]any{"sub": "a"}))
	if res := gw.Do(t, r); res.Status != 200 {
		t.Fatalf("%d %q", res.Status, res.Body)
	}
}
