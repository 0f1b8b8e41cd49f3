package gateway_test

import (
	"net/http"
	"testing"

	"github.com/verdict-policy/verdict/gateway/gatewaytest"
)

func TestServiceSelectionByHost(t *testing.T) {
	gw := gatewaytest.Start(t, `
services:
  - id: exact
    proxy:
      hosts: [api.example.com, API.Other.COM]
      policy_chain: [{name: echo, configuration: {status: 201}}]
  - id: wild
    proxy:
      hosts: ["*.example.com"]
      policy_chain: [{name: echo, configuration: {status: 202}}]
  - id: deeper
    proxy:
      hosts: ["*.eu.example.com"]
      policy_chain: [{name: echo, configuration: {status: 203}}]
  - id: local
    proxy:
      policy_chain: [{name: echo, configuration: {status: 204}}]
`)
	tests := []struct {
		host   string
		status int
	}{
		{"api.example.com", 201},
		{"API.EXAMPLE.COM", 201},
		{"api.example.com:8080", 201},
		{"api.other.com", 201},
		{"v2.example.com", 202},
		{"a.b.example.com", 202},
		{"x.eu.example.com", 203},
		{"eu.example.com", 202},
		{"example.com", 404},
		{"localhost", 204},
		{"localhost:1234", 204},
		{"unknown.test", 404},
		{"[::1]:80", 404},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			r := gw.NewRequest("GET", "/", nil)
			r.Host = tt.host
			res := gw.Do(t, r)
			if res.Status != tt.status {
				t.Fatalf("status %d, want %d (%q)", res.Status, tt.status, res.Body)
			}
			if tt.status == 404 && res.Body != "" {
				t.Errorf("404 body %q, want an empty one as APIcast's", res.Body)
			}
		})
	}
}

func TestMappingRules(t *testing.T) {
	up := gatewaytest.StartUpstream(t, nil)
	gw := gatewaytest.Start(t, `
services:
  - id: rules
    proxy:
      hosts: [rules.test]
      api_backend: `+up.URL+`
      proxy_rules:
        - {http_method: GET, pattern: "/items/{id}$", metric_system_name: hits, delta: 1}
        - {http_method: POST, pattern: /items, metric_system_name: hits, delta: 1}
        - {http_method: ANY, pattern: "/search?q={query}&lang=en"}
        - {http_method: GET, pattern: "/files/{name}.json$"}
        - {http_method: GET, pattern: "/v1//x"}
  - id: custom
    proxy:
      hosts: [custom.test]
      api_backend: `+up.URL+`
      proxy_rules: [{http_method: GET, pattern: /only}]
      error_no_match: "nothing here"
      error_status_no_match: 410
      error_headers_no_match: application/json
  - id: norules
    proxy:
      hosts: [open.test]
      api_backend: `+up.URL+`
`)
	tests := []struct {
		name, host, method, target string
		status                     int
		body                       string
	}{
		{"placeholder, exact", "rules.test", "GET", "/items/42", 200, "upstream: GET /items/42"},
		{"exact rule rejects a longer path", "rules.test", "GET", "/items/42/parts", 404, "No Mapping Rule matched"},
		{"method must match", "rules.test", "DELETE", "/items/42", 404, "No Mapping Rule matched"},
		{"prefix rule", "rules.test", "POST", "/items/new/thing", 200, "upstream: POST /items/new/thing"},
		{"query rule with values", "rules.test", "PUT", "/search?q=go&lang=en", 200, "upstream: PUT /search?q=go&lang=en"},
		{"query rule: wrong value", "rules.test", "GET", "/search?q=go&lang=fr", 404, "No Mapping Rule matched"},
		{"query rule: missing arg", "rules.test", "GET", "/search?lang=en", 404, "No Mapping Rule matched"},
		{"placeholder before a literal", "rules.test", "GET", "/files/report.v2.json", 200, "upstream: GET /files/report.v2.json"},
		{"placeholder is one segment", "rules.test", "GET", "/files/a/b.json", 404, "No Mapping Rule matched"},
		{"double slashes collapse in patterns", "rules.test", "GET", "/v1/x", 200, "upstream: GET /v1/x"},
		{"escaped path", "rules.test", "GET", "/items/a%20b", 200, "upstream: GET /items/a%20b"},
		{"custom no-match answer", "custom.test", "GET", "/other", 410, "nothing here"},
		{"no rules pass everything", "open.test", "DELETE", "/anything", 200, "upstream: DELETE /anything"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := gw.NewRequest(tt.method, tt.target, nil)
			r.Host = tt.host
			res := gw.Do(t, r)
			if res.Status != tt.status || res.Body != tt.body {
				t.Fatalf("got %d %q, want %d %q", res.Status, res.Body, tt.status, tt.body)
			}
		})
	}
	r := gw.NewRequest("GET", "/x", nil)
	r.Host = "custom.test"
	if res := gw.Do(t, r); res.Header.Get("Content-Type") != "application/json" {
		t.Errorf("custom no-match content type %q", res.Header.Get("Content-Type"))
	}
}

func TestUpstreamRequestShape(t *testing.T) {
	up := gatewaytest.StartUpstream(t, nil)
	tests := []struct {
		name, backend, extra, target string
		path, query, host            string
	}{
		{"base path joins", up.URL + "/base", "", "/a/b?x=1", "/base/a/b", "x=1", ""},
		{"root request gives the base path", up.URL + "/base", "", "/", "/base", "", ""},
		{"trailing slash in the base", up.URL + "/base/", "", "/a", "/base/a", "", ""},
		{"backend query replaces the request's", up.URL + "/q?k=v", "", "/a?x=1", "/q/a", "k=v", ""},
		{"hostname_rewrite", up.URL, "hostname_rewrite: internal.example", "/h", "/h", "", "internal.example"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw := gatewaytest.Start(t, "services:\n  - proxy:\n      api_backend: "+tt.backend+"\n      "+tt.extra+"\n")
			res := gw.Do(t, gw.NewRequest("GET", tt.target, nil))
			if res.Status != 200 {
				t.Fatalf("status %d %q", res.Status, res.Body)
			}
			got := up.Last(t)
			if got.Path != tt.path || got.RawQuery != tt.query {
				t.Errorf("upstream got %s?%s, want %s?%s", got.Path, got.RawQuery, tt.path, tt.query)
			}
			if tt.host != "" && got.Host != tt.host {
				t.Errorf("Host %q, want %q", got.Host, tt.host)
			}
		})
	}
}

func TestSecretToken(t *testing.T) {
	up := gatewaytest.StartUpstream(t, nil)
	gw := gatewaytest.Start(t, "services:\n  - proxy:\n      api_backend: "+up.URL+"\n      secret_token: s3cret\n")
	gw.Do(t, gw.NewRequest("GET", "/", nil))
	if got := up.Last(t).Header.Get("X-3scale-Proxy-Secret-Token"); got != "s3cret" {
		t.Errorf("secret token %q", got)
	}
}

func TestUpstreamStatusAndHeadersPassThrough(t *testing.T) {
	up := gatewaytest.StartUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Up", "1")
		w.Header().Set("Connection", "X-Secret-Hop")
		w.Header().Set("X-Secret-Hop", "no")
		w.WriteHeader(418)
		_, _ = w.Write([]byte("teapot"))
	})
	gw := gatewaytest.Start(t, "services:\n  - proxy:\n      api_backend: "+up.URL+"\n")
	res := gw.Do(t, gw.NewRequest("GET", "/", nil))
	if res.Status != 418 || res.Body != "teapot" || res.Header.Get("X-Up") != "1" || res.Header.Get("X-Secret-Hop") != "" {
		t.Errorf("got %d %q %v", res.Status, res.Body, res.Header)
	}
}
