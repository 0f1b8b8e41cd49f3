package urlrewriting_test

import (
	"net/http/httptest"
	"testing"

	"github.com/verdict-policy/verdict/policies/internal/policytest"
	urlrewriting "github.com/verdict-policy/verdict/policies/url_rewriting"
)

func BenchmarkURLRewriting(b *testing.B) {
	cases := []struct{ name, config string }{
		{"empty chain", ""},
		{"no match", `{"commands": [{"op": "sub", "regex": "^/v2/", "replace": "/"}]}`},
		{"sub with capture", `{"commands": [{"op": "sub", "regex": "^/v1/users/(\\d+)", "replace": "/users/$1", "break": true}]}`},
		{"gsub", `{"commands": [{"op": "gsub", "regex": "-", "replace": "_"}]}`},
		{"query set and delete", `{"query_args_commands": [{"op": "set", "arg": "source", "value": "gateway"}, {"op": "delete", "arg": "debug"}]}`},
	}
	r := httptest.NewRequest("GET", "http://api.example.com/v1/users/42/some-long-path-name?a=1&debug=true&b=2", nil)
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			ch := policytest.Build(b)
			if bc.config != "" {
				ch = policytest.Build(b, policytest.Entry(urlrewriting.Name, bc.config))
			}
			policytest.Benchmark(b, ch, r, 200, nil, nil)
		})
	}
}
