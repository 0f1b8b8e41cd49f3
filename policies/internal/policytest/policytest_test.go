package policytest_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/policies/internal/policytest"
)

// phaseRecorder notes every phase it is run in, in the context.
type phaseRecorder struct{}

func note(c *chain.Context, phase string) {
	got, _ := c.Get("phases")
	s, _ := got.(string)
	c.Set("phases", strings.TrimPrefix(s+" "+phase, " "))
}

func (phaseRecorder) Rewrite(c *chain.Context) error      { note(c, "rewrite"); return nil }
func (phaseRecorder) Access(c *chain.Context) error       { note(c, "access"); return nil }
func (phaseRecorder) Balance(c *chain.Context) error      { note(c, "balancer"); return nil }
func (phaseRecorder) HeaderFilter(c *chain.Context) error { note(c, "header_filter"); return nil }
func (phaseRecorder) PostAction(c *chain.Context) error   { note(c, "post_action"); return nil }
func (phaseRecorder) Log(c *chain.Context) error          { note(c, "log"); return nil }

func init() {
	chain.Register(chain.Factory{Name: "test_phase_recorder", Version: "builtin",
		New: func(json.RawMessage, chain.Env) (chain.Policy, error) { return phaseRecorder{}, nil }})
}

// The harness runs the phases in the gateway's order, balancer included.
func TestRunFollowsTheGatewaysPhases(t *testing.T) {
	ch := policytest.Build(t, chain.Entry{Name: "test_phase_recorder", Version: "builtin"})
	up := func(*http.Request) (int, http.Header, []byte) { return 200, http.Header{}, []byte("up") }
	res := policytest.Run(ch, httptest.NewRequest("GET", "/", nil), "192.0.2.1", up, 0)
	got, _ := res.Context.Get("phases")
	want := "rewrite access balancer header_filter post_action log"
	if got != want || !res.Proxied || string(res.Body) != "up" {
		t.Errorf("phases %q, proxied %v, body %q; want %q through the upstream", got, res.Proxied, res.Body, want)
	}
}
