package gateway_test

import (
	"strings"
	"testing"

	"github.com/verdict-policy/verdict/gateway/gatewaytest"
)

// lenientFile is an APIcast file whose chain holds an unknown policy and
// a configuration its manifest rejects, around two good policies.
const lenientFile = `{"services": [{"id": 1, "proxy": {"policy_chain": [
  {"name": "ghost", "version": "builtin"},
  {"name": "headers", "configuration": {"response": [{"op": "set", "header": "X-Ran", "value": "headers"}]}},
  {"name": "echo", "configuration": {"status": 1}},
  {"name": "echo", "configuration": {"status": 203}}
]}}]STRICT}`

func TestAPIcastFileDropsPoliciesItCannotBuild(t *testing.T) {
	gw := gatewaytest.Start(t, strings.Replace(lenientFile, "STRICT", "", 1))
	res := gw.Do(t, gw.NewRequest("GET", "/x", nil))
	if res.Status != 203 || res.Header.Get("X-Ran") != "headers" || res.Body != "GET /x HTTP/1.1\n" {
		t.Fatalf("got %d %q X-Ran=%q; want the rest of the chain to run", res.Status, res.Body, res.Header.Get("X-Ran"))
	}
	if got := strings.Join(gw.Gateway.Describe().Services[0].Chain, " "); got != "headers echo" {
		t.Errorf("chain %q, want headers echo", got)
	}
	want := []string{
		`verdict.yaml:2:3: services[0].proxy.policy_chain[0]: policy ghost: unknown policy "ghost" version "builtin"; it is left out of the chain, as APIcast does`,
		`verdict.yaml:4:3: services[0].proxy.policy_chain[2]: policy echo: configuration: status:`,
	}
	warnings := gw.Gateway.Warnings()
	if len(warnings) != len(want) {
		t.Fatalf("warnings %v, want %d", warnings, len(want))
	}
	for i, w := range want {
		if !strings.Contains(warnings[i].Error(), w) {
			t.Errorf("warning %q lacks %q", warnings[i], w)
		}
	}
	logged := strings.Join(gw.Logs(), "\n")
	if !strings.Contains(logged, "level=WARN") || !strings.Contains(logged, `policy ghost: unknown policy`) {
		t.Errorf("the drops were not logged as warnings:\n%s", logged)
	}
}

func TestAPIcastFileStrict(t *testing.T) {
	gw := gatewaytest.Start(t, `{"services": [{"id": 1, "proxy": {"policy_chain": [{"name": "echo"}]}}]}`)
	err := gw.Reload(strings.Replace(lenientFile, "STRICT", `, "strict": true`, 1))
	if err == nil {
		t.Fatal("a strict file with an unknown policy loaded")
	}
	for _, w := range []string{`policy_chain[0]: policy ghost: unknown policy`, `policy_chain[2]: policy echo: configuration: status`} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
	if res := gw.Do(t, gw.NewRequest("GET", "/", nil)); res.Status != 200 {
		t.Errorf("the running configuration answers %d after a refused reload", res.Status)
	}
}
