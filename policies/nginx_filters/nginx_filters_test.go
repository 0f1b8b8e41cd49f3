package nginxfilters_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/verdict-policy/verdict/chain"
	_ "github.com/verdict-policy/verdict/policies/headers"
	"github.com/verdict-policy/verdict/policies/internal/policytest"
	nginxfilters "github.com/verdict-policy/verdict/policies/nginx_filters"
)

func TestFilters(t *testing.T) {
	tests := []struct {
		name, config string
		sent         http.Header
		upstream     http.Header // what the upstream must get of the headers named
	}{
		{"removed", `{"headers": [{"name": "If-Match", "append": false}]}`,
			http.Header{"If-Match": {"anything"}, "Test": {"one"}}, http.Header{"If-Match": nil, "Test": {"one"}}},
		{"kept", `{"headers": [{"name": "If-Match", "append": true}]}`,
			http.Header{"If-Match": {"anything"}, "Test": {"one"}}, http.Header{"If-Match": {"anything"}, "Test": {"one"}}},
		{"any case, repeated values", `{"headers": [{"name": "if-none-match", "append": true}, {"name": "IF-MATCH", "append": false}]}`,
			http.Header{"If-None-Match": {`"a"`, `"b"`}, "If-Match": {"x"}}, http.Header{"If-None-Match": {`"a"`, `"b"`}, "If-Match": nil}},
		{"the last entry of a name wins", `{"headers": [{"name": "If-Match", "append": true}, {"name": "If-Match", "append": false}]}`,
			http.Header{"If-Match": {"x"}}, http.Header{"If-Match": nil}},
		{"absent stays absent", `{"headers": [{"name": "If-Match", "append": true}]}`,
			http.Header{}, http.Header{"If-Match": nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch, err := chain.Build([]chain.Entry{policytest.Entry(nginxfilters.Name, tt.config)}, chain.Env{Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest("GET", "http://api.test/", nil)
			for k, v := range tt.sent {
				r.Header[k] = v
			}
			var got http.Header
			res := policytest.Run(ch, r, "192.0.2.1", func(up *http.Request) (int, http.Header, []byte) {
				got = up.Header.Clone()
				return 200, nil, nil
			}, 0)
			if !res.Proxied {
				t.Fatalf("not proxied: %d", res.Status)
			}
			for k, want := range tt.upstream {
				if fmt.Sprint(got[k]) != fmt.Sprint(want) {
					t.Errorf("upstream got %s %q, want %q", k, got[k], want)
				}
			}
		})
	}
}

// TestHiddenDuringRewrite: as in APIcast, a header the policy handles is
// out of the request for the rest of the rewrite phase, and back from
// access on.
func TestHiddenDuringRewrite(t *testing.T) {
	ch := policytest.Build(t,
		policytest.Entry(nginxfilters.Name, `{"headers": [{"name": "If-Match", "append": true}]}`),
		policytest.Entry("headers", `{"request": [{"op": "set", "header": "X-Seen", "value": "[{{ headers['If-Match'] }}]", "value_type": "liquid"}]}`))
	r := httptest.NewRequest("GET", "http://api.test/", nil)
	r.Header.Set("If-Match", "v1")
	var got http.Header
	policytest.Run(ch, r, "192.0.2.1", func(up *http.Request) (int, http.Header, []byte) {
		got = up.Header.Clone()
		return 200, nil, nil
	}, 0)
	if got.Get("X-Seen") != "[]" || got.Get("If-Match") != "v1" {
		t.Fatalf("X-Seen %q, If-Match %q", got.Get("X-Seen"), got.Get("If-Match"))
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct{ name, config, want string }{
		{"no headers", `{}`, "headers"},
		{"empty list", `{"headers": []}`, "headers"},
		{"no append", `{"headers": [{"name": "If-Match"}]}`, "append"},
		{"bad name", `{"headers": [{"name": "If Match", "append": true}]}`, "name"},
		{"empty name", `{"headers": [{"name": "", "append": true}]}`, "name"},
	}
	var golden strings.Builder
	for _, tt := range tests {
		_, err := chain.Build([]chain.Entry{policytest.Entry(nginxfilters.Name, tt.config)}, chain.Env{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one naming %q", tt.name, err, tt.want)
			continue
		}
		fmt.Fprintf(&golden, "%s\n\t%s\n\t%v\n", tt.name, tt.config, err)
	}
	policytest.Golden(t, "load_errors.golden", golden.String())
}
