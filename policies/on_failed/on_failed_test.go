package onfailed_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/gateway/gatewaytest"
	_ "github.com/verdict-policy/verdict/policies/headers"
	_ "github.com/verdict-policy/verdict/policies/on_failed"
)

// failing fails in access, as a policy with a bug would.
type failing struct{}

func (failing) Access(*chain.Context) error { return errors.New("broken in access") }

func init() {
	chain.Register(chain.Factory{Name: "test_fail_access", Version: chain.BuiltinVersion,
		New: func(json.RawMessage, chain.Env) (chain.Policy, error) { return failing{}, nil }})
}

// apicastFile is an APIcast file with one service whose chain is chainJSON.
func apicastFile(upstream, chainJSON string) string {
	return `{"services": [{"id": 42, "proxy": {"api_backend": "` + upstream + `", "policy_chain": ` + chainJSON + `}}]}`
}

func TestOnFailed(t *testing.T) {
	up := gatewaytest.StartUpstream(t, nil)
	const (
		invalid  = `{"name": "echo", "configuration": {"status": 1}}`
		unknown  = `{"name": "example_policy", "version": "1.0.0", "configuration": {}}`
		failsNow = `{"name": "test_fail_access"}`
		echo     = `{"name": "echo"}`
		apicast  = `{"name": "apicast"}`
	)
	tests := []struct {
		name    string
		config  string
		status  int
		body    string
		reached bool
		dropped string // the policy counted as failing in rewrite, if any
	}{
		{name: "a policy with an invalid configuration: 503",
			config: apicastFile(up.URL, `[`+invalid+`, {"name": "on_failed", "configuration": {}}, `+echo+`]`),
			status: 503, dropped: "echo"},
		{name: "an unknown policy: 503, whatever the order",
			config: apicastFile(up.URL, `[{"name": "apicast.policy.on_failed"}, `+apicast+`, `+unknown+`]`),
			status: 503, dropped: "example_policy"},
		{name: "the configured status",
			config: apicastFile(up.URL, `[`+unknown+`, {"name": "on_failed", "configuration": {"error_status_code": 401}}, `+echo+`]`),
			status: 401, dropped: "example_policy"},
		{name: "a status above 599, as APIcast allows",
			config: apicastFile(up.URL, `[`+unknown+`, {"name": "on_failed", "configuration": {"error_status_code": 699}}, `+apicast+`]`),
			status: 699, dropped: "example_policy"},
		{name: "a policy failing in access: 503",
			config: apicastFile(up.URL, `[`+failsNow+`, {"name": "on_failed"}, `+echo+`]`),
			status: 503},
		{name: "a policy failing in access: the configured status",
			config: apicastFile(up.URL, `[`+failsNow+`, {"name": "on_failed", "configuration": {"error_status_code": 401}}, `+echo+`]`),
			status: 401},
		{name: "in Verdict's format it sets the status of failures",
			config: "services:\n  - proxy:\n      fail_status: 500\n      policy_chain: [{name: test_fail_access}, {name: on_failed, configuration: {error_status_code: 502}}, {name: echo}]\n",
			status: 502},
		{name: "nothing dropped, nothing failing: the chain runs",
			config: apicastFile(up.URL, `[{"name": "on_failed"}, `+apicast+`]`),
			status: 200, body: "upstream: GET /test", reached: true},
		{name: "a drop without on_failed: the rest of the chain runs",
			config: apicastFile(up.URL, `[`+unknown+`, `+echo+`]`),
			status: 200, body: "GET /test HTTP/1.1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw := gatewaytest.Start(t, tt.config)
			before := len(up.Requests())
			res := gw.Do(t, gw.NewRequest("GET", "/test", nil))
			if res.Status != tt.status || res.Body != tt.body {
				t.Fatalf("got %d %q, want %d %q", res.Status, res.Body, tt.status, tt.body)
			}
			if reached := len(up.Requests()) > before; reached != tt.reached {
				t.Errorf("upstream reached %v, want %v", reached, tt.reached)
			}
			if tt.dropped == "" {
				return
			}
			count, err := testutil.GatherAndCount(gw.Registry, "verdict_gateway_policy_errors_total")
			if err != nil || count != 1 {
				t.Errorf("%d policy error series (%v), want one", count, err)
			}
			want := `verdict_gateway_policy_errors_total{phase="rewrite",policy="` + tt.dropped + `",service="42"} 1`
			if err := testutil.GatherAndCompare(gw.Registry, strings.NewReader(
				"# HELP verdict_gateway_policy_errors_total "+helpOf(t, gw)+"\n# TYPE verdict_gateway_policy_errors_total counter\n"+want+"\n"),
				"verdict_gateway_policy_errors_total"); err != nil {
				t.Errorf("metric: %v", err)
			}
			if logs := strings.Join(gw.Logs(), "\n"); !strings.Contains(logs, "refusing the request: a policy of the chain could not be built") ||
				!strings.Contains(logs, "policy="+tt.dropped) {
				t.Errorf("no log line names the dropped policy:\n%s", logs)
			}
		})
	}
}

// helpOf returns the help text of the policy errors counter.
func helpOf(t *testing.T, gw *gatewaytest.Gateway) string {
	t.Helper()
	families, err := gw.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "verdict_gateway_policy_errors_total" {
			return f.GetHelp()
		}
	}
	t.Fatal("no verdict_gateway_policy_errors_total")
	return ""
}

func TestOnFailedRefusesBadConfigurations(t *testing.T) {
	for _, cfg := range []string{"{error_status_code: 99}", "{error_status_code: 700}", "{error_status_code: '503'}", "{status: 503}"} {
		gw := gatewaytest.Start(t, "")
		if err := gw.Reload("services:\n  - proxy: {policy_chain: [{name: on_failed, configuration: " + cfg + "}]}\n"); err == nil {
			t.Errorf("accepted %s", cfg)
		}
	}
}
