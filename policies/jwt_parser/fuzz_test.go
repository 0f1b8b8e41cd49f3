package jwtparser_test

import (
	"testing"

	"github.com/verdict-policy/verdict/policies/internal/policytest"
	jwtparser "github.com/verdict-policy/verdict/policies/jwt_parser"
)

// FuzzJWTParser builds the policy from arbitrary configurations and runs
// arbitrary requests through it: a bad configuration must be an error and
// no request may make the policy panic. The seeds name a provider that
// cannot be reached, so a token is answered 503 at once.
func FuzzJWTParser(f *testing.F) {
	f.Add(`{"issuer_endpoint": "http://127.0.0.1:1/realms/api", "required": true}`, "GET", "/", "Authorization: Bearer a.b.c")
	f.Add(`{}`, "GET", "/x", "Authorization: Bearer")
	f.Add(`{"required": true}`, "POST", "/", "Authorization: Basic YTpi")
	f.Fuzz(func(t *testing.T, config, method, target, header string) {
		policytest.CheckArbitrary(t, jwtparser.Name, config, method, target, header)
	})
}
