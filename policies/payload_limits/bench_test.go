package payloadlimits_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/verdict-policy/verdict/policies/internal/policytest"
	payloadlimits "github.com/verdict-policy/verdict/policies/payload_limits"
)

func BenchmarkPayloadLimits(b *testing.B) {
	body := []byte(strings.Repeat("x", 512))
	cases := []struct {
		name, config string
		header       http.Header
	}{
		{"empty chain", "", http.Header{"Content-Length": {"512"}}},
		{"request limit, declared length", `{"request": 1024}`, http.Header{"Content-Length": {"512"}}},
		{"response limit, declared length", `{"response": 1024}`, http.Header{"Content-Length": {"512"}}},
		{"response limit, streamed", `{"response": 1024}`, http.Header{}},
	}
	r := httptest.NewRequest("POST", "http://api.example.com/upload", strings.NewReader("small body"))
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			ch := policytest.Build(b)
			if bc.config != "" {
				ch = policytest.Build(b, policytest.Entry(payloadlimits.Name, bc.config))
			}
			policytest.Benchmark(b, ch, r, 200, bc.header, body)
		})
	}
}
