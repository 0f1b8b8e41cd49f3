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
            allow_origin: "^https://(app|admin)\\.example\\.com$"
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
		{"preflight from another origin", "OPTIONS", "https://app.example.com.evil.net", "PUT", 204, false, "", "GET, PUT", "120"},
		{"actual request", "GET", "https://admin.example.com", "", 200, true, "https://admin.example.com", "GET, PUT", "120"},
		{"actual request from another origin", "GET", "https://evil.net", "", 200, true, "", "GET, PUT", "120"},
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

// TestAPIcastOrigins replays APIcast's t/apicast-policy-cors.t tests 3 and
// 4 through a real gateway: credentials false is sent as false, an
// allow_origin pattern is searched in the Origin, and an origin it does
// not match gets the other CORS headers without Access-Control-Allow-Origin.
func TestAPIcastOrigins(t *testing.T) {
	up := gatewaytest.StartUpstream(t, nil)
	gw := gatewaytest.Start(t, `
services:
  - id: 42
    proxy:
      api_backend: `+up.URL+`
      policy_chain:
        - name: cors
          configuration:
            allow_headers: []
            allow_methods: [POST, GET, OPTIONS]
            allow_origin: "(api|web).test.com"
            max_age: 200
            allow_credentials: false
        - name: apicast
  - id: 43
    proxy:
      hosts: [star.test]
      api_backend: `+up.URL+`
      policy_chain:
        - name: cors
          configuration:
            allow_headers: [X-Custom-Header-1, X-Custom-Header-2]
            allow_methods: [POST, GET, OPTIONS]
            allow_origin: "*"
            max_age: 200
            allow_credentials: false
        - name: apicast
`)
	absent := "(absent)"
	tests := []struct {
		name, host, origin string
		want               map[string]string
	}{
		{"star", "star.test", "http://example.com", map[string]string{
			"Access-Control-Allow-Headers": "X-Custom-Header-1, X-Custom-Header-2", "Access-Control-Allow-Methods": "POST, GET, OPTIONS",
			"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Credentials": "false", "Access-Control-Max-Age": "200"}},
		{"api matches", "localhost", "http://api.test.com", map[string]string{
			"Access-Control-Allow-Methods": "POST, GET, OPTIONS", "Access-Control-Allow-Origin": "http://api.test.com",
			"Access-Control-Allow-Credentials": "false", "Access-Control-Max-Age": "200", "Access-Control-Allow-Headers": absent}},
		{"web matches", "localhost", "http://web.test.com", map[string]string{
			"Access-Control-Allow-Methods": "POST, GET, OPTIONS", "Access-Control-Allow-Origin": "http://web.test.com",
			"Access-Control-Allow-Credentials": "false", "Access-Control-Max-Age": "200"}},
		{"staging does not match", "localhost", "http://staging.test.com", map[string]string{
			"Access-Control-Allow-Methods": "POST, GET, OPTIONS", "Access-Control-Allow-Origin": absent,
			"Access-Control-Allow-Credentials": "false", "Access-Control-Max-Age": "200", "Access-Control-Allow-Headers": absent}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := gw.NewRequest("GET", "/?user_key=value", nil)
			r.Host = tt.host
			r.Header.Set("Origin", tt.origin)
			r.Header.Set("Access-Control-Request-Method", "GET")
			r.Header.Set("Access-Control-Request-Headers", "Content-Type")
			res := gw.Do(t, r)
			if res.Status != 200 || !strings.HasPrefix(res.Body, "upstream: GET /") {
				t.Fatalf("got %d %q", res.Status, res.Body)
			}
			for k, want := range tt.want {
				got, ok := strings.Join(res.Header.Values(k), ", "), len(res.Header.Values(k)) > 0
				if !ok {
					got = absent
				}
				if got != want {
					t.Errorf("%s: %q, want %q", k, got, want)
				}
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
