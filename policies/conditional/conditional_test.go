package conditional_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/policies/conditional"
	_ "github.com/verdict-policy/verdict/policies/echo"
	_ "github.com/verdict-policy/verdict/policies/headers"
	"github.com/verdict-policy/verdict/policies/internal/policytest"
	_ "github.com/verdict-policy/verdict/policies/payload_limits"
)

// exporter is a test policy with a static export, which records in the
// response what the request saw of the export.
type exporter struct{}

func (exporter) Export() map[string]any { return map[string]any{"secret": "from-nested"} }

func init() {
	chain.Register(chain.Factory{Name: "test_exporter", Version: chain.BuiltinVersion,
		New: func(json.RawMessage, chain.Env) (chain.Policy, error) { return exporter{}, nil }})
	chain.Register(chain.Factory{Name: "test_failer", Version: chain.BuiltinVersion,
		New: func(json.RawMessage, chain.Env) (chain.Policy, error) { return failer{}, nil }})
	chain.Register(chain.Factory{Name: "test_export_reader", Version: chain.BuiltinVersion,
		New: func(json.RawMessage, chain.Env) (chain.Policy, error) { return reader{}, nil }})
}

// failer is a test policy that fails in access.
type failer struct{}

func (failer) Access(*chain.Context) error { return errors.New("broken") }

// reader is a test policy that copies the export "secret" into the
// response header X-Secret, if the request has it.
type reader struct{}

func (reader) HeaderFilter(c *chain.Context) error {
	if v, ok := c.Get("secret"); ok {
		c.Response.Header.Set("X-Secret", v.(string))
	}
	return nil
}

const when = `{"operations": [{"left": "{{ headers['X-Run'] }}", "left_type": "liquid", "op": "==", "right": "yes"}]}`

func conditionalEntry(cond, nested string) chain.Entry {
	return policytest.Entry(conditional.Name, `{"condition": `+cond+`, "policy_chain": `+nested+`}`)
}

func TestConditional(t *testing.T) {
	const headers = `[{"name": "headers", "configuration": {
		"request": [{"op": "set", "header": "X-Nested", "value": "1"}, {"op": "delete", "header": "X-Run"}],
		"response": [{"op": "set", "header": "X-Nested-Response", "value": "1"}]}}]`
	tests := []struct {
		name    string
		entries []chain.Entry
		run     bool // send X-Run: yes
		check   func(t *testing.T, res policytest.Result, up *http.Request)
	}{
		{"holds: the nested policies act in every phase", []chain.Entry{conditionalEntry(when, headers)}, true,
			func(t *testing.T, res policytest.Result, up *http.Request) {
				if up == nil || up.Header.Get("X-Nested") != "1" {
					t.Errorf("the upstream did not get the nested request header")
				}
				// The nested rewrite deleted X-Run: a condition evaluated
				// again in header_filter would not hold any more.
				if res.Header.Get("X-Nested-Response") != "1" {
					t.Errorf("the nested response header is missing: the condition was evaluated again")
				}
			}},
		{"fails: the nested policies do nothing", []chain.Entry{conditionalEntry(when, headers)}, false,
			func(t *testing.T, res policytest.Result, up *http.Request) {
				if up == nil || up.Header.Get("X-Nested") != "" || res.Header.Get("X-Nested-Response") != "" {
					t.Errorf("nested effects leaked: upstream %v, response %v", up.Header, res.Header)
				}
			}},
		{"holds: a nested content producer answers", []chain.Entry{conditionalEntry(when, `[{"name": "echo", "configuration": {"status": 201}}]`)}, true,
			func(t *testing.T, res policytest.Result, up *http.Request) {
				if up != nil || res.Status != 201 || !strings.HasPrefix(string(res.Body), "GET /p") {
					t.Errorf("got %d %q, proxied %v; want echo's answer", res.Status, res.Body, up != nil)
				}
				if res.Context.Producer() != conditional.Name {
					t.Errorf("producer %q", res.Context.Producer())
				}
			}},
		{"fails: the request goes on to the upstream", []chain.Entry{conditionalEntry(when, `[{"name": "echo"}]`)}, false,
			func(t *testing.T, res policytest.Result, up *http.Request) {
				if up == nil || res.Status != 200 {
					t.Errorf("got %d, proxied %v", res.Status, up != nil)
				}
			}},
		{"holds: nested exports reach the request", []chain.Entry{conditionalEntry(when, `[{"name": "test_exporter"}]`), policytest.Entry("test_export_reader", "")}, true,
			func(t *testing.T, res policytest.Result, up *http.Request) {
				if res.Header.Get("X-Secret") != "from-nested" {
					t.Errorf("X-Secret %q", res.Header.Get("X-Secret"))
				}
			}},
		{"fails: nested exports do not leak", []chain.Entry{conditionalEntry(when, `[{"name": "test_exporter"}]`), policytest.Entry("test_export_reader", "")}, false,
			func(t *testing.T, res policytest.Result, up *http.Request) {
				if v := res.Header.Get("X-Secret"); v != "" {
					t.Errorf("the export leaked: X-Secret %q", v)
				}
			}},
		{"or: one operation is enough", []chain.Entry{conditionalEntry(`{"combine_op": "or", "operations": [{"left": "a", "op": "==", "right": "b"}, {"left": "{{ uri }}", "left_type": "liquid", "op": "matches", "right": "^/p"}]}`, headers)}, false,
			func(t *testing.T, res policytest.Result, up *http.Request) {
				if res.Header.Get("X-Nested-Response") != "1" {
					t.Errorf("the nested chain did not run")
				}
			}},
		{"a disabled nested entry is left out", []chain.Entry{conditionalEntry(when, `[{"name": "headers", "enabled": false, "configuration": {"response": [{"op": "set", "header": "X-Off", "value": "1"}]}}]`)}, true,
			func(t *testing.T, res policytest.Result, up *http.Request) {
				if res.Header.Get("X-Off") != "" {
					t.Errorf("the disabled policy ran")
				}
			}},
		{"a condition that fails to evaluate fails the request closed", []chain.Entry{conditionalEntry(`{"operations": [{"left": "a", "op": "matches", "right": "{{ headers['X-Run'] }}(", "right_type": "liquid"}]}`, headers)}, true,
			func(t *testing.T, res policytest.Result, up *http.Request) {
				if up != nil || res.Status != 503 || res.Context.Failed() == nil {
					t.Errorf("got %d, proxied %v", res.Status, up != nil)
				}
			}},
		{"nested exit ends the whole request", []chain.Entry{conditionalEntry(when, `[{"name": "echo", "configuration": {"exit": "request", "status": 202}}]`), policytest.Entry("headers", `{"request": [{"op": "set", "header": "X-After", "value": "1"}]}`)}, true,
			func(t *testing.T, res policytest.Result, up *http.Request) {
				if up != nil || res.Status != 202 {
					t.Errorf("got %d, proxied %v", res.Status, up != nil)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := policytest.Build(t, tt.entries...)
			defer ch.Close()
			r := httptest.NewRequest("GET", "http://api.example.com/p", nil)
			if tt.run {
				r.Header.Set("X-Run", "yes")
			}
			var up *http.Request
			res := policytest.Run(ch, r, "192.0.2.1", func(r *http.Request) (int, http.Header, []byte) {
				up = r
				return 200, nil, []byte("up")
			}, 0)
			tt.check(t, res, up)
		})
	}
}

func TestBodyFiltersOnlyWhenNested(t *testing.T) {
	plain := policytest.Build(t, conditionalEntry(when, `[{"name": "headers"}]`))
	if plain.HasBodyFilters() {
		t.Error("a nested chain without body filters made the chain filter bodies")
	}
	limited := policytest.Build(t, conditionalEntry(when, `[{"name": "payload_limits", "configuration": {"response": 3}}]`))
	if !limited.HasBodyFilters() {
		t.Fatal("a nested body filter is not run")
	}
	r := httptest.NewRequest("GET", "http://api.example.com/p", nil)
	r.Header.Set("X-Run", "yes")
	res := policytest.Run(limited, r, "192.0.2.1", func(*http.Request) (int, http.Header, []byte) {
		return 200, nil, []byte("more than three bytes")
	}, 2)
	if res.BodyErr == nil && res.Status != 413 {
		t.Errorf("the nested response limit did not act: %d %q", res.Status, res.Body)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct{ config, want string }{
		{`{"policy_chain": []}`, "condition"},
		{`{"condition": {"operations": []}, "policy_chain": []}`, "operations"},
		{`{"condition": ` + when + `, "policy_chain": [{"name": "nope"}]}`, `nested policy_chain[0] (nope): unknown policy`},
		{`{"condition": ` + when + `, "policy_chain": [{"name": "headers", "configuration": {"request": [{"op": "bogus"}]}}]}`, `policy_chain[0] (headers): configuration`},
		{`{"condition": {"operations": [{"left": "a", "op": "matches", "right": "("}]}}`, `condition.operations[0].right: invalid regular expression`},
	}
	var golden strings.Builder
	for _, tt := range tests {
		_, err := chain.Build([]chain.Entry{policytest.Entry(conditional.Name, tt.config)}, chain.Env{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("config %s: error %v, want one mentioning %q", tt.config, err, tt.want)
			continue
		}
		fmt.Fprintf(&golden, "%s\n\t%v\n", tt.config, err)
	}
	policytest.Golden(t, "load_errors.golden", golden.String())
}

// TestNestedFailureUsesTheChainsFailStatus fails a nested policy: the
// request fails closed with the status of the chain the conditional
// policy is in.
func TestNestedFailureUsesTheChainsFailStatus(t *testing.T) {
	ch := policytest.Build(t, conditionalEntry(when, `[{"name": "test_failer"}]`))
	ch.SetFailStatus(500)
	var failed []string
	ch.OnFailure = func(policy string, phase chain.Phase, err error) { failed = append(failed, policy+" "+phase.String()) }
	r := httptest.NewRequest("GET", "http://api.example.com/p", nil)
	r.Header.Set("X-Run", "yes")
	res := policytest.Run(ch, r, "192.0.2.1", nil, 0)
	if res.Proxied || res.Status != 500 || res.Context.Failed() == nil || !strings.Contains(res.Context.Failed().Error(), "broken") {
		t.Fatalf("got %d, proxied %v, failure %v", res.Status, res.Proxied, res.Context.Failed())
	}
	if len(failed) != 1 || failed[0] != "conditional access" {
		t.Errorf("failures counted %v", failed)
	}
}
