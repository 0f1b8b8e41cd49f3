package logging_test

import (
	"strings"
	"testing"

	"github.com/verdict-policy/verdict/gateway/gatewaytest"
	_ "github.com/verdict-policy/verdict/policies/logging"
)

// TestThroughGateway logs requests of three services through a real
// gateway: a custom line, a JSON object under a condition, and one with
// the access log off.
func TestThroughGateway(t *testing.T) {
	up := gatewaytest.StartUpstream(t, nil)
	gw := gatewaytest.Start(t, `
services:
  - id: 1
    proxy:
      hosts: [line.test]
      api_backend: `+up.URL+`
      policy_chain:
        - name: logging
          configuration: {custom_logging: "line {{ http_method }} {{ original_request.uri }} {{ status }} svc={{ service.id }}"}
        - name: apicast
  - id: 2
    proxy:
      hosts: [json.test]
      api_backend: `+up.URL+`
      policy_chain:
        - name: logging
          configuration:
            enable_json_logs: true
            json_object_config:
              - {key: path, value: "{{ uri }}", value_type: liquid}
              - {key: upstream, value: "{{ upstream_addr }}", value_type: liquid}
            condition:
              operations:
                - {match: "{{ uri }}", match_type: liquid, op: matches, value: "^/keep"}
        - name: apicast
  - id: 3
    proxy:
      hosts: [off.test]
      api_backend: `+up.URL+`
      policy_chain:
        - {name: logging, configuration: {enable_access_logs: false}}
        - name: apicast
`)
	for _, rq := range []struct{ host, path string }{
		{"line.test", "/a?x=1"}, {"json.test", "/keep/1"}, {"json.test", "/drop"}, {"off.test", "/secret"},
	} {
		r := gw.NewRequest("GET", rq.path, nil)
		r.Host = rq.host
		if res := gw.Do(t, r); res.Status != 200 {
			t.Fatalf("%s%s: %d", rq.host, rq.path, res.Status)
		}
	}
	var line, json, other []string
	for _, l := range gw.Logs() {
		switch {
		case strings.Contains(l, `msg="line `):
			line = append(line, l)
		case strings.Contains(l, "msg=access"):
			json = append(json, l)
		case strings.Contains(l, "/secret") || strings.Contains(l, "/drop"):
			other = append(other, l)
		}
	}
	if len(line) != 1 || !strings.Contains(line[0], `msg="line GET /a?x=1 200 svc=1"`) || !strings.Contains(line[0], "level=INFO") {
		t.Errorf("custom lines %q", line)
	}
	host := strings.TrimPrefix(up.URL, "http://")
	if len(json) != 1 || !strings.Contains(json[0], "access.path=/keep/1") || !strings.Contains(json[0], "access.upstream="+host) {
		t.Errorf("JSON records %q", json)
	}
	if len(other) != 0 {
		t.Errorf("requests that should not be logged were: %q", other)
	}
}
