package urlrewriting_test

import (
	"io"
	"strings"
	"testing"

	"github.com/verdict-policy/verdict/gateway/gatewaytest"
	_ "github.com/verdict-policy/verdict/policies/upstream"
)

// TestThroughGateway runs the policy in a real gateway in front of a real
// upstream whose base path is prefixed to the rewritten path.
func TestThroughGateway(t *testing.T) {
	up := gatewaytest.StartUpstream(t, nil)
	gw := gatewaytest.Start(t, `
services:
  - id: 1
    proxy:
      api_backend: `+up.URL+`/base
      policy_chain:
        - name: url_rewriting
          configuration:
            commands:
              - {op: sub, regex: "^/v1/users/(\\d+)", replace: "/users/$1/profile", break: true}
              - {op: gsub, regex: "-", replace: "_", methods: [POST]}
            query_args_commands:
              - {op: delete, arg: debug}
              - {op: set, arg: source, value: gateway}
              - {op: push, arg: via, value: "{{ http_method }}", value_type: liquid}
        - name: apicast
`)
	tests := []struct {
		name, method, target string
		path, query          string
	}{
		{"captures and break", "GET", "/v1/users/42?debug=1&a=b", "/base/users/42/profile", "a=b&source=gateway&via=GET"},
		{"method filter skips", "GET", "/a-b-c", "/base/a-b-c", "source=gateway&via=GET"},
		{"method filter applies", "POST", "/a-b-c?source=client&source=other", "/base/a_b_c", "source=gateway&via=POST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader
			if tt.method == "POST" {
				body = strings.NewReader("payload")
			}
			res := gw.Do(t, gw.NewRequest(tt.method, tt.target, body))
			if res.Status != 200 {
				t.Fatalf("status %d %q", res.Status, res.Body)
			}
			got := up.Last(t)
			if got.Method != tt.method || got.Path != tt.path || got.RawQuery != tt.query {
				t.Errorf("upstream got %s %s?%s, want %s %s?%s", got.Method, got.Path, got.RawQuery, tt.method, tt.path, tt.query)
			}
			if tt.method == "POST" && got.Body != "payload" {
				t.Errorf("upstream got the body %q", got.Body)
			}
		})
	}
}

// TestInvalidLiquidThroughGateway is APIcast's t/liquid.t: a value that is
// not valid Liquid does not stop the configuration from loading; it
// renders as the empty string, and the gateway logs why.
func TestInvalidLiquidThroughGateway(t *testing.T) {
	up := gatewaytest.StartUpstream(t, nil)
	gw := gatewaytest.Start(t, `
services:
  - id: 42
    proxy:
      policy_chain:
        - name: url_rewriting
          configuration:
            query_args_commands:
              - {op: set, arg: new_arg, value: "{{'something' | md5", value_type: liquid}
        - name: upstream
          configuration:
            rules: [{regex: "/", url: "`+up.URL+`"}]
`)
	res := gw.Do(t, gw.NewRequest("GET", "/", nil))
	if res.Status != 200 {
		t.Fatalf("status %d %q", res.Status, res.Body)
	}
	if got := up.Last(t); got.RawQuery != "new_arg=" {
		t.Errorf("upstream got the query %q, want new_arg=", got.RawQuery)
	}
	if logs := strings.Join(gw.Logs(), "\n"); !strings.Contains(logs, "invalid Liquid template renders as the empty string") || !strings.Contains(logs, "md5") {
		t.Errorf("no log line about the invalid template:\n%s", logs)
	}
}
