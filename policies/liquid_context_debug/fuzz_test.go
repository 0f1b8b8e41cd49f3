package liquidcontextdebug_test

import (
	"testing"

	"github.com/verdict-policy/verdict/policies/internal/policytest"
	liquidcontextdebug "github.com/verdict-policy/verdict/policies/liquid_context_debug"
)

// FuzzDump runs arbitrary requests through the policy: whatever the
// headers and path, the answer is printed without a panic.
func FuzzDump(f *testing.F) {
	f.Add(`{}`, "GET", "/a?b=c", "X-A: 1\nX-A: 2")
	f.Fuzz(func(t *testing.T, config, method, target, header string) {
		policytest.CheckArbitrary(t, liquidcontextdebug.Name, config, method, target, header)
	})
}
