package rewriteurlcaptures_test

import (
	"testing"

	"github.com/verdict-policy/verdict/gateway/gatewaytest"
	_ "github.com/verdict-policy/verdict/policies/rewrite_url_captures"
	_ "github.com/verdict-policy/verdict/policies/upstream"
)

// TestThroughGateway replays APIcast's t/apicast-policy-rewrite-url-captures.t
// through a real gateway to a real upstream: with the upstream policy
// after it, and with apicast before it (rewrite still runs before
// apicast proxies).
func TestThroughGateway(t *testing.T) {
	up := gatewaytest.StartUpstream(t, nil)
	const transformation = `{match_rule: "/{var_1}/{var_2}", template: "/{var_2}?my_arg={var_1}"`
	tests := []struct {
		name, chain, method, target string
		path, query                 string
	}{
		{"one transformation that matches",
			`[{name: rewrite_url_captures, configuration: {transformations: [` + transformation + `}]}}, {name: upstream, configuration: {rules: [{regex: "/", url: "` + up.URL + `"}]}}]`,
			"GET", "/abc/def?user_key=value", "/def", "user_key=value&my_arg=abc"},
		{"only the first applies",
			`[{name: rewrite_url_captures, configuration: {transformations: [` + transformation + `}, {match_rule: "/{var_1}/{var_2}", template: "/{var_1}/{var_2}"}]}}, {name: upstream, configuration: {rules: [{regex: "/", url: "` + up.URL + `"}]}}]`,
			"GET", "/abc/def?user_key=value", "/def", "user_key=value&my_arg=abc"},
		{"none matches",
			`[{name: rewrite_url_captures, configuration: {transformations: [{match_rule: "/i_dont_match", template: "/{var_2}?my_arg={var_1}"}]}}, {name: upstream, configuration: {rules: [{regex: "/", url: "` + up.URL + `"}]}}]`,
			"GET", "/abc?query_arg=def&user_key=value", "/abc", "query_arg=def&user_key=value"},
		{"after apicast",
			`[{name: apicast}, {name: rewrite_url_captures, configuration: {transformations: [` + transformation + `}]}}]`,
			"GET", "/abc/def?user_key=value", "/def", "user_key=value&my_arg=abc"},
		{"a method that does not match",
			`[{name: rewrite_url_captures, configuration: {transformations: [` + transformation + `, methods: [PUT, OPTIONS]}]}}, {name: apicast}]`,
			"GET", "/abc/def?user_key=xyz", "/abc/def", "user_key=xyz"},
		{"one of the methods",
			`[{name: rewrite_url_captures, configuration: {transformations: [` + transformation + `, methods: [GET, PUT, POST]}]}}, {name: apicast}]`,
			"PUT", "/abc/def?user_key=value", "/def", "user_key=value&my_arg=abc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw := gatewaytest.Start(t, "services:\n  - id: 42\n    proxy:\n      api_backend: "+up.URL+"\n      policy_chain: "+tt.chain+"\n")
			res := gw.Do(t, gw.NewRequest(tt.method, tt.target, nil))
			if res.Status != 200 {
				t.Fatalf("got %d %q", res.Status, res.Body)
			}
			got := up.Last(t)
			if got.Method != tt.method || got.Path != tt.path || got.RawQuery != tt.query {
				t.Errorf("upstream got %s %s?%s, want %s %s?%s", got.Method, got.Path, got.RawQuery, tt.method, tt.path, tt.query)
			}
		})
	}
}
