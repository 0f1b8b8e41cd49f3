package keycloakrolecheck_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/verdict-policy/verdict/gateway/gatewaytest"
	_ "github.com/verdict-policy/verdict/policies/jwt"
	_ "github.com/verdict-policy/verdict/policies/keycloak_role_check"
)

const secret = "keycloak-role-check-shared-secret"

func hs256(t *testing.T, claims map[string]any) string {
	t.Helper()
	enc := base64.RawURLEncoding
	c, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	in := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc.EncodeToString(c)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(in))
	return in + "." + enc.EncodeToString(m.Sum(nil))
}

// TestThroughGateway checks Keycloak roles of tokens verified by the jwt
// policy, in a real gateway in front of a real upstream.
func TestThroughGateway(t *testing.T) {
	up := gatewaytest.StartUpstream(t, nil)
	gw := gatewaytest.Start(t, `
services:
  - id: 1
    proxy:
      api_backend: `+up.URL+`
      policy_chain:
        - {name: jwt, configuration: {secret: "`+secret+`", required: false}}
        - name: keycloak_role_check
          configuration:
            scopes:
              - realm_roles: [{name: admin}]
                resource: /admin
                methods: [POST, DELETE]
              - client_roles: [{name: reader, client: "{{ jwt.azp }}", client_type: liquid}]
                resource: /items
              - resource: /public
        - name: apicast
`)
	admin := hs256(t, map[string]any{"sub": "ann", "azp": "shop", "realm_access": map[string]any{"roles": []string{"admin"}}})
	reader := hs256(t, map[string]any{"sub": "bob", "azp": "shop", "resource_access": map[string]any{"shop": map[string]any{"roles": []string{"reader"}}}})
	otherClient := hs256(t, map[string]any{"sub": "cy", "azp": "crm", "resource_access": map[string]any{"shop": map[string]any{"roles": []string{"reader"}}}})
	tests := []struct {
		name, method, path, token string
		status                    int
	}{
		{"admin posts", "POST", "/admin/users", admin, 200},
		{"reader posts", "POST", "/admin/users", reader, 403},
		{"admin reads admin: no scope covers GET", "GET", "/admin/users", admin, 403},
		{"reader reads items", "GET", "/items/1", reader, 200},
		{"admin reads items without the client role", "GET", "/items/1", admin, 403},
		{"the role of another client", "GET", "/items/1", otherClient, 403},
		{"public with a token", "GET", "/public/x", reader, 200},
		{"public without a token", "GET", "/public/x", "", 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(up.Requests())
			r := gw.NewRequest(tt.method, tt.path, nil)
			if tt.token != "" {
				r.Header.Set("Authorization", "Bearer "+tt.token)
			}
			res := gw.Do(t, r)
			if res.Status != tt.status {
				t.Fatalf("got %d %q, want %d", res.Status, res.Body, tt.status)
			}
			if tt.status == 403 && res.Body != "Authentication failed" {
				t.Errorf("body %q", res.Body)
			}
			if reached := len(up.Requests()) > before; reached != (tt.status == 200) {
				t.Errorf("upstream reached: %v", reached)
			}
		})
	}
}

// TestBlacklistThroughGateway: with type blacklist the holders of a role
// are kept out of a resource and everyone else gets in.
func TestBlacklistThroughGateway(t *testing.T) {
	up := gatewaytest.StartUpstream(t, nil)
	gw := gatewaytest.Start(t, `
services:
  - proxy:
      api_backend: `+up.URL+`
      policy_chain:
        - {name: jwt, configuration: {secret: "`+secret+`", required: false}}
        - {name: keycloak_role_check, configuration: {type: blacklist, scopes: [{realm_roles: [{name: guest}], resource: /orders}]}}
        - name: apicast
`)
	guest := hs256(t, map[string]any{"sub": "g", "realm_access": map[string]any{"roles": []string{"guest"}}})
	member := hs256(t, map[string]any{"sub": "m", "realm_access": map[string]any{"roles": []string{"member"}}})
	for _, tt := range []struct {
		token, path string
		status      int
	}{
		{guest, "/orders", 403},
		{guest, "/catalog", 200},
		{member, "/orders", 200},
		{"", "/orders", 200},
	} {
		r := gw.NewRequest("GET", tt.path, nil)
		if tt.token != "" {
			r.Header.Set("Authorization", "Bearer "+tt.token)
		}
		if res := gw.Do(t, r); res.Status != tt.status {
			t.Errorf("%s with token %v: got %d, want %d", tt.path, tt.token != "", res.Status, tt.status)
		}
	}
}
