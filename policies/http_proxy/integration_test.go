package httpproxy_test

import (
	"strings"
	"testing"

	"github.com/verdict-policy/verdict/gateway/gatewaytest"
	_ "github.com/verdict-policy/verdict/policies/camel"
	_ "github.com/verdict-policy/verdict/policies/http_proxy"
)

// TestThroughGateway: a real gateway serves a service with the policy and
// no proxy straight to its upstream, and refuses a configuration that
// names a proxy, naming the policy, while the running one stays.
func TestThroughGateway(t *testing.T) {
	up := gatewaytest.StartUpstream(t, nil)
	gw := gatewaytest.Start(t, `
services:
  - proxy:
      api_backend: `+up.URL+`
      policy_chain: [{name: http_proxy, configuration: {}}, {name: apicast}]
`)
	if res := gw.Do(t, gw.NewRequest("GET", "/items", nil)); res.Status != 200 || up.Last(t).Path != "/items" {
		t.Fatalf("got %d %q", res.Status, res.Body)
	}
	for _, name := range []string{"http_proxy", "camel"} {
		err := gw.Reload(`
services:
  - proxy:
      api_backend: ` + up.URL + `
      policy_chain: [{name: ` + name + `, configuration: {all_proxy: "http://127.0.0.1:3128"}}, {name: apicast}]
`)
		if err == nil || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "forward proxy") {
			t.Fatalf("%s: reload error %v", name, err)
		}
	}
	if res := gw.Do(t, gw.NewRequest("GET", "/still", nil)); res.Status != 200 {
		t.Fatalf("after the refused reload: %d", res.Status)
	}
}
