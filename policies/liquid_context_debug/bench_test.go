package liquidcontextdebug_test

import (
	"net/http/httptest"
	"testing"

	"github.com/verdict-policy/verdict/policies/internal/policytest"
	liquidcontextdebug "github.com/verdict-policy/verdict/policies/liquid_context_debug"
)

// BenchmarkDump measures printing the context of a request with a few
// headers; the policy is for debugging, so this is a bound, not a goal.
func BenchmarkDump(b *testing.B) {
	ch := policytest.Build(b, policytest.Entry(liquidcontextdebug.Name, `{}`))
	r := httptest.NewRequest("GET", "http://api.example.com/items?page=2", nil)
	r.Header.Set("Accept", "application/json")
	r.Header.Set("X-Request-Id", "req-1")
	policytest.Benchmark(b, ch, r, 200, nil, nil)
}
