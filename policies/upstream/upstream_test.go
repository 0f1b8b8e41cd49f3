package upstream_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/verdict-policy/verdict/gateway/gatewaytest"
	_ "github.com/verdict-policy/verdict/policies/upstream"
	_ "github.com/verdict-policy/verdict/policies/url_rewriting"
)

func TestUpstream(t *testing.T) {
	main := gatewaytest.StartUpstream(t, nil)
	other := gatewaytest.StartUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "other: "+r.Method+" "+r.RequestURI+" host="+r.Host)
	})
	otherHost := strings.TrimPrefix(other.URL, "http://")
	tests := []struct {
		name, chain, target, body string
	}{
		{"no rule matches: apicast answers",
			"[{name: upstream, configuration: {rules: [{regex: '^/legacy', url: '" + other.URL + "'}]}}, {name: apicast}]",
			"/new/x", "upstream: GET /new/x"},
		{"a match routes with the url's path first, query kept, Host of the url",
			"[{name: upstream, configuration: {rules: [{regex: '^/legacy', url: '" + other.URL + "/v0?dropped=1'}]}}, {name: apicast}]",
			"/legacy/x?q=1", "other: GET /v0/legacy/x?q=1 host=" + otherHost},
		{"first matching rule wins",
			"[{name: upstream, configuration: {rules: [{regex: 'x', url: '" + other.URL + "/one'}, {regex: 'x', url: '" + other.URL + "/two'}]}}, {name: apicast}]",
			"/x", "other: GET /one/x host=" + otherHost},
		{"the regex is searched anywhere in the path",
			"[{name: upstream, configuration: {rules: [{regex: 'legacy', url: '" + other.URL + "'}]}}, {name: apicast}]",
			"/api/legacy", "other: GET /api/legacy host=" + otherHost},
		{"after apicast it never answers",
			"[{name: apicast}, {name: upstream, configuration: {rules: [{regex: '.', url: '" + other.URL + "'}]}}]",
			"/x", "upstream: GET /x"},
		{"sees the path rewritten by url_rewriting, whatever the order",
			"[{name: upstream, configuration: {rules: [{regex: '^/old/', url: '" + other.URL + "'}]}}, {name: url_rewriting, configuration: {commands: [{op: sub, regex: '^/new/', replace: '/old/'}]}}, {name: apicast}]",
			"/new/a", "upstream: GET /old/a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw := gatewaytest.Start(t, "services:\n  - proxy:\n      api_backend: "+main.URL+"\n      policy_chain: "+tt.chain+"\n")
			res := gw.Do(t, gw.NewRequest("GET", tt.target, nil))
			if res.Status != 200 || res.Body != tt.body {
				t.Fatalf("got %d %q, want %q", res.Status, res.Body, tt.body)
			}
		})
	}
}

func TestBadConfiguration(t *testing.T) {
	tests := []struct{ cfg, want string }{
		{"{rules: [{regex: '(', url: 'http://127.0.0.1:1'}]}", "rules.0.regex"},
		{"{rules: [{regex: 'a', url: 'ftp://x'}]}", "rules.0.url"},
		{"{rules: [{regex: 'a'}]}", "missing property 'url'"},
		{"{rules: [{regex: '', url: 'http://x'}]}", "rules.0.regex"},
		{"{rules: {}}", "rules"},
	}
	for _, tt := range tests {
		t.Run(tt.cfg, func(t *testing.T) {
			gw := gatewaytest.Start(t, "")
			err := gw.Reload("services:\n  - proxy: {policy_chain: [{name: upstream, configuration: " + tt.cfg + "}]}\n")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one naming %q", err, tt.want)
			}
		})
	}
}
