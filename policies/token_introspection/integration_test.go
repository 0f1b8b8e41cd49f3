package tokenintrospection_test

import (
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/verdict-policy/verdict/gateway/gatewaytest"
	_ "github.com/verdict-policy/verdict/policies/token_introspection"
)

// TestThroughGateway runs the policy in a real gateway in front of a real
// upstream, against a real introspection endpoint: active tokens reach
// the upstream, the others get APIcast's 403, and cached answers spare
// the endpoint.
func TestThroughGateway(t *testing.T) {
	p := startIdP(t)
	p.check = basicCheck("app", "appsec")
	exp := time.Now().Add(time.Hour).Unix()
	p.answer("testaccesstoken", fmt.Sprintf(`{"active": true, "exp": %d}`, exp))
	p.answer("expiring", fmt.Sprintf(`{"active": true, "exp": %d}`, time.Now().Add(-time.Minute).Unix()))
	up := gatewaytest.StartUpstream(t, nil)
	gw := gatewaytest.Start(t, `
services:
  - id: 42
    proxy:
      api_backend: `+up.URL+`
      policy_chain:
        - name: token_introspection
          configuration:
            auth_type: client_id+client_secret
            client_id: app
            client_secret: appsec
            introspection_url: `+p.URL+`/token/introspection
            max_cached_tokens: 100
            max_ttl_tokens: 60
        - name: apicast
`)
	tests := []struct {
		name, auth string
		status     int
		calls      int32 // introspections so far
	}{
		{"active", "Bearer testaccesstoken", 200, 1},
		{"active again, from the cache", "Bearer testaccesstoken", 200, 1},
		{"revoked", "Bearer revoked", 403, 2},
		{"revoked again, from the cache", "Bearer revoked", 403, 2},
		{"active but already past exp: not kept", "Bearer expiring", 200, 3},
		{"again", "Bearer expiring", 200, 4},
		{"no token", "", 403, 4},
		{"basic credentials", "Basic YXBwOmFwcHNlYw==", 403, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(up.Requests())
			r := gw.NewRequest("GET", "/echo", nil)
			if tt.auth != "" {
				r.Header.Set("Authorization", tt.auth)
			}
			res := gw.Do(t, r)
			if res.Status != tt.status {
				t.Fatalf("got %d %q, want %d", res.Status, res.Body, tt.status)
			}
			if tt.status == 403 && res.Body != "Authentication failed\n" {
				t.Errorf("body %q", res.Body)
			}
			if reached := len(up.Requests()) > before; reached != (tt.status == 200) {
				t.Errorf("upstream reached: %v", reached)
			}
			if n := p.calls.Load(); n != tt.calls {
				t.Errorf("%d introspections, want %d", n, tt.calls)
			}
		})
	}
	if got := up.Last(t).Header.Get("Authorization"); got != "Bearer expiring" {
		t.Errorf("the upstream got Authorization %q: the token must pass through", got)
	}
	p.failures(t)
}

// TestEndpointDownThroughGateway: an introspection endpoint that cannot be
// reached refuses requests with 403, as APIcast does, and never lets them
// through.
func TestEndpointDownThroughGateway(t *testing.T) {
	dead := httptest.NewServer(nil)
	url := dead.URL
	dead.Close()
	up := gatewaytest.StartUpstream(t, nil)
	gw := gatewaytest.Start(t, `
services:
  - proxy:
      api_backend: `+up.URL+`
      policy_chain:
        - {name: token_introspection, configuration: {auth_type: client_id+client_secret, client_id: a, client_secret: b, introspection_url: "`+url+`"}}
        - name: apicast
`)
	for range 3 {
		r := gw.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Bearer tok")
		if res := gw.Do(t, r); res.Status != 403 || res.Body != "Authentication failed\n" {
			t.Fatalf("got %d %q", res.Status, res.Body)
		}
	}
	if n := len(up.Requests()); n != 0 {
		t.Fatalf("%d requests reached the upstream", n)
	}
}
