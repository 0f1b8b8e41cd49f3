package jwt_test

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/verdict-policy/verdict/policies/internal/policytest"
	"github.com/verdict-policy/verdict/policies/jwt"
)

// BenchmarkJWT runs a request with a valid token through the policy. The
// same token comes every time, as from a client between renewals, so
// after the first request it is found in the verifier's token cache; the
// cost of a signature check is measured by BenchmarkVerify in package jwt.
func BenchmarkJWT(b *testing.B) {
	k := genKeys()
	dir := b.TempDir()
	keys := filepath.Join(dir, "keys.json")
	if err := os.WriteFile(keys, jwks(b, map[string]any{"ed": k.ed, "rsa": k.rsa, "ec": k.ec}), 0o600); err != nil {
		b.Fatal(err)
	}
	claims := map[string]any{"sub": "alice", "aud": "orders", "exp": time.Now().Unix() + 3600}
	cases := []struct{ name, config, token string }{
		{"empty chain", "", ""},
		{"HS256", `{"secret": ` + quote(secret) + `, "audience": "orders"}`, sign(b, []byte(secret), map[string]any{"alg": "HS256"}, claims)},
		{"RS256 JWKS", `{"jwks_file": ` + quote(keys) + `, "audience": "orders"}`, sign(b, k.rsa, map[string]any{"alg": "RS256", "kid": "rsa"}, claims)},
		{"ES256 JWKS", `{"jwks_file": ` + quote(keys) + `, "audience": "orders"}`, sign(b, k.ec, map[string]any{"alg": "ES256", "kid": "ec"}, claims)},
		{"EdDSA JWKS", `{"jwks_file": ` + quote(keys) + `, "audience": "orders"}`, sign(b, k.ed, map[string]any{"alg": "EdDSA", "kid": "ed"}, claims)},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			ch := policytest.Build(b)
			if bc.config != "" {
				ch = policytest.Build(b, policytest.Entry(jwt.Name, bc.config))
			}
			r := httptest.NewRequest("GET", "http://api.example.com/orders", nil)
			if bc.token != "" {
				r.Header.Set("Authorization", "Bearer "+bc.token)
			}
			policytest.Benchmark(b, ch, r, 200, nil, nil)
		})
	}
}
