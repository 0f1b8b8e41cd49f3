package rewriteurlcaptures_test

import (
	"net/http/httptest"
	"testing"

	"github.com/verdict-policy/verdict/policies/internal/policytest"
	rewriteurlcaptures "github.com/verdict-policy/verdict/policies/rewrite_url_captures"
)

func BenchmarkRewriteURLCaptures(b *testing.B) {
	cases := []struct{ name, config string }{
		{"empty chain", ""},
		{"no match", `{"transformations": [{"match_rule": "^/v2/{id}$", "template": "/items/{id}"}]}`},
		{"method does not match", `{"transformations": [{"match_rule": "/{a}/{b}", "template": "/{b}", "methods": ["POST"]}]}`},
		{"path only", `{"transformations": [{"match_rule": "^/v1/users/{id}", "template": "/users/{id}/profile"}]}`},
		{"path and query", `{"transformations": [{"match_rule": "^/v1/users/{id}/{section}", "template": "/users/{id}?section={section}&source=gateway"}]}`},
		{"third transformation", `{"transformations": [{"match_rule": "^/v2/{id}$", "template": "/a"}, {"match_rule": "^/v3/{id}$", "template": "/b"}, {"match_rule": "^/v1/{x}/{y}", "template": "/{y}?x={x}"}]}`},
	}
	r := httptest.NewRequest("GET", "http://api.example.com/v1/users/42/some-long-path-name?a=1&debug=true&b=2", nil)
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			ch := policytest.Build(b)
			if bc.config != "" {
				ch = policytest.Build(b, policytest.Entry(rewriteurlcaptures.Name, bc.config))
			}
			policytest.Benchmark(b, ch, r, 200, nil, nil)
		})
	}
}
