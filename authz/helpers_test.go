package authz

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/verdict-policy/verdict/config"
)

const (
	testSecret = "a-test-secret-of-enough-bytes"
	testIssuer = "https://issuer.test"
	// exampleSecret is the HS256 secret of the built-in configuration.
	exampleSecret = "verdict-example-hs256-secret"
)

// hs256 signs claims with secret, as an identity provider would.
func hs256(t testing.TB, secret string, claims map[string]any) string {
	t.Helper()
	enc := base64.RawURLEncoding
	hdr := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	body, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	signed := hdr + "." + enc.EncodeToString(body)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(signed))
	return signed + "." + enc.EncodeToString(mac.Sum(nil))
}

// testToken is a token the test configuration's verifier accepts.
func testToken(t testing.TB, sub string) string {
	return hs256(t, testSecret, map[string]any{"sub": sub, "iss": testIssuer})
}

// loadDoor returns a Door serving cfg, or testdata/verdict.yaml when cfg
// is nil.
func loadDoor(t testing.TB, cfg *config.Config, logger *slog.Logger) *Door {
	t.Helper()
	if cfg == nil {
		var err error
		if cfg, err = config.Load("testdata/verdict.yaml"); err != nil {
			t.Fatal(err)
		}
	}
	docs, err := cfg.Compile()
	if err != nil {
		t.Fatal(err)
	}
	d := New(logger, prometheus.NewRegistry())
	install, err := d.Prepare(cfg, docs)
	if err != nil {
		t.Fatal(err)
	}
	install()
	return d
}

// defaultDoor serves the built-in configuration.
func defaultDoor(t testing.TB) *Door {
	t.Helper()
	cfg, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}
	return loadDoor(t, cfg, nil)
}
