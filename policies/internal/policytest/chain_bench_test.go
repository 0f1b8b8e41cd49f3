package policytest_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/verdict-policy/verdict/policies/internal/policytest"

	_ "github.com/verdict-policy/verdict/policies/cors"
	_ "github.com/verdict-policy/verdict/policies/headers"
	_ "github.com/verdict-policy/verdict/policies/ip_check"
	_ "github.com/verdict-policy/verdict/policies/maintenance_mode"
	_ "github.com/verdict-policy/verdict/policies/payload_limits"
	_ "github.com/verdict-policy/verdict/policies/statuscode_overwrite"
	_ "github.com/verdict-policy/verdict/policies/url_rewriting"
)

// BenchmarkChain measures a request through a chain of every policy
// here, configured as a service would, against the same request through
// an empty chain: the difference is what the policies cost together.
func BenchmarkChain(b *testing.B) {
	r := httptest.NewRequest("GET", "http://api.example.com/v1/users/42?debug=1&a=b", nil)
	r.Header.Set("Origin", "https://app.example.com")
	r.Header.Set("Authorization", "Bearer x")
	resp := http.Header{"Content-Type": {"application/json"}, "Content-Length": {"512"}, "Server": {"upstream"}}
	b.Run("empty chain", func(b *testing.B) {
		policytest.Benchmark(b, policytest.Build(b), r, 200, resp, nil)
	})
	b.Run("seven policies", func(b *testing.B) {
		ch := policytest.Build(b,
			policytest.Entry("ip_check", `{"check_type": "whitelist", "ips": ["192.0.2.0/24", "10.0.0.0/8"]}`),
			policytest.Entry("maintenance_mode", `{"condition": {"operations": [{"left": "a", "op": "==", "right": "b"}]}}`),
			policytest.Entry("cors", `{"allow_origin": "https://(app|admin)\\.example\\.com", "allow_methods": ["GET", "POST"]}`),
			policytest.Entry("headers", `{"request": [{"op": "set", "header": "X-Api-Version", "value": "2"}, {"op": "delete", "header": "Authorization"}], "response": [{"op": "set", "header": "X-Served-By", "value": "verdict"}, {"op": "delete", "header": "Server"}]}`),
			policytest.Entry("url_rewriting", `{"commands": [{"op": "sub", "regex": "^/v1/users/(\\d+)", "replace": "/users/$1", "break": true}], "query_args_commands": [{"op": "delete", "arg": "debug"}]}`),
			policytest.Entry("payload_limits", `{"request": 1048576}`),
			policytest.Entry("statuscode_overwrite", `{"http_statuses": [{"upstream": 500, "apicast": 503}]}`),
		)
		policytest.Benchmark(b, ch, r, 200, resp, nil)
	})
}
