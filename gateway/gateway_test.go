package gateway_test

import (
	"strings"
	"testing"

	"github.com/verdict-policy/verdict/gateway/gatewaytest"
)

func TestProxyBasics(t *testing.T) {
	up := gatewaytest.StartUpstream(t, nil)
	gw := gatewaytest.Start(t, `
services:
  - id: 1
    proxy:
      api_backend: `+up.URL+`/base
`)
	req := gw.NewRequest("GET", "/items/7?x=1", nil)
	req.Header.Set("X-Real-IP", "6.6.6.6")
	req.Header.Set("X-Custom", "kept")
	req.Header.Set("Connection", "X-Hop")
	req.Header.Set("X-Hop", "dropped")
	res := gw.Do(t, req)
	if res.Status != 200 || res.Body != "upstream: GET /base/items/7?x=1" {
		t.Fatalf("got %d %q", res.Status, res.Body)
	}
	got := up.Last(t)
	if got.Header.Get("X-Real-Ip") != "127.0.0.1" {
		t.Errorf("X-Real-IP %q", got.Header.Get("X-Real-Ip"))
	}
	if got.Header.Get("X-Forwarded-For") != "" {
		t.Errorf("X-Forwarded-For added: %q", got.Header.Get("X-Forwarded-For"))
	}
	if got.Header.Get("X-Custom") != "kept" || got.Header.Get("X-Hop") != "" {
		t.Errorf("headers %v", got.Header)
	}
	if !strings.HasPrefix(up.URL, "http://"+got.Host) {
		t.Errorf("Host %q, upstream %s", got.Host, up.URL)
	}
}
