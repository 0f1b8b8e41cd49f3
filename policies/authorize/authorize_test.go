package authorize_test

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/verdict-policy/verdict/gateway/gatewaytest"
	_ "github.com/verdict-policy/verdict/policies/authorize"
	_ "github.com/verdict-policy/verdict/policies/url_rewriting"
)

// document is the policy document of the tests, in YAML.
const document = `
- id: readers
  priority: 1
  target: {method: {in: [GET, HEAD]}, path: {startsWith: /books}}
  condition: {header.x-api-key: {exists: true}}
  effect: permit
  obligations:
    set_request_headers: {X-Client: "{{ header.x-api-key }}", X-Service: "{{ service_id }}"}
    set_response_headers: {X-Decided-By: readers}
- id: no-key
  target: {path: {startsWith: /books}}
  condition: {not: {header.x-api-key: {exists: true}}}
  effect: deny
  obligations:
    set_response_headers: {WWW-Authenticate: 'ApiKey realm="books"'}
- id: by-attributes
  target: {path: {equals: /attrs}}
  condition:
    method: {equals: POST}
    host: {equals: localhost}
    scheme: {equals: http}
    query.color: {equals: blue}
    client_ip: {inCIDR: 127.0.0.0/8}
    service_id: {equals: lib}
    original.path: {equals: /old-attrs}
    uri: {equals: "/attrs?color=blue"}
  effect: permit
- id: odd-obligation
  target: {path: {equals: /odd}}
  effect: permit
  obligations:
    launch_rockets: {count: 3}
- id: authz-spelling
  target: {path: {equals: /shared}}
  condition: {header.x-role: {equals: "reader, writer"}}
  effect: permit
  obligations:
    setRequestHeader: {X-User: "{{ header.x-user }}"}
    appendRequestHeader: {X-Tag: shared}
    removeRequestHeader: [X-Secret]
    setResponseHeader: {X-Decided-By: shared}
- id: authz-denial
  target: {path: {equals: /shared}}
  condition: {not: {header.x-role: {exists: true}}}
  effect: deny
  obligations:
    denyStatus: 401
    denyBody: {error: who are you}
    setResponseHeader: {WWW-Authenticate: Bearer}
- id: authz-redirect
  target: {path: {equals: /login}}
  effect: deny
  obligations:
    redirect: https://login.example/
- id: malformed
  target: {path: {equals: /malformed}}
  effect: permit
  obligations:
    setRequestHeader: {"X Bad": v}
`

// do sends r without following redirects: a redirect is an answer here.
func do(t *testing.T, r *http.Request) gatewaytest.Result {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return gatewaytest.Result{Status: res.StatusCode, Header: res.Header, Body: string(body)}
}

func TestAuthorize(t *testing.T) {
	up := gatewaytest.StartUpstream(t, nil)
	tests := []struct {
		name, config, method, target string
		header                       map[string]string
		status                       int
		body                         string
		respHeader                   map[string]string
		upHeader                     map[string]string
	}{
		{name: "permit with header obligations", config: "{policy: books}", method: "GET", target: "/books/1",
			header: map[string]string{"X-Api-Key": "k1"}, status: 200, body: "upstream: GET /books/1",
			respHeader: map[string]string{"X-Decided-By": "readers"}, upHeader: map[string]string{"X-Client": "k1", "X-Service": "lib"}},
		{name: "deny with default answer and a response header", config: "{policy: books}", method: "GET", target: "/books/1",
			status: 403, body: "Forbidden\n", respHeader: map[string]string{"Www-Authenticate": `ApiKey realm="books"`}},
		{name: "configured refusal", config: "{policy: books, status: 401, body: 'key please', content_type: text/html}", method: "GET", target: "/books/1",
			status: 401, body: "key please", respHeader: map[string]string{"Content-Type": "text/html"}},
		{name: "not applicable is refused by default", config: "{policy: books}", method: "DELETE", target: "/elsewhere",
			status: 403, body: "Forbidden\n"},
		{name: "not applicable may be permitted", config: "{policy: books, not_applicable: permit}", method: "DELETE", target: "/elsewhere",
			status: 200, body: "upstream: DELETE /elsewhere"},
		{name: "request attributes after rewriting", config: "{policy: books}", method: "POST", target: "/old-attrs?color=blue",
			status: 200, body: "upstream: POST /attrs?color=blue"},
		{name: "a wrong attribute refuses", config: "{policy: books}", method: "POST", target: "/old-attrs?color=red",
			status: 403, body: "Forbidden\n"},
		{name: "an obligation it cannot carry out refuses", config: "{policy: books}", method: "GET", target: "/odd",
			status: 403, body: "Forbidden\n"},
		{name: "the authz obligations on a permit", config: "{policy: books}", method: "GET", target: "/shared",
			header: map[string]string{"X-Role": "reader", "X-User": "ann", "X-Tag": "client", "X-Secret": "s"}, status: 200, body: "upstream: GET /shared",
			respHeader: map[string]string{"X-Decided-By": "shared"}, upHeader: map[string]string{"X-User": "ann", "X-Tag": "client, shared", "X-Secret": ""}},
		{name: "the authz obligations on a denial", config: "{policy: books}", method: "GET", target: "/shared",
			status: 401, body: `{"error":"who are you"}`, respHeader: map[string]string{"Content-Type": "application/json", "Www-Authenticate": "Bearer"}},
		{name: "a redirect", config: "{policy: books}", method: "GET", target: "/login",
			status: 302, body: "Forbidden\n", respHeader: map[string]string{"Location": "https://login.example/"}},
		{name: "a malformed obligation refuses", config: "{policy: books}", method: "GET", target: "/malformed",
			status: 403, body: "Forbidden\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw := gatewaytest.Start(t, "")
			if err := os.WriteFile(filepath.Join(gw.Dir(), "books.yaml"), []byte(document), 0o644); err != nil {
				t.Fatal(err)
			}
			err := gw.Reload(`
policies: {books: books.yaml}
services:
  - id: lib
    proxy:
      api_backend: ` + up.URL + `
      policy_chain:
        - {name: url_rewriting, configuration: {commands: [{op: sub, regex: '^/old-', replace: '/'}]}}
        - {name: authorize, configuration: ` + tt.config + `}
        - {name: apicast}
`)
			if err != nil {
				t.Fatal(err)
			}
			before := len(up.Requests())
			r := gw.NewRequest(tt.method, tt.target, nil)
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			if tt.header["X-Role"] != "" {
				r.Header.Add("X-Role", "writer") // two lines, read as one joined value
			}
			res := do(t, r)
			if res.Status != tt.status || res.Body != tt.body {
				t.Fatalf("got %d %q, want %d %q", res.Status, res.Body, tt.status, tt.body)
			}
			for k, v := range tt.respHeader {
				if got := res.Header.Get(k); got != v {
					t.Errorf("response %s = %q, want %q", k, got, v)
				}
			}
			if tt.status != 200 {
				if len(up.Requests()) != before {
					t.Error("a refused request reached the upstream")
				}
				return
			}
			got := up.Last(t)
			for k, v := range tt.upHeader {
				if g := strings.Join(got.Header.Values(k), ", "); g != v {
					t.Errorf("upstream %s = %q, want %q", k, g, v)
				}
			}
		})
	}
}

func TestBadConfiguration(t *testing.T) {
	tests := []struct{ cfg, want string }{
		{"{}", "missing property 'policy'"},
		{"{policy: nowhere}", `there is no policy document named "nowhere"`},
		{"{policy: books, status: 200}", "status"},
		{"{policy: books, not_applicable: maybe}", "not_applicable"},
	}
	for _, tt := range tests {
		t.Run(tt.cfg, func(t *testing.T) {
			gw := gatewaytest.Start(t, "")
			if err := os.WriteFile(filepath.Join(gw.Dir(), "books.yaml"), []byte(document), 0o644); err != nil {
				t.Fatal(err)
			}
			err := gw.Reload("policies: {books: books.yaml}\nservices:\n  - proxy: {policy_chain: [{name: authorize, configuration: " + tt.cfg + "}]}\n")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one with %q", err, tt.want)
			}
		})
	}
}
