package authz

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

type exchange struct {
	name   string
	method string
	target string
	header map[string]string
	body   string
	status int
	want   map[string]string // response headers; "" means absent
	wantIn string            // a substring of the response body
}

func runExchanges(t *testing.T, d *Door, cases []exchange) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var body *strings.Reader
			if c.body != "" {
				body = strings.NewReader(c.body)
			}
			var r *http.Request
			if body != nil {
				r = httptest.NewRequest(c.method, c.target, body)
			} else {
				r = httptest.NewRequest(c.method, c.target, nil)
			}
			for k, v := range c.header {
				if k == "Host" {
					r.Host = v
					continue
				}
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			d.ServeHTTP(w, r)
			if w.Code != c.status {
				t.Fatalf("status = %d, want %d; body %q", w.Code, c.status, w.Body.String())
			}
			for k, v := range c.want {
				if got := w.Header().Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			if !strings.Contains(w.Body.String(), c.wantIn) {
				t.Errorf("body %q does not contain %q", w.Body.String(), c.wantIn)
			}
		})
	}
}

func TestEnvoyHTTP(t *testing.T) {
	d := loadDoor(t, nil, nil)
	tok := "Bearer " + testToken(t, "alice")
	runExchanges(t, d, []exchange{
		{name: "token allows with mutations", method: "DELETE", target: "/v1/authz/envoy/orders/7?force=1",
			header: map[string]string{"Authorization": tok, "X-Forwarded-For": "192.0.2.7"}, status: 200,
			want: map[string]string{"X-User": "alice", "X-Client-Ip": "192.0.2.7",
				"X-Envoy-Auth-Headers-To-Remove": "Authorization", "X-Authorized-By": "verdict"}},
		{name: "no token is 401 with a challenge", method: "POST", target: "/v1/authz/envoy/a/b/c",
			status: 401, want: map[string]string{"WWW-Authenticate": `Bearer realm="test"`, "X-User": ""}, wantIn: "sign in first"},
		{name: "token of another issuer is refused", method: "GET", target: "/v1/authz/envoy/x",
			header: map[string]string{"Authorization": "Bearer " + hs256(t, testSecret, map[string]any{"sub": "eve", "iss": "other"})},
			status: 401},
		{name: "token with a bad signature is refused", method: "GET", target: "/v1/authz/envoy/x",
			header: map[string]string{"Authorization": "Bearer " + hs256(t, "another-secret-of-16-bytes", map[string]any{"sub": "eve", "iss": testIssuer})},
			status: 401},
		{name: "json deny", method: "PUT", target: "/v1/authz/envoy/json-deny", status: 403,
			want: map[string]string{"Content-Type": "application/json", "X-Deny-Reason": "json-deny"}, wantIn: `"message":"no PUT on /json-deny"`},
		{name: "redirect", method: "GET", target: "/v1/authz/envoy/login-first", status: 302,
			want: map[string]string{"Location": "https://login.example.com/?next=/login-first"}},
		{name: "204 deny", method: "GET", target: "/v1/authz/envoy/no-content", status: 204},
		{name: "query, host and scheme", method: "GET", target: "/v1/authz/envoy/search?q=verdict",
			header: map[string]string{"Host": "shop.example.com", "X-Forwarded-Proto": "https"}, status: 200,
			want: map[string]string{"X-Trace": "search-q=verdict"}},
		{name: "body is read", method: "POST", target: "/v1/authz/envoy/upload", body: "this is ok",
			header: map[string]string{"X-Envoy-Auth-Partial-Body": "false"}, status: 200},
		{name: "partial body is refused", method: "POST", target: "/v1/authz/envoy/upload", body: "this is ok",
			header: map[string]string{"X-Envoy-Auth-Partial-Body": "true"}, status: 413, wantIn: "body refused"},
		{name: "oversized body", method: "POST", target: "/v1/authz/envoy/upload", body: strings.Repeat("x", 5000),
			status: 413, wantIn: "limits.max_body_bytes"},
		{name: "bad obligation denies without a 5xx", method: "GET", target: "/v1/authz/envoy/broken", status: 403},
		{name: "bare prefix is the root path", method: "GET", target: "/v1/authz/envoy", status: 401},
	})
}

func TestNginx(t *testing.T) {
	d := loadDoor(t, nil, nil)
	tok := "Bearer " + testToken(t, "bob")
	runExchanges(t, d, []exchange{
		{name: "allow with identity", method: "GET", target: "/v1/authz/nginx",
			header: map[string]string{"X-Original-URI": "/orders?id=1", "X-Original-Method": "POST", "Authorization": tok},
			status: 200, want: map[string]string{"X-User": "bob", "X-Envoy-Auth-Headers-To-Remove": ""}},
		{name: "401 keeps only the challenge", method: "GET", target: "/v1/authz/nginx",
			header: map[string]string{"X-Original-URI": "/orders", "X-Original-Method": "POST"},
			status: 401, want: map[string]string{"WWW-Authenticate": `Bearer realm="test"`}},
		{name: "redirect becomes 403", method: "GET", target: "/v1/authz/nginx",
			header: map[string]string{"X-Original-URI": "/login-first"}, status: 403, want: map[string]string{"Location": ""}},
		{name: "204 deny becomes 403", method: "GET", target: "/v1/authz/nginx",
			header: map[string]string{"X-Original-URI": "/no-content"}, status: 403},
		{name: "forwarded headers as fallback", method: "GET", target: "/v1/authz/nginx",
			header: map[string]string{"X-Forwarded-Uri": "/search?q=verdict", "X-Forwarded-Host": "shop.example.com", "X-Forwarded-Proto": "https"},
			status: 200, want: map[string]string{"X-Trace": "search-q=verdict"}},
		{name: "missing URI names the header", method: "GET", target: "/v1/authz/nginx", status: 400, wantIn: "X-Original-URI"},
		{name: "POST is not the subrequest", method: "POST", target: "/v1/authz/nginx", status: 405,
			want: map[string]string{"Allow": "GET, HEAD"}},
	})
}

func TestForward(t *testing.T) {
	d := loadDoor(t, nil, nil)
	tok := "Bearer " + testToken(t, "carol")
	fwd := func(method, uri string, extra ...string) map[string]string {
		h := map[string]string{"X-Forwarded-Method": method, "X-Forwarded-Uri": uri,
			"X-Forwarded-Proto": "https", "X-Forwarded-Host": "shop.example.com", "X-Forwarded-For": "198.51.100.1, 10.0.0.2"}
		for i := 0; i+1 < len(extra); i += 2 {
			h[extra[i]] = extra[i+1]
		}
		return h
	}
	runExchanges(t, d, []exchange{
		{name: "allow with identity", method: "GET", target: "/v1/authz/forward", header: fwd("DELETE", "/orders/1", "Authorization", tok),
			status: 200, want: map[string]string{"X-User": "carol", "X-Client-Ip": "10.0.0.2"}},
		{name: "deny 401 with challenge and body", method: "GET", target: "/v1/authz/forward", header: fwd("POST", "/orders"),
			status: 401, want: map[string]string{"WWW-Authenticate": `Bearer realm="test"`}, wantIn: "sign in first"},
		{name: "redirect passes", method: "GET", target: "/v1/authz/forward", header: fwd("GET", "/login-first"),
			status: 302, want: map[string]string{"Location": "https://login.example.com/?next=/login-first"}},
		{name: "json deny", method: "GET", target: "/v1/authz/forward", header: fwd("PATCH", "/json-deny"),
			status: 403, wantIn: "no PATCH on /json-deny"},
		{name: "204 deny is not an allow", method: "GET", target: "/v1/authz/forward", header: fwd("GET", "/no-content"), status: 403},
		{name: "query", method: "GET", target: "/v1/authz/forward", header: fwd("GET", "/search?q=verdict"),
			status: 200, want: map[string]string{"X-Trace": "search-q=verdict"}},
		{name: "preserved method and sub-path", method: "PUT", target: "/v1/authz/forward/json-deny", status: 403, wantIn: "no PUT"},
	})
}

func TestNotConfigured(t *testing.T) {
	d := New(nil, nil)
	for _, target := range []string{"/v1/authz/envoy/x", "/v1/authz/nginx", "/v1/authz/forward", "/.well-known/authzen-configuration"} {
		w := httptest.NewRecorder()
		d.ServeHTTP(w, httptest.NewRequest("GET", target, nil))
		if w.Code != 404 || !strings.Contains(w.Body.String(), "not configured") {
			t.Errorf("%s: %d %s", target, w.Code, w.Body.String())
		}
	}
	w := httptest.NewRecorder()
	d.ServeHTTP(w, httptest.NewRequest("GET", "/v1/authz/other", nil))
	if w.Code != 404 {
		t.Errorf("unknown path: %d", w.Code)
	}
}

// TestEmbeddedDefault checks the built-in configuration answers on every
// adapter: reads are open, writes need an admin token.
func TestEmbeddedDefault(t *testing.T) {
	d := defaultDoor(t)
	admin := "Bearer " + hs256(t, exampleSecret, map[string]any{"sub": "root", "role": "admin"})
	user := "Bearer " + hs256(t, exampleSecret, map[string]any{"sub": "joe", "role": "viewer"})
	runExchanges(t, d, []exchange{
		{name: "envoy read", method: "GET", target: "/v1/authz/envoy/docs", status: 200,
			want: map[string]string{"X-Verdict-User": "anonymous", "X-Envoy-Auth-Headers-To-Remove": ""}},
		{name: "envoy read with a token strips it", method: "GET", target: "/v1/authz/envoy/docs", header: map[string]string{"Authorization": user},
			status: 200, want: map[string]string{"X-Verdict-User": "joe", "X-Envoy-Auth-Headers-To-Remove": "Authorization"}},
		{name: "envoy read with a bad token is anonymous", method: "GET", target: "/v1/authz/envoy/docs", header: map[string]string{"Authorization": "Bearer x.y.z"},
			status: 200, want: map[string]string{"X-Verdict-User": "anonymous", "X-Envoy-Auth-Headers-To-Remove": "Authorization"}},
		{name: "envoy write without token", method: "POST", target: "/v1/authz/envoy/docs", status: 401,
			want: map[string]string{"WWW-Authenticate": `Bearer realm="verdict"`}},
		{name: "envoy write as viewer", method: "POST", target: "/v1/authz/envoy/docs", header: map[string]string{"Authorization": user},
			status: 403, wantIn: "not viewer"},
		{name: "envoy write as admin", method: "POST", target: "/v1/authz/envoy/docs", header: map[string]string{"Authorization": admin},
			status: 200, want: map[string]string{"X-Verdict-User": "root", "X-Verdict-Role": "admin"}},
		{name: "nginx read", method: "GET", target: "/v1/authz/nginx", header: map[string]string{"X-Original-URI": "/", "X-Original-Method": "HEAD"}, status: 200},
		{name: "nginx write", method: "GET", target: "/v1/authz/nginx", header: map[string]string{"X-Original-URI": "/", "X-Original-Method": "PUT"}, status: 401},
		{name: "forward write as admin", method: "GET", target: "/v1/authz/forward",
			header: map[string]string{"X-Forwarded-Uri": "/x", "X-Forwarded-Method": "DELETE", "Authorization": admin}, status: 200},
		{name: "authzen read", method: "POST", target: "/access/v1/evaluation",
			body:   `{"subject":{"type":"user","id":"joe"},"action":{"name":"read"},"resource":{"type":"doc","id":"1"}}`,
			status: 200, wantIn: `"decision":true`},
		{name: "authzen write as admin", method: "POST", target: "/access/v1/evaluation",
			body:   `{"subject":{"type":"user","id":"ann","properties":{"role":"admin"}},"action":{"name":"delete"},"resource":{"type":"doc","id":"1"}}`,
			status: 200, wantIn: `"decision":true`},
		{name: "authzen write", method: "POST", target: "/access/v1/evaluation",
			body:   `{"subject":{"type":"user","id":"joe"},"action":{"name":"delete"},"resource":{"type":"doc","id":"1"}}`,
			status: 200, wantIn: `"decision":false`},
	})
}
