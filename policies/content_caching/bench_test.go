package contentcaching_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	contentcaching "github.com/verdict-policy/verdict/policies/content_caching"
	"github.com/verdict-policy/verdict/policies/internal/policytest"
)

// BenchmarkContentCaching measures a request the rules keep out of the
// cache, and one answered from the memory store.
func BenchmarkContentCaching(b *testing.B) {
	r := httptest.NewRequest("GET", "http://api.example.com/items?page=2", nil)
	body := []byte(`{"items": [1, 2, 3]}`)
	header := http.Header{"Content-Type": {"application/json"}}
	b.Run("no rule holds", func(b *testing.B) {
		ch := policytest.Build(b, policytest.Entry(contentcaching.Name,
			`{"rules": [{"cache": true, "condition": {"operations": [{"left": "{{ uri }}", "left_type": "liquid", "op": "==", "right": "/other"}]}}]}`))
		defer ch.Close()
		policytest.Benchmark(b, ch, r, 200, header, body)
	})
	b.Run("hit", func(b *testing.B) {
		ch := policytest.Build(b, policytest.Entry(contentcaching.Name, `{"rules": [{"cache": true}]}`))
		defer ch.Close()
		res := policytest.Run(ch, r, "192.0.2.1", func(*http.Request) (int, http.Header, []byte) { return 200, header, body }, 0)
		if res.Header.Get("X-Cache-Status") != "MISS" {
			b.Fatalf("priming: %v", res.Header)
		}
		policytest.Benchmark(b, ch, r, 200, header, body)
	})
}
