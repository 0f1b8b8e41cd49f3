package httpproxy_test

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/verdict-policy/verdict/chain"
	httpproxy "github.com/verdict-policy/verdict/policies/http_proxy"
	"github.com/verdict-policy/verdict/policies/internal/outproxy"
	"github.com/verdict-policy/verdict/policies/internal/policytest"
)

var quiet = slog.New(slog.DiscardHandler)

// TestNoProxy: without a proxy the policy loads and changes nothing, as
// in APIcast.
func TestNoProxy(t *testing.T) {
	for _, cfg := range []string{`{}`, `{"all_proxy": ""}`} {
		p, err := httpproxy.New([]byte(cfg), quiet)
		if err != nil {
			t.Fatalf("%s: %v", cfg, err)
		}
		for _, u := range []string{"http://api.test/", "https://api.test/"} {
			if got := p.Proxy(&url.URL{Scheme: strings.Split(u, ":")[0], Host: "api.test"}); got != nil {
				t.Fatalf("%s: proxy %v for %s", cfg, got, u)
			}
		}
	}
	ch := policytest.Build(t, policytest.Entry(httpproxy.Name, `{}`))
	res := policytest.Run(ch, httptest.NewRequest("GET", "http://api.test/x", nil), "192.0.2.1", nil, 0)
	plain := policytest.Run(policytest.Build(t), httptest.NewRequest("GET", "http://api.test/x", nil), "192.0.2.1", nil, 0)
	if !res.Proxied || res.Status != 200 || !reflect.DeepEqual(res.Context.Upstream, plain.Context.Upstream) {
		t.Fatalf("got %d, proxied %v, upstream %v; want the upstream of an empty chain, %v", res.Status, res.Proxied, res.Context.Upstream, plain.Context.Upstream)
	}
}

// TestProxyNotYetApplied: a configuration naming a proxy is checked, then
// refused, since the gateway cannot apply it yet.
func TestProxyNotYetApplied(t *testing.T) {
	_, err := httpproxy.New([]byte(`{"all_proxy": "http://foo:bar@192.168.15.103:8888/"}`), quiet)
	if !errors.Is(err, outproxy.ErrNoGatewaySupport) {
		t.Fatalf("error %v, want ErrNoGatewaySupport", err)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct{ name, config, want string }{
		{"a proxy", `{"http_proxy": "http://192.168.15.103:8080/", "https_proxy": "http://192.168.15.103:8443/"}`, "forward proxy"},
		{"TLS to the proxy", `{"https_proxy": "https://proxy.internal:443"}`, "https_proxy"},
		{"not a URL", `{"all_proxy": "proxy.internal:3128"}`, "all_proxy"},
		{"a path", `{"http_proxy": "http://proxy.internal:3128/camel"}`, "http_proxy"},
		{"not a string", `{"all_proxy": 3128}`, "all_proxy"},
		{"unknown field", `{"no_proxy": "localhost"}`, "no_proxy"},
	}
	var golden strings.Builder
	for _, tt := range tests {
		_, err := chain.Build([]chain.Entry{policytest.Entry(httpproxy.Name, tt.config)}, chain.Env{Logger: quiet})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one naming %q", tt.name, err, tt.want)
			continue
		}
		fmt.Fprintf(&golden, "%s\n\t%s\n\t%v\n", tt.name, tt.config, err)
	}
	policytest.Golden(t, "load_errors.golden", golden.String())
}
