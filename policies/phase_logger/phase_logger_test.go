package phaselogger_test

import (
	"strings"
	"testing"

	"github.com/verdict-policy/verdict/gateway/gatewaytest"
	_ "github.com/verdict-policy/verdict/policies/phase_logger"
)

func phases(lines []string, level string) []string {
	var out []string
	for _, l := range lines {
		if i := strings.Index(l, "msg=\"running phase: "); i >= 0 && strings.Contains(l, "level="+level) {
			rest := l[i+len("msg=\"running phase: "):]
			out = append(out, rest[:strings.IndexByte(rest, '"')])
		}
	}
	return out
}

func TestPhaseOrder(t *testing.T) {
	up := gatewaytest.StartUpstream(t, nil)
	tests := []struct {
		name, chain, level, want string
	}{
		{"proxied request", "[{name: phase_logger}, {name: apicast}]", "INFO",
			"init init_worker rewrite access content balancer header_filter body_filter body_filter post_action log"},
		{"local answer has no balancer", "[{name: phase_logger, configuration: {log_level: warn}}, {name: echo}]", "WARN",
			"init init_worker rewrite access content header_filter body_filter post_action log"},
		{"exit in rewrite", "[{name: echo, configuration: {exit: request, status: 200}}, {name: phase_logger, configuration: {log_level: debug}}]", "DEBUG",
			"init init_worker header_filter body_filter post_action log"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw := gatewaytest.Start(t, "services:\n  - proxy:\n      api_backend: "+up.URL+"\n      policy_chain: "+tt.chain+"\n")
			res := gw.Do(t, gw.NewRequest("GET", "/p", nil))
			if res.Status != 200 {
				t.Fatalf("status %d", res.Status)
			}
			if got := strings.Join(phases(gw.Logs(), tt.level), " "); got != tt.want {
				t.Errorf("phases\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestBadLevel(t *testing.T) {
	gw := gatewaytest.Start(t, "")
	if err := gw.Reload("policy_chain: [{name: phase_logger, configuration: {log_level: loud}}]\n"); err == nil ||
		!strings.Contains(err.Error(), "log_level") {
		t.Errorf("error %v", err)
	}
}

func TestMetricsPhaseOnScrape(t *testing.T) {
	gw := gatewaytest.Start(t, "policy_chain: [{name: phase_logger}]\n")
	before := len(phases(gw.Logs(), "INFO"))
	if _, err := gw.Registry.Gather(); err != nil {
		t.Fatal(err)
	}
	got := phases(gw.Logs(), "INFO")[before:]
	if strings.Join(got, " ") != "metrics" {
		t.Errorf("a scrape ran %v, want the metrics phase", got)
	}
}
