package maintenancemode_test

import (
	"fmt"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/policies/internal/policytest"
	maintenancemode "github.com/verdict-policy/verdict/policies/maintenance_mode"
)

func TestMaintenance(t *testing.T) {
	tests := []struct {
		name     string
		config   string
		target   string
		upstream string // put in the context under "upstream" when set
		// maintained says whether the maintenance response is expected;
		// status, body and contentType describe it.
		maintained        bool
		status            int
		body, contentType string
	}{
		{"defaults", `{}`, "/", "", true, 503, "Service Unavailable - Maintenance\n", "text/plain; charset=utf-8"},
		{"configured response", `{"status": 200, "message": "{\"maintenance\": true}", "message_content_type": "application/json"}`, "/", "", true, 200, "{\"maintenance\": true}\n", "application/json"},
		{"condition holds", `{"condition": {"operations": [{"left": "{{ uri }}", "left_type": "liquid", "op": "==", "right": "/down"}]}}`, "/down", "", true, 503, "Service Unavailable - Maintenance\n", "text/plain; charset=utf-8"},
		{"condition fails", `{"condition": {"operations": [{"left": "{{ uri }}", "left_type": "liquid", "op": "==", "right": "/down"}]}}`, "/up", "", false, 0, "", ""},
		{"not equal", `{"condition": {"operations": [{"left": "{{ uri }}", "left_type": "liquid", "op": "!=", "right": "/health"}]}}`, "/x", "", true, 503, "Service Unavailable - Maintenance\n", "text/plain; charset=utf-8"},
		{"matches searches the left", `{"condition": {"operations": [{"left": "{{ uri }}", "left_type": "liquid", "op": "matches", "right": "^/v1/"}]}}`, "/v1/a", "", true, 503, "Service Unavailable - Maintenance\n", "text/plain; charset=utf-8"},
		{"matches fails", `{"condition": {"operations": [{"left": "{{ uri }}", "left_type": "liquid", "op": "matches", "right": "^/v1/"}]}}`, "/v2/a", "", false, 0, "", ""},
		{"liquid right side", `{"condition": {"operations": [{"left": "{{ uri }}", "left_type": "liquid", "op": "matches", "right": "^/{{ headers['X-Area'] }}", "right_type": "liquid"}]}}`, "/billing/1", "", true, 503, "Service Unavailable - Maintenance\n", "text/plain; charset=utf-8"},
		{"and needs all", `{"condition": {"combine_op": "and", "operations": [{"left": "{{ http_method }}", "left_type": "liquid", "op": "==", "right": "GET"}, {"left": "{{ uri }}", "left_type": "liquid", "op": "==", "right": "/nope"}]}}`, "/x", "", false, 0, "", ""},
		{"or needs one", `{"condition": {"combine_op": "or", "operations": [{"left": "{{ http_method }}", "left_type": "liquid", "op": "==", "right": "POST"}, {"left": "{{ uri }}", "left_type": "liquid", "op": "==", "right": "/x"}]}}`, "/x", "", true, 503, "Service Unavailable - Maintenance\n", "text/plain; charset=utf-8"},
		{"upstream host", `{"condition": {"operations": [{"left": "{{ upstream.host }}:{{ upstream.port }}{{ upstream.path }}", "left_type": "liquid", "op": "==", "right": "old.internal:8080/api"}]}}`, "/x", "http://old.internal:8080/api", true, 503, "Service Unavailable - Maintenance\n", "text/plain; charset=utf-8"},
		{"other upstream", `{"condition": {"operations": [{"left": "{{ upstream.host }}", "left_type": "liquid", "op": "==", "right": "old.internal"}]}}`, "/x", "https://new.internal", false, 0, "", ""},
		{"upstream default port", `{"condition": {"operations": [{"left": "{{ upstream.scheme }} {{ upstream.port }}", "left_type": "liquid", "op": "==", "right": "https 443"}]}}`, "/x", "https://new.internal", true, 503, "Service Unavailable - Maintenance\n", "text/plain; charset=utf-8"},
		{"an invalid template renders empty", `{"condition": {"operations": [{"left": "{% if %}", "left_type": "liquid", "op": "==", "right": ""}]}}`, "/x", "", true, 503, "Service Unavailable - Maintenance\n", "text/plain; charset=utf-8"},
		{"no upstream known", `{"condition": {"operations": [{"left": "{{ upstream.host }}", "left_type": "liquid", "op": "==", "right": "old.internal"}]}}`, "/x", "", false, 0, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := policytest.Build(t, policytest.Entry(maintenancemode.Name, tt.config))
			r := httptest.NewRequest("GET", "http://api.example.com"+tt.target, nil)
			r.Header.Set("X-Area", "billing")
			c := chain.NewContext(r, "192.0.2.1", nil, nil)
			if tt.upstream != "" {
				u, _ := url.Parse(tt.upstream)
				c.Set(maintenancemode.UpstreamKey, u)
			}
			ch.Rewrite(c)
			ch.Access(c)
			if c.Failed() != nil {
				t.Fatalf("failed: %v", c.Failed())
			}
			if c.Exited() != tt.maintained {
				t.Fatalf("maintenance response %v, want %v", c.Exited(), tt.maintained)
			}
			if !tt.maintained {
				return
			}
			ch.HeaderFilter(c)
			if c.Response.Status != tt.status || string(c.Response.Body) != tt.body || c.Response.Header.Get("Content-Type") != tt.contentType {
				t.Errorf("got %d %q %q, want %d %q %q", c.Response.Status, c.Response.Body, c.Response.Header.Get("Content-Type"), tt.status, tt.body, tt.contentType)
			}
		})
	}
}

func TestUpstreamFromContext(t *testing.T) {
	ch := policytest.Build(t, policytest.Entry(maintenancemode.Name, `{"condition": {"operations": [{"left": "{{ upstream.host }}", "left_type": "liquid", "op": "==", "right": "a.internal"}]}}`))
	c := chain.NewContext(httptest.NewRequest("GET", "/", nil), "192.0.2.1", nil, nil)
	u, _ := url.Parse("http://a.internal")
	c.Upstream = &chain.Upstream{URL: u}
	ch.Access(c)
	if !c.Exited() {
		t.Error("Context.Upstream was not seen by the condition")
	}
}

func TestRuntimeRegexErrorFailsClosed(t *testing.T) {
	ch := policytest.Build(t, policytest.Entry(maintenancemode.Name, `{"condition": {"operations": [{"left": "x", "op": "matches", "right": "{{ headers['X-Re'] }}", "right_type": "liquid"}]}}`))
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("X-Re", "(")
	res := policytest.Run(ch, r, "192.0.2.1", nil, 0)
	if res.Proxied || res.Status != chain.DefaultFailStatus {
		t.Errorf("status %d proxied %v, want the request failed closed", res.Status, res.Proxied)
	}
}

func TestBadConfiguration(t *testing.T) {
	tests := []struct{ name, config, want string }{
		{"invalid regex", `{"condition": {"operations": [{"left": "x", "op": "matches", "right": "(["}]}}`, "condition.operations[0].right: invalid regular expression"},
		{"unknown op", `{"condition": {"operations": [{"left": "x", "op": "===", "right": "x"}]}}`, "condition.operations.0.op"},
		{"no operations", `{"condition": {"operations": []}}`, "condition.operations"},
		{"bad combine", `{"condition": {"combine_op": "xor", "operations": [{"left": "x", "op": "==", "right": "x"}]}}`, "condition.combine_op"},
		{"status too low", `{"status": 99}`, "status"},
		{"status not a number", `{"status": "503"}`, "status"},
	}
	var golden strings.Builder
	for _, tt := range tests {
		_, err := chain.Build([]chain.Entry{policytest.Entry(maintenancemode.Name, tt.config)}, chain.Env{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one naming %q", tt.name, err, tt.want)
			continue
		}
		fmt.Fprintf(&golden, "%s\n\t%s\n\t%v\n", tt.name, tt.config, err)
	}
	policytest.Golden(t, "load_errors.golden", golden.String())
}
