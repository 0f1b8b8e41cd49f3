package server

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// named is a handler that says which pattern it was registered for.
type named string

func (n named) ServeHTTP(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(n)) }

// TestFastRoutesAgreeWithServeMux holds the plain-pattern table to the
// ServeMux's choice for every path, clean or not, escaped or not.
func TestFastRoutesAgreeWithServeMux(t *testing.T) {
	patterns := map[string]http.Handler{}
	for _, p := range []string{"/v1/decide", "/v1/policies", "/policy/v1/", "/policy/v1/service/", "/base/policy/v1/", "/v1/messages/decide", "/v1/messages/decide-batch", "/authz/"} {
		patterns[p] = named(p)
	}
	mux := http.NewServeMux()
	for p, h := range patterns {
		mux.Handle(p, h)
	}
	mux.Handle("/", named("not found"))
	u := newUnredirected(mux, patterns)
	if u.exact == nil {
		t.Fatal("plain patterns did not get a fast table")
	}
	for _, target := range []string{
		"/v1/decide", "/v1/decide/", "/v1/decidex", "/v1/policies", "/policy/v1/service/configuration",
		"/policy/v1", "/policy/v1/", "/base/policy/v1/participant/avatar/a%40b", "/base/policy/v2/x",
		"/v1/messages/decide-batch", "/v1/messages/decide", "/authz/x/y", "/", "/nothing", "/v1%2Fdecide",
		"/policy%2Fv1/x", "/policy//v1/service/configuration", "/policy/v1/../v1/x",
	} {
		// The reference: the same wrapper with every path left to the
		// ServeMux.
		want := httptest.NewRecorder()
		unredirected{mux: mux}.ServeHTTP(want, httptest.NewRequest(http.MethodGet, target, nil))
		got := httptest.NewRecorder()
		u.ServeHTTP(got, httptest.NewRequest(http.MethodGet, target, nil))
		if got.Body.String() != want.Body.String() {
			t.Errorf("%s: routed to %q, the ServeMux picks %q", target, got.Body, want.Body)
		}
	}
	// A pattern the table cannot express leaves everything to the ServeMux.
	if u := newUnredirected(mux, map[string]http.Handler{"GET /x": named("x")}); u.exact != nil {
		t.Error("a method pattern got a fast table")
	}
}
