package liquidcontextdebug_test

import (
	"encoding/json"
	"testing"

	"github.com/verdict-policy/verdict/gateway/gatewaytest"
	_ "github.com/verdict-policy/verdict/policies/headers"
	_ "github.com/verdict-policy/verdict/policies/liquid_context_debug"
)

// TestThroughGateway ports APIcast's tests: the policy answers in a real
// gateway, before apicast, alone and with a policy that renders Liquid,
// and the answer holds the service and the request.
func TestThroughGateway(t *testing.T) {
	up := gatewaytest.StartUpstream(t, nil)
	gw := gatewaytest.Start(t, `
services:
  - id: 42
    system_name: orders
    proxy:
      api_backend: `+up.URL+`
      policy_chain:
        - {name: liquid_context_debug, configuration: {}}
        - name: headers
          configuration:
            request: [{op: push, header: SOME-HEADER, value_type: liquid, value: "{{ service.id }}"}]
        - name: apicast
`)
	r := gw.NewRequest("GET", "/items?x=1", nil)
	r.Header.Set("X-Request-Id", "abc")
	res := gw.Do(t, r)
	if res.Status != 200 || res.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("got %d %q", res.Status, res.Body)
	}
	var doc struct {
		Service   map[string]any `json:"service"`
		URI       string         `json:"uri"`
		Query     string         `json:"query"`
		Method    string         `json:"http_method"`
		RequestID string         `json:"request_id"`
		Headers   map[string]any `json:"headers"`
		Original  map[string]any `json:"original_request"`
	}
	if err := json.Unmarshal([]byte(res.Body), &doc); err != nil {
		t.Fatalf("%v\n%s", err, res.Body)
	}
	if doc.Service["id"] != "42" || doc.Service["system_name"] != "orders" || doc.URI != "/items" || doc.Query != "x=1" ||
		doc.Method != "GET" || doc.RequestID != "abc" || doc.Headers["Some-Header"] != "42" || doc.Original["path"] != "/items" {
		t.Fatalf("context %s", res.Body)
	}
	if n := len(up.Requests()); n != 0 {
		t.Fatalf("%d requests reached the upstream", n)
	}
}
