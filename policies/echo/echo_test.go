package echo_test

import (
	"testing"

	"github.com/verdict-policy/verdict/gateway/gatewaytest"
)

func TestEcho(t *testing.T) {
	up := gatewaytest.StartUpstream(t, nil)
	tests := []struct {
		name, chain, target string
		status              int
		body                string
		reached             bool
	}{
		{"answers in content", "[{name: echo}]", "/t?a=1", 200, "GET /t?a=1 HTTP/1.1\n", false},
		{"status", "[{name: echo, configuration: {status: 418}}]", "/t", 418, "GET /t HTTP/1.1\n", false},
		{"exit request answers in rewrite", "[{name: echo, configuration: {exit: request, status: 201}}, {name: apicast}]", "/t", 201, "GET /t HTTP/1.1\n", false},
		{"exit phase, then apicast answers first", "[{name: apicast}, {name: echo, configuration: {exit: phase}}]", "/t", 200, "upstream: GET /t", true},
		{"after apicast, echo never answers", "[{name: apicast}, {name: echo}]", "/t", 200, "upstream: GET /t", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw := gatewaytest.Start(t, "services:\n  - proxy:\n      api_backend: "+up.URL+"\n      policy_chain: "+tt.chain+"\n")
			before := len(up.Requests())
			res := gw.Do(t, gw.NewRequest("GET", tt.target, nil))
			if res.Status != tt.status || res.Body != tt.body {
				t.Fatalf("got %d %q, want %d %q", res.Status, res.Body, tt.status, tt.body)
			}
			if reached := len(up.Requests()) > before; reached != tt.reached {
				t.Errorf("upstream reached %v, want %v", reached, tt.reached)
			}
		})
	}
}

func TestBadConfiguration(t *testing.T) {
	for _, cfg := range []string{"{status: 99}", "{status: '200'}", "{exit: now}", "{colour: red}"} {
		gw := gatewaytest.Start(t, "")
		if err := gw.Reload("services:\n  - proxy: {policy_chain: [{name: echo, configuration: " + cfg + "}]}\n"); err == nil {
			t.Errorf("accepted %s", cfg)
		}
	}
}
