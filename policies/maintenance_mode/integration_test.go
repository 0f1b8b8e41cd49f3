package maintenancemode_test

import (
	"strings"
	"testing"

	"github.com/verdict-policy/verdict/gateway/gatewaytest"
)

// TestThroughGateway runs the policy in a real gateway in front of real
// upstreams: conditions on the path and on the service's api_backend.
func TestThroughGateway(t *testing.T) {
	up := gatewaytest.StartUpstream(t, nil)
	other := gatewaytest.StartUpstream(t, nil)
	port := up.URL[strings.LastIndex(up.URL, ":")+1:]
	gw := gatewaytest.Start(t, `
services:
  - id: 1
    proxy:
      hosts: [down.test]
      api_backend: `+up.URL+`
      policy_chain:
        - name: maintenance_mode
          configuration: {status: 503, message: '{"error": "maintenance"}', message_content_type: application/json}
        - name: apicast
  - id: 2
    proxy:
      hosts: [partly.test]
      api_backend: `+up.URL+`
      policy_chain:
        - name: maintenance_mode
          configuration:
            condition:
              combine_op: or
              operations:
                - {left: "{{ uri }}", left_type: liquid, op: matches, right: "^/billing/"}
                - {left: "{{ headers['X-Beta'] }}", left_type: liquid, op: "==", right: "yes"}
        - name: apicast
  - id: 3
    proxy:
      hosts: [upstream.test]
      api_backend: `+up.URL+`/api
      policy_chain:
        - name: maintenance_mode
          configuration:
            condition:
              operations:
                - {left: "{{ upstream.port }}{{ upstream.path }}", left_type: liquid, op: "==", right: "`+port+`/api"}
        - name: apicast
  - id: 4
    proxy:
      hosts: [other.test]
      api_backend: `+other.URL+`/api
      policy_chain:
        - name: maintenance_mode
          configuration:
            condition:
              operations:
                - {left: "{{ upstream.port }}{{ upstream.path }}", left_type: liquid, op: "==", right: "`+port+`/api"}
        - name: apicast
`)
	tests := []struct {
		name, host, path string
		beta             bool
		status           int
		body, ctype      string
	}{
		{"always", "down.test", "/x", false, 503, "{\"error\": \"maintenance\"}\n", "application/json"},
		{"path condition holds", "partly.test", "/billing/1", false, 503, "Service Unavailable - Maintenance\n", "text/plain; charset=utf-8"},
		{"header condition holds", "partly.test", "/x", true, 503, "Service Unavailable - Maintenance\n", "text/plain; charset=utf-8"},
		{"no condition holds", "partly.test", "/x", false, 200, "upstream: GET /x", "text/plain"},
		{"upstream in maintenance", "upstream.test", "/x", false, 503, "Service Unavailable - Maintenance\n", "text/plain; charset=utf-8"},
		{"other upstream", "other.test", "/x", false, 200, "upstream: GET /api/x", "text/plain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := gw.NewRequest("GET", tt.path, nil)
			r.Host = tt.host
			if tt.beta {
				r.Header.Set("X-Beta", "yes")
			}
			res := gw.Do(t, r)
			if res.Status != tt.status || res.Body != tt.body || res.Header.Get("Content-Type") != tt.ctype {
				t.Errorf("client got %d %q %q, want %d %q %q", res.Status, res.Body, res.Header.Get("Content-Type"), tt.status, tt.body, tt.ctype)
			}
		})
	}
}
