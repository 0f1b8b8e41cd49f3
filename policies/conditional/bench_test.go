package conditional_test

import (
	"net/http/httptest"
	"testing"

	"github.com/verdict-policy/verdict/policies/internal/policytest"
)

func BenchmarkConditional(b *testing.B) {
	const nested = `[{"name": "headers", "configuration": {"response": [{"op": "set", "header": "X-A", "value": "1"}]}}]`
	const plain = `{"operations": [{"left": "a", "op": "==", "right": "a"}]}`
	cases := []struct{ name, cond string }{
		{"plain condition holds", plain},
		{"liquid condition holds", when},
		{"liquid condition fails", `{"operations": [{"left": "{{ headers['X-Run'] }}", "left_type": "liquid", "op": "==", "right": "no"}]}`},
	}
	r := httptest.NewRequest("GET", "http://api.example.com/", nil)
	r.Header.Set("X-Run", "yes")
	b.Run("headers alone", func(b *testing.B) {
		ch := policytest.Build(b, policytest.Entry("headers", `{"response": [{"op": "set", "header": "X-A", "value": "1"}]}`))
		policytest.Benchmark(b, ch, r, 200, nil, nil)
	})
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			ch := policytest.Build(b, conditionalEntry(bc.cond, nested))
			policytest.Benchmark(b, ch, r, 200, nil, nil)
		})
	}
}
