package echo_test

import (
	"encoding/json"
	"testing"

	"github.com/verdict-policy/verdict/gateway/gatewaytest"
)

func TestEcho(t *testing.T) {
	up := gatewaytest.StartUpstream(t, nil)
	tests := []struct {
		name, chain, target string
		accept              string // the request's Accept header, if any
		status              int
		body, contentType   string
		reached             bool
	}{
		{"answers in content", "[{name: echo}]", "/t?a=1", "", 200, "GET /t?a=1 HTTP/1.1\n", "text/plain; charset=utf-8", false},
		{"status", "[{name: echo, configuration: {status: 418}}]", "/t", "", 418, "GET /t HTTP/1.1\n", "text/plain; charset=utf-8", false},
		{"JSON for a client that accepts it", "[{name: echo}]", "/test?x=1", "application/json", 200, `{"request":"GET \/test?x=1 HTTP\/1.1"}` + "\n", "application/json", false},
		{"JSON only for exactly application/json", "[{name: echo}]", "/t", "application/json, text/plain", 200, "GET /t HTTP/1.1\n", "text/plain; charset=utf-8", false},
		{"exit request answers in rewrite with no body", "[{name: echo, configuration: {exit: request, status: 201}}, {name: apicast}]", "/t", "", 201, "", "", false},
		{"exit request with an error status", "[{name: echo, configuration: {exit: request, status: 403}}, {name: apicast}]", "/t", "", 403, "", "", false},
		{"exit request without a status ends the phase only", "[{name: echo, configuration: {exit: request}}, {name: apicast}]", "/t", "", 200, "GET /t HTTP/1.1\n", "text/plain; charset=utf-8", false},
		{"exit request without a status, then apicast answers first", "[{name: apicast}, {name: echo, configuration: {exit: request}}]", "/t", "", 200, "upstream: GET /t", "text/plain", true},
		{"exit phase, then apicast answers first", "[{name: apicast}, {name: echo, configuration: {exit: phase}}]", "/t", "", 200, "upstream: GET /t", "text/plain", true},
		{"after apicast, echo never answers", "[{name: apicast}, {name: echo}]", "/t", "", 200, "upstream: GET /t", "text/plain", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw := gatewaytest.Start(t, "services:\n  - proxy:\n      api_backend: "+up.URL+"\n      policy_chain: "+tt.chain+"\n")
			before := len(up.Requests())
			r := gw.NewRequest("GET", tt.target, nil)
			if tt.accept != "" {
				r.Header.Set("Accept", tt.accept)
			}
			res := gw.Do(t, r)
			if res.Status != tt.status || res.Body != tt.body {
				t.Fatalf("got %d %q, want %d %q", res.Status, res.Body, tt.status, tt.body)
			}
			if ct := res.Header.Get("Content-Type"); tt.body != "" && ct != tt.contentType {
				t.Errorf("Content-Type %q, want %q", ct, tt.contentType)
			}
			if tt.contentType == "application/json" {
				var v map[string]string
				if err := json.Unmarshal([]byte(res.Body), &v); err != nil || v["request"] != "GET "+tt.target+" HTTP/1.1" {
					t.Errorf("the JSON body decodes to %v, %v", v, err)
				}
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
