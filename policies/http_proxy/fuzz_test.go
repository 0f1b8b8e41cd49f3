package httpproxy_test

import (
	"testing"

	httpproxy "github.com/verdict-policy/verdict/policies/http_proxy"
	"github.com/verdict-policy/verdict/policies/internal/policytest"
)

// FuzzHTTPProxy builds the policy from arbitrary configurations: a bad one
// is an error, never a panic.
func FuzzHTTPProxy(f *testing.F) {
	f.Add(`{"all_proxy": "http://foo:bar@192.168.15.103:8888/"}`, "GET", "/", "")
	f.Add(`{}`, "GET", "/", "")
	f.Fuzz(func(t *testing.T, config, method, target, header string) {
		policytest.CheckArbitrary(t, httpproxy.Name, config, method, target, header)
	})
}
