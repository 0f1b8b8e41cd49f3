package nginxfilters_test

import (
	"testing"

	"github.com/verdict-policy/verdict/policies/internal/policytest"
	nginxfilters "github.com/verdict-policy/verdict/policies/nginx_filters"
)

// FuzzNginxFilters builds the policy from arbitrary configurations and
// runs arbitrary requests through it, never panicking.
func FuzzNginxFilters(f *testing.F) {
	f.Add(`{"headers": [{"name": "If-Match", "append": true}, {"name": "if-none-match", "append": false}]}`, "GET", "/", "If-Match: x\nIf-None-Match: y")
	f.Fuzz(func(t *testing.T, config, method, target, header string) {
		policytest.CheckArbitrary(t, nginxfilters.Name, config, method, target, header)
	})
}
