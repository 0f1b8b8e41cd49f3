package nginxfilters_test

import (
	"net/http/httptest"
	"testing"

	"github.com/verdict-policy/verdict/policies/internal/policytest"
	nginxfilters "github.com/verdict-policy/verdict/policies/nginx_filters"
)

func BenchmarkNginxFilters(b *testing.B) {
	for _, bc := range []struct{ name, ifMatch string }{{"header absent", ""}, {"header kept", "v1"}} {
		b.Run(bc.name, func(b *testing.B) {
			ch := policytest.Build(b, policytest.Entry(nginxfilters.Name, `{"headers": [{"name": "If-Match", "append": true}, {"name": "If-None-Match", "append": false}]}`))
			r := httptest.NewRequest("GET", "http://api.test/items", nil)
			if bc.ifMatch != "" {
				r.Header.Set("If-Match", bc.ifMatch)
			}
			policytest.Benchmark(b, ch, r, 200, nil, nil)
		})
	}
}
