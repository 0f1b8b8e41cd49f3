package jwtclaimcheck_test

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/policies/internal/policytest"
	jwtclaimcheck "github.com/verdict-policy/verdict/policies/jwt_claim_check"
)

func TestClaimCheck(t *testing.T) {
	claims := map[string]any{"sub": "alice", "aud": "orders", "roles": []any{"reader", "admin"}, "level": float64(3),
		"realm_access": map[string]any{"roles": []any{"ops"}}}
	const admin = `{"rules": [{"resource": "/admin", "methods": ["POST", "DELETE"], "operations": [{"op": "==", "jwt_claim": "roles", "value": "admin"}]}]}`
	tests := []struct {
		name    string
		config  string
		method  string
		path    string
		claims  map[string]any
		allowed bool
	}{
		{"rule holds", admin, "POST", "/admin/users", claims, true},
		{"rule fails", admin, "POST", "/admin/users", map[string]any{"roles": []any{"reader"}}, false},
		{"no claims", admin, "POST", "/admin", nil, false},
		{"method not covered", admin, "GET", "/admin/users", nil, true},
		{"resource not covered", admin, "POST", "/orders", nil, true},
		{"resource is a prefix", `{"rules": [{"resource": "/orders", "operations": [{"op": "==", "jwt_claim": "sub", "value": "bob"}]}]}`, "GET", "/orders-archive", claims, false},
		{"resource with $ is exact", `{"rules": [{"resource": "/orders$", "operations": [{"op": "==", "jwt_claim": "sub", "value": "bob"}]}]}`, "GET", "/orders/1", claims, true},
		{"resource placeholder", `{"rules": [{"resource": "/users/{id}/keys", "operations": [{"op": "==", "jwt_claim": "sub", "value": "bob"}]}]}`, "GET", "/users/7/keys", claims, false},
		{"resource placeholder, one segment only", `{"rules": [{"resource": "/users/{id}/keys", "operations": [{"op": "==", "jwt_claim": "sub", "value": "bob"}]}]}`, "GET", "/users/7/8/keys", claims, true},
		{"ANY method", `{"rules": [{"resource": "/", "methods": ["ANY"], "operations": [{"op": "==", "jwt_claim": "sub", "value": "bob"}]}]}`, "PATCH", "/x", claims, false},
		{"!= holds", `{"rules": [{"resource": "/", "operations": [{"op": "!=", "jwt_claim": "sub", "value": "bob"}]}]}`, "GET", "/", claims, true},
		{"!= on a list", `{"rules": [{"resource": "/", "operations": [{"op": "!=", "jwt_claim": "roles", "value": "admin"}]}]}`, "GET", "/", claims, false},
		{"!= without the claim", `{"rules": [{"resource": "/", "operations": [{"op": "!=", "jwt_claim": "tenant", "value": "x"}]}]}`, "GET", "/", claims, true},
		{"matches searches", `{"rules": [{"resource": "/", "operations": [{"op": "matches", "jwt_claim": "sub", "value": "lic"}]}]}`, "GET", "/", claims, true},
		{"matches anchored by ^ and $", `{"rules": [{"resource": "/", "operations": [{"op": "matches", "jwt_claim": "sub", "value": "^ali$"}]}]}`, "GET", "/", claims, false},
		{"matches searches list members", `{"rules": [{"resource": "/", "operations": [{"op": "matches", "jwt_claim": "roles", "value": "dmi"}]}]}`, "GET", "/", claims, true},
		{"matches with a liquid pattern searches", `{"rules": [{"resource": "/", "operations": [{"op": "matches", "jwt_claim": "sub", "value": "{{ sub | slice: 1, 2 }}", "value_type": "liquid"}]}]}`, "GET", "/", claims, true},
		{"number claim", `{"rules": [{"resource": "/", "operations": [{"op": "==", "jwt_claim": "level", "value": "3"}]}]}`, "GET", "/", claims, true},
		{"nested claim", `{"rules": [{"resource": "/", "operations": [{"op": "==", "jwt_claim": "realm_access.roles", "value": "ops"}]}]}`, "GET", "/", claims, true},
		{"liquid claim", `{"rules": [{"resource": "/", "operations": [{"op": "==", "jwt_claim": "{{ roles | first }}", "jwt_claim_type": "liquid", "value": "reader"}]}]}`, "GET", "/", claims, true},
		{"liquid value", `{"rules": [{"resource": "/", "operations": [{"op": "==", "jwt_claim": "sub", "value": "{{ headers['X-User'] }}", "value_type": "liquid"}]}]}`, "GET", "/", claims, true},
		{"liquid resource", `{"rules": [{"resource": "/users/{{ sub }}", "resource_type": "liquid", "operations": [{"op": "==", "jwt_claim": "sub", "value": "nobody"}]}]}`, "GET", "/users/alice/x", claims, false},
		{"liquid resource of another user", `{"rules": [{"resource": "/users/{{ sub }}", "resource_type": "liquid", "operations": [{"op": "==", "jwt_claim": "sub", "value": "nobody"}]}]}`, "GET", "/users/bob", claims, true},
		{"invalid liquid claim renders empty", `{"rules": [{"resource": "/", "operations": [{"op": "==", "jwt_claim": "{% if a %}", "jwt_claim_type": "liquid", "value": ""}]}]}`, "GET", "/", claims, true},
		{"invalid liquid value renders empty", `{"rules": [{"resource": "/", "operations": [{"op": "==", "jwt_claim": "sub", "value": "{{ sub", "value_type": "liquid"}]}]}`, "GET", "/", claims, false},
		{"extended context", `{"enable_extended_context": true, "rules": [{"resource": "/", "operations": [{"op": "==", "jwt_claim": "{{ jwt.sub }}@{{ host }}", "jwt_claim_type": "liquid", "value": "alice@api.test"}]}]}`, "GET", "/", claims, true},
		{"and: one fails", `{"rules": [{"resource": "/", "operations": [{"op": "==", "jwt_claim": "sub", "value": "alice"}, {"op": "==", "jwt_claim": "aud", "value": "billing"}]}]}`, "GET", "/", claims, false},
		{"or: one holds", `{"rules": [{"resource": "/", "combine_op": "or", "operations": [{"op": "==", "jwt_claim": "sub", "value": "bob"}, {"op": "==", "jwt_claim": "aud", "value": "orders"}]}]}`, "GET", "/", claims, true},
		{"or: none holds", `{"rules": [{"resource": "/", "combine_op": "or", "operations": [{"op": "==", "jwt_claim": "sub", "value": "bob"}, {"op": "==", "jwt_claim": "aud", "value": "billing"}]}]}`, "GET", "/", claims, false},
		{"second rule refuses", `{"rules": [{"resource": "/a", "operations": []}, {"resource": "/", "operations": [{"op": "==", "jwt_claim": "sub", "value": "bob"}]}]}`, "GET", "/a", claims, false},
		{"no operations holds", `{"rules": [{"resource": "/"}]}`, "GET", "/", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := chain.Build([]chain.Entry{policytest.Entry(jwtclaimcheck.Name, tt.config)}, chain.Env{}); err != nil {
				t.Fatalf("the manifest refuses the configuration: %v", err)
			}
			p, err := jwtclaimcheck.New([]byte(tt.config))
			if err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest(tt.method, "http://api.test"+tt.path, nil)
			r.Header.Set("X-User", "alice")
			c := chain.NewContext(r, "192.0.2.1", nil, nil)
			if tt.claims != nil {
				c.Set("jwt", tt.claims)
			}
			if err := p.Access(c); err != nil {
				t.Fatal(err)
			}
			if c.Exited() == tt.allowed {
				t.Fatalf("exited %v, want allowed %v", c.Exited(), tt.allowed)
			}
			if !tt.allowed && (c.Response.Status != 403 || string(c.Response.Body) != "Request blocked due to JWT claim policy\n") {
				t.Fatalf("refusal %d %q", c.Response.Status, c.Response.Body)
			}
		})
	}
}

func TestErrorMessage(t *testing.T) {
	ch := policytest.Build(t, policytest.Entry(jwtclaimcheck.Name, `{"error_message": "admins only", "rules": [{"resource": "/", "operations": [{"op": "==", "jwt_claim": "role", "value": "admin"}]}]}`))
	res := policytest.Run(ch, httptest.NewRequest("GET", "http://api.test/x", nil), "192.0.2.1", nil, 0)
	if res.Proxied || res.Status != 403 || string(res.Body) != "admins only\n" {
		t.Fatalf("got %d %q (proxied %v)", res.Status, res.Body, res.Proxied)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct{ name, config, want string }{
		{"no resource", `{"rules": [{"operations": []}]}`, "resource"},
		{"resource without slash", `{"rules": [{"resource": "orders"}]}`, "resource"},
		{"unclosed placeholder", `{"rules": [{"resource": "/orders/{id"}]}`, "resource"},
		{"bad method", `{"rules": [{"resource": "/", "methods": ["FETCH"]}]}`, "methods"},
		{"bad op", `{"rules": [{"resource": "/", "operations": [{"op": "<", "jwt_claim": "a", "value": "1"}]}]}`, "op"},
		{"empty claim", `{"rules": [{"resource": "/", "operations": [{"op": "==", "jwt_claim": "", "value": "1"}]}]}`, "jwt_claim"},
		{"bad regex", `{"rules": [{"resource": "/", "operations": [{"op": "matches", "jwt_claim": "a", "value": "[a"}]}]}`, "operations[0].value"},
		{"bad combine_op", `{"rules": [{"resource": "/", "combine_op": "nand"}]}`, "combine_op"},
	}
	var golden strings.Builder
	for _, tt := range tests {
		_, err := chain.Build([]chain.Entry{policytest.Entry(jwtclaimcheck.Name, tt.config)}, chain.Env{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one naming %q", tt.name, err, tt.want)
			continue
		}
		fmt.Fprintf(&golden, "%s\n\t%s\n\t%v\n", tt.name, tt.config, err)
	}
	policytest.Golden(t, "load_errors.golden", golden.String())
}
