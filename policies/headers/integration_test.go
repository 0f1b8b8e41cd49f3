package headers_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/verdict-policy/verdict/gateway/gatewaytest"
)

// TestThroughGateway runs the policy in a real gateway in front of a real
// upstream.
func TestThroughGateway(t *testing.T) {
	up := gatewaytest.StartUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Powered-By", "upstream-framework")
		_, _ = io.WriteString(w, "upstream: "+r.Method+" "+r.RequestURI)
	})
	gw := gatewaytest.Start(t, `
services:
  - id: 1
    system_name: orders
    proxy:
      api_backend: `+up.URL+`
      policy_chain:
        - name: headers
          configuration:
            request:
              - {op: set, header: X-Api-Version, value: "2"}
              - {op: push, header: X-Trace, value: gateway}
              - {op: delete, header: Authorization}
              - {op: set, header: X-Client, value: "{{ remote_addr }} {{ http_method }} {{ uri }}", value_type: liquid}
              - {op: set, header: X-Service, value: "{{ service.id }} {{ service.system_name }}", value_type: liquid}
            response:
              - {op: set, header: X-Served-By, value: verdict}
              - {op: delete, header: X-Powered-By}
        - name: apicast
`)
	tests := []struct {
		name    string
		trace   []string
		wantTrc []string
	}{
		{"no trace header", nil, []string{"gateway"}},
		{"trace header pushed to", []string{"client"}, []string{"client", "gateway"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := gw.NewRequest("GET", "/v1/items?a=1", nil)
			r.Header.Set("Authorization", "Bearer secret")
			for _, v := range tt.trace {
				r.Header.Add("X-Trace", v)
			}
			res := gw.Do(t, r)
			if res.Status != 200 || res.Body != "upstream: GET /v1/items?a=1" {
				t.Fatalf("client got %d %q", res.Status, res.Body)
			}
			if res.Header.Get("X-Served-By") != "verdict" || res.Header.Get("X-Powered-By") != "" {
				t.Errorf("response headers %v", res.Header)
			}
			got := up.Last(t)
			if got.Header.Get("X-Api-Version") != "2" || got.Header.Get("Authorization") != "" {
				t.Errorf("upstream headers %v", got.Header)
			}
			if trc := got.Header.Values("X-Trace"); len(trc) != len(tt.wantTrc) || trc[len(trc)-1] != "gateway" {
				t.Errorf("upstream X-Trace %q, want %q", trc, tt.wantTrc)
			}
			if c := got.Header.Get("X-Client"); c != "127.0.0.1 GET /v1/items" {
				t.Errorf("upstream X-Client %q", c)
			}
			if s := got.Header.Get("X-Service"); s != "1 orders" {
				t.Errorf("upstream X-Service %q", s)
			}
			if got.Path != "/v1/items" || got.RawQuery != "a=1" {
				t.Errorf("upstream got %s?%s", got.Path, got.RawQuery)
			}
		})
	}
}

// TestInvalidLiquidThroughGateway: a value that is not valid Liquid loads,
// renders as the empty string (so set removes the header) and is logged
// once, as in APIcast.
func TestInvalidLiquidThroughGateway(t *testing.T) {
	up := gatewaytest.StartUpstream(t, nil)
	gw := gatewaytest.Start(t, `
services:
  - id: 1
    proxy:
      api_backend: `+up.URL+`
      policy_chain:
        - name: headers
          configuration:
            request:
              - {op: set, header: X-Digest, value: "{{'something' | md5", value_type: liquid}
              - {op: set, header: X-Method, value: "{{ http_method | no_such_filter }}", value_type: liquid}
            response:
              - {op: set, header: X-Uri, value: "{{ uri }", value_type: liquid}
        - name: apicast
`)
	for range 2 {
		r := gw.NewRequest("GET", "/t", nil)
		r.Header.Set("X-Digest", "from the client")
		r.Header.Set("X-Method", "from the client")
		res := gw.Do(t, r)
		if res.Status != 200 {
			t.Fatalf("client got %d %q", res.Status, res.Body)
		}
		if v, ok := res.Header["X-Uri"]; ok {
			t.Errorf("response X-Uri %q, want none", v)
		}
		got := up.Last(t)
		for _, name := range []string{"X-Digest", "X-Method"} {
			if v, ok := got.Header[name]; ok {
				t.Errorf("upstream %s %q, want none", name, v)
			}
		}
	}
	logged := 0
	for _, l := range gw.Logs() {
		if strings.Contains(l, "invalid Liquid template renders as the empty string") {
			logged++
		}
	}
	if logged != 3 {
		t.Errorf("%d log lines about invalid templates, want one per template (3):\n%s", logged, strings.Join(gw.Logs(), "\n"))
	}
}
