package jwt_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/policies/internal/policytest"
	"github.com/verdict-policy/verdict/policies/jwt"
)

const secret = "a-shared-secret-of-some-length"

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestVerify(t *testing.T) {
	k := genKeys()
	dir := t.TempDir()
	ecFile := filepath.Join(dir, "ec.pem")
	if err := os.WriteFile(ecFile, []byte(pemOf(t, k.ec.Public())), 0o600); err != nil {
		t.Fatal(err)
	}
	jwksFile := filepath.Join(dir, "keys.json")
	if err := os.WriteFile(jwksFile, jwks(t, map[string]any{"ed-1": k.ed, "rsa-1": k.rsa}), 0o600); err != nil {
		t.Fatal(err)
	}
	jwksSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(jwks(t, map[string]any{"ed-2": k.ed, "ec-2": k.ec}))
	}))
	defer jwksSrv.Close()

	now := time.Now().Unix()
	ok := map[string]any{"sub": "alice", "iss": "https://idp.test", "aud": "orders", "exp": now + 300, "roles": []string{"admin"}}
	with := func(extra map[string]any) map[string]any {
		m := map[string]any{}
		for k, v := range ok {
			m[k] = v
		}
		for k, v := range extra {
			if v == nil {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		return m
	}
	const checks = `"issuer": "https://idp.test", "audience": "orders"`
	hs := `{"secret": ` + quote(secret) + `, ` + checks + `}`
	rs := `{"public_key": ` + quote(pemOf(t, k.rsa.Public())) + `, ` + checks + `}`
	es := `{"public_key_file": ` + quote(ecFile) + `, ` + checks + `}`
	edFile := `{"jwks_file": ` + quote(jwksFile) + `, ` + checks + `}`
	edURL := `{"jwks_url": ` + quote(jwksSrv.URL) + `, ` + checks + `}`
	hdr := func(alg, kid string) map[string]any {
		h := map[string]any{"alg": alg, "typ": "JWT"}
		if kid != "" {
			h["kid"] = kid
		}
		return h
	}
	tests := []struct {
		name   string
		config string
		auth   string // the Authorization header; "-" for none
		status int
		reason string // in WWW-Authenticate
	}{
		{"HS256 good", hs, "Bearer " + sign(t, []byte(secret), hdr("HS256", ""), ok), 0, ""},
		{"RS256 good", rs, "Bearer " + sign(t, k.rsa, hdr("RS256", ""), ok), 0, ""},
		{"ES256 good from a PEM file", es, "Bearer " + sign(t, k.ec, hdr("ES256", ""), ok), 0, ""},
		{"EdDSA good from a JWKS file", edFile, "Bearer " + sign(t, k.ed, hdr("EdDSA", "ed-1"), ok), 0, ""},
		{"RS256 good from a JWKS file", edFile, "Bearer " + sign(t, k.rsa, hdr("RS256", "rsa-1"), ok), 0, ""},
		{"EdDSA good from a JWKS URL", edURL, "Bearer " + sign(t, k.ed, hdr("EdDSA", "ed-2"), ok), 0, ""},
		{"ES256 good from a JWKS URL", edURL, "Bearer " + sign(t, k.ec, hdr("ES256", "ec-2"), ok), 0, ""},
		{"scheme in lower case", rs, "bearer " + sign(t, k.rsa, hdr("RS256", ""), ok), 0, ""},
		{"expired", rs, "Bearer " + sign(t, k.rsa, hdr("RS256", ""), with(map[string]any{"exp": now - 10})), 401, "expired"},
		{"expired within leeway", strings.Replace(rs, `"issuer"`, `"leeway": 60, "issuer"`, 1), "Bearer " + sign(t, k.rsa, hdr("RS256", ""), with(map[string]any{"exp": now - 10})), 0, ""},
		{"not yet valid", es, "Bearer " + sign(t, k.ec, hdr("ES256", ""), with(map[string]any{"nbf": now + 120})), 401, "not valid yet"},
		{"not yet valid within leeway", strings.Replace(es, `"issuer"`, `"leeway": 300, "issuer"`, 1), "Bearer " + sign(t, k.ec, hdr("ES256", ""), with(map[string]any{"nbf": now + 120})), 0, ""},
		{"wrong audience", edFile, "Bearer " + sign(t, k.ed, hdr("EdDSA", "ed-1"), with(map[string]any{"aud": []string{"billing"}})), 401, "audience"},
		{"no audience", hs, "Bearer " + sign(t, []byte(secret), hdr("HS256", ""), with(map[string]any{"aud": nil})), 401, "audience"},
		{"wrong issuer", hs, "Bearer " + sign(t, []byte(secret), hdr("HS256", ""), with(map[string]any{"iss": "https://evil.test"})), 401, "issuer"},
		{"wrong RSA key", rs, "Bearer " + sign(t, k.rsaOther, hdr("RS256", ""), ok), 401, "signature"},
		{"wrong Ed25519 key, known kid", edFile, "Bearer " + sign(t, k.edOther, hdr("EdDSA", "ed-1"), ok), 401, "signature"},
		{"wrong Ed25519 key, URL", edURL, "Bearer " + sign(t, k.edOther, hdr("EdDSA", "ed-2"), ok), 401, "signature"},
		{"unknown kid", edFile, "Bearer " + sign(t, k.ed, hdr("EdDSA", "nope"), ok), 401, "key is unknown"},
		{"wrong secret", hs, "Bearer " + sign(t, []byte("another-secret-altogether"), hdr("HS256", ""), ok), 401, "signature"},
		{"alg none, HS256 key", hs, "Bearer " + sign(t, nil, hdr("none", ""), ok), 401, "algorithm"},
		{"alg none, JWKS", edURL, "Bearer " + sign(t, nil, hdr("none", ""), ok), 401, "algorithm"},
		{"HS256 signed with the public key", rs, "Bearer " + sign(t, []byte(pemOf(t, k.rsa.Public())), hdr("HS256", ""), ok), 401, "algorithm"},
		{"garbage token", rs, "Bearer not.a.token", 401, "malformed"},
		{"two dots missing", rs, "Bearer abc", 401, "malformed"},
		{"basic auth", rs, "Basic YWxhZGRpbjpvcGVuc2VzYW1l", 401, "invalid_request"},
		{"empty bearer", rs, "Bearer ", 401, "invalid_request"},
		{"missing token", rs, "-", 401, ""},
		{"missing token, not required", strings.Replace(rs, `"issuer"`, `"required": false, "issuer"`, 1), "-", 0, ""},
		{"bad token, not required", strings.Replace(rs, `"issuer"`, `"required": false, "issuer"`, 1), "Bearer x.y.z", 401, "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := policytest.Build(t, policytest.Entry(jwt.Name, tt.config))
			r := httptest.NewRequest("GET", "http://api.test/orders", nil)
			if tt.auth != "-" {
				r.Header.Set("Authorization", tt.auth)
			}
			res := policytest.Run(ch, r, "192.0.2.1", nil, 0)
			if tt.status == 0 {
				if !res.Proxied || res.Status != 200 {
					t.Fatalf("refused: %d %s (%v)", res.Status, res.Body, res.Header)
				}
				claims, _ := res.Context.Get(jwt.ContextKey)
				if tt.auth != "-" {
					if m, _ := claims.(map[string]any); m["sub"] != "alice" {
						t.Fatalf("claims in the context: %v", claims)
					}
				} else if claims != nil {
					t.Fatalf("claims without a token: %v", claims)
				}
				return
			}
			if res.Proxied || res.Status != tt.status {
				t.Fatalf("got %d (proxied %v), want %d", res.Status, res.Proxied, tt.status)
			}
			challenge := res.Header.Get("WWW-Authenticate")
			if !strings.HasPrefix(challenge, "Bearer ") || !strings.Contains(challenge, tt.reason) {
				t.Fatalf("WWW-Authenticate %q, want a Bearer challenge with %q", challenge, tt.reason)
			}
			if tt.auth == "-" && strings.Contains(challenge, "error=") {
				t.Fatalf("a request without a token gets no error code: %q", challenge)
			}
			if _, ok := res.Context.Get(jwt.ContextKey); ok {
				t.Fatal("claims shared for a refused token")
			}
		})
	}
}

func TestKeysUnavailable(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "nope", http.StatusInternalServerError)
	}))
	defer srv.Close()
	k := genKeys()
	ch := policytest.Build(t, policytest.Entry(jwt.Name, `{"jwks_url": `+quote(srv.URL)+`}`))
	r := httptest.NewRequest("GET", "http://api.test/", nil)
	r.Header.Set("Authorization", "Bearer "+sign(t, k.ed, map[string]any{"alg": "EdDSA"}, map[string]any{"sub": "a"}))
	res := policytest.Run(ch, r, "192.0.2.1", nil, 0)
	if res.Status != 503 || res.Proxied || strings.Contains(string(res.Body), "500") {
		t.Fatalf("got %d %q", res.Status, res.Body)
	}
}

func TestLoadErrors(t *testing.T) {
	k := genKeys()
	dir := t.TempDir()
	badJWKS := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(badJWKS, []byte(`{"keys": [{"kty": "oct", "k": "AAAA"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, config, want string
	}{
		{"no key source", `{}`, "exactly one"},
		{"two key sources", `{"secret": ` + quote(secret) + `, "jwks_url": "http://127.0.0.1:1/keys"}`, "exactly one"},
		{"short secret", `{"secret": "short"}`, "secret"},
		{"not a PEM key", `{"public_key": "hello"}`, "public_key"},
		{"small RSA key", `{"public_key": ` + quote(pemOf(t, mustRSA1024().Public())) + `}`, "public_key"},
		{"missing key file", `{"public_key_file": "does-not-exist.pem"}`, "public_key_file"},
		{"JWKS file without signature keys", `{"jwks_file": ` + quote(badJWKS) + `}`, "jwks_file"},
		{"JWKS URL not http", `{"jwks_url": "ftp://example.com/keys"}`, "jwks_url"},
		{"refresh without URL", `{"public_key": ` + quote(pemOf(t, k.ed.Public())) + `, "jwks_refresh": 60}`, "jwks_refresh"},
		{"negative leeway", `{"secret": ` + quote(secret) + `, "leeway": -1}`, "leeway"},
		{"unknown field", `{"secret": ` + quote(secret) + `, "algorithm": "HS256"}`, "algorithm"},
	}
	var golden strings.Builder
	for _, tt := range tests {
		_, err := chain.Build([]chain.Entry{policytest.Entry(jwt.Name, tt.config)}, chain.Env{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one naming %q", tt.name, err, tt.want)
			continue
		}
		msg := strings.ReplaceAll(err.Error(), dir, "DIR")
		fmt.Fprintf(&golden, "%s\n\t%v\n", tt.name, msg)
	}
	policytest.Golden(t, "load_errors.golden", golden.String())
}
