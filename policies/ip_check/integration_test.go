package ipcheck_test

import (
	"testing"

	"github.com/verdict-policy/verdict/gateway/gatewaytest"
)

// TestThroughGateway runs the policy in a real gateway in front of a real
// upstream; the test client's address is 127.0.0.1.
func TestThroughGateway(t *testing.T) {
	up := gatewaytest.StartUpstream(t, nil)
	gw := gatewaytest.Start(t, `
services:
  - id: 1
    proxy:
      hosts: [peer.test]
      api_backend: `+up.URL+`
      policy_chain:
        - {name: ip_check, configuration: {check_type: whitelist, ips: [127.0.0.0/8]}}
        - name: apicast
  - id: 2
    proxy:
      hosts: [blocked.test]
      api_backend: `+up.URL+`
      policy_chain:
        - {name: ip_check, configuration: {check_type: blacklist, ips: [127.0.0.1], error_msg: "Blocked"}}
        - name: apicast
  - id: 3
    proxy:
      hosts: [forwarded.test]
      api_backend: `+up.URL+`
      policy_chain:
        - {name: ip_check, configuration: {check_type: whitelist, ips: ["203.0.113.0/24"], client_ip_sources: [X-Forwarded-For, last_caller]}}
        - name: apicast
`)
	tests := []struct {
		name, host, forwarded string
		status                int
		body                  string
	}{
		{"whitelisted peer", "peer.test", "", 200, "upstream: GET /x"},
		{"blacklisted peer", "blocked.test", "", 403, "Blocked\n"},
		{"forwarded client allowed", "forwarded.test", "203.0.113.9, 10.0.0.1", 200, "upstream: GET /x"},
		{"forwarded client refused", "forwarded.test", "198.51.100.1", 403, "IP address not allowed\n"},
		{"no forwarded header: peer refused", "forwarded.test", "", 403, "IP address not allowed\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(up.Requests())
			r := gw.NewRequest("GET", "/x", nil)
			r.Host = tt.host
			if tt.forwarded != "" {
				r.Header.Set("X-Forwarded-For", tt.forwarded)
			}
			res := gw.Do(t, r)
			if res.Status != tt.status || res.Body != tt.body {
				t.Errorf("client got %d %q, want %d %q", res.Status, res.Body, tt.status, tt.body)
			}
			if reached := len(up.Requests()) > before; reached != (tt.status == 200) {
				t.Errorf("upstream reached %v", reached)
			}
		})
	}
}
