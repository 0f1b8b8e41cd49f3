package jwt

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"testing"
	"time"
)

var enc = base64.RawURLEncoding

func signingInput(t testing.TB, alg string, claims map[string]any) string {
	t.Helper()
	body, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	return enc.EncodeToString([]byte(`{"alg":"`+alg+`","typ":"JWT"}`)) + "." + enc.EncodeToString(body)
}

func signHS256(t testing.TB, secret string, claims map[string]any) string {
	in := signingInput(t, HS256, claims)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(in))
	return in + "." + enc.EncodeToString(mac.Sum(nil))
}

func pemOf(t testing.TB, pub any) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

const secret = "sixteen-bytes-or-more"

var now = time.Unix(1_800_000_000, 0)

func TestHS256(t *testing.T) {
	v, err := NewHS256([]byte(secret), WithIssuer("iss-1"), WithAudience("api"), WithLeeway(time.Minute),
		WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	base := func(extra map[string]any) map[string]any {
		c := map[string]any{"sub": "alice", "iss": "iss-1", "aud": "api", "exp": float64(now.Unix() + 60)}
		for k, x := range extra {
			c[k] = x
		}
		return c
	}
	cases := []struct {
		name  string
		token string
		err   error
	}{
		{"valid", signHS256(t, secret, base(nil)), nil},
		{"audience in a list", signHS256(t, secret, base(map[string]any{"aud": []any{"x", "api"}})), nil},
		{"expired beyond leeway", signHS256(t, secret, base(map[string]any{"exp": float64(now.Unix() - 61)})), ErrExpired},
		{"expired within leeway", signHS256(t, secret, base(map[string]any{"exp": float64(now.Unix() - 30)})), nil},
		{"not yet", signHS256(t, secret, base(map[string]any{"nbf": float64(now.Unix() + 120)})), ErrNotYet},
		{"exp not a number", signHS256(t, secret, base(map[string]any{"exp": "soon"})), ErrMalformed},
		{"wrong issuer", signHS256(t, secret, base(map[string]any{"iss": "other"})), ErrIssuer},
		{"wrong audience", signHS256(t, secret, base(map[string]any{"aud": "web"})), ErrAudience},
		{"wrong secret", signHS256(t, "another-secret-value", base(nil)), ErrSignature},
		{"alg none", signingInput(t, "none", base(nil)) + ".", ErrAlgorithm},
		{"two parts", "a.b", ErrMalformed},
		{"four parts", "a.b.c.d", ErrMalformed},
		{"bad header", "!!!.e30.sig", ErrMalformed},
		{"claims not an object", func() string {
			in := enc.EncodeToString([]byte(`{"alg":"HS256"}`)) + "." + enc.EncodeToString([]byte(`[1]`))
			mac := hmac.New(sha256.New, []byte(secret))
			mac.Write([]byte(in))
			return in + "." + enc.EncodeToString(mac.Sum(nil))
		}(), ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			claims, err := v.Verify(c.token)
			if c.err == nil {
				if err != nil || claims["sub"] != "alice" {
					t.Fatalf("claims %v, err %v", claims, err)
				}
				return
			}
			if !errors.Is(err, c.err) {
				t.Fatalf("err = %v, want %v", err, c.err)
			}
		})
	}
}

func TestShortSecret(t *testing.T) {
	if _, err := NewHS256([]byte("short")); err == nil {
		t.Fatal("a 5-byte secret was accepted")
	}
}

func TestRS256(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewPublicKey(pemOf(t, &key.PublicKey))
	if err != nil || v.Algorithm() != RS256 {
		t.Fatalf("%v %v", v, err)
	}
	in := signingInput(t, RS256, map[string]any{"sub": "bob"})
	sum := sha256.Sum256([]byte(in))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	if c, err := v.Verify(in + "." + enc.EncodeToString(sig)); err != nil || c["sub"] != "bob" {
		t.Fatalf("%v %v", c, err)
	}
	sig[0] ^= 1
	if _, err := v.Verify(in + "." + enc.EncodeToString(sig)); !errors.Is(err, ErrSignature) {
		t.Fatalf("tampered signature: %v", err)
	}
	// An HS256 token signed with the public key as the secret must fail.
	if _, err := v.Verify(signHS256(t, string(pemOf(t, &key.PublicKey)), map[string]any{"sub": "x"})); !errors.Is(err, ErrAlgorithm) {
		t.Fatalf("algorithm confusion: %v", err)
	}
}

func TestES256(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewPublicKey(pemOf(t, &key.PublicKey))
	if err != nil || v.Algorithm() != ES256 {
		t.Fatalf("%v %v", v, err)
	}
	in := signingInput(t, ES256, map[string]any{"sub": "carol"})
	sum := sha256.Sum256([]byte(in))
	r, s, err := ecdsa.Sign(rand.Reader, key, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	if c, err := v.Verify(in + "." + enc.EncodeToString(sig)); err != nil || c["sub"] != "carol" {
		t.Fatalf("%v %v", c, err)
	}
	if _, err := v.Verify(in + "." + enc.EncodeToString(sig[:63])); !errors.Is(err, ErrSignature) {
		t.Fatalf("short signature: %v", err)
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if _, err := NewPublicKey(pemOf(t, &p384.PublicKey)); err == nil {
		t.Fatal("a P-384 key was accepted for ES256")
	}
	if _, err := NewPublicKey([]byte("not pem")); err == nil {
		t.Fatal("garbage was accepted as a key")
	}
}

func BenchmarkVerifyHS256(b *testing.B) {
	v, _ := NewHS256([]byte(secret))
	tok := signHS256(b, secret, map[string]any{"sub": "alice", "role": "admin"})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(tok); err != nil {
			b.Fatal(err)
		}
	}
}

func TestCache(t *testing.T) {
	clock := now
	v, err := NewHS256([]byte(secret), WithCache(2), WithClock(func() time.Time { return clock }))
	if err != nil {
		t.Fatal(err)
	}
	tok := signHS256(t, secret, map[string]any{"sub": "a", "exp": float64(now.Unix() + 10)})
	first, err := v.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	again, err := v.Verify(tok)
	if err != nil || again["sub"] != first["sub"] {
		t.Fatalf("cached: %v %v", again, err)
	}
	if len(v.cache.m) != 1 {
		t.Fatalf("cache holds %d tokens", len(v.cache.m))
	}
	// A refused token is not remembered.
	if _, err := v.Verify(tok + "x"); err == nil || len(v.cache.m) != 1 {
		t.Fatalf("bad token: %v, cache %d", err, len(v.cache.m))
	}
	// A cached token expires like any other.
	clock = now.Add(11 * time.Second)
	if _, err := v.Verify(tok); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired cached token: %v", err)
	}
	// The cache stays within its bound.
	clock = now
	for i := range 5 {
		if _, err := v.Verify(signHS256(t, secret, map[string]any{"sub": i})); err != nil {
			t.Fatal(err)
		}
	}
	if len(v.cache.m) > 2 {
		t.Fatalf("cache holds %d tokens, bound 2", len(v.cache.m))
	}
}

func BenchmarkVerifyHS256Cached(b *testing.B) {
	v, _ := NewHS256([]byte(secret), WithCache(16))
	tok := signHS256(b, secret, map[string]any{"sub": "alice", "role": "admin"})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(tok); err != nil {
			b.Fatal(err)
		}
	}
}
