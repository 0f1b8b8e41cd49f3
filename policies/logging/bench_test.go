package logging_test

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/policies/internal/policytest"
	"github.com/verdict-policy/verdict/policies/logging"
)

func BenchmarkLogging(b *testing.B) {
	cases := []struct{ name, config string }{
		{"default line", `{}`},
		{"custom line", `{"custom_logging": "{{ http_method }} {{ uri }} {{ status }}"}`},
		{"json object", `{"enable_json_logs": true, "json_object_config": [{"key": "uri", "value": "{{ uri }}", "value_type": "liquid"}, {"key": "k", "value": "v"}]}`},
		{"condition fails", `{"condition": {"operations": [{"match": "{{ status }}", "match_type": "liquid", "op": "==", "value": "500"}]}}`},
		{"access logs off", `{"enable_access_logs": false}`},
	}
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	r := httptest.NewRequest("GET", "http://api.example.com/p", nil)
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			ch, err := chain.Build([]chain.Entry{policytest.Entry(logging.Name, bc.config)}, chain.Env{Logger: logger})
			if err != nil {
				b.Fatal(err)
			}
			policytest.Benchmark(b, ch, r, 200, nil, nil)
		})
	}
}
