package liquidcontextdebug_test

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/policies/internal/policytest"
	liquidcontextdebug "github.com/verdict-policy/verdict/policies/liquid_context_debug"
)

// sharer stands in for policies that share values: claims, an upstream, a
// value without a JSON form and a number.
type sharer struct{}

func (sharer) Rewrite(c *chain.Context) error {
	c.Set("jwt", map[string]any{"sub": "alice", "roles": []any{"a", "b"}})
	c.Set("route_upstream", &chain.Upstream{URL: &url.URL{Scheme: "http", Host: "backend:8080", Path: "/v2"}})
	c.Set("callback", func() {})
	c.Set("usage", map[string]any{"hits": 2})
	return nil
}

func init() {
	chain.Register(chain.Factory{Name: "test_sharer", Version: chain.BuiltinVersion,
		New: func(json.RawMessage, chain.Env) (chain.Policy, error) { return sharer{}, nil }})
}

// TestDump prints the context of a request through a chain of policies
// that share values; the answer is compared with a golden file.
func TestDump(t *testing.T) {
	ch := policytest.Build(t, policytest.Entry("test_sharer", ""), policytest.Entry(liquidcontextdebug.Name, `{}`))
	r := httptest.NewRequest("POST", "http://API.example.com:8080/items/1?page=2", nil)
	r.RemoteAddr = "192.0.2.1:40000"
	r.Header.Set("X-Request-Id", "req-1")
	r.Header.Add("Accept", "application/json")
	r.Header.Add("X-Multi", "a")
	r.Header.Add("X-Multi", "b")
	res := policytest.Run(ch, r, "192.0.2.1", nil, 0)
	if res.Proxied || res.Status != 200 || res.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("got %d %v (proxied %v)", res.Status, res.Header, res.Proxied)
	}
	var doc map[string]any
	if err := json.Unmarshal(res.Body, &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, res.Body)
	}
	policytest.Golden(t, "dump.golden", string(res.Body))
}

// TestEmptyConfiguration: the policy takes no setting.
func TestEmptyConfiguration(t *testing.T) {
	var golden strings.Builder
	for _, cfg := range []string{`{"verbose": true}`, `[]`} {
		_, err := chain.Build([]chain.Entry{policytest.Entry(liquidcontextdebug.Name, cfg)}, chain.Env{})
		if err == nil {
			t.Fatalf("%s accepted", cfg)
		}
		fmt.Fprintf(&golden, "%s\n\t%v\n", cfg, err)
	}
	policytest.Golden(t, "load_errors.golden", golden.String())
}
