package ipcheck_test

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/verdict-policy/verdict/policies/internal/policytest"
	ipcheck "github.com/verdict-policy/verdict/policies/ip_check"
)

func BenchmarkIPCheck(b *testing.B) {
	var many []string
	for i := range 100 {
		many = append(many, fmt.Sprintf(`"10.%d.0.0/16"`, i))
	}
	cases := []struct{ name, config string }{
		{"empty chain", ""},
		{"whitelist, one range", `{"check_type": "whitelist", "ips": ["192.0.2.0/24"]}`},
		{"blacklist, 100 ranges", `{"check_type": "blacklist", "ips": [` + strings.Join(many, ",") + `]}`},
		{"X-Forwarded-For", `{"check_type": "whitelist", "ips": ["203.0.113.0/24"], "client_ip_sources": ["X-Forwarded-For"]}`},
	}
	r := httptest.NewRequest("GET", "http://api.example.com/", nil)
	r.Header.Set("X-Forwarded-For", "203.0.113.5, 10.0.0.1")
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			ch := policytest.Build(b)
			if bc.config != "" {
				ch = policytest.Build(b, policytest.Entry(ipcheck.Name, bc.config))
			}
			policytest.Benchmark(b, ch, r, 200, nil, nil)
		})
	}
}
