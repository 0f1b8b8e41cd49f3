package jwt

import (
	"testing"
)

// BenchmarkVerify verifies a token with no token cache: the signature and
// claims are checked every time.
func BenchmarkVerify(b *testing.B) {
	k := genKeys(b)
	ks, err := ParseJWKS(jwks(b, JWK(b, k.rsa, "r"), JWK(b, k.ec, "e"), JWK(b, k.ed, "d")))
	if err != nil {
		b.Fatal(err)
	}
	set, _ := NewKeySet(StaticKeys{ks}, WithAudience("api"))
	hs, _ := NewHS256([]byte(secret), WithAudience("api"))
	claims := map[string]any{"sub": "alice", "aud": "api", "exp": 4_000_000_000}
	cases := []struct {
		name  string
		v     *Verifier
		token string
	}{
		{"HS256", hs, signHS256(b, secret, claims)},
		{"RS256 key set", set, sign(b, k.rsa, map[string]any{"alg": "RS256", "kid": "r"}, claims)},
		{"ES256 key set", set, sign(b, k.ec, map[string]any{"alg": "ES256", "kid": "e"}, claims)},
		{"EdDSA key set", set, sign(b, k.ed, map[string]any{"alg": "EdDSA", "kid": "d"}, claims)},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.v.Verify(bc.token); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
