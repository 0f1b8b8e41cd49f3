package authz

import (
	"github.com/verdict-policy/verdict/config"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestAuthzSection(t *testing.T) {
	t.Setenv("VERDICT_TEST_AUTHZ_SECRET", "a-secret-from-the-environment")
	cases := []struct {
		name string
		yaml string
		want *Config
	}{
		{"absent", `policies: {a: a.json}`, nil},
		{"shared policy", `
authz:
  policy: proxy
  authzen: {policy: zen}
`, &Config{
			Envoy:          AdapterConfig{Policy: "proxy", Field: "authz.policy", Line: 3, Column: 11},
			Nginx:          AdapterConfig{Policy: "proxy", Field: "authz.policy", Line: 3, Column: 11},
			Forward:        AdapterConfig{Policy: "proxy", Field: "authz.policy", Line: 3, Column: 11},
			AuthZEN:        AdapterConfig{Policy: "zen", Field: "authz.authzen.policy", Line: 4, Column: 21},
			NginxURIHeader: "X-Original-URI", NginxMethodHeader: "X-Original-Method", Line: 3, Column: 3}},
		{"per adapter, nginx headers and jwt", `
authz:
  policy: proxy
  envoy: {policy: edge}
  nginx: {uri_header: X-Uri, method_header: X-Method}
  jwt: {hs256_secret_env: VERDICT_TEST_AUTHZ_SECRET, issuer: me, audience: api, leeway: 30s}
`, &Config{
			Envoy:          AdapterConfig{Policy: "edge", Field: "authz.envoy.policy", Line: 4, Column: 19},
			Nginx:          AdapterConfig{Policy: "proxy", Field: "authz.policy", Line: 3, Column: 11},
			Forward:        AdapterConfig{Policy: "proxy", Field: "authz.policy", Line: 3, Column: 11},
			NginxURIHeader: "X-Uri", NginxMethodHeader: "X-Method",
			JWT:  &JWTConfig{Secret: "a-secret-from-the-environment", Issuer: "me", Audience: "api", Leeway: 30 * time.Second},
			Line: 3, Column: 3}},
		{"public key", `
authz:
  forward: {policy: fwd}
  jwt: {public_key: keys/jwt.pem}
`, &Config{
			Forward:        AdapterConfig{Policy: "fwd", Field: "authz.forward.policy", Line: 3, Column: 21},
			NginxURIHeader: "X-Original-URI", NginxMethodHeader: "X-Original-Method",
			JWT: &JWTConfig{PublicKey: "keys/jwt.pem"}, Line: 3, Column: 3}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := config.Parse("verdict.yaml", []byte(c.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(ConfigOf(cfg), c.want) {
				t.Fatalf("Authz = %+v\nwant    %+v", ConfigOf(cfg), c.want)
			}
		})
	}
}

func TestAuthzProblems(t *testing.T) {
	cases := []struct{ name, yaml, want string }{
		{"not a mapping", "authz: 3", "verdict.yaml:1:8: authz: must be a mapping, not a number"},
		{"unknown field", "authz: {polcy: a}", "verdict.yaml:1:9: authz.polcy: unknown field"},
		{"bad document name", "authz: {policy: 'a b'}", `verdict.yaml:1:17: authz.policy: bad document name "a b"`},
		{"policy a number", "authz: {envoy: {policy: 4}}", "verdict.yaml:1:25: authz.envoy.policy: must be a string, not a number"},
		{"bad header", "authz: {nginx: {uri_header: 'X Uri'}}", `verdict.yaml:1:29: authz.nginx.uri_header: "X Uri" is not a header name`},
		{"uri_header elsewhere", "authz: {envoy: {uri_header: X}}", "verdict.yaml:1:17: authz.envoy.uri_header: unknown field"},
		{"no key", "authz: {jwt: {issuer: me}}", "verdict.yaml:1:14: authz.jwt: give one key"},
		{"two keys", "authz: {jwt: {hs256_secret: '0123456789abcdef', public_key: k.pem}}", "authz.jwt: give one key, not hs256_secret and public_key"},
		{"short secret", "authz: {jwt: {hs256_secret: short}}", "verdict.yaml:1:29: authz.jwt.hs256_secret: a secret of 5 bytes is too short"},
		{"unset env", "authz: {jwt: {hs256_secret_env: VERDICT_TEST_NOT_SET_ANYWHERE}}", "authz.jwt.hs256_secret_env: environment variable VERDICT_TEST_NOT_SET_ANYWHERE is not set"},
		{"bad leeway", "authz: {jwt: {hs256_secret: '0123456789abcdef', leeway: soon}}", `authz.jwt.leeway: "soon" is not a duration`},
		{"grpc address", "listen: {grpc: localhost}", `listen.grpc: address "localhost" is not host:port`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := config.Parse("verdict.yaml", []byte(c.yaml))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
}
