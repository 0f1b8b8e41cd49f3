package cors_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/policies/cors"
	"github.com/verdict-policy/verdict/policies/internal/policytest"
)

func TestCORS(t *testing.T) {
	const all = `{"allow_headers": ["X-Custom-1", "X-Custom-2"], "allow_methods": ["GET", "POST"], "allow_origin": "https://app.example.com", "allow_credentials": true, "max_age": 60}`
	tests := []struct {
		name    string
		config  string
		method  string
		headers map[string]string
		// proxied says whether the upstream is reached.
		proxied bool
		status  int
		want    map[string]string // "" means absent
	}{
		{
			name: "preflight answered without the upstream", config: all, method: "OPTIONS",
			headers: map[string]string{"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST"},
			status:  204,
			want: map[string]string{"Access-Control-Allow-Origin": "https://app.example.com", "Access-Control-Allow-Methods": "GET, POST",
				"Access-Control-Allow-Headers": "X-Custom-1, X-Custom-2", "Access-Control-Allow-Credentials": "true", "Access-Control-Max-Age": "60", "Vary": ""},
		},
		{
			name: "OPTIONS without Access-Control-Request-Method is proxied", config: all, method: "OPTIONS",
			headers: map[string]string{"Origin": "https://app.example.com"},
			proxied: true, status: 200,
			want: map[string]string{"Access-Control-Allow-Origin": "https://app.example.com"},
		},
		{
			name: "OPTIONS without Origin is proxied", config: all, method: "OPTIONS",
			headers: map[string]string{"Access-Control-Request-Method": "POST"},
			proxied: true, status: 200,
			want: map[string]string{"Access-Control-Allow-Origin": ""},
		},
		{
			name: "actual request gets the headers", config: all, method: "GET",
			headers: map[string]string{"Origin": "https://app.example.com"},
			proxied: true, status: 200,
			want: map[string]string{"Access-Control-Allow-Origin": "https://app.example.com", "Access-Control-Allow-Methods": "GET, POST", "Vary": ""},
		},
		{
			name: "request without Origin gets none", config: all, method: "GET",
			proxied: true, status: 200,
			want: map[string]string{"Access-Control-Allow-Origin": "", "Access-Control-Allow-Methods": "", "Access-Control-Max-Age": "", "Vary": ""},
		},
		{
			name: "another origin gets the configured origin, as APIcast sends it", config: all, method: "GET",
			headers: map[string]string{"Origin": "https://evil.example.net"},
			proxied: true, status: 200,
			want: map[string]string{"Access-Control-Allow-Origin": "https://app.example.com", "Access-Control-Allow-Credentials": "true",
				"Access-Control-Allow-Methods": "GET, POST", "Access-Control-Max-Age": "60", "Vary": ""},
		},
		{
			name: "defaults echo the request", config: `{}`, method: "OPTIONS",
			headers: map[string]string{"Origin": "https://x.test", "Access-Control-Request-Method": "DELETE", "Access-Control-Request-Headers": "X-A, X-B"},
			status:  204,
			want: map[string]string{"Access-Control-Allow-Origin": "https://x.test", "Access-Control-Allow-Methods": "DELETE",
				"Access-Control-Allow-Headers": "X-A, X-B", "Access-Control-Allow-Credentials": "true", "Access-Control-Max-Age": "600"},
		},
		{
			name: "an empty allow_origin echoes any origin", config: `{"allow_origin": ""}`, method: "GET",
			headers: map[string]string{"Origin": "https://x.test"},
			proxied: true, status: 200,
			want: map[string]string{"Access-Control-Allow-Origin": "https://x.test", "Vary": "Origin"},
		},
		{
			name: "empty lists send no header", config: `{"allow_headers": [], "allow_methods": []}`, method: "OPTIONS",
			headers: map[string]string{"Origin": "https://x.test", "Access-Control-Request-Method": "DELETE", "Access-Control-Request-Headers": "X-A"},
			status:  204,
			want:    map[string]string{"Access-Control-Allow-Origin": "https://x.test", "Access-Control-Allow-Methods": "", "Access-Control-Allow-Headers": ""},
		},
		{
			name: "star without credentials says false", config: `{"allow_origin": "*", "allow_credentials": false}`, method: "GET",
			headers: map[string]string{"Origin": "https://x.test"},
			proxied: true, status: 200,
			want: map[string]string{"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Credentials": "false", "Vary": ""},
		},
		{
			name: "star with credentials echoes the origin", config: `{"allow_origin": "*"}`, method: "GET",
			headers: map[string]string{"Origin": "https://x.test"},
			proxied: true, status: 200,
			want: map[string]string{"Access-Control-Allow-Origin": "https://x.test", "Access-Control-Allow-Credentials": "true", "Vary": "Origin"},
		},
		{
			name: "APIcast's example pattern matches api", config: `{"allow_origin": "(api|web).test.com"}`, method: "GET",
			headers: map[string]string{"Origin": "http://api.test.com"},
			proxied: true, status: 200,
			want: map[string]string{"Access-Control-Allow-Origin": "http://api.test.com", "Vary": "Origin"},
		},
		{
			name: "a pattern is searched anywhere in the origin", config: `{"allow_origin": "https://(api|web)\\.test\\.com"}`, method: "GET",
			headers: map[string]string{"Origin": "https://api.test.com.example.net"},
			proxied: true, status: 200,
			want: map[string]string{"Access-Control-Allow-Origin": "https://api.test.com.example.net"},
		},
		{
			name: "anchors make a pattern match whole origins", config: `{"allow_origin": "^https://(api|web)\\.test\\.com$"}`, method: "GET",
			headers: map[string]string{"Origin": "https://api.test.com.example.net"},
			proxied: true, status: 200,
			want: map[string]string{"Access-Control-Allow-Origin": ""},
		},
		{
			name: "a pattern is case-sensitive", config: `{"allow_origin": "(api|web).test.com"}`, method: "GET",
			headers: map[string]string{"Origin": "http://API.test.com"},
			proxied: true, status: 200,
			want: map[string]string{"Access-Control-Allow-Origin": ""},
		},
		{
			name: "an unmatched origin gets the other headers", config: `{"allow_origin": "(api|web).test.com", "allow_methods": ["POST", "GET"], "max_age": 200, "allow_credentials": false}`, method: "GET",
			headers: map[string]string{"Origin": "http://staging.test.com", "Access-Control-Request-Headers": "Content-Type"},
			proxied: true, status: 200,
			want: map[string]string{"Access-Control-Allow-Origin": "", "Access-Control-Allow-Methods": "POST, GET", "Access-Control-Allow-Headers": "Content-Type",
				"Access-Control-Allow-Credentials": "false", "Access-Control-Max-Age": "200", "Vary": ""},
		},
		{
			name: "a preflight from an unmatched origin is answered with the other headers", config: `{"allow_origin": "^https://app\\.test$"}`, method: "OPTIONS",
			headers: map[string]string{"Origin": "https://evil.test", "Access-Control-Request-Method": "PUT"},
			status:  204,
			want:    map[string]string{"Access-Control-Allow-Origin": "", "Access-Control-Allow-Methods": "PUT", "Access-Control-Allow-Credentials": "true", "Access-Control-Max-Age": "600"},
		},
		{
			name: "exact origin is not a regex", config: `{"allow_origin": "https://a.example.com"}`, method: "GET",
			headers: map[string]string{"Origin": "https://aXexample.com"},
			proxied: true, status: 200,
			want: map[string]string{"Access-Control-Allow-Origin": "https://a.example.com", "Vary": ""},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := policytest.Build(t, policytest.Entry(cors.Name, tt.config))
			r := httptest.NewRequest(tt.method, "http://api.example.com/items", nil)
			for k, v := range tt.headers {
				r.Header.Set(k, v)
			}
			res := policytest.Run(ch, r, "192.0.2.1", nil, 0)
			if res.Proxied != tt.proxied || res.Status != tt.status {
				t.Fatalf("status %d proxied %v, want %d %v", res.Status, res.Proxied, tt.status, tt.proxied)
			}
			for k, want := range tt.want {
				if got := strings.Join(res.Header.Values(k), ", "); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

func TestVaryIsMerged(t *testing.T) {
	ch := policytest.Build(t, policytest.Entry(cors.Name, `{}`))
	for _, tt := range []struct{ upstream, want string }{
		{"Accept-Encoding", "Accept-Encoding, Origin"},
		{"origin", "origin"},
		{"*", "*"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Origin", "https://x.test")
		res := policytest.Run(ch, r, "192.0.2.1", func(*http.Request) (int, http.Header, []byte) {
			return 200, http.Header{"Vary": {tt.upstream}}, nil
		}, 0)
		if got := strings.Join(res.Header.Values("Vary"), ", "); got != tt.want {
			t.Errorf("Vary %q from upstream: got %q, want %q", tt.upstream, got, tt.want)
		}
	}
}

func TestBadConfiguration(t *testing.T) {
	tests := []struct{ name, config, want string }{
		{"invalid regex", `{"allow_origin": "https://(api"}`, "allow_origin: invalid regular expression"},
		{"unsupported regex", `{"allow_origin": "(?!evil).*"}`, "allow_origin: invalid regular expression"},
		{"bad method", `{"allow_methods": ["FETCH"]}`, "allow_methods.0"},
		{"negative max age", `{"max_age": -1}`, "max_age"},
		{"credentials as string", `{"allow_credentials": "yes"}`, "allow_credentials"},
		{"unknown field", `{"allow_origins": "*"}`, "allow_origins"},
	}
	var golden strings.Builder
	for _, tt := range tests {
		_, err := chain.Build([]chain.Entry{policytest.Entry(cors.Name, tt.config)}, chain.Env{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one naming %q", tt.name, err, tt.want)
			continue
		}
		fmt.Fprintf(&golden, "%s\n\t%s\n\t%v\n", tt.name, tt.config, err)
	}
	policytest.Golden(t, "load_errors.golden", golden.String())
}
