package authz

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// envoyFilter behaves as Envoy's ext_authz HTTP filter does (see the
// filter's RawHttpClientImpl and its documentation): it calls the
// authorization server with the client's method and path_prefix + the
// client's path, sends only Authorization, the allowed headers and
// Content-Length, and then allows on exactly 200, fails closed with 403
// on a 5xx, an error or a timeout, and otherwise denies with the
// server's status, headers and body.
type envoyFilter struct {
	authz           string // the authorization server's base URL
	pathPrefix      string
	allowedHeaders  []string
	upstreamHeaders []string // allowed_upstream_headers: set on the upstream request
	appendHeaders   []string // allowed_upstream_headers_to_append
	clientOnSuccess []string // allowed_client_headers_on_success
	withBody        bool
	maxRequestBytes int
	allowPartial    bool
	timeout         time.Duration
	upstream        string
}

// noRedirects is an HTTP client that hands back redirects, as Envoy and
// a test client checking a 302 need.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

var envoyHopHeaders = map[string]bool{"Host": true, "Content-Length": true, "Connection": true, "Transfer-Encoding": true}

func (e *envoyFilter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), e.timeout)
	defer cancel()
	clientBody, _ := io.ReadAll(r.Body)
	var authBody []byte
	partial := false
	if e.withBody {
		authBody = clientBody
		if len(authBody) > e.maxRequestBytes {
			if !e.allowPartial {
				w.WriteHeader(http.StatusRequestEntityTooLarge)
				return
			}
			authBody, partial = authBody[:e.maxRequestBytes], true
		}
	}
	areq, _ := http.NewRequestWithContext(ctx, r.Method, e.authz+e.pathPrefix+r.URL.RequestURI(), bytes.NewReader(authBody))
	areq.Host = r.Host
	areq.ContentLength = int64(len(authBody))
	if v := r.Header.Get("Authorization"); v != "" {
		areq.Header.Set("Authorization", v)
	}
	for _, h := range e.allowedHeaders {
		if v := r.Header.Values(h); len(v) > 0 {
			areq.Header[http.CanonicalHeaderKey(h)] = v
		}
	}
	if e.withBody {
		areq.Header.Set("X-Envoy-Auth-Partial-Body", strconv.FormatBool(partial))
	}
	ares, err := noRedirects.Do(areq)
	if err != nil {
		w.WriteHeader(http.StatusForbidden) // status_on_error
		return
	}
	defer ares.Body.Close()
	abody, err := io.ReadAll(ares.Body)
	if err != nil || ares.StatusCode >= 500 {
		w.WriteHeader(http.StatusForbidden)
		return
	}
	if ares.StatusCode != http.StatusOK {
		for k, vs := range ares.Header {
			if !envoyHopHeaders[k] {
				w.Header()[k] = vs
			}
		}
		w.WriteHeader(ares.StatusCode)
		_, _ = w.Write(abody)
		return
	}
	ureq, _ := http.NewRequestWithContext(r.Context(), r.Method, e.upstream+r.URL.RequestURI(), bytes.NewReader(clientBody))
	ureq.Header = r.Header.Clone()
	for _, h := range e.upstreamHeaders {
		if vs := ares.Header.Values(h); len(vs) > 0 {
			ureq.Header[http.CanonicalHeaderKey(h)] = vs
		}
	}
	for _, h := range e.appendHeaders {
		for _, v := range ares.Header.Values(h) {
			ureq.Header.Add(h, v)
		}
	}
	for _, name := range strings.Split(ares.Header.Get("X-Envoy-Auth-Headers-To-Remove"), ",") {
		if name = strings.TrimSpace(name); name != "" && !strings.HasPrefix(name, ":") && !strings.EqualFold(name, "host") {
			ureq.Header.Del(name)
		}
	}
	ures, err := noRedirects.Do(ureq)
	if err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	defer ures.Body.Close()
	for k, vs := range ures.Header {
		w.Header()[k] = vs
	}
	for _, h := range e.clientOnSuccess {
		if vs := ares.Header.Values(h); len(vs) > 0 {
			w.Header()[http.CanonicalHeaderKey(h)] = vs
		}
	}
	w.WriteHeader(ures.StatusCode)
	_, _ = io.Copy(w, ures.Body)
}

// seenRequest is what the test upstream got.
type seenRequest struct {
	method, uri string
	header      http.Header
}

// TestEnvoyHTTPContract runs every row of the ext_authz HTTP test matrix
// through an Envoy-behaving filter, a real Verdict HTTP server and a test
// upstream, all on loopback.
func TestEnvoyHTTPContract(t *testing.T) {
	door := loadDoor(t, nil, nil)
	// faults stands in for a broken or slow authorization server, for the
	// rows about Envoy's failure handling; Verdict answers everything else.
	faults := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, EnvoyPath+"/fault/500"):
			http.Error(w, "broken", http.StatusInternalServerError)
		case strings.HasPrefix(r.URL.Path, EnvoyPath+"/fault/slow"):
			time.Sleep(300 * time.Millisecond)
			door.ServeHTTP(w, r)
		default:
			door.ServeHTTP(w, r)
		}
	})
	authzSrv := httptest.NewServer(faults)
	defer authzSrv.Close()
	seen := make(chan seenRequest, 16)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- seenRequest{r.Method, r.RequestURI, r.Header.Clone()}
		io.WriteString(w, "from upstream")
	}))
	defer up.Close()
	filter := &envoyFilter{
		authz: authzSrv.URL, pathPrefix: EnvoyPath, allowedHeaders: []string{"x-forwarded-proto"},
		upstreamHeaders: []string{"x-user", "x-client-ip"}, appendHeaders: []string{"x-trace"},
		clientOnSuccess: []string{"x-authorized-by"}, withBody: true, maxRequestBytes: 64, allowPartial: true,
		timeout: 200 * time.Millisecond, upstream: up.URL,
	}
	proxy := httptest.NewServer(filter)
	defer proxy.Close()
	tok := "Bearer " + testToken(t, "alice")

	rows := []struct {
		name     string
		method   string
		path     string
		auth     string
		body     string
		status   int
		header   map[string]string // at the client
		bodyHas  string
		upstream func(t *testing.T, s seenRequest) // nil: must not be reached
	}{
		{name: "1 injected x-user reaches the upstream, not the client", method: "GET", path: "/orders", auth: tok, status: 200,
			header: map[string]string{"X-User": "", "X-Authorized-By": "verdict"}, bodyHas: "from upstream",
			upstream: func(t *testing.T, s seenRequest) {
				if s.header.Get("X-User") != "alice" {
					t.Errorf("upstream X-User %q", s.header.Get("X-User"))
				}
			}},
		{name: "2 x-envoy-auth-headers-to-remove strips the credential", method: "GET", path: "/orders", auth: tok, status: 200,
			upstream: func(t *testing.T, s seenRequest) {
				if s.header.Get("Authorization") != "" {
					t.Errorf("upstream saw Authorization %q", s.header.Get("Authorization"))
				}
			}},
		{name: "3 403 with a JSON body", method: "GET", path: "/json-deny", status: 403,
			header: map[string]string{"Content-Type": "application/json"}, bodyHas: `"code":"forbidden"`},
		{name: "4 401 with WWW-Authenticate", method: "GET", path: "/orders", status: 401,
			header: map[string]string{"WWW-Authenticate": `Bearer realm="test"`}, bodyHas: "sign in first"},
		{name: "5 302 with Location", method: "GET", path: "/login-first?x=1", status: 302,
			header: map[string]string{"Location": "https://login.example.com/?next=/login-first"}},
		{name: "6 204 is a deny", method: "GET", path: "/no-content", status: 204},
		{name: "7 a 500 from the server gives 403", method: "GET", path: "/fault/500", auth: tok, status: 403},
		{name: "8 a server slower than 200 ms gives 403", method: "GET", path: "/fault/slow", auth: tok, status: 403},
		{name: "9 POST to an arbitrary path", method: "POST", path: "/a/b/c?d=e", auth: tok, status: 200,
			upstream: func(t *testing.T, s seenRequest) {
				if s.method != "POST" || s.uri != "/a/b/c?d=e" {
					t.Errorf("upstream got %s %s", s.method, s.uri)
				}
			}},
		{name: "9 PUT to an arbitrary path", method: "PUT", path: "/x/y", auth: tok, status: 200,
			upstream: func(t *testing.T, s seenRequest) {
				if s.method != "PUT" || s.uri != "/x/y" {
					t.Errorf("upstream got %s %s", s.method, s.uri)
				}
			}},
		{name: "9 DELETE to an arbitrary path", method: "DELETE", path: "/z", auth: tok, status: 200,
			upstream: func(t *testing.T, s seenRequest) {
				if s.method != "DELETE" {
					t.Errorf("upstream got %s", s.method)
				}
			}},
		{name: "10 the body arrives with x-envoy-auth-partial-body false", method: "POST", path: "/upload", body: "this is ok", status: 200,
			upstream: func(t *testing.T, s seenRequest) {}},
		{name: "10 a cut body arrives with x-envoy-auth-partial-body true", method: "POST", path: "/upload",
			body: "ok" + strings.Repeat(".", 100), status: 413, bodyHas: "body refused"},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			req, _ := http.NewRequest(row.method, proxy.URL+row.path, strings.NewReader(row.body))
			if row.auth != "" {
				req.Header.Set("Authorization", row.auth)
			}
			res, err := noRedirects.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != row.status {
				t.Fatalf("status %d, want %d; body %q", res.StatusCode, row.status, body)
			}
			for k, v := range row.header {
				if got := res.Header.Get(k); got != v {
					t.Errorf("client header %s = %q, want %q", k, got, v)
				}
			}
			if !strings.Contains(string(body), row.bodyHas) {
				t.Errorf("body %q does not contain %q", body, row.bodyHas)
			}
			select {
			case s := <-seen:
				if row.upstream == nil {
					t.Fatalf("a denied request reached the upstream: %s %s", s.method, s.uri)
				}
				row.upstream(t, s)
			default:
				if row.upstream != nil {
					t.Fatal("the upstream was not reached")
				}
			}
		})
	}
}
