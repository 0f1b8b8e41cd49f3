package conditional_test

import (
	"testing"

	"github.com/verdict-policy/verdict/gateway/gatewaytest"
	_ "github.com/verdict-policy/verdict/policies/conditional"
	_ "github.com/verdict-policy/verdict/policies/headers"
)

// TestThroughGateway runs a conditional headers policy and a conditional
// echo in a real gateway in front of a real upstream.
func TestThroughGateway(t *testing.T) {
	up := gatewaytest.StartUpstream(t, nil)
	gw := gatewaytest.Start(t, `
services:
  - id: 1
    proxy:
      api_backend: `+up.URL+`
      policy_chain:
        - name: conditional
          configuration:
            condition:
              operations:
                - {left: "{{ headers['X-Beta'] }}", left_type: liquid, op: "==", right: "yes"}
            policy_chain:
              - name: headers
                configuration:
                  request: [{op: set, header: X-Beta-Upstream, value: "{{ uri }}", value_type: liquid}]
                  response: [{op: set, header: X-Beta, value: "on"}]
        - name: conditional
          configuration:
            condition:
              operations:
                - {left: "{{ uri }}", left_type: liquid, op: matches, right: "^/ping$"}
            policy_chain:
              - {name: echo, configuration: {status: 200}}
        - name: apicast
`)
	tests := []struct {
		name, path, beta string
		status           int
		body, upHeader   string
		respHeader       string
	}{
		{"beta request", "/a", "yes", 200, "upstream: GET /a", "/a", "on"},
		{"other request", "/a", "", 200, "upstream: GET /a", "", ""},
		{"echo under its condition", "/ping", "", 200, "GET /ping HTTP/1.1\n", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(up.Requests())
			r := gw.NewRequest("GET", tt.path, nil)
			if tt.beta != "" {
				r.Header.Set("X-Beta", tt.beta)
			}
			res := gw.Do(t, r)
			if res.Status != tt.status || res.Body != tt.body || res.Header.Get("X-Beta") != tt.respHeader {
				t.Fatalf("client got %d %q X-Beta=%q, want %d %q %q", res.Status, res.Body, res.Header.Get("X-Beta"), tt.status, tt.body, tt.respHeader)
			}
			if len(up.Requests()) > before {
				if got := up.Last(t).Header.Get("X-Beta-Upstream"); got != tt.upHeader {
					t.Errorf("upstream got X-Beta-Upstream %q, want %q", got, tt.upHeader)
				}
			}
		})
	}
}
