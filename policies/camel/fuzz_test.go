package camel_test

import (
	"testing"

	camel "github.com/verdict-policy/verdict/policies/camel"
	"github.com/verdict-policy/verdict/policies/internal/policytest"
)

// FuzzCamel builds the policy from arbitrary configurations: a bad one
// is an error, never a panic.
func FuzzCamel(f *testing.F) {
	f.Add(`{"all_proxy": "http://foo:bar@192.168.15.103:8888/"}`, "GET", "/", "")
	f.Add(`{}`, "GET", "/", "")
	f.Fuzz(func(t *testing.T, config, method, target, header string) {
		policytest.CheckArbitrary(t, camel.Name, config, method, target, header)
	})
}
