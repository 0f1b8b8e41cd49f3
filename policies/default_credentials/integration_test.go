package defaultcredentials_test

import (
	"testing"

	"github.com/verdict-policy/verdict/gateway/gatewaytest"
	_ "github.com/verdict-policy/verdict/policies/headers"
)

// TestThroughGateway shows the default credentials to the upstream through
// a Liquid header, in a real gateway in front of a real upstream.
func TestThroughGateway(t *testing.T) {
	up := gatewaytest.StartUpstream(t, nil)
	gw := gatewaytest.Start(t, `
services:
  - id: 1
    proxy:
      api_backend: `+up.URL+`
      policy_chain:
        - {name: default_credentials, configuration: {auth_type: user_key, user_key: anonymous}}
        - name: headers
          configuration:
            request: [{op: set, header: X-Key, value: "{{ extracted_credentials.user_key | default: 'own' }}", value_type: liquid}]
        - name: apicast
`)
	for _, tt := range []struct{ name, path, want string }{
		{"request without credentials", "/x", "anonymous"},
		{"request with a user_key", "/x?user_key=k1", "own"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := gw.Do(t, gw.NewRequest("GET", tt.path, nil))
			if res.Status != 200 {
				t.Fatalf("got %d %q", res.Status, res.Body)
			}
			if got := up.Last(t).Header.Get("X-Key"); got != tt.want {
				t.Fatalf("X-Key %q, want %q", got, tt.want)
			}
		})
	}
}
