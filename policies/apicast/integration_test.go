package apicast_test

import (
	"testing"

	"github.com/verdict-policy/verdict/gateway/gatewaytest"
)

func TestThroughTheGateway(t *testing.T) {
	up := gatewaytest.StartUpstream(t, nil)
	tests := []struct {
		name, proxy, method, target string
		status                      int
		body                        string
		upPath, upHost, upSecret    string
		contentType                 string
	}{
		{name: "proxies with the base path", proxy: "{api_backend: " + up.URL + "/base}",
			method: "GET", target: "/a?b=1", status: 200, body: "upstream: GET /base/a?b=1", upPath: "/base/a"},
		{name: "hostname_rewrite and secret_token", proxy: "{api_backend: " + up.URL + ", hostname_rewrite: backend.internal, secret_token: t0k}",
			method: "GET", target: "/", status: 200, body: "upstream: GET /", upPath: "/", upHost: "backend.internal", upSecret: "t0k"},
		{name: "matching rule", proxy: "{api_backend: " + up.URL + ", proxy_rules: [{http_method: POST, pattern: '/orders$'}]}",
			method: "POST", target: "/orders", status: 200, body: "upstream: POST /orders", upPath: "/orders"},
		{name: "no matching rule", proxy: "{api_backend: " + up.URL + ", proxy_rules: [{http_method: POST, pattern: '/orders$'}]}",
			method: "GET", target: "/orders", status: 404, body: "No Mapping Rule matched"},
		{name: "an empty proxy_rules list matches nothing", proxy: "{api_backend: " + up.URL + ", proxy_rules: []}",
			method: "GET", target: "/orders", status: 404, body: "No Mapping Rule matched"},
		{name: "an empty proxy_rules list answers the service's no-match error",
			proxy:  "{api_backend: " + up.URL + ", proxy_rules: [], error_no_match: nope, error_status_no_match: 412, error_headers_no_match: text/x-nope}",
			method: "POST", target: "/", status: 412, body: "nope", contentType: "text/x-nope"},
		{name: "no proxy_rules key checks no rule", proxy: "{api_backend: " + up.URL + "}",
			method: "DELETE", target: "/anything", status: 200, body: "upstream: DELETE /anything", upPath: "/anything"},
		{name: "proxy_rules: null checks no rule", proxy: "{api_backend: " + up.URL + ", proxy_rules: null}",
			method: "GET", target: "/x", status: 200, body: "upstream: GET /x", upPath: "/x"},
		{name: "no api_backend", proxy: "{hosts: [localhost]}",
			method: "GET", target: "/", status: 404, body: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw := gatewaytest.Start(t, "services:\n  - proxy: "+tt.proxy+"\n")
			before := len(up.Requests())
			res := gw.Do(t, gw.NewRequest(tt.method, tt.target, nil))
			if res.Status != tt.status || res.Body != tt.body {
				t.Fatalf("got %d %q, want %d %q", res.Status, res.Body, tt.status, tt.body)
			}
			if ct := res.Header.Get("Content-Type"); tt.contentType != "" && ct != tt.contentType {
				t.Errorf("Content-Type %q, want %q", ct, tt.contentType)
			}
			if tt.upPath == "" {
				if len(up.Requests()) != before {
					t.Fatal("the upstream was reached")
				}
				return
			}
			got := up.Last(t)
			if got.Path != tt.upPath {
				t.Errorf("upstream path %q, want %q", got.Path, tt.upPath)
			}
			if tt.upHost != "" && got.Host != tt.upHost {
				t.Errorf("upstream Host %q, want %q", got.Host, tt.upHost)
			}
			if got.Header.Get("X-3scale-Proxy-Secret-Token") != tt.upSecret {
				t.Errorf("secret token %q, want %q", got.Header.Get("X-3scale-Proxy-Secret-Token"), tt.upSecret)
			}
		})
	}
}
