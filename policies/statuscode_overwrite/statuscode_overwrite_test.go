package statuscodeoverwrite_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/verdict-policy/verdict/chain"
	_ "github.com/verdict-policy/verdict/policies/echo"
	"github.com/verdict-policy/verdict/policies/internal/policytest"
	statuscodeoverwrite "github.com/verdict-policy/verdict/policies/statuscode_overwrite"
)

func TestOverwrite(t *testing.T) {
	const cfg = `{"http_statuses": [{"upstream": 200, "apicast": 201}, {"upstream": 404, "apicast": 410}, {"upstream": 500, "apicast": 503}]}`
	tests := []struct {
		name     string
		config   string
		upstream int
		want     int
	}{
		{"mapped success", cfg, 200, 201},
		{"mapped client error", cfg, 404, 410},
		{"mapped server error", cfg, 500, 503},
		{"unmapped", cfg, 302, 302},
		{"unmapped near a mapped one", cfg, 501, 501},
		{"empty table", `{"http_statuses": []}`, 404, 404},
		{"no table", `{}`, 500, 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := policytest.Build(t, policytest.Entry(statuscodeoverwrite.Name, tt.config))
			res := policytest.Run(ch, httptest.NewRequest("GET", "/", nil), "192.0.2.1", func(*http.Request) (int, http.Header, []byte) {
				return tt.upstream, http.Header{"X-Up": {"1"}}, []byte("body")
			}, 0)
			if res.Status != tt.want || string(res.Body) != "body" || res.Header.Get("X-Up") != "1" {
				t.Errorf("got %d %q %v, want %d with the upstream's body and headers", res.Status, res.Body, res.Header, tt.want)
			}
		})
	}
}

func TestLocalResponse(t *testing.T) {
	ch := policytest.Build(t, policytest.Entry(statuscodeoverwrite.Name, `{"http_statuses": [{"upstream": 418, "apicast": 200}]}`),
		policytest.Entry("echo", `{"status": 418}`))
	res := policytest.Run(ch, httptest.NewRequest("GET", "/", nil), "192.0.2.1", nil, 0)
	if res.Status != 200 {
		t.Errorf("status %d, want 200", res.Status)
	}
}

func TestBadConfiguration(t *testing.T) {
	tests := []struct{ name, config, want string }{
		{"twice", `{"http_statuses": [{"upstream": 500, "apicast": 503}, {"upstream": 500, "apicast": 502}]}`, "http_statuses[1].upstream"},
		{"missing apicast", `{"http_statuses": [{"upstream": 500}]}`, "http_statuses.0"},
		{"out of range", `{"http_statuses": [{"upstream": 700, "apicast": 200}]}`, "http_statuses.0.upstream"},
		{"informational target", `{"http_statuses": [{"upstream": 200, "apicast": 101}]}`, "http_statuses.0.apicast"},
		{"string", `{"http_statuses": [{"upstream": "500", "apicast": 200}]}`, "http_statuses.0.upstream"},
	}
	var golden strings.Builder
	for _, tt := range tests {
		_, err := chain.Build([]chain.Entry{policytest.Entry(statuscodeoverwrite.Name, tt.config)}, chain.Env{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one naming %q", tt.name, err, tt.want)
			continue
		}
		fmt.Fprintf(&golden, "%s\n\t%s\n\t%v\n", tt.name, tt.config, err)
	}
	policytest.Golden(t, "load_errors.golden", golden.String())
}
