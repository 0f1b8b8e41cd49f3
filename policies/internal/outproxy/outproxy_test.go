package outproxy

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name              string
		cfg               Config
		http, https, want string // want: an error naming it
	}{
		{"none", Config{}, "", "", ""},
		{"all", Config{AllProxy: "http://192.168.15.103:8888/"}, "http://192.168.15.103:8888", "http://192.168.15.103:8888", ""},
		{"specific over all", Config{AllProxy: "http://all:1", HTTPProxy: "http://plain:2", HTTPSProxy: "http://tls:3"}, "http://plain:2", "http://tls:3", ""},
		{"https only", Config{HTTPSProxy: "http://tls:3"}, "", "http://tls:3", ""},
		{"default port", Config{HTTPProxy: "http://proxy.internal"}, "http://proxy.internal:80", "", ""},
		{"credentials", Config{AllProxy: "http://foo:bar@proxy:8888/"}, "http://foo:bar@proxy:8888", "http://foo:bar@proxy:8888", ""},
		{"IPv6", Config{HTTPProxy: "http://[::1]:3128"}, "http://[::1]:3128", "", ""},
		{"tls proxy", Config{HTTPSProxy: "https://proxy:443"}, "", "", "https_proxy"},
		{"socks", Config{AllProxy: "socks5://proxy:1080"}, "", "", "all_proxy"},
		{"no scheme", Config{HTTPProxy: "proxy:3128"}, "", "", "http_proxy"},
		{"no host", Config{HTTPProxy: "http://:3128"}, "", "", "http_proxy"},
		{"path", Config{HTTPProxy: "http://proxy:3128/x"}, "", "", "http_proxy"},
		{"query", Config{HTTPProxy: "http://proxy:3128/?a"}, "", "", "http_proxy"},
		{"bad port", Config{HTTPProxy: "http://proxy:99999"}, "", "", "http_proxy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse(tt.cfg)
			if tt.want != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.want+":") {
					t.Fatalf("error %v, want one naming %s", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := func(scheme string) string {
				if u := p.For(scheme); u != nil {
					return u.String()
				}
				return ""
			}
			if got("http") != tt.http || got("https") != tt.https {
				t.Fatalf("http %q, https %q", got("http"), got("https"))
			}
			if p.Empty() != (tt.http == "" && tt.https == "") {
				t.Fatalf("Empty() = %v", p.Empty())
			}
			if p.For("ws") != nil {
				t.Fatal("a proxy for another scheme")
			}
		})
	}
}

// FuzzParse: an accepted proxy is an http URL with a host and a port.
func FuzzParse(f *testing.F) {
	f.Add("http://foo:bar@192.168.15.103:8888/")
	f.Add("http://[::1]")
	f.Fuzz(func(t *testing.T, raw string) {
		p, err := Parse(Config{AllProxy: raw})
		if err != nil || raw == "" {
			return
		}
		u := p.For("http")
		if u == nil || u.Scheme != "http" || u.Hostname() == "" || u.Port() == "" {
			t.Fatalf("%q gave %v", raw, u)
		}
	})
}
