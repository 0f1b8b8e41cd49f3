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

// FuzzParseJWKS feeds arbitrary documents to the key set parser: it must
// return a set with keys or an error, never panic.
func FuzzParseJWKS(f *testing.F) {
	f.Add(`{"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`)
	f.Add(`{"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB"}]}`)
	f.Add(`{"keys": [{"kty": "EC", "crv": "P-256", "x": "", "y": ""}]}`)
	f.Fuzz(func(t *testing.T, doc string) {
		ks, err := ParseJWKS([]byte(doc))
		if err == nil && ks.Len() == 0 {
			t.Fatal("a set without keys parsed")
		}
	})
}
