package statuscodeoverwrite_test

import (
	"net/http/httptest"
	"testing"

	"github.com/verdict-policy/verdict/policies/internal/policytest"
	statuscodeoverwrite "github.com/verdict-policy/verdict/policies/statuscode_overwrite"
)

func BenchmarkStatusCodeOverwrite(b *testing.B) {
	r := httptest.NewRequest("GET", "http://api.example.com/", nil)
	for _, bc := range []struct {
		name, config string
		status       int
	}{
		{"empty chain", "", 500},
		{"mapped", `{"http_statuses": [{"upstream": 500, "apicast": 503}]}`, 500},
		{"unmapped", `{"http_statuses": [{"upstream": 500, "apicast": 503}]}`, 200},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ch := policytest.Build(b)
			if bc.config != "" {
				ch = policytest.Build(b, policytest.Entry(statuscodeoverwrite.Name, bc.config))
			}
			policytest.Benchmark(b, ch, r, bc.status, nil, nil)
		})
	}
}
