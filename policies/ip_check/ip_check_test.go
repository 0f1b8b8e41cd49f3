package ipcheck_test

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/policies/internal/policytest"
	ipcheck "github.com/verdict-policy/verdict/policies/ip_check"
)

func TestIPCheck(t *testing.T) {
	const white = `{"check_type": "whitelist", "ips": ["192.0.2.7", "10.0.0.0/8", "2001:db8::/32"]`
	const black = `{"check_type": "blacklist", "ips": ["192.0.2.7", "10.0.0.0/8", "2001:db8::1"]`
	tests := []struct {
		name     string
		config   string
		clientIP string
		headers  map[string]string
		allowed  bool
	}{
		{"whitelist: listed address", white + `}`, "192.0.2.7", nil, true},
		{"whitelist: in a range", white + `}`, "10.20.30.40", nil, true},
		{"whitelist: IPv6 range", white + `}`, "2001:db8:1::5", nil, true},
		{"whitelist: IPv4-mapped IPv6", white + `}`, "::ffff:10.0.0.1", nil, true},
		{"whitelist: with a port", white + `}`, "192.0.2.7:5555", nil, true},
		{"whitelist: other address", white + `}`, "192.0.2.8", nil, false},
		{"whitelist: no address", white + `}`, "", nil, false},
		{"whitelist: garbage address", white + `}`, "not-an-ip", nil, false},
		{"blacklist: listed address", black + `}`, "192.0.2.7", nil, false},
		{"blacklist: in a range", black + `}`, "10.1.1.1", nil, false},
		{"blacklist: IPv6 address", black + `}`, "2001:db8::1", nil, false},
		{"blacklist: other address", black + `}`, "198.51.100.1", nil, true},
		{"blacklist: no address", black + `}`, "", nil, false},
		{"headers ignored by default", white + `}`, "198.51.100.1", map[string]string{"X-Forwarded-For": "192.0.2.7", "X-Real-IP": "192.0.2.7"}, false},
		{"X-Forwarded-For: first address", white + `, "client_ip_sources": ["X-Forwarded-For"]}`, "198.51.100.1", map[string]string{"X-Forwarded-For": "192.0.2.7, 198.51.100.9"}, true},
		{"X-Forwarded-For: later addresses do not count", white + `, "client_ip_sources": ["X-Forwarded-For"]}`, "192.0.2.7", map[string]string{"X-Forwarded-For": "198.51.100.9, 192.0.2.7"}, false},
		{"X-Forwarded-For: absent, no fallback", white + `, "client_ip_sources": ["X-Forwarded-For"]}`, "192.0.2.7", nil, false},
		{"X-Forwarded-For: unparsable falls through", white + `, "client_ip_sources": ["X-Forwarded-For", "last_caller"]}`, "192.0.2.7", map[string]string{"X-Forwarded-For": "unknown"}, true},
		{"X-Real-IP", black + `, "client_ip_sources": ["X-Real-IP", "last_caller"]}`, "198.51.100.1", map[string]string{"X-Real-IP": "10.9.9.9"}, false},
		{"X-Real-IP absent falls back to the peer", black + `, "client_ip_sources": ["X-Real-IP", "last_caller"]}`, "198.51.100.1", nil, true},
		{"X-Real-IP bracketed IPv6", white + `, "client_ip_sources": ["X-Real-IP"]}`, "198.51.100.1", map[string]string{"X-Real-IP": "[2001:db8::2]"}, true},
		{"empty list whitelist refuses all", `{"check_type": "whitelist", "ips": []}`, "192.0.2.7", nil, false},
		{"empty list blacklist allows all", `{"check_type": "blacklist", "ips": []}`, "192.0.2.7", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := policytest.Build(t, policytest.Entry(ipcheck.Name, tt.config))
			r := httptest.NewRequest("GET", "http://api.example.com/", nil)
			r.RemoteAddr = tt.clientIP
			for k, v := range tt.headers {
				r.Header.Set(k, v)
			}
			res := policytest.Run(ch, r, tt.clientIP, nil, 0)
			if res.Proxied != tt.allowed {
				t.Fatalf("proxied %v, want %v (status %d)", res.Proxied, tt.allowed, res.Status)
			}
			if !tt.allowed {
				if res.Status != 403 || string(res.Body) != "IP address not allowed\n" || res.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
					t.Errorf("refusal %d %q %q", res.Status, res.Body, res.Header.Get("Content-Type"))
				}
			}
		})
	}
}

func TestProxyProtocolAndMessage(t *testing.T) {
	ch := policytest.Build(t, policytest.Entry(ipcheck.Name, `{"check_type": "blacklist", "ips": ["192.0.2.7"], "error_msg": "go away", "client_ip_sources": ["proxy_protocol_addr"]}`))
	r := httptest.NewRequest("GET", "/", nil)
	c := chain.NewContext(r, "198.51.100.1", nil, nil)
	c.Set(ipcheck.ProxyProtocolKey, "192.0.2.7")
	ch.Rewrite(c)
	ch.Access(c)
	if !c.Exited() || c.Response.Status != 403 || string(c.Response.Body) != "go away\n" {
		t.Errorf("got %d %q, want 403 \"go away\\n\"", c.Response.Status, c.Response.Body)
	}
}

func TestBadConfiguration(t *testing.T) {
	tests := []struct{ name, config, want string }{
		{"bad address", `{"check_type": "whitelist", "ips": ["192.0.2.300"]}`, "ips[0]"},
		{"bad range", `{"check_type": "whitelist", "ips": ["1.2.3.4", "10.0.0.0/40"]}`, "ips[1]"},
		{"missing check type", `{"ips": []}`, "check_type"},
		{"unknown check type", `{"check_type": "greylist", "ips": []}`, "check_type"},
		{"missing ips", `{"check_type": "whitelist"}`, "ips"},
		{"unknown source", `{"check_type": "whitelist", "ips": [], "client_ip_sources": ["Forwarded"]}`, "client_ip_sources.0"},
		{"repeated source", `{"check_type": "whitelist", "ips": [], "client_ip_sources": ["X-Real-IP", "X-Real-IP"]}`, "client_ip_sources"},
	}
	var golden strings.Builder
	for _, tt := range tests {
		_, err := chain.Build([]chain.Entry{policytest.Entry(ipcheck.Name, tt.config)}, chain.Env{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one naming %q", tt.name, err, tt.want)
			continue
		}
		fmt.Fprintf(&golden, "%s\n\t%s\n\t%v\n", tt.name, tt.config, err)
	}
	policytest.Golden(t, "load_errors.golden", golden.String())
}
