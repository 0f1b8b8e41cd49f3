package jwt_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"sync"
	"testing"
)

var b64 = base64.RawURLEncoding

// keySet holds the keys the tests sign with, generated once per run.
type keySet struct {
	rsa, rsaOther *rsa.PrivateKey
	ec            *ecdsa.PrivateKey
	ed, edOther   ed25519.PrivateKey
}

var (
	keysOnce sync.Once
	testKeys keySet
)

func genKeys() keySet {
	keysOnce.Do(func() {
		var err error
		check := func() {
			if err != nil {
				panic(err)
			}
		}
		testKeys.rsa, err = rsa.GenerateKey(rand.Reader, 2048)
		check()
		testKeys.rsaOther, err = rsa.GenerateKey(rand.Reader, 2048)
		check()
		testKeys.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		check()
		_, testKeys.ed, err = ed25519.GenerateKey(rand.Reader)
		check()
		_, testKeys.edOther, err = ed25519.GenerateKey(rand.Reader)
		check()
	})
	return testKeys
}

// sign returns a compact token with header hdr and claims, signed with
// key: an *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey or a
// []byte HMAC secret.
func sign(t testing.TB, key any, hdr, claims map[string]any) string {
	t.Helper()
	h, err := json.Marshal(hdr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	in := b64.EncodeToString(h) + "." + b64.EncodeToString(c)
	sum := sha256.Sum256([]byte(in))
	var sig []byte
	switch k := key.(type) {
	case *rsa.PrivateKey:
		sig, err = rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, sum[:])
	case *ecdsa.PrivateKey:
		var r, s *big.Int
		r, s, err = ecdsa.Sign(rand.Reader, k, sum[:])
		if err == nil {
			sig = make([]byte, 64)
			r.FillBytes(sig[:32])
			s.FillBytes(sig[32:])
		}
	case ed25519.PrivateKey:
		sig = ed25519.Sign(k, []byte(in))
	case []byte:
		m := hmac.New(sha256.New, k)
		m.Write([]byte(in))
		sig = m.Sum(nil)
	case nil:
		sig = nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return in + "." + b64.EncodeToString(sig)
}

func pemOf(t testing.TB, pub any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// jwks returns a JSON Web Key Set of the public halves of keys, named by
// kid.
func jwks(t testing.TB, keys map[string]any) []byte {
	t.Helper()
	var out []map[string]any
	for kid, key := range keys {
		switch k := key.(type) {
		case *rsa.PrivateKey:
			out = append(out, map[string]any{"kty": "RSA", "kid": kid, "use": "sig",
				"n": b64.EncodeToString(k.N.Bytes()), "e": b64.EncodeToString(big.NewInt(int64(k.E)).Bytes())})
		case *ecdsa.PrivateKey:
			x, y := make([]byte, 32), make([]byte, 32)
			k.X.FillBytes(x)
			k.Y.FillBytes(y)
			out = append(out, map[string]any{"kty": "EC", "kid": kid, "crv": "P-256", "x": b64.EncodeToString(x), "y": b64.EncodeToString(y)})
		case ed25519.PrivateKey:
			out = append(out, map[string]any{"kty": "OKP", "kid": kid, "crv": "Ed25519", "x": b64.EncodeToString(k.Public().(ed25519.PublicKey))})
		}
	}
	b, err := json.Marshal(map[string]any{"keys": out})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustRSA1024() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		panic(err)
	}
	return k
}
