package jwtclaimcheck_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/verdict-policy/verdict/gateway/gatewaytest"
)

const secret = "claim-check-shared-secret"

func hs256(t *testing.T, claims map[string]any) string {
	t.Helper()
	enc := base64.RawURLEncoding
	c, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	in := enc.EncodeToString([]byte(`{"alg":"HS256"}`)) + "." + enc.EncodeToString(c)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(in))
	return in + "." + enc.EncodeToString(m.Sum(nil))
}

// TestThroughGateway checks claims verified by the jwt policy in a real
// gateway in front of a real upstream.
func TestThroughGateway(t *testing.T) {
	up := gatewaytest.StartUpstream(t, nil)
	gw := gatewaytest.Start(t, `
services:
  - id: 1
    proxy:
      api_backend: `+up.URL+`
      policy_chain:
        - {name: jwt, configuration: {secret: "`+secret+`", required: false}}
        - name: jwt_claim_check
          configuration:
            error_message: "Admins only"
            rules:
              - resource: /admin
                methods: [POST, DELETE]
                operations: [{op: "==", jwt_claim: roles, value: admin}]
              - resource: "/users/{{ sub }}$"
                resource_type: liquid
                operations: [{op: "==", jwt_claim: email_verified, value: "true"}]
        - name: apicast
`)
	admin := hs256(t, map[string]any{"sub": "ann", "roles": []string{"admin"}, "email_verified": false})
	reader := hs256(t, map[string]any{"sub": "bob", "roles": []string{"reader"}, "email_verified": true})
	tests := []struct {
		name, method, path, token string
		status                    int
	}{
		{"admin posts", "POST", "/admin/users", admin, 200},
		{"reader posts", "POST", "/admin/users", reader, 403},
		{"anonymous posts", "POST", "/admin/users", "", 403},
		{"reader reads", "GET", "/admin/users", reader, 200},
		{"verified user, own profile", "GET", "/users/bob", reader, 200},
		{"unverified user, own profile", "GET", "/users/ann", admin, 403},
		{"unverified user, another profile", "GET", "/users/bob", admin, 200},
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
			if tt.status == 403 && res.Body != "Admins only\n" {
				t.Errorf("body %q", res.Body)
			}
			if reached := len(up.Requests()) > before; reached != (tt.status == 200) {
				t.Errorf("upstream reached: %v", reached)
			}
		})
	}
}

// TestMatchesSearchesThroughGateway: matches searches the claim, as
// routing and the conditions do and as APIcast does.
func TestMatchesSearchesThroughGateway(t *testing.T) {
	up := gatewaytest.StartUpstream(t, nil)
	gw := gatewaytest.Start(t, `
services:
  - id: 1
    proxy:
      api_backend: `+up.URL+`
      policy_chain:
        - {name: jwt, configuration: {secret: "`+secret+`", required: false}}
        - name: jwt_claim_check
          configuration:
            rules:
              - resource: /
                operations: [{op: matches, jwt_claim: email, value: "@example\\.com"}]
        - name: apicast
`)
	for _, tt := range []struct {
		email  string
		status int
	}{
		{"ann@example.com", 200},
		{"ann@example.org", 403},
	} {
		r := gw.NewRequest("GET", "/items", nil)
		r.Header.Set("Authorization", "Bearer "+hs256(t, map[string]any{"sub": "ann", "email": tt.email}))
		if res := gw.Do(t, r); res.Status != tt.status {
			t.Errorf("%s: got %d %q, want %d", tt.email, res.Status, res.Body, tt.status)
		}
	}
}
