package jwt

import "testing"

// FuzzVerify feeds arbitrary tokens to the verifier: it must refuse or
// accept without panicking, and accept only well-signed tokens.
func FuzzVerify(f *testing.F) {
	f.Add(signHS256(f, secret, map[string]any{"sub": "alice"}))
	f.Add("a.b.c")
	f.Add("..")
	v, err := NewHS256([]byte(secret))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, token string) {
		claims, err := v.Verify(token)
		if err == nil && claims == nil {
			t.Fatal("accepted without claims")
		}
	})
}
