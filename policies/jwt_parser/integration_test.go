package jwtparser_test

import (
	"testing"

	"github.com/verdict-policy/verdict/gateway/gatewaytest"
	_ "github.com/verdict-policy/verdict/policies/headers"
	_ "github.com/verdict-policy/verdict/policies/jwt_claim_check"
	_ "github.com/verdict-policy/verdict/policies/jwt_parser"
	_ "github.com/verdict-policy/verdict/policies/keycloak_role_check"
)

// TestThroughGateway runs the policy in a real gateway in front of a real
// upstream, with a real OpenID provider: the claims it shares reach
// keycloak_role_check, jwt_claim_check and a Liquid header, and refusals
// never reach the upstream.
func TestThroughGateway(t *testing.T) {
	p := startProvider(t)
	up := gatewaytest.StartUpstream(t, nil)
	gw := gatewaytest.Start(t, `
services:
  - id: 1
    proxy:
      api_backend: `+up.URL+`
      policy_chain:
        - {name: jwt_parser, configuration: {issuer_endpoint: "`+p.endpoint()+`", required: true}}
        - name: keycloak_role_check
          configuration:
            scopes: [{realm_roles: [{name: reader}], resource: /}]
        - name: jwt_claim_check
          configuration:
            rules: [{resource: /admin, operations: [{op: "==", jwt_claim: sub, value: root}]}]
        - name: headers
          configuration:
            request: [{op: set, header: X-User, value: "{{ jwt.sub }}", value_type: liquid}]
        - name: apicast
`)
	tests := []struct {
		name, path, token string
		status            int
	}{
		{"reader", "/items", p.token(t, rsaKey, "somekid", nil), 200},
		{"no token", "/items", "", 401},
		{"expired", "/items", p.token(t, rsaKey, "somekid", map[string]any{"exp": 1}), 403},
		{"not a reader", "/items", p.token(t, rsaKey, "somekid", map[string]any{"realm_access": map[string]any{"roles": []string{"guest"}}}), 403},
		{"reader on admin", "/admin", p.token(t, rsaKey, "somekid", nil), 403},
		{"root on admin", "/admin", p.token(t, rsaKey, "somekid", map[string]any{"sub": "root"}), 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(up.Requests())
			r := gw.NewRequest("GET", tt.path, nil)
			if tt.token != "" {
				r.Header.Set("Authorization", "Bearer "+tt.token)
			}
			res := gw.Do(t, r)
			if res.Status != tt.status {
				t.Fatalf("got %d %q, want %d", res.Status, res.Body, tt.status)
			}
			if tt.status == 401 && res.Header.Get("WWW-Authenticate") != "Bearer" {
				t.Errorf("challenge %q", res.Header.Get("WWW-Authenticate"))
			}
			reached := len(up.Requests()) > before
			if reached != (tt.status == 200) {
				t.Fatalf("upstream reached: %v", reached)
			}
			if reached {
				want := "someone"
				if tt.path == "/admin" {
					want = "root"
				}
				if got := up.Last(t).Header.Get("X-User"); got != want {
					t.Errorf("X-User %q, want %q", got, want)
				}
			}
		})
	}
}
