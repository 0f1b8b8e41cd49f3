package jwt

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testKeys are one key of each type, generated once per test binary.
type testKeys struct {
	rsa *rsa.PrivateKey
	ec  *ecdsa.PrivateKey
	ed  ed25519.PrivateKey
}

var (
	keysOnce sync.Once
	keys     testKeys
)

func genKeys(t testing.TB) testKeys {
	t.Helper()
	keysOnce.Do(func() {
		var err error
		if keys.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if keys.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
		if _, keys.ed, err = ed25519.GenerateKey(rand.Reader); err != nil {
			panic(err)
		}
	})
	return keys
}

// sign makes a token with the given header fields signed by key (an
// *rsa.PrivateKey, *ecdsa.PrivateKey or ed25519.PrivateKey).
func sign(t testing.TB, key any, hdr map[string]any, claims map[string]any) string {
	t.Helper()
	h, _ := json.Marshal(hdr)
	c, _ := json.Marshal(claims)
	in := enc.EncodeToString(h) + "." + enc.EncodeToString(c)
	sum := sha256.Sum256([]byte(in))
	var sig []byte
	switch k := key.(type) {
	case *rsa.PrivateKey:
		s, err := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		sig = s
	case *ecdsa.PrivateKey:
		r, s, err := ecdsa.Sign(rand.Reader, k, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		sig = make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
	case ed25519.PrivateKey:
		sig = ed25519.Sign(k, []byte(in))
	}
	return in + "." + enc.EncodeToString(sig)
}

// JWK returns the public JSON Web Key of a private key, with kid.
func JWK(t testing.TB, key any, kid string) map[string]any {
	t.Helper()
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return map[string]any{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
			"n": enc.EncodeToString(k.N.Bytes()), "e": enc.EncodeToString(big.NewInt(int64(k.E)).Bytes())}
	case *ecdsa.PrivateKey:
		x, y := make([]byte, 32), make([]byte, 32)
		k.X.FillBytes(x)
		k.Y.FillBytes(y)
		return map[string]any{"kty": "EC", "kid": kid, "crv": "P-256", "x": enc.EncodeToString(x), "y": enc.EncodeToString(y)}
	case ed25519.PrivateKey:
		return map[string]any{"kty": "OKP", "kid": kid, "crv": "Ed25519", "x": enc.EncodeToString(k.Public().(ed25519.PublicKey))}
	}
	t.Fatalf("no JWK for %T", key)
	return nil
}

func jwks(t testing.TB, keys ...map[string]any) []byte {
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEdDSAPublicKey(t *testing.T) {
	k := genKeys(t)
	v, err := NewPublicKey(pemOf(t, k.ed.Public()), WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	if v.Algorithm() != EdDSA {
		t.Fatalf("algorithm %q", v.Algorithm())
	}
	claims := map[string]any{"sub": "ed", "exp": float64(now.Unix() + 60)}
	if got, err := v.Verify(sign(t, k.ed, map[string]any{"alg": "EdDSA"}, claims)); err != nil || got["sub"] != "ed" {
		t.Fatalf("good token: %v %v", got, err)
	}
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	if _, err := v.Verify(sign(t, other, map[string]any{"alg": "EdDSA"}, claims)); !errors.Is(err, ErrSignature) {
		t.Fatalf("wrong key: %v", err)
	}
	if _, err := v.Verify(sign(t, k.rsa, map[string]any{"alg": "RS256"}, claims)); !errors.Is(err, ErrAlgorithm) {
		t.Fatalf("RS256 token for an EdDSA key: %v", err)
	}
}

func TestKeySet(t *testing.T) {
	k := genKeys(t)
	ks, err := ParseJWKS(jwks(t, JWK(t, k.rsa, "r1"), JWK(t, k.ec, "e1"), JWK(t, k.ed, "d1"),
		map[string]any{"kty": "oct", "k": "c2VjcmV0"},
		map[string]any{"kty": "RSA", "use": "enc", "n": "AQAB", "e": "AQAB"}))
	if err != nil {
		t.Fatal(err)
	}
	if ks.Len() != 3 {
		t.Fatalf("%d keys, want 3 (oct and enc keys skipped)", ks.Len())
	}
	v, err := NewKeySet(StaticKeys{ks}, WithClock(func() time.Time { return now }), WithAudience("api"))
	if err != nil {
		t.Fatal(err)
	}
	_, stranger, _ := ed25519.GenerateKey(rand.Reader)
	good := map[string]any{"sub": "s", "aud": "api", "exp": float64(now.Unix() + 60)}
	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"RS256 by kid", sign(t, k.rsa, map[string]any{"alg": "RS256", "kid": "r1"}, good), nil},
		{"ES256 by kid", sign(t, k.ec, map[string]any{"alg": "ES256", "kid": "e1"}, good), nil},
		{"EdDSA by kid", sign(t, k.ed, map[string]any{"alg": "EdDSA", "kid": "d1"}, good), nil},
		{"EdDSA without kid", sign(t, k.ed, map[string]any{"alg": "EdDSA"}, good), nil},
		{"unknown kid", sign(t, k.ed, map[string]any{"alg": "EdDSA", "kid": "zz"}, good), ErrNoKey},
		{"kid of another algorithm", sign(t, k.ed, map[string]any{"alg": "EdDSA", "kid": "r1"}, good), ErrAlgorithm},
		{"wrong key, no kid", sign(t, stranger, map[string]any{"alg": "EdDSA"}, good), ErrSignature},
		{"wrong key, kid", sign(t, stranger, map[string]any{"alg": "EdDSA", "kid": "d1"}, good), ErrSignature},
		{"HS256 refused", signHS256(t, secret, good), ErrAlgorithm},
		{"alg none refused", enc.EncodeToString([]byte(`{"alg":"none"}`)) + "." + enc.EncodeToString([]byte(`{"sub":"x"}`)) + ".", ErrAlgorithm},
		{"wrong audience", sign(t, k.ec, map[string]any{"alg": "ES256", "kid": "e1"}, map[string]any{"aud": "other"}), ErrAudience},
		{"expired", sign(t, k.rsa, map[string]any{"alg": "RS256", "kid": "r1"}, map[string]any{"aud": "api", "exp": float64(now.Unix() - 1)}), ErrExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify(tt.token)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestParseJWKSErrors(t *testing.T) {
	k := genKeys(t)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	bad := JWK(t, k.ec, "e")
	bad["x"] = enc.EncodeToString(make([]byte, 32))
	tests := []struct {
		name string
		data string
	}{
		{"not JSON", `keys`},
		{"no keys", `{"keys": []}`},
		{"only oct keys", `{"keys": [{"kty": "oct", "k": "AA"}]}`},
		{"small RSA", string(jwks(t, JWK(t, small, "s")))},
		{"P-384", `{"keys": [{"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"}]}`},
		{"point off the curve", string(jwks(t, bad))},
		{"RSA without n", `{"keys": [{"kty": "RSA", "e": "AQAB"}]}`},
		{"alg contradicts the key", `{"keys": [` + string(must(json.Marshal(map[string]any{"kty": "OKP", "crv": "Ed25519", "alg": "RS256", "x": JWK(t, k.ed, "")["x"]}))) + `]}`},
		{"duplicate kid", string(jwks(t, JWK(t, k.ed, "a"), JWK(t, k.ec, "a")))},
	}
	_ = p384
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseJWKS([]byte(tt.data)); err == nil {
				t.Fatal("parsed")
			}
		})
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// TestRemoteKeys serves a key set over HTTP, rotates it, and takes the
// server down: an unknown kid fetches at once (at most once per
// interval), old keys are refreshed after the interval, and a failing
// server leaves the last good set in use.
func TestRemoteKeys(t *testing.T) {
	k := genKeys(t)
	var (
		mu    sync.Mutex
		body  = jwks(t, JWK(t, k.rsa, "r1"))
		fail  bool
		calls atomic.Int32
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		mu.Lock()
		defer mu.Unlock()
		if fail {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	defer srv.Close()
	clock := now
	var clockMu sync.Mutex
	tick := func(d time.Duration) { clockMu.Lock(); clock = clock.Add(d); clockMu.Unlock() }
	nowFn := func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return clock }
	src := NewRemoteKeys(srv.URL, RemoteOptions{Refresh: time.Minute, MinInterval: 10 * time.Second, Clock: nowFn})
	v, err := NewKeySet(src, WithClock(nowFn))
	if err != nil {
		t.Fatal(err)
	}
	claims := map[string]any{"sub": "s"}
	if calls.Load() != 0 {
		t.Fatal("fetched before first use")
	}
	if _, err := v.Verify(sign(t, k.rsa, map[string]any{"alg": "RS256", "kid": "r1"}, claims)); err != nil {
		t.Fatalf("first token: %v", err)
	}
	if calls.Load() != 1 {
		t.Fatalf("%d fetches after first use", calls.Load())
	}
	// Rotation: the server now publishes e1 as well.
	mu.Lock()
	body = jwks(t, JWK(t, k.rsa, "r1"), JWK(t, k.ec, "e1"))
	mu.Unlock()
	ecTok := sign(t, k.ec, map[string]any{"alg": "ES256", "kid": "e1"}, claims)
	if _, err := v.Verify(ecTok); !errors.Is(err, ErrNoKey) {
		t.Fatalf("within the minimum interval the new kid is unknown: %v", err)
	}
	tick(11 * time.Second)
	if _, err := v.Verify(ecTok); err != nil {
		t.Fatalf("after the minimum interval the new kid is fetched: %v", err)
	}
	if calls.Load() != 2 {
		t.Fatalf("%d fetches, want 2", calls.Load())
	}
	// A forged kid right after does not fetch again.
	for range 5 {
		_, _ = v.Verify(sign(t, k.ec, map[string]any{"alg": "ES256", "kid": "forged"}, claims))
	}
	if calls.Load() != 2 {
		t.Fatalf("forged kids caused %d fetches", calls.Load()-2)
	}
	// The server fails; the refresh is due; the last good keys still work.
	mu.Lock()
	fail = true
	mu.Unlock()
	tick(2 * time.Minute)
	if _, err := v.Verify(sign(t, k.rsa, map[string]any{"alg": "RS256", "kid": "r1"}, claims)); err != nil {
		t.Fatalf("stale keys with the server down: %v", err)
	}
	waitFor(t, func() bool { return calls.Load() == 3 && !src.refreshing.Load() })
	if _, err := v.Verify(ecTok); err != nil {
		t.Fatalf("after a failed refresh: %v", err)
	}
}

func TestRemoteKeysUnavailable(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`not json`))
	}))
	defer srv.Close()
	k := genKeys(t)
	v, _ := NewKeySet(NewRemoteKeys(srv.URL, RemoteOptions{}))
	if _, err := v.Verify(sign(t, k.ed, map[string]any{"alg": "EdDSA"}, map[string]any{})); !errors.Is(err, ErrKeys) {
		t.Fatalf("got %v, want ErrKeys", err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
