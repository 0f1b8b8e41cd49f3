package jwtparser_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var b64 = base64.RawURLEncoding

// keys are generated once per test run.
var (
	keysOnce     sync.Once
	rsaKey, rsa2 *rsa.PrivateKey
	ecKey        *ecdsa.PrivateKey
)

func genKeys() {
	keysOnce.Do(func() {
		var err error
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if rsa2, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if ecKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
	})
}

// sign returns a compact JWS of claims with header hdr, signed RS256 or
// ES256 by key.
func sign(t testing.TB, key any, hdr, claims map[string]any) string {
	t.Helper()
	h, _ := json.Marshal(hdr)
	c, _ := json.Marshal(claims)
	in := b64.EncodeToString(h) + "." + b64.EncodeToString(c)
	sum := sha256.Sum256([]byte(in))
	var sig []byte
	var err error
	switch k := key.(type) {
	case *rsa.PrivateKey:
		sig, err = rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, sum[:])
	case *ecdsa.PrivateKey:
		var r, s *big.Int
		r, s, err = ecdsa.Sign(rand.Reader, k, sum[:])
		sig = make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
	}
	if err != nil {
		t.Fatal(err)
	}
	return in + "." + b64.EncodeToString(sig)
}

func jwk(key any, kid string) map[string]any {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return map[string]any{"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
			"n": b64.EncodeToString(k.N.Bytes()), "e": b64.EncodeToString(big.NewInt(int64(k.E)).Bytes())}
	case *ecdsa.PrivateKey:
		x, y := make([]byte, 32), make([]byte, 32)
		k.X.FillBytes(x)
		k.Y.FillBytes(y)
		return map[string]any{"kty": "EC", "kid": kid, "crv": "P-256", "x": b64.EncodeToString(x), "y": b64.EncodeToString(y)}
	}
	panic("unknown key type")
}

// provider is a real OpenID provider on a loopback port: its metadata
// names itself as issuer and its key set; both can be changed or broken.
type provider struct {
	*httptest.Server
	issuer    string
	metaCalls atomic.Int32
	keyCalls  atomic.Int32
	mu        sync.Mutex
	keys      map[string]any // kid → private key
	algs      []string
	noJWKS    bool
	down      bool
}

func startProvider(t testing.TB) *provider {
	t.Helper()
	genKeys()
	p := &provider{keys: map[string]any{"somekid": rsaKey, "eckid": ecKey}, algs: []string{"RS256"}}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.down {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		switch r.URL.Path {
		case "/realms/api/.well-known/openid-configuration":
			p.metaCalls.Add(1)
			doc := map[string]any{"issuer": p.issuer, "id_token_signing_alg_values_supported": p.algs}
			if !p.noJWKS {
				doc["jwks_uri"] = p.URL + "/realms/api/certs"
			}
			w.Header().Set("Content-Type", "application/json;charset=utf-8")
			_ = json.NewEncoder(w).Encode(doc)
		case "/realms/api/certs":
			p.keyCalls.Add(1)
			var set []any
			for kid, k := range p.keys {
				set = append(set, jwk(k, kid))
			}
			w.Header().Set("Content-Type", "application/jwk-set+json")
			_ = json.NewEncoder(w).Encode(map[string]any{"keys": set})
		default:
			http.NotFound(w, r)
		}
	}))
	p.issuer = "https://sso.example.com/realms/api"
	t.Cleanup(p.Close)
	return p
}

func (p *provider) endpoint() string { return p.URL + "/realms/api" }

func (p *provider) set(f func(p *provider)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(p)
}

// token returns an access token as Keycloak issues them, with claims
// changed by extra (a nil value removes a claim).
func (p *provider) token(t testing.TB, key any, kid string, extra map[string]any) string {
	t.Helper()
	claims := map[string]any{"iss": p.issuer, "sub": "someone", "aud": "the_token_audience", "typ": "Bearer",
		"exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix(),
		"realm_access": map[string]any{"roles": []string{"reader"}}}
	for k, v := range extra {
		if v == nil {
			delete(claims, k)
		} else {
			claims[k] = v
		}
	}
	alg := "RS256"
	if _, ok := key.(*ecdsa.PrivateKey); ok {
		alg = "ES256"
	}
	hdr := map[string]any{"alg": alg, "typ": "JWT"}
	if kid != "" {
		hdr["kid"] = kid
	}
	return sign(t, key, hdr, claims)
}
