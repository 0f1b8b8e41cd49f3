package keycloakrolecheck_test

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/policies/internal/policytest"
	keycloakrolecheck "github.com/verdict-policy/verdict/policies/keycloak_role_check"
)

// keycloakClaims are the claims of a Keycloak access token for a user
// with realm roles role1 and role2 and client roles of client1 and of the
// token's audience.
var keycloakClaims = map[string]any{
	"sub":             "someone",
	"aud":             "app",
	"realm_access":    map[string]any{"roles": []any{"role1", "role2"}},
	"resource_access": map[string]any{"client1": map[string]any{"roles": []any{"role1"}}, "app": map[string]any{"roles": []any{"role_app", "reader"}}},
	"{x}":             "braces",
}

// TestRoleCheck ports APIcast's keycloak_role_check examples and tests:
// realm and client roles, Liquid names, clients and resources, methods,
// whitelist and blacklist.
func TestRoleCheck(t *testing.T) {
	tests := []struct {
		name    string
		config  string
		method  string
		path    string
		claims  map[string]any
		allowed bool
	}{
		{"realm role held", `{"scopes": [{"realm_roles": [{"name": "role1"}], "resource": "/resource1"}]}`, "GET", "/resource1", keycloakClaims, true},
		{"realm role missing", `{"scopes": [{"realm_roles": [{"name": "role3"}], "resource": "/resource1"}]}`, "GET", "/resource1", keycloakClaims, false},
		{"every realm role needed", `{"scopes": [{"realm_roles": [{"name": "role1"}, {"name": "role3"}], "resource": "/resource1"}]}`, "GET", "/resource1", keycloakClaims, false},
		{"both realm roles held", `{"scopes": [{"realm_roles": [{"name": "role1"}, {"name": "role2"}], "resource": "/resource1"}]}`, "GET", "/resource1", keycloakClaims, true},
		{"either scope grants", `{"scopes": [{"realm_roles": [{"name": "role3"}], "resource": "/resource1"}, {"realm_roles": [{"name": "role2"}], "resource": "/resource1"}]}`, "GET", "/resource1", keycloakClaims, true},
		{"whitelist refuses what no scope covers", `{"scopes": [{"realm_roles": [{"name": "role1"}], "resource": "/resource1"}]}`, "GET", "/other", keycloakClaims, false},
		{"whitelist without scopes refuses all", `{}`, "GET", "/", keycloakClaims, false},
		{"client role held", `{"scopes": [{"client_roles": [{"name": "role1", "client": "client1"}], "resource": "/resource1"}]}`, "GET", "/resource1", keycloakClaims, true},
		{"client role of another client", `{"scopes": [{"client_roles": [{"name": "reader", "client": "client1"}], "resource": "/resource1"}]}`, "GET", "/resource1", keycloakClaims, false},
		{"unknown client", `{"scopes": [{"client_roles": [{"name": "role1", "client": "client9"}], "resource": "/resource1"}]}`, "GET", "/resource1", keycloakClaims, false},
		{"realm and client roles", `{"scopes": [{"realm_roles": [{"name": "role1"}], "client_roles": [{"name": "role1", "client": "client1"}], "resource": "/resource1"}]}`, "GET", "/resource1", keycloakClaims, true},
		{"liquid client", `{"scopes": [{"client_roles": [{"name": "reader", "client": "{{ jwt.aud }}", "client_type": "liquid"}], "resource": "/resource1"}]}`, "GET", "/resource1", keycloakClaims, true},
		{"liquid name", `{"scopes": [{"client_roles": [{"name": "role_{{ jwt.aud }}", "name_type": "liquid", "client": "app"}], "resource": "/resource1"}]}`, "GET", "/resource1", keycloakClaims, true},
		{"liquid resource", `{"scopes": [{"client_roles": [{"name": "role1", "client": "client1"}], "resource": "/resource_{{ jwt.aud }}", "resource_type": "liquid"}]}`, "GET", "/resource_app", keycloakClaims, true},
		{"liquid resource of another client", `{"scopes": [{"client_roles": [{"name": "role1", "client": "client1"}], "resource": "/resource_{{ jwt.aud }}$", "resource_type": "liquid"}]}`, "GET", "/resource_other", keycloakClaims, false},
		{"liquid resource with a placeholder", `{"scopes": [{"realm_roles": [{"name": "role1"}], "resource": "/users/{{ jwt.sub }}/keys/{id}", "resource_type": "liquid"}]}`, "GET", "/users/someone/keys/7", keycloakClaims, true},
		{"braces from a claim are literal", `{"scopes": [{"realm_roles": [{"name": "role1"}], "resource": "/users/{{ jwt['{x}'] }}$", "resource_type": "liquid"}]}`, "GET", "/users/anyone", map[string]any{"{x}": "{y}", "realm_access": map[string]any{"roles": []any{"role1"}}}, false},
		{"method covered", `{"scopes": [{"realm_roles": [{"name": "role1"}], "resource": "/resource1", "methods": ["GET", "POST"]}]}`, "POST", "/resource1", keycloakClaims, true},
		{"method not covered", `{"scopes": [{"realm_roles": [{"name": "role1"}], "resource": "/resource1", "methods": ["GET", "POST"]}]}`, "DELETE", "/resource1", keycloakClaims, false},
		{"ANY method", `{"scopes": [{"realm_roles": [{"name": "role1"}], "resource": "/resource1", "methods": ["ANY"]}]}`, "PATCH", "/resource1", keycloakClaims, true},
		{"resource is a prefix", `{"scopes": [{"realm_roles": [{"name": "role1"}], "resource": "/resource1"}]}`, "GET", "/resource1/sub", keycloakClaims, true},
		{"resource with $ is exact", `{"scopes": [{"realm_roles": [{"name": "role1"}], "resource": "/resource1$"}]}`, "GET", "/resource1/sub", keycloakClaims, false},
		{"no token", `{"scopes": [{"resource": "/"}]}`, "GET", "/", nil, false},
		{"scope without roles grants its resource", `{"scopes": [{"resource": "/public"}]}`, "GET", "/public/x", map[string]any{"sub": "x"}, true},
		{"token without realm_access", `{"scopes": [{"realm_roles": [{"name": "role1"}], "resource": "/"}]}`, "GET", "/", map[string]any{"sub": "x"}, false},
		{"realm_access of the wrong shape", `{"scopes": [{"realm_roles": [{"name": "role1"}], "resource": "/"}]}`, "GET", "/", map[string]any{"realm_access": "role1"}, false},
		{"blacklist refuses the holders", `{"type": "blacklist", "scopes": [{"realm_roles": [{"name": "role1"}], "resource": "/resource1"}]}`, "GET", "/resource1", keycloakClaims, false},
		{"blacklist lets others through", `{"type": "blacklist", "scopes": [{"realm_roles": [{"name": "role3"}], "resource": "/resource1"}]}`, "GET", "/resource1", keycloakClaims, true},
		{"blacklist lets other resources through", `{"type": "blacklist", "scopes": [{"realm_roles": [{"name": "role1"}], "resource": "/resource1"}]}`, "GET", "/other", keycloakClaims, true},
		{"blacklist lets requests without token through", `{"type": "blacklist", "scopes": [{"resource": "/"}]}`, "GET", "/", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := policytest.Build(t, policytest.Entry(keycloakrolecheck.Name, tt.config))
			r := httptest.NewRequest(tt.method, "http://api.test"+tt.path, nil)
			c := chain.NewContext(r, "192.0.2.1", nil, nil)
			if tt.claims != nil {
				c.Set("jwt", tt.claims)
			}
			ch.Rewrite(c)
			ch.Access(c)
			if c.Failed() != nil {
				t.Fatalf("failed: %v", c.Failed())
			}
			if c.Exited() == tt.allowed {
				t.Fatalf("exited %v, want allowed %v", c.Exited(), tt.allowed)
			}
			if !tt.allowed && (c.Response.Status != 403 || string(c.Response.Body) != "Authentication failed" || c.Response.Header.Get("Content-Type") != "text/plain; charset=utf-8") {
				t.Fatalf("refusal %d %q %q", c.Response.Status, c.Response.Body, c.Response.Header.Get("Content-Type"))
			}
		})
	}
}

// TestNULInRenderedResource: a claim holding the placeholder marker fails
// the request closed rather than being read as a placeholder.
func TestNULInRenderedResource(t *testing.T) {
	ch := policytest.Build(t, policytest.Entry(keycloakrolecheck.Name, `{"type": "blacklist", "scopes": [{"resource": "/users/{{ jwt.sub }}", "resource_type": "liquid"}]}`))
	c := chain.NewContext(httptest.NewRequest("GET", "http://api.test/users/bob", nil), "192.0.2.1", nil, nil)
	c.Set("jwt", map[string]any{"sub": "\x00"})
	ch.Access(c)
	if c.Failed() == nil || c.Response.Status != 503 {
		t.Fatalf("status %d, failure %v; want the request failed closed", c.Response.Status, c.Failed())
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct{ name, config, want string }{
		{"bad type", `{"type": "graylist"}`, "type"},
		{"no resource", `{"scopes": [{"realm_roles": [{"name": "a"}]}]}`, "resource"},
		{"resource without slash", `{"scopes": [{"resource": "resource1"}]}`, "resource"},
		{"unclosed placeholder", `{"scopes": [{"resource": "/users/{id"}]}`, "resource"},
		{"slash in a placeholder", `{"scopes": [{"resource": "/users/{a/b}"}]}`, "resource"},
		{"unclosed liquid placeholder", `{"scopes": [{"resource": "/{{ jwt.aud }}/{id", "resource_type": "liquid"}]}`, "resource"},
		{"role without name", `{"scopes": [{"resource": "/", "realm_roles": [{"name_type": "plain"}]}]}`, "name"},
		{"client role without client", `{"scopes": [{"resource": "/", "client_roles": [{"name": "a"}]}]}`, "client"},
		{"bad method", `{"scopes": [{"resource": "/", "methods": ["FETCH"]}]}`, "methods"},
		{"bad name type", `{"scopes": [{"resource": "/", "realm_roles": [{"name": "a", "name_type": "lua"}]}]}`, "name_type"},
		{"unknown field", `{"scopes": [{"resource": "/", "roles": []}]}`, "roles"},
	}
	var golden strings.Builder
	for _, tt := range tests {
		_, err := chain.Build([]chain.Entry{policytest.Entry(keycloakrolecheck.Name, tt.config)}, chain.Env{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one naming %q", tt.name, err, tt.want)
			continue
		}
		fmt.Fprintf(&golden, "%s\n\t%s\n\t%v\n", tt.name, tt.config, err)
	}
	policytest.Golden(t, "load_errors.golden", golden.String())
}
