package cors_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/verdict-policy/verdict/gateway/gatewaytest"
)

// TestThroughGateway runs the policy in a real gateway in front of a real
// upstream: preflights never reach it, actual requests do.
func TestThroughGateway(t *testing.T) {
	up := gatewaytest.StartUpstream(t, nil)
	gw := gatewaytest.Start(t, `
services:
  - id: 1
    proxy:
      api_backend: `+up.URL+`
      policy_chain:
        - name: cors
          configuration:
            allow_origin: "https://(app|admin)\\.example\\.com"
            allow_methods: [GET, PUT]
            allow_headers: [X-Custom]
            max_age: 120
        - name: apicast
`)
	tests := []struct {
		name, method, origin, requestMethod string
		status                              int
		reachesUpstream                     bool
		allowOrigin, allowMethods, maxAge   string
	}{
		{"preflight", "OPTIONS", "https://app.example.com", "PUT", 204, false, "https://app.example.com", "GET, PUT", "120"},
		{"preflight from another origin", "OPTIONS", "https://app.example.com.evil.net", "PUT", 204, false, "", "", ""},
		{"actual request", "GET", "https://admin.example.com", "", 200, true, "https://admin.example.com", "GET, PUT", "120"},
		{"actual request from another origin", "GET", "https://evil.net", "", 200, true, "", "", ""},
		{"same-origin request", "GET", "", "", 200, true, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(up.Requests())
			r := gw.NewRequest(tt.method, "/items/1", nil)
			if tt.origin != "" {
				r.Header.Set("Origin", tt.origin)
			}
			if tt.requestMethod != "" {
				r.Header.Set("Access-Control-Request-Method", tt.requestMethod)
			}
			res := gw.Do(t, r)
			if res.Status != tt.status {
				t.Fatalf("status %d, want %d", res.Status, tt.status)
			}
			if reached := len(up.Requests()) > before; reached != tt.reachesUpstream {
				t.Errorf("upstream reached %v, want %v", reached, tt.reachesUpstream)
			}
			if tt.reachesUpstream && up.Last(t).Header.Get("Origin") != tt.origin {
				t.Errorf("upstream Origin %q", up.Last(t).Header.Get("Origin"))
			}
			h := res.Header
			if h.Get("Access-Control-Allow-Origin") != tt.allowOrigin || h.Get("Access-Control-Allow-Methods") != tt.allowMethods || h.Get("Access-Control-Max-Age") != tt.maxAge {
				t.Errorf("CORS headers %v", h)
			}
		})
	}
}

// TestBadReloadKeepsRunning reloads the gateway with an invalid origin
// pattern: the reload fails naming the field and the running
// configuration goes on answering.
func TestBadReloadKeepsRunning(t *testing.T) {
	up := gatewaytest.StartUpstream(t, nil)
	const chainYAML = `
services:
  - id: 1
    proxy:
      api_backend: %s
      policy_chain:
        - {name: cors, configuration: {allow_origin: "%s"}}
        - name: apicast
`
	gw := gatewaytest.Start(t, fmt.Sprintf(chainYAML, up.URL, "https://app\\\\.example\\\\.com"))
	err := gw.Reload(fmt.Sprintf(chainYAML, up.URL, "https://(app"))
	if err == nil || !strings.Contains(err.Error(), "allow_origin: invalid regular expression") || !strings.Contains(err.Error(), "policy_chain[0]") {
		t.Fatalf("reload error %v, want one naming policy_chain[0] and allow_origin", err)
	}
	r := gw.NewRequest("GET", "/", nil)
	r.Header.Set("Origin", "https://app.example.com")
	res := gw.Do(t, r)
	if res.Status != 200 || res.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" {
		t.Errorf("after the failed reload: %d %v", res.Status, res.Header)
	}
}
