package nginxfilters_test

import (
	"testing"

	"github.com/verdict-policy/verdict/gateway/gatewaytest"
	_ "github.com/verdict-policy/verdict/policies/nginx_filters"
	_ "github.com/verdict-policy/verdict/policies/upstream"
)

// TestThroughGateway ports APIcast's tests: without the policy the
// gateway passes If-Match to the upstream and does not answer 412 itself
// (nginx, under APIcast, would); append false removes it, append true
// passes it.
func TestThroughGateway(t *testing.T) {
	up := gatewaytest.StartUpstream(t, nil)
	for _, tt := range []struct {
		name, chain string
		ifMatch     string
	}{
		{"no policy", `[{name: apicast}]`, "anything"},
		{"removed", `[{name: apicast}, {name: nginx_filters, configuration: {headers: [{name: If-Match, append: false}]}}]`, ""},
		{"passed", `[{name: apicast}, {name: nginx_filters, configuration: {headers: [{name: If-Match, append: true}]}}]`, "anything"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			gw := gatewaytest.Start(t, `
services:
  - proxy:
      api_backend: `+up.URL+`
      policy_chain: `+tt.chain+`
`)
			r := gw.NewRequest("GET", "/?user_key=foo", nil)
			r.Header.Set("If-Match", "anything")
			r.Header.Set("Test", "one")
			res := gw.Do(t, r)
			if res.Status != 200 {
				t.Fatalf("got %d %q", res.Status, res.Body)
			}
			got := up.Last(t)
			if got.Header.Get("If-Match") != tt.ifMatch || got.Header.Get("Test") != "one" {
				t.Fatalf("upstream got If-Match %q, Test %q", got.Header.Get("If-Match"), got.Header.Get("Test"))
			}
		})
	}
}
