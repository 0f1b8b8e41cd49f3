package gateway_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/verdict-policy/verdict/gateway/gatewaytest"
)

// st writes a test_step chain entry.
func st(name, extra string) string {
	if extra != "" {
		extra = ", " + extra
	}
	return fmt.Sprintf(`{name: test_step, configuration: {name: %s%s}}`, name, extra)
}

func TestChainSemantics(t *testing.T) {
	up := gatewaytest.StartUpstream(t, nil)
	tests := []struct {
		name     string
		global   string // the global chain, "" for none
		chain    string // the service chain
		status   int
		body     string
		steps    string
		upstream bool // whether the upstream is reached
		header   string
	}{
		{
			name:  "phase-major order, apicast proxies",
			chain: `[` + st("a", "") + `, ` + st("b", "") + `, {name: apicast}]`,
			steps: "a.rewrite b.rewrite a.access b.access a.content b.content a.balancer b.balancer " +
				"a.header_filter b.header_filter a.body_filter b.body_filter a.post_action b.post_action a.log b.log",
			status: 200, body: "upstream: GET /x", upstream: true,
		},
		{
			name:   "first content producer wins: echo before apicast",
			chain:  `[` + st("a", "") + `, {name: echo}, {name: apicast}]`,
			steps:  "a.rewrite a.access a.content a.header_filter a.body_filter a.post_action a.log",
			status: 200, body: "GET /x HTTP/1.1\n",
		},
		{
			name:   "first content producer wins: apicast before echo",
			chain:  `[{name: apicast}, {name: echo}]`,
			status: 200, body: "upstream: GET /x", upstream: true,
		},
		{
			name:   "no content producer: 200 and an empty body",
			chain:  `[` + st("a", "") + `]`,
			steps:  "a.rewrite a.access a.content a.header_filter a.body_filter a.post_action a.log",
			status: 200, body: "",
		},
		{
			name:   "exit in rewrite skips later rewrite, access and content; filters and log run",
			chain:  `[` + st("a", "exit_in: rewrite, status: 401") + `, ` + st("b", "") + `, {name: apicast}]`,
			steps:  "a.rewrite a.header_filter b.header_filter a.body_filter b.body_filter a.post_action b.post_action a.log b.log",
			status: 401, body: "a ended the request\n",
		},
		{
			name:   "exit in access lets every rewrite run first",
			chain:  `[` + st("a", "exit_in: access, status: 403") + `, ` + st("b", "") + `, {name: apicast}]`,
			steps:  "a.rewrite b.rewrite a.access a.header_filter b.header_filter a.body_filter b.body_filter a.post_action b.post_action a.log b.log",
			status: 403, body: "a ended the request\n",
		},
		{
			name:   "exit phase ends only the rewrite phase",
			chain:  `[` + st("a", "exit_phase_in: rewrite") + `, ` + st("b", "") + `, {name: apicast}]`,
			steps:  "a.rewrite a.access b.access a.content b.content a.balancer b.balancer a.header_filter b.header_filter a.body_filter b.body_filter a.post_action b.post_action a.log b.log",
			status: 200, body: "upstream: GET /x", upstream: true,
		},
		{
			// echo ends the rewrite phase (b's rewrite is skipped), then
			// answers first in content.
			name:   "echo exit phase",
			chain:  `[{name: echo, configuration: {exit: phase}}, ` + st("b", "") + `, {name: apicast}]`,
			steps:  "b.access b.header_filter b.body_filter b.post_action b.log",
			status: 200, body: "GET /x HTTP/1.1\n",
		},
		{
			name:   "echo exit request",
			chain:  `[{name: echo, configuration: {exit: request, status: 202}}, ` + st("b", "") + `, {name: apicast}]`,
			steps:  "b.header_filter b.body_filter b.post_action b.log",
			status: 202, body: "",
		},
		{
			name:   "a panic fails closed with 503",
			chain:  `[` + st("a", "panic_in: access") + `, ` + st("b", "") + `, {name: apicast}]`,
			steps:  "a.rewrite b.rewrite a.access a.header_filter b.header_filter a.body_filter b.body_filter a.post_action b.post_action a.log b.log",
			status: 503, body: "",
		},
		{
			name:   "an error fails closed with the service's fail status",
			chain:  `[` + st("a", "error_in: rewrite") + `, {name: apicast}]` + "\n      fail_status: 500",
			steps:  "a.rewrite a.header_filter a.body_filter a.post_action a.log",
			status: 500, body: "",
		},
		{
			name:   "header_filter runs on a local response",
			chain:  `[` + st("a", "mark: true") + `, {name: echo}]`,
			status: 200, body: "GET /x HTTP/1.1\n", header: "a",
		},
		{
			name:   "body_filter sees a local body",
			chain:  `[` + st("a", "upper: true") + `, {name: echo}]`,
			status: 200, body: "GET /X HTTP/1.1\n",
		},
		{
			name:   "body_filter sees a proxied body",
			chain:  `[` + st("a", "upper: true") + `, {name: apicast}]`,
			status: 200, body: "UPSTREAM: GET /X", upstream: true,
		},
		{
			name:   "global chain wraps the service chain at service_chain",
			global: `[` + st("g1", "") + `, {name: service_chain}, ` + st("g2", "") + `]`,
			chain:  `[` + st("s", "") + `, {name: echo}]`,
			steps: "g1.rewrite s.rewrite g2.rewrite g1.access s.access g2.access g1.content s.content " +
				"g1.header_filter s.header_filter g2.header_filter g1.body_filter s.body_filter g2.body_filter " +
				"g1.post_action s.post_action g2.post_action g1.log s.log g2.log",
			status: 200, body: "GET /x HTTP/1.1\n",
		},
		{
			name:   "global chain without marker runs first",
			global: `[` + st("g", "mark: true") + `]`,
			chain:  `[` + st("s", "mark: true") + `, {name: echo}]`,
			steps:  "g.rewrite s.rewrite g.access s.access g.content s.content g.header_filter s.header_filter g.body_filter s.body_filter g.post_action s.post_action g.log s.log",
			status: 200, body: "GET /x HTTP/1.1\n", header: "g,s",
		},
		{
			name:   "a global exit stops the service chain too",
			global: `[` + st("g", "exit_in: rewrite, status: 429") + `]`,
			chain:  `[` + st("s", "") + `, {name: apicast}]`,
			steps:  "g.rewrite g.header_filter s.header_filter g.body_filter s.body_filter g.post_action s.post_action g.log s.log",
			status: 429, body: "g ended the request\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ""
			if tt.global != "" {
				cfg = "policy_chain: " + tt.global + "\n"
			}
			cfg += "services:\n  - id: 1\n    proxy:\n      api_backend: " + up.URL + "\n      policy_chain: " + tt.chain + "\n"
			gw := gatewaytest.Start(t, cfg)
			before := len(up.Requests())
			resetSteps()
			res := gw.Do(t, gw.NewRequest("GET", "/x", nil))
			if res.Status != tt.status || res.Body != tt.body {
				t.Errorf("got %d %q, want %d %q", res.Status, res.Body, tt.status, tt.body)
			}
			if tt.steps != "" {
				if got := takeSteps(); got != tt.steps {
					t.Errorf("steps\n got %s\nwant %s", got, tt.steps)
				}
			}
			if reached := len(up.Requests()) > before; reached != tt.upstream {
				t.Errorf("upstream reached %v, want %v", reached, tt.upstream)
			}
			if got := strings.Join(res.Header.Values("X-Seen-By"), ","); got != tt.header {
				t.Errorf("X-Seen-By %q, want %q", got, tt.header)
			}
		})
	}
}

func TestFailureIsLoggedAndCounted(t *testing.T) {
	gw := gatewaytest.Start(t, `
services:
  - id: svc7
    proxy:
      policy_chain: [`+st("a", "panic_in: access")+`, {name: echo}]
`)
	res := gw.Do(t, gw.NewRequest("GET", "/", nil))
	if res.Status != 503 {
		t.Fatalf("status %d", res.Status)
	}
	found := false
	for _, l := range gw.Logs() {
		if strings.Contains(l, "level=ERROR") && strings.Contains(l, "service=svc7") &&
			strings.Contains(l, "policy=test_step") && strings.Contains(l, "phase=access") {
			found = true
		}
	}
	if !found {
		t.Errorf("no error line naming service, policy and phase in\n%s", strings.Join(gw.Logs(), "\n"))
	}
	mfs, err := gw.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var count float64
	for _, mf := range mfs {
		if mf.GetName() == "verdict_gateway_policy_errors_total" {
			for _, m := range mf.GetMetric() {
				count += m.GetCounter().GetValue()
			}
		}
	}
	if count != 1 {
		t.Errorf("policy errors counted %v, want 1", count)
	}
}

func TestGlobalChainRunsForUnknownHosts(t *testing.T) {
	gw := gatewaytest.Start(t, "policy_chain: ["+st("g", "mark: true")+"]\nservices:\n  - proxy: {hosts: [known.test], policy_chain: [{name: echo}]}\n")
	resetSteps()
	r := gw.NewRequest("GET", "/", nil)
	r.Host = "unknown.test"
	res := gw.Do(t, r)
	if res.Status != 404 || res.Header.Get("X-Seen-By") != "g" {
		t.Fatalf("got %d %v", res.Status, res.Header)
	}
	if got, want := takeSteps(), "g.header_filter g.body_filter g.post_action g.log"; got != want {
		t.Errorf("steps %q, want %q", got, want)
	}
}

func TestPhaseTimesAreMeasured(t *testing.T) {
	gw := gatewaytest.Start(t, "services:\n  - id: m\n    proxy:\n      policy_chain: ["+st("a", "")+", {name: echo}]\n")
	gw.Do(t, gw.NewRequest("GET", "/", nil))
	mfs, err := gw.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]uint64{}
	for _, mf := range mfs {
		if mf.GetName() != "verdict_gateway_phase_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "phase" {
					got[l.GetValue()] = m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	for _, p := range []string{"rewrite", "access", "content", "header_filter", "body_filter", "post_action", "log"} {
		if got[p] != 1 {
			t.Errorf("%s observed %d times, want 1", p, got[p])
		}
	}
	if got["balancer"] != 0 {
		t.Errorf("balancer observed %d times without a proxied request", got["balancer"])
	}
}
