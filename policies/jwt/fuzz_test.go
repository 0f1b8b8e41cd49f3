package jwt_test

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/verdict-policy/verdict/policies/internal/policytest"
	"github.com/verdict-policy/verdict/policies/jwt"
)

// FuzzAuthorization sends arbitrary Authorization headers to the policy
// with a secret and with a key set: every one must be accepted with
// claims or refused with 401 and a Bearer challenge, never a panic. The
// seed corpus is under testdata/fuzz/FuzzAuthorization.
func FuzzAuthorization(f *testing.F) {
	k := genKeys()
	dir := f.TempDir()
	keys := filepath.Join(dir, "keys.json")
	if err := os.WriteFile(keys, jwks(f, map[string]any{"a": k.ed, "b": k.rsa}), 0o600); err != nil {
		f.Fatal(err)
	}
	chains := []string{`{"secret": ` + quote(secret) + `, "audience": "x"}`, `{"jwks_file": ` + quote(keys) + `}`}
	f.Add("Bearer " + sign(f, k.ed, map[string]any{"alg": "EdDSA", "kid": "a"}, map[string]any{"sub": "s"}))
	f.Add("Bearer " + sign(f, []byte(secret), map[string]any{"alg": "HS256"}, map[string]any{"aud": "x"}))
	f.Fuzz(func(t *testing.T, auth string) {
		for _, cfg := range chains {
			ch := policytest.Build(t, policytest.Entry(jwt.Name, cfg))
			r := httptest.NewRequest("GET", "http://api.test/", nil)
			r.Header["Authorization"] = []string{auth}
			res := policytest.Run(ch, r, "192.0.2.1", nil, 0)
			if f := res.Context.Failed(); f != nil {
				t.Fatalf("%q: policy failed: %v", auth, f)
			}
			_, shared := res.Context.Get(jwt.ContextKey)
			switch {
			case res.Proxied && !shared:
				t.Fatalf("%q: passed without claims", auth)
			case !res.Proxied && (res.Status != 401 || !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer")):
				t.Fatalf("%q: refused with %d %v", auth, res.Status, res.Header)
			}
		}
	})
}
