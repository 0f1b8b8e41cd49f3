package tokenintrospection_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/verdict-policy/verdict/chain"
	authjwt "github.com/verdict-policy/verdict/jwt"
	"github.com/verdict-policy/verdict/policies/internal/policytest"
	tokenintrospection "github.com/verdict-policy/verdict/policies/token_introspection"
)

// idp is a real introspection endpoint on a loopback port: it checks how
// the gateway authenticates and answers from a table of tokens.
type idp struct {
	*httptest.Server
	calls atomic.Int32
	mu    sync.Mutex
	// check, when set, refuses a request it returns an error for.
	check func(r *http.Request, form map[string][]string) error
	// answers maps a token to the raw answer body; an unknown token is
	// inactive.
	answers map[string]string
	status  int
	ctype   string
	errs    []error
}

func startIdP(t testing.TB) *idp {
	t.Helper()
	p := &idp{answers: map[string]string{}, status: 200, ctype: "application/json"}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.calls.Add(1)
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" || r.PostForm.Get("token_type_hint") != "access_token" {
			p.errs = append(p.errs, fmt.Errorf("unexpected request %s %q %v", r.Method, r.Header.Get("Content-Type"), r.PostForm))
		}
		if p.check != nil {
			if err := p.check(r, r.PostForm); err != nil {
				p.errs = append(p.errs, err)
				http.Error(w, err.Error(), http.StatusUnauthorized)
				return
			}
		}
		body, ok := p.answers[r.PostForm.Get("token")]
		if !ok {
			body = `{"active": false}`
		}
		w.Header().Set("Content-Type", p.ctype)
		w.WriteHeader(p.status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *idp) answer(token, body string) {
	p.mu.Lock()
	p.answers[token] = body
	p.mu.Unlock()
}

func (p *idp) failures(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, err := range p.errs {
		t.Error(err)
	}
}

func basicCheck(id, secret string) func(*http.Request, map[string][]string) error {
	return func(r *http.Request, _ map[string][]string) error {
		u, pw, ok := r.BasicAuth()
		if !ok || u != id || pw != secret {
			return fmt.Errorf("Basic credentials %q:%q, want %q:%q", u, pw, id, secret)
		}
		return nil
	}
}

func run(t *testing.T, ch *chain.Chain, token string) policytest.Result {
	t.Helper()
	r := httptest.NewRequest("GET", "http://api.test/echo", nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	return policytest.Run(ch, r, "192.0.2.1", nil, 0)
}

func build(t *testing.T, config string, env chain.Env) *chain.Chain {
	t.Helper()
	if env.Logger == nil {
		env.Logger = slog.New(slog.DiscardHandler)
	}
	ch, err := chain.Build([]chain.Entry{policytest.Entry(tokenintrospection.Name, config)}, env)
	if err != nil {
		t.Fatalf("building the chain: %v", err)
	}
	return ch
}

// TestClientCredentials ports APIcast's tests 1 to 5: an active token
// passes, and an inactive one, an endpoint error, an answer that is not
// JSON and a null answer are all refused with 403.
func TestClientCredentials(t *testing.T) {
	p := startIdP(t)
	p.check = basicCheck("app", "appsec")
	p.answer("good", `{"active": true, "scope": "read", "client_id": "app"}`)
	p.answer("revoked", `{"active": false}`)
	p.answer("html", `<html></html>`)
	p.answer("null", `null`)
	p.answer("list", `[{"active": true}]`)
	p.answer("stringly", `{"active": "true"}`)
	ch := build(t, `{"auth_type": "client_id+client_secret", "client_id": "app", "client_secret": "appsec", "introspection_url": "`+p.URL+`/token/introspection"}`, chain.Env{})
	for _, tt := range []struct {
		token   string
		allowed bool
	}{
		{"good", true},
		{"revoked", false},
		{"unknown", false},
		{"html", false},
		{"null", false},
		{"list", false},
		{"stringly", false},
		{"", false},
	} {
		res := run(t, ch, tt.token)
		if res.Proxied != tt.allowed {
			t.Errorf("token %q: proxied %v, want %v", tt.token, res.Proxied, tt.allowed)
		}
		if !tt.allowed && (res.Status != 403 || string(res.Body) != "Authentication failed\n" || res.Header.Get("Content-Type") != "text/plain; charset=utf-8") {
			t.Errorf("token %q: refusal %d %q %q", tt.token, res.Status, res.Body, res.Header.Get("Content-Type"))
		}
	}
	if n := p.calls.Load(); n != 7 {
		t.Errorf("%d introspections, want 7 (none without a token, none cached)", n)
	}
	p.failures(t)
}

// TestEndpointFailures: an error status, a wrong secret and an endpoint
// that cannot be reached are refusals, as in APIcast, not errors.
func TestEndpointFailures(t *testing.T) {
	p := startIdP(t)
	p.check = basicCheck("app", "right")
	p.answer("good", `{"active": true}`)
	wrong := build(t, `{"auth_type": "client_id+client_secret", "client_id": "app", "client_secret": "wrong", "introspection_url": "`+p.URL+`"}`, chain.Env{})
	if res := run(t, wrong, "good"); res.Proxied || res.Status != 403 {
		t.Errorf("wrong secret: %d, proxied %v", res.Status, res.Proxied)
	}

	p.check = nil
	p.status = 500
	ch := build(t, `{"auth_type": "client_id+client_secret", "client_id": "app", "client_secret": "right", "introspection_url": "`+p.URL+`"}`, chain.Env{})
	if res := run(t, ch, "good"); res.Proxied || res.Status != 403 || res.Context.Failed() != nil {
		t.Errorf("status 500: %d, proxied %v, failed %v", res.Status, res.Proxied, res.Context.Failed())
	}

	dead := httptest.NewServer(http.NotFoundHandler())
	url := dead.URL
	dead.Close()
	ch = build(t, `{"auth_type": "client_id+client_secret", "client_id": "app", "client_secret": "right", "introspection_url": "`+url+`"}`, chain.Env{})
	if res := run(t, ch, "good"); res.Proxied || res.Status != 403 || res.Context.Failed() != nil {
		t.Errorf("unreachable: %d, proxied %v, failed %v", res.Status, res.Proxied, res.Context.Failed())
	}
}

// TestBearerParsing: only a Bearer token is introspected.
func TestBearerParsing(t *testing.T) {
	p := startIdP(t)
	p.answer("tok", `{"active": true}`)
	ch := build(t, `{"auth_type": "client_id+client_secret", "client_id": "a", "client_secret": "b", "introspection_url": "`+p.URL+`"}`, chain.Env{})
	for _, tt := range []struct {
		header  string
		allowed bool
	}{
		{"Bearer tok", true},
		{"bearer tok", true},
		{"Bearer  tok ", true},
		{"Basic dG9rOg==", false},
		{"Bearer", false},
		{"Bearer tok extra", false},
		{"tok", false},
	} {
		r := httptest.NewRequest("GET", "http://api.test/", nil)
		r.Header.Set("Authorization", tt.header)
		if res := policytest.Run(ch, r, "192.0.2.1", nil, 0); res.Proxied != tt.allowed {
			t.Errorf("Authorization %q: proxied %v, want %v", tt.header, res.Proxied, tt.allowed)
		}
	}
}

const jwtSecret = "client-secret-of-at-least-32-bytes!"

// TestClientSecretJWT ports APIcast's tests 11 and 12: the endpoint gets
// client_id and an HS256 assertion signed with the client secret, with
// the client as iss and sub and the configured audience.
func TestClientSecretJWT(t *testing.T) {
	verifier, err := authjwt.NewHS256([]byte(jwtSecret), authjwt.WithAudience("http://idp.test/realms/basic"), authjwt.WithIssuer("app"))
	if err != nil {
		t.Fatal(err)
	}
	p := startIdP(t)
	p.check = assertionCheck(verifier, "HS256", 30)
	p.answer("good", `{"active": true}`)
	ch := build(t, `{"auth_type": "client_secret_jwt", "client_id": "app", "client_secret": "`+jwtSecret+`", "introspection_url": "`+p.URL+`",
		"client_jwt_assertion_audience": "http://idp.test/realms/basic", "client_jwt_assertion_expires_in": 30}`, chain.Env{})
	if res := run(t, ch, "good"); !res.Proxied {
		t.Fatalf("active token refused: %d %q", res.Status, res.Body)
	}
	if res := run(t, ch, "revoked"); res.Proxied || res.Status != 403 {
		t.Fatalf("inactive token: %d", res.Status)
	}
	p.failures(t)
}

// assertionCheck verifies a client assertion with the project's JWT
// verifier and checks the claims APIcast's tests check; each jti must be
// new.
func assertionCheck(v *authjwt.Verifier, alg string, lifetime int64) func(*http.Request, map[string][]string) error {
	var mu sync.Mutex
	seen := map[string]bool{}
	return func(r *http.Request, form map[string][]string) error {
		get := func(k string) string {
			if v := form[k]; len(v) == 1 {
				return v[0]
			}
			return ""
		}
		if _, _, ok := r.BasicAuth(); ok {
			return fmt.Errorf("Basic credentials sent along with an assertion")
		}
		if get("client_id") != "app" || get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
			return fmt.Errorf("client_id %q, client_assertion_type %q", get("client_id"), get("client_assertion_type"))
		}
		token := get("client_assertion")
		claims, err := v.Verify(token)
		if err != nil {
			return fmt.Errorf("assertion: %w", err)
		}
		hdr, _ := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
		if string(hdr) != `{"typ":"JWT","alg":"`+alg+`"}` {
			return fmt.Errorf("assertion header %s", hdr)
		}
		exp, _ := claims["exp"].(float64)
		iat, _ := claims["iat"].(float64)
		jti, _ := claims["jti"].(string)
		if claims["sub"] != "app" || int64(exp)-int64(iat) != lifetime || jti == "" || int64(iat) > time.Now().Unix()+1 {
			return fmt.Errorf("assertion claims %v", claims)
		}
		mu.Lock()
		defer mu.Unlock()
		if seen[jti] {
			return fmt.Errorf("jti %q used twice", jti)
		}
		seen[jti] = true
		return nil
	}
}

func rsaKey(t *testing.T) (*rsa.PrivateKey, []byte, []byte) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	priv := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pub := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	return k, priv, pub
}

// TestPrivateKeyJWT ports APIcast's tests 13 and 14: the assertion is
// signed RS256 with the configured key, embedded as a data: URL or read
// from a file relative to the configuration's directory.
func TestPrivateKeyJWT(t *testing.T) {
	k, priv, pub := rsaKey(t)
	verifier, err := authjwt.NewPublicKey(pub, authjwt.WithAudience("http://idp.test/realms/basic"), authjwt.WithIssuer("app"))
	if err != nil {
		t.Fatal(err)
	}
	p := startIdP(t)
	p.check = assertionCheck(verifier, "RS256", 60)
	p.answer("good", `{"active": true}`)

	dir := t.TempDir()
	pkcs8, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "client.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), 0o600); err != nil {
		t.Fatal(err)
	}
	common := `"auth_type": "private_key_jwt", "client_id": "app", "introspection_url": "` + p.URL + `", "client_jwt_assertion_audience": "http://idp.test/realms/basic"`
	for name, cfg := range map[string]string{
		"embedded PKCS #1": `{` + common + `, "certificate_type": "embedded", "certificate": "data:application/x-x509-ca-cert;name=rsa.pem;base64,` + base64.StdEncoding.EncodeToString(priv) + `"}`,
		"file PKCS #8":     `{` + common + `, "certificate": "client.pem"}`,
	} {
		t.Run(name, func(t *testing.T) {
			ch := build(t, cfg, chain.Env{Dir: dir})
			if res := run(t, ch, "good"); !res.Proxied {
				t.Fatalf("active token refused: %d %q", res.Status, res.Body)
			}
			if res := run(t, ch, "revoked"); res.Proxied || res.Status != 403 || string(res.Body) != "Authentication failed\n" {
				t.Fatalf("inactive token: %d %q", res.Status, res.Body)
			}
		})
	}
	p.failures(t)
}

// TestCache: answers are kept up to max_cached_tokens, least recently
// used first out; without max_cached_tokens every request asks.
func TestCache(t *testing.T) {
	p := startIdP(t)
	exp := time.Now().Add(time.Hour).Unix()
	for _, tok := range []string{"a", "b", "c"} {
		p.answer(tok, fmt.Sprintf(`{"active": true, "exp": %d}`, exp))
	}
	base := `"client_id": "app", "client_secret": "s", "introspection_url": "` + p.URL + `"`
	ch := build(t, `{"auth_type": "client_id+client_secret", `+base+`, "max_cached_tokens": 2, "max_ttl_tokens": 3600}`, chain.Env{})
	steps := []struct {
		token string
		calls int32
	}{
		{"a", 1}, {"a", 1}, {"b", 2}, {"a", 2}, // a is now the most recently used
		{"c", 3}, // b goes
		{"a", 3}, {"c", 3}, {"b", 4},
	}
	for i, s := range steps {
		if res := run(t, ch, s.token); !res.Proxied {
			t.Fatalf("step %d: %s refused", i, s.token)
		}
		if n := p.calls.Load(); n != s.calls {
			t.Fatalf("step %d (%s): %d introspections, want %d", i, s.token, n, s.calls)
		}
	}
	// An inactive answer is kept too, for max_ttl_tokens.
	before := p.calls.Load()
	for range 3 {
		if res := run(t, ch, "revoked"); res.Proxied {
			t.Fatal("inactive token let through")
		}
	}
	if n := p.calls.Load() - before; n != 1 {
		t.Fatalf("%d introspections of a cached inactive answer, want 1", n)
	}

	// Without max_ttl_tokens an answer without exp is not kept.
	noTTL := build(t, `{"auth_type": "client_id+client_secret", `+base+`, "max_cached_tokens": 10}`, chain.Env{})
	p.answer("forever", `{"active": true}`)
	before = p.calls.Load()
	run(t, noTTL, "forever")
	run(t, noTTL, "forever")
	if n := p.calls.Load() - before; n != 2 {
		t.Fatalf("%d introspections of an answer without exp, want 2", n)
	}

	// Without max_cached_tokens nothing is kept.
	off := build(t, `{"auth_type": "client_id+client_secret", `+base+`, "max_ttl_tokens": 60}`, chain.Env{})
	before = p.calls.Load()
	run(t, off, "a")
	run(t, off, "a")
	if n := p.calls.Load() - before; n != 2 {
		t.Fatalf("%d introspections without a cache, want 2", n)
	}
}

// service is a service view with an OpenID Connect issuer.
func service(issuer string) *chain.Service {
	return &chain.Service{ID: "1", OIDCIssuerEndpoint: issuer}
}

// TestIssuerEndpoint ports APIcast's tests 6, 8, 9 and 10: with
// use_3scale_oidc_issuer_endpoint the endpoint is found in the issuer's
// metadata (under either name) and the credentials in the issuer URL; a
// service without issuer, or an issuer without an endpoint, refuses.
func TestIssuerEndpoint(t *testing.T) {
	p := startIdP(t)
	p.check = basicCheck("app", "appsec")
	p.answer("good", `{"active": true}`)
	var name atomic.Value
	name.Store("introspection_endpoint")
	meta := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/issuer/endpoint/.well-known/openid-configuration" {
			http.NotFound(w, r)
			return
		}
		if _, _, ok := r.BasicAuth(); ok {
			t.Error("the client's credentials were sent to the metadata endpoint")
		}
		w.Header().Set("Content-Type", "application/json;charset=utf-8")
		doc := map[string]any{"issuer": "https://example.com/auth/realms/apicast", "jwks_uri": "http://idp.test/jwks"}
		if n := name.Load().(string); n != "" {
			doc[n] = p.URL + "/token/introspection"
		}
		_ = json.NewEncoder(w).Encode(doc)
	}))
	defer meta.Close()
	issuer := strings.Replace(meta.URL, "http://", "http://app:appsec@", 1) + "/issuer/endpoint"
	for _, n := range []string{"introspection_endpoint", "token_introspection_endpoint"} {
		name.Store(n)
		ch := build(t, `{"auth_type": "use_3scale_oidc_issuer_endpoint"}`, chain.Env{Service: service(issuer)})
		if res := run(t, ch, "good"); !res.Proxied {
			t.Errorf("%s: active token refused: %d", n, res.Status)
		}
		if res := run(t, ch, "revoked"); res.Proxied || res.Status != 403 {
			t.Errorf("%s: inactive token: %d", n, res.Status)
		}
	}
	name.Store("")
	ch := build(t, `{"auth_type": "use_3scale_oidc_issuer_endpoint"}`, chain.Env{Service: service(issuer)})
	if res := run(t, ch, "good"); res.Proxied || res.Status != 403 {
		t.Errorf("no endpoint in the metadata: %d, proxied %v", res.Status, res.Proxied)
	}
	for name, svc := range map[string]*chain.Service{"no issuer": service(""), "no service": nil} {
		ch := build(t, `{"auth_type": "use_3scale_oidc_issuer_endpoint"}`, chain.Env{Service: svc})
		if res := run(t, ch, "good"); res.Proxied || res.Status != 403 || string(res.Body) != "Authentication failed\n" {
			t.Errorf("%s: %d %q, proxied %v", name, res.Status, res.Body, res.Proxied)
		}
	}
	p.failures(t)
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ec.pem"), []byte("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	jwtBase := `"client_id": "app", "introspection_url": "http://idp.test/i", "client_jwt_assertion_audience": "http://idp.test"`
	tests := []struct{ name, config, want string }{
		{"no auth_type", `{}`, "auth_type"},
		{"unknown auth_type", `{"auth_type": "mtls"}`, "auth_type"},
		{"basic without url", `{"auth_type": "client_id+client_secret", "client_id": "a", "client_secret": "b"}`, "introspection_url"},
		{"basic without secret", `{"auth_type": "client_id+client_secret", "client_id": "a", "introspection_url": "http://idp.test/i"}`, "client_secret"},
		{"relative url", `{"auth_type": "client_id+client_secret", "client_id": "a", "client_secret": "b", "introspection_url": "/token/introspection"}`, "introspection_url"},
		{"secret jwt without audience", `{"auth_type": "client_secret_jwt", "client_id": "a", "client_secret": "b", "introspection_url": "http://idp.test/i"}`, "client_jwt_assertion_audience"},
		{"secret jwt with an empty secret", `{"auth_type": "client_secret_jwt", ` + jwtBase + `, "client_secret": ""}`, "client_secret"},
		{"private key jwt without key", `{"auth_type": "private_key_jwt", ` + jwtBase + `}`, "certificate"},
		{"key file missing", `{"auth_type": "private_key_jwt", ` + jwtBase + `, "certificate": "missing.pem"}`, "certificate"},
		{"key not RSA", `{"auth_type": "private_key_jwt", ` + jwtBase + `, "certificate": "ec.pem"}`, "certificate"},
		{"embedded key not a data URL", `{"auth_type": "private_key_jwt", ` + jwtBase + `, "certificate_type": "embedded", "certificate": "LS0tLS1CRUdJTg=="}`, "certificate"},
		{"embedded key not PEM", `{"auth_type": "private_key_jwt", ` + jwtBase + `, "certificate_type": "embedded", "certificate": "data:text/plain,hello"}`, "certificate"},
		{"assertion lifetime 0", `{"auth_type": "client_secret_jwt", ` + jwtBase + `, "client_secret": "s", "client_jwt_assertion_expires_in": 0}`, "client_jwt_assertion_expires_in"},
		{"cache too large", `{"auth_type": "use_3scale_oidc_issuer_endpoint", "max_cached_tokens": 10001}`, "max_cached_tokens"},
		{"ttl too long", `{"auth_type": "use_3scale_oidc_issuer_endpoint", "max_ttl_tokens": 3601}`, "max_ttl_tokens"},
		{"unknown field", `{"auth_type": "use_3scale_oidc_issuer_endpoint", "introspection": "x"}`, "introspection"},
	}
	var golden strings.Builder
	for _, tt := range tests {
		_, err := chain.Build([]chain.Entry{policytest.Entry(tokenintrospection.Name, tt.config)}, chain.Env{Dir: dir})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one naming %q", tt.name, err, tt.want)
			continue
		}
		fmt.Fprintf(&golden, "%s\n\t%s\n\t%v\n", tt.name, tt.config, err)
	}
	policytest.Golden(t, "load_errors.golden", golden.String())
}
