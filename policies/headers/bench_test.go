package headers_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/verdict-policy/verdict/policies/headers"
	"github.com/verdict-policy/verdict/policies/internal/policytest"
)

func BenchmarkHeaders(b *testing.B) {
	cases := []struct{ name, config string }{
		{"empty chain", ""},
		{"plain", `{"request": [{"op": "set", "header": "X-Api-Version", "value": "2"}, {"op": "delete", "header": "Authorization"}], "response": [{"op": "set", "header": "X-Served-By", "value": "verdict"}, {"op": "delete", "header": "Server"}]}`},
		{"push", `{"request": [{"op": "push", "header": "X-Trace", "value": "gateway"}], "response": [{"op": "add", "header": "Cache-Control", "value": "no-store"}]}`},
		{"liquid", `{"request": [{"op": "set", "header": "X-Client", "value": "{{ remote_addr }} {{ headers['User-Agent'] }}", "value_type": "liquid"}]}`},
	}
	r := httptest.NewRequest("GET", "http://api.example.com/v1/items?a=1", nil)
	r.Header.Set("Authorization", "Bearer x")
	r.Header.Set("User-Agent", "bench/1.0")
	r.Header.Set("X-Trace", "client")
	resp := http.Header{"Server": {"upstream"}, "Cache-Control": {"private"}, "Content-Type": {"application/json"}}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			ch := policytest.Build(b)
			if bc.config != "" {
				ch = policytest.Build(b, policytest.Entry(headers.Name, bc.config))
			}
			policytest.Benchmark(b, ch, r, 200, resp, nil)
		})
	}
}
