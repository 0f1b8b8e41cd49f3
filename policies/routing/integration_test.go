package routing_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/verdict-policy/verdict/gateway/gatewaytest"
	_ "github.com/verdict-policy/verdict/policies/url_rewriting"
)

const secret = "routing-test-shared-secret"

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

// TestThroughGateway routes through a real gateway to three real
// upstreams: by header, by JWT claim with replace_path and host_header,
// and by path after a rewrite; a request no rule takes falls through to
// apicast and the service's api_backend.
func TestThroughGateway(t *testing.T) {
	backend := gatewaytest.StartUpstream(t, nil)
	beta := gatewaytest.StartUpstream(t, nil)
	gold := gatewaytest.StartUpstream(t, nil)
	legacy := gatewaytest.StartUpstream(t, nil)
	gw := gatewaytest.Start(t, `
services:
  - id: 1
    proxy:
      api_backend: `+backend.URL+`
      policy_chain:
        - name: jwt
          configuration: {secret: "`+secret+`", required: false}
        - name: url_rewriting
          configuration:
            commands: [{op: sub, regex: "^/old/", replace: "/legacy/"}]
        - name: routing
          configuration:
            rules:
              - url: `+beta.URL+`
                condition:
                  operations: [{match: header, header_name: X-Channel, op: "==", value: beta}]
              - url: `+gold.URL+`/gold
                host_header: gold.internal
                replace_path: "/{{ jwt.sub }}{{ uri | remove_first: '/api' }}"
                condition:
                  combine_op: and
                  operations:
                    - {match: jwt_claim, jwt_claim_name: plan, op: "==", value: gold}
                    - {match: path, op: matches, value: "/api/.*"}
              - url: `+legacy.URL+`
                condition:
                  operations: [{match: path, op: matches, value: "/legacy/.*"}]
        - name: apicast
`)
	tests := []struct {
		name    string
		path    string
		channel string
		claims  map[string]any
		to      *gatewaytest.Upstream
		uri     string // path and query the upstream got
		host    string // Host the upstream got; "" for its own address
	}{
		{"header rule", "/api/items?a=1", "beta", nil, beta, "/api/items?a=1", ""},
		{"claim rule with replace_path and host_header", "/api/items?a=1", "", map[string]any{"sub": "alice", "plan": "gold"}, gold, "/gold/alice/items?a=1", "gold.internal"},
		{"claim of another plan falls through", "/api/items", "", map[string]any{"sub": "bob", "plan": "free"}, backend, "/api/items", ""},
		{"path after a rewrite", "/old/report", "", nil, legacy, "/legacy/report", ""},
		{"no rule: apicast", "/other", "", nil, backend, "/other", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			counts := map[*gatewaytest.Upstream]int{}
			for _, u := range []*gatewaytest.Upstream{backend, beta, gold, legacy} {
				counts[u] = len(u.Requests())
			}
			r := gw.NewRequest("GET", tt.path, nil)
			if tt.channel != "" {
				r.Header.Set("X-Channel", tt.channel)
			}
			if tt.claims != nil {
				r.Header.Set("Authorization", "Bearer "+hs256(t, tt.claims))
			}
			res := gw.Do(t, r)
			if res.Status != 200 {
				t.Fatalf("got %d %q", res.Status, res.Body)
			}
			for u, n := range counts {
				if got := len(u.Requests()) - n; got != 0 && u != tt.to || u == tt.to && got != 1 {
					t.Fatalf("upstream %s got %d requests", u.URL, got)
				}
			}
			got := tt.to.Last(t)
			uri := got.RawPath
			if got.RawQuery != "" {
				uri += "?" + got.RawQuery
			}
			if uri != tt.uri {
				t.Errorf("upstream got %q, want %q", uri, tt.uri)
			}
			wantHost := tt.host
			if wantHost == "" {
				wantHost = strings.TrimPrefix(tt.to.URL, "http://")
			}
			if got.Host != wantHost {
				t.Errorf("Host %q, want %q", got.Host, wantHost)
			}
		})
	}
}

// TestMatchesSearchesThroughGateway replays APIcast's routing tests 26 and
// 27: "bridge" matches the path /bridge-1 (matches searches, as in every
// policy), replace_path keeps the query and goes after the URL's path.
func TestMatchesSearchesThroughGateway(t *testing.T) {
	up := gatewaytest.StartUpstream(t, nil)
	for _, tt := range []struct{ base, want string }{
		{"", "/bridge-1-test"},
		{"/basePath/", "/basePath/bridge-1-test"},
	} {
		gw := gatewaytest.Start(t, `
services:
  - id: 42
    proxy:
      policy_chain:
        - name: routing
          configuration:
            rules:
              - url: "`+up.URL+tt.base+`"
                replace_path: "{{original_request.path }}-test"
                condition:
                  operations: [{match: liquid, liquid_value: "{{ original_request.path }}", op: matches, value: bridge}]
        - name: echo
`)
		res := gw.Do(t, gw.NewRequest("GET", "/bridge-1?one=foo", nil))
		if res.Status != 200 || !strings.HasPrefix(res.Body, "upstream: ") {
			t.Fatalf("base %q: got %d %q, want the upstream's answer", tt.base, res.Status, res.Body)
		}
		if got := up.Last(t); got.Path != tt.want || got.RawQuery != "one=foo" {
			t.Errorf("base %q: upstream got %s?%s, want %s?one=foo", tt.base, got.Path, got.RawQuery, tt.want)
		}
	}
}
