package gateway_test

import (
	"testing"
)

// TestNotFoundAnswers checks the two 404s the gateway gives of its own, as
// APIcast gives them: a host no service claims, and a service without an
// api_backend. Both have an empty body and nginx's default type; the
// global chain's header filters still run.
func TestNotFoundAnswers(t *testing.T) {
	up := startRawUpstream(t)
	addr := startH1Gateway(t, `
policy_chain:
  - name: headers
    configuration:
      response: [{op: set, header: X-Served-By, value: verdict}]
services:
  - id: 1
    proxy:
      hosts: [nobackend.test]
  - id: 2
    proxy:
      hosts: [localhost]
      api_backend: http://`+up.addr+`
`)
	for _, tc := range []struct{ name, host string }{
		{"unknown host", "nosuch.test"},
		{"unknown host with a port", "nosuch.test:8080"},
		{"service without api_backend", "nobackend.test"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, body := rawExchange(t, addr, "GET /x HTTP/1.1\r\nHost: "+tc.host+"\r\n\r\n")
			if res.StatusCode != 404 {
				t.Errorf("status %d, want 404", res.StatusCode)
			}
			if body != "" || res.ContentLength != 0 {
				t.Errorf("body %q (Content-Length %d), want an empty body", body, res.ContentLength)
			}
			if ct := res.Header.Get("Content-Type"); ct != "text/plain" {
				t.Errorf("Content-Type %q, want text/plain", ct)
			}
			if got := res.Header.Get("X-Served-By"); got != "verdict" {
				t.Errorf("the global chain's header filter did not run: X-Served-By %q", got)
			}
		})
	}
	if n := up.count(); n != 0 {
		t.Errorf("the upstream was reached %d times", n)
	}
}
