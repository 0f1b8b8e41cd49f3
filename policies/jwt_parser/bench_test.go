package jwtparser_test

import (
	"net/http/httptest"
	"testing"

	"github.com/verdict-policy/verdict/policies/internal/policytest"
	jwtparser "github.com/verdict-policy/verdict/policies/jwt_parser"
)

// BenchmarkVerify measures a request with a good token the verifier has
// seen before (its cache holds it): metadata and keys are cached, the
// claims checks and the algorithm look-up run every time.
func BenchmarkVerify(b *testing.B) {
	p := startProvider(b)
	ch := policytest.Build(b, policytest.Entry(jwtparser.Name, `{"issuer_endpoint": "`+p.endpoint()+`"}`))
	r := httptest.NewRequest("GET", "http://api.test/items", nil)
	r.Header.Set("Authorization", "Bearer "+p.token(b, rsaKey, "somekid", nil))
	policytest.Benchmark(b, ch, r, 200, nil, nil)
}
