package routing_test

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/policies/internal/policytest"
	"github.com/verdict-policy/verdict/policies/routing"
)

// jwtStub shares fixed claims in rewrite, standing in for the jwt policy.
type jwtStub struct{ claims map[string]any }

func (s jwtStub) Rewrite(c *chain.Context) error {
	if s.claims != nil {
		c.Set("jwt", s.claims)
	}
	return nil
}

func TestRouting(t *testing.T) {
	claims := map[string]any{"sub": "alice", "tier": "gold", "level": float64(3), "org": map[string]any{"id": "o-7"}}
	tests := []struct {
		name    string
		config  string
		target  string
		headers map[string]string
		claims  map[string]any
		want    string // upstream URL, "" for no route
		host    string // Host sent upstream
		path    string // request path after the policy
	}{
		{"rule without condition", `{"rules": [{"url": "http://a.test"}]}`, "/x", nil, nil, "http://a.test", "", "/x"},
		{"path ==", `{"rules": [{"url": "http://a.test", "condition": {"operations": [{"match": "path", "op": "==", "value": "/x"}]}}]}`, "/x", nil, nil, "http://a.test", "", "/x"},
		{"path == other", `{"rules": [{"url": "http://a.test", "condition": {"operations": [{"match": "path", "op": "==", "value": "/y"}]}}]}`, "/x", nil, nil, "", "", "/x"},
		{"path matches searches", `{"rules": [{"url": "http://a.test", "condition": {"operations": [{"match": "path", "op": "matches", "value": "v1"}]}}]}`, "/api/v1/items", nil, nil, "http://a.test", "", "/api/v1/items"},
		{"path matches, APIcast's pattern", `{"rules": [{"url": "http://a.test", "condition": {"operations": [{"match": "path", "op": "matches", "value": ".*123.*"}]}}]}`, "/something_123_something", nil, nil, "http://a.test", "", "/something_123_something"},
		{"path matches anchored by ^ and $", `{"rules": [{"url": "http://a.test", "condition": {"operations": [{"match": "path", "op": "matches", "value": "^/v1$"}]}}]}`, "/v1/items", nil, nil, "", "", "/v1/items"},
		{"header matches searches", `{"rules": [{"url": "http://a.test", "condition": {"operations": [{"match": "header", "header_name": "X-Role", "op": "matches", "value": "admin"}]}}]}`, "/", map[string]string{"X-Role": "not-admin"}, nil, "http://a.test", "", "/"},
		{"query arg matches searches", `{"rules": [{"url": "http://a.test", "condition": {"operations": [{"match": "query_arg", "query_arg_name": "id", "op": "matches", "value": "123"}]}}]}`, "/?id=a123b", nil, nil, "http://a.test", "", "/"},
		{"liquid pattern matches searches", `{"rules": [{"url": "http://a.test", "condition": {"operations": [{"match": "path", "op": "matches", "value": "{{ jwt.sub }}", "value_type": "liquid"}]}}]}`, "/users/alice/x", nil, claims, "http://a.test", "", "/users/alice/x"},
		{"header ==", `{"rules": [{"url": "http://a.test", "condition": {"operations": [{"match": "header", "header_name": "x-version", "op": "==", "value": "2"}]}}]}`, "/", map[string]string{"X-Version": "2"}, nil, "http://a.test", "", "/"},
		{"header missing: == false", `{"rules": [{"url": "http://a.test", "condition": {"operations": [{"match": "header", "header_name": "X-Version", "op": "==", "value": ""}]}}]}`, "/", nil, nil, "", "", "/"},
		{"header missing: != true", `{"rules": [{"url": "http://a.test", "condition": {"operations": [{"match": "header", "header_name": "X-Version", "op": "!=", "value": "2"}]}}]}`, "/", nil, nil, "http://a.test", "", "/"},
		{"query arg ==", `{"rules": [{"url": "http://a.test", "condition": {"operations": [{"match": "query_arg", "query_arg_name": "v", "op": "==", "value": "a b"}]}}]}`, "/?x=1&v=a+b", nil, nil, "http://a.test", "", "/"},
		{"query arg escaped name", `{"rules": [{"url": "http://a.test", "condition": {"operations": [{"match": "query_arg", "query_arg_name": "v[]", "op": "==", "value": "1"}]}}]}`, "/?v%5B%5D=1", nil, nil, "http://a.test", "", "/"},
		{"query arg missing", `{"rules": [{"url": "http://a.test", "condition": {"operations": [{"match": "query_arg", "query_arg_name": "v", "op": "matches", "value": ".*"}]}}]}`, "/?w=1", nil, nil, "", "", "/"},
		{"jwt claim ==", `{"rules": [{"url": "http://a.test", "condition": {"operations": [{"match": "jwt_claim", "jwt_claim_name": "tier", "op": "==", "value": "gold"}]}}]}`, "/", nil, claims, "http://a.test", "", "/"},
		{"jwt claim number", `{"rules": [{"url": "http://a.test", "condition": {"operations": [{"match": "jwt_claim", "jwt_claim_name": "level", "op": "==", "value": "3"}]}}]}`, "/", nil, claims, "http://a.test", "", "/"},
		{"jwt nested claim", `{"rules": [{"url": "http://a.test", "condition": {"operations": [{"match": "jwt_claim", "jwt_claim_name": "org.id", "op": "matches", "value": "o-[0-9]+"}]}}]}`, "/", nil, claims, "http://a.test", "", "/"},
		{"jwt claim matches searches", `{"rules": [{"url": "http://a.test", "condition": {"operations": [{"match": "jwt_claim", "jwt_claim_name": "tier", "op": "matches", "value": "ol"}]}}]}`, "/", nil, claims, "http://a.test", "", "/"},
		{"jwt claim without a token", `{"rules": [{"url": "http://a.test", "condition": {"operations": [{"match": "jwt_claim", "jwt_claim_name": "tier", "op": "==", "value": "gold"}]}}]}`, "/", nil, nil, "", "", "/"},
		{"liquid ==", `{"rules": [{"url": "http://a.test", "condition": {"operations": [{"match": "liquid", "liquid_value": "{{ http_method }}:{{ headers['X-Env'] }}", "op": "==", "value": "GET:prod"}]}}]}`, "/", map[string]string{"X-Env": "prod"}, nil, "http://a.test", "", "/"},
		{"liquid value", `{"rules": [{"url": "http://a.test", "condition": {"operations": [{"match": "header", "header_name": "X-User", "op": "==", "value": "{{ jwt.sub }}", "value_type": "liquid"}]}}]}`, "/", map[string]string{"X-User": "alice"}, claims, "http://a.test", "", "/"},
		{"liquid matches pattern", `{"rules": [{"url": "http://a.test", "condition": {"operations": [{"match": "path", "op": "matches", "value": "/{{ jwt.sub }}/.*", "value_type": "liquid"}]}}]}`, "/alice/x", nil, claims, "http://a.test", "", "/alice/x"},
		{"and: one false", `{"rules": [{"url": "http://a.test", "condition": {"operations": [{"match": "path", "op": "==", "value": "/x"}, {"match": "header", "header_name": "X-A", "op": "==", "value": "1"}]}}]}`, "/x", nil, nil, "", "", "/x"},
		{"or: one true", `{"rules": [{"url": "http://a.test", "condition": {"combine_op": "or", "operations": [{"match": "path", "op": "==", "value": "/nope"}, {"match": "path", "op": "==", "value": "/x"}]}}]}`, "/x", nil, nil, "http://a.test", "", "/x"},
		{"or: none true", `{"rules": [{"url": "http://a.test", "condition": {"combine_op": "or", "operations": [{"match": "path", "op": "==", "value": "/nope"}, {"match": "path", "op": "!=", "value": "/x"}]}}]}`, "/x", nil, nil, "", "", "/x"},
		{"first matching rule wins", `{"rules": [{"url": "http://a.test", "condition": {"operations": [{"match": "path", "op": "==", "value": "/no"}]}}, {"url": "http://b.test/base"}, {"url": "http://c.test"}]}`, "/x", nil, nil, "http://b.test/base", "", "/x"},
		{"host_header", `{"rules": [{"url": "http://a.test", "host_header": "api.internal"}]}`, "/x", nil, nil, "http://a.test", "api.internal", "/x"},
		{"replace_path", `{"rules": [{"url": "http://a.test/v2", "replace_path": "{{ uri | remove_first: '/api' }}"}]}`, "/api/items?q=1", nil, nil, "http://a.test/v2", "", "/items"},
		{"invalid replace_path renders empty", `{"rules": [{"url": "http://a.test/v2", "replace_path": "{% if uri %}x"}]}`, "/api/items", nil, nil, "http://a.test/v2", "", "/"},
		{"invalid liquid_value renders empty", `{"rules": [{"url": "http://a.test", "condition": {"operations": [{"match": "liquid", "liquid_value": "{{ uri }", "op": "==", "value": ""}]}}]}`, "/x", nil, nil, "http://a.test", "", "/x"},
		{"replace_path adds the slash", `{"rules": [{"url": "http://a.test", "replace_path": "items/{{ jwt.sub }}"}]}`, "/x", nil, claims, "http://a.test", "", "/items/alice"},
		{"owner fields accepted", `{"rules": [{"url": "http://a.test", "owner_id": 4, "owner_type": "BackendApi"}]}`, "/x", nil, nil, "http://a.test", "", "/x"},
		{"no rules", `{}`, "/x", nil, nil, "", "", "/x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := chain.Build([]chain.Entry{policytest.Entry(routing.Name, tt.config)}, chain.Env{}); err != nil {
				t.Fatalf("the manifest refuses the configuration: %v", err)
			}
			c := run(t, tt.config, tt.target, tt.headers, tt.claims)
			got := ""
			if c.Proxying() {
				got = c.Upstream.URL.String()
			}
			if got != tt.want {
				t.Fatalf("upstream %q, want %q", got, tt.want)
			}
			if tt.want != "" && c.Upstream.Host != tt.host {
				t.Errorf("Host %q, want %q", c.Upstream.Host, tt.host)
			}
			if c.Request.URL.Path != tt.path {
				t.Errorf("path %q, want %q", c.Request.URL.Path, tt.path)
			}
			if strings.Contains(tt.target, "?") && c.Request.URL.RawQuery == "" {
				t.Error("the query was lost")
			}
		})
	}
}

// run builds [stub jwt, routing] and runs rewrite, access and content.
func run(t *testing.T, config, target string, headers map[string]string, claims map[string]any) *chain.Context {
	t.Helper()
	p, err := routing.New([]byte(config), "")
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "http://api.test"+target, nil)
	for k, v := range headers {
		r.Header.Set(k, v)
	}
	c := chain.NewContext(r, "192.0.2.1", nil, nil)
	_ = jwtStub{claims}.Rewrite(c)
	if err := p.Access(c); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Content(c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestFallThrough(t *testing.T) {
	ch := policytest.Build(t, policytest.Entry(routing.Name, `{"rules": [{"url": "http://a.test", "condition": {"operations": [{"match": "path", "op": "==", "value": "/a"}]}}]}`))
	res := policytest.Run(ch, httptest.NewRequest("GET", "http://api.test/b", nil), "192.0.2.1", nil, 0)
	if !res.Proxied || res.Context.Producer() != "" {
		t.Fatalf("no rule held, yet the policy produced the content (producer %q)", res.Context.Producer())
	}
	res = policytest.Run(ch, httptest.NewRequest("GET", "http://api.test/a", nil), "192.0.2.1", nil, 0)
	if !res.Proxied || res.Context.Producer() == "" || res.Context.Upstream.URL.Host != "a.test" {
		t.Fatalf("the rule held, yet the policy did not proxy (producer %q)", res.Context.Producer())
	}
	if u, _ := res.Context.Get(routing.UpstreamKey); u != res.Context.Upstream {
		t.Fatalf("route_upstream %v", u)
	}
}

func TestHostnameRewrite(t *testing.T) {
	p, err := routing.New([]byte(`{"rules": [{"url": "http://a.test"}, {"url": "http://b.test", "host_header": "b.internal"}]}`), "svc.internal")
	if err != nil {
		t.Fatal(err)
	}
	c := chain.NewContext(httptest.NewRequest("GET", "http://api.test/", nil), "", nil, nil)
	_ = p.Access(c)
	_, _ = p.Content(c)
	if c.Upstream.Host != "svc.internal" {
		t.Fatalf("Host %q, want the service's hostname_rewrite", c.Upstream.Host)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct{ name, config, want string }{
		{"no url", `{"rules": [{}]}`, "url"},
		{"ftp url", `{"rules": [{"url": "ftp://a.test"}]}`, "url"},
		{"bad match", `{"rules": [{"url": "http://a.test", "condition": {"operations": [{"match": "cookie", "op": "==", "value": "x"}]}}]}`, "match"},
		{"header without name", `{"rules": [{"url": "http://a.test", "condition": {"operations": [{"match": "header", "op": "==", "value": "x"}]}}]}`, "header_name"},
		{"query arg without name", `{"rules": [{"url": "http://a.test", "condition": {"operations": [{"match": "query_arg", "op": "==", "value": "x"}]}}]}`, "query_arg_name"},
		{"claim without name", `{"rules": [{"url": "http://a.test", "condition": {"operations": [{"match": "jwt_claim", "op": "==", "value": "x"}]}}]}`, "jwt_claim_name"},
		{"liquid without template", `{"rules": [{"url": "http://a.test", "condition": {"operations": [{"match": "liquid", "op": "==", "value": "x"}]}}]}`, "liquid_value"},
		{"bad op", `{"rules": [{"url": "http://a.test", "condition": {"operations": [{"match": "path", "op": "~=", "value": "x"}]}}]}`, "op"},
		{"bad regex", `{"rules": [{"url": "http://a.test", "condition": {"operations": [{"match": "path", "op": "matches", "value": "(("}]}}]}`, "operations[0].value"},
		{"bad combine_op", `{"rules": [{"url": "http://a.test", "condition": {"combine_op": "xor", "operations": []}}]}`, "combine_op"},
		{"bad host_header", `{"rules": [{"url": "http://a.test", "host_header": "a b"}]}`, "host_header"},
	}
	var golden strings.Builder
	for _, tt := range tests {
		_, err := chain.Build([]chain.Entry{policytest.Entry(routing.Name, tt.config)}, chain.Env{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one naming %q", tt.name, err, tt.want)
			continue
		}
		fmt.Fprintf(&golden, "%s\n\t%s\n\t%v\n", tt.name, tt.config, err)
	}
	policytest.Golden(t, "load_errors.golden", golden.String())
}
