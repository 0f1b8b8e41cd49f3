package server

import (
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

// sharedDocument is written once in the request vocabulary and the header
// obligations that the authz front door and the gateway's authorize policy
// share.
const sharedDocument = `
- id: readers
  target: {method: {in: [GET, HEAD]}, path: {startsWith: /books}}
  condition:
    header.x-role: {equals: "reader, auditor"}
    query.shelf: {equals: "3"}
    uri: {startsWith: "/books/1?"}
    client_ip: {inCIDR: 127.0.0.0/8}
  effect: permit
  obligations:
    setRequestHeader: {X-User: "{{ header.x-user }}"}
    appendRequestHeader: {X-Tag: "{{ args.shelf }}"}
- id: strangers
  target: {path: {startsWith: /books}}
  condition: {not: {header.x-role: {exists: true}}}
  effect: deny
  obligations:
    denyStatus: 401
    setResponseHeader: {WWW-Authenticate: 'Bearer realm="books"'}
`

func TestOneDocumentServesAuthzAndAuthorize(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Header.Get("X-User")+" "+strings.Join(r.Header.Values("X-Tag"), ","))
	}))
	defer up.Close()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "books.yaml"), sharedDocument)
	s, _ := startGateway(t, "policies: {books: "+filepath.Join(dir, "books.yaml")+"}\n"+
		"authz: {forward: {policy: books}}\n"+
		"services:\n  - id: 1\n    proxy:\n      hosts: [books.test]\n      api_backend: "+up.URL+"\n"+
		"      policy_chain: [{name: authorize, configuration: {policy: books}}, {name: apicast}]\n")

	send := func(req *http.Request, role string) *http.Response {
		t.Helper()
		req.Header.Set("X-User", "ann")
		if role != "" {
			req.Header.Add("X-Role", "reader")
			req.Header.Add("X-Role", "auditor") // two lines, read as one joined value
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { res.Body.Close() })
		return res
	}
	forward := func(role string) *http.Response {
		req, _ := http.NewRequest("GET", "http://"+s.PolicyAddr()+"/v1/authz/forward", nil)
		req.Header.Set("X-Forwarded-Method", "GET")
		req.Header.Set("X-Forwarded-Uri", "/books/1?shelf=3")
		req.Header.Set("X-Forwarded-Host", "books.test")
		return send(req, role)
	}
	gateway := func(role string) *http.Response {
		req, _ := http.NewRequest("GET", "http://"+s.GatewayAddr()+"/books/1?shelf=3", nil)
		req.Host = "books.test"
		return send(req, role)
	}

	// Allowed: authz answers 200 with the changes for the proxy to copy;
	// the gateway makes them on the request it sends upstream.
	res := forward("reader")
	if res.StatusCode != 200 || res.Header.Get("X-User") != "ann" || res.Header.Get("X-Tag") != "3" {
		t.Errorf("authz allow: %d %v", res.StatusCode, res.Header)
	}
	res = gateway("reader")
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || string(body) != "ann 3" {
		t.Errorf("gateway allow: %d %q", res.StatusCode, body)
	}

	// Denied by the same rule: the same status and header from both.
	for name, res := range map[string]*http.Response{"authz": forward(""), "gateway": gateway("")} {
		if res.StatusCode != 401 || res.Header.Get("WWW-Authenticate") != `Bearer realm="books"` {
			t.Errorf("%s deny: %d %v", name, res.StatusCode, res.Header)
		}
	}
}
