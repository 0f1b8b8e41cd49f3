package maintenancemode_test

import (
	"net/http/httptest"
	"testing"

	"github.com/verdict-policy/verdict/policies/internal/policytest"
	maintenancemode "github.com/verdict-policy/verdict/policies/maintenance_mode"
)

func BenchmarkMaintenance(b *testing.B) {
	cases := []struct{ name, config string }{
		{"empty chain", ""},
		{"always", `{}`},
		{"plain condition", `{"condition": {"operations": [{"left": "a", "op": "==", "right": "b"}]}}`},
		{"liquid condition", `{"condition": {"operations": [{"left": "{{ uri }}", "left_type": "liquid", "op": "matches", "right": "^/billing/"}]}}`},
	}
	r := httptest.NewRequest("GET", "http://api.example.com/items", nil)
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			ch := policytest.Build(b)
			if bc.config != "" {
				ch = policytest.Build(b, policytest.Entry(maintenancemode.Name, bc.config))
			}
			policytest.Benchmark(b, ch, r, 200, nil, nil)
		})
	}
}
