package authz

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// discard is a ResponseWriter that keeps nothing, so a benchmark measures
// the adapter rather than a recorder.
type discard struct {
	h    http.Header
	code int
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(code int)        { d.code = code }

func (d *discard) reset() {
	clear(d.h)
	d.code = 0
}

// BenchmarkDecision is the decision alone, on a request the adapter has
// already normalised: the base the adapters are compared with.
func BenchmarkDecision(b *testing.B) {
	d := defaultDoor(b)
	s := d.snap.Load()
	admin := "Bearer " + hs256(b, exampleSecret, map[string]any{"sub": "root", "role": "admin"})
	for _, c := range []struct{ name, method, auth string }{
		{"read", "GET", ""},
		{"write_admin_jwt", "POST", admin},
		{"write_denied", "POST", ""},
	} {
		b.Run(c.name, func(b *testing.B) {
			hdr := http.Header{"Authorization": {c.auth}}
			var o Outcome
			b.ReportAllocs()
			for b.Loop() {
				req := Request{Method: c.method, Path: "/orders", Host: "shop.example.com", Scheme: "http", Header: hdr, verifier: s.verifier}
				dec := s.nginx.Decide(&req)
				_ = o.Read(&dec)
			}
		})
	}
}

// BenchmarkAdapter is one call through each adapter's ServeHTTP (or Check
// for gRPC), decision included.
func BenchmarkAdapter(b *testing.B) {
	d := defaultDoor(b)
	admin := "Bearer " + hs256(b, exampleSecret, map[string]any{"sub": "root", "role": "admin"})
	type call struct {
		name   string
		req    func() *http.Request
		status int
	}
	get := func(target string, h map[string]string) func() *http.Request {
		r := httptest.NewRequest("GET", target, nil)
		for k, v := range h {
			r.Header.Set(k, v)
		}
		return func() *http.Request { return r }
	}
	calls := []call{
		{"envoy_read", get("/v1/authz/envoy/orders?id=1", nil), 200},
		{"envoy_write_admin_jwt", func() *http.Request {
			r := httptest.NewRequest("POST", "/v1/authz/envoy/orders", nil)
			r.Header.Set("Authorization", admin)
			return r
		}, 200},
		{"envoy_write_denied", func() *http.Request { return httptest.NewRequest("POST", "/v1/authz/envoy/orders", nil) }, 401},
		{"nginx_read", get("/v1/authz/nginx", map[string]string{"X-Original-URI": "/orders?id=1", "X-Original-Method": "GET"}), 200},
		{"nginx_write_admin_jwt", get("/v1/authz/nginx", map[string]string{"X-Original-URI": "/orders", "X-Original-Method": "POST", "Authorization": admin}), 200},
		{"nginx_write_denied", get("/v1/authz/nginx", map[string]string{"X-Original-URI": "/orders", "X-Original-Method": "POST"}), 401},
		{"forward_read", get("/v1/authz/forward", map[string]string{"X-Forwarded-Uri": "/orders", "X-Forwarded-Method": "GET", "X-Forwarded-For": "192.0.2.1"}), 200},
		{"forward_write_denied", get("/v1/authz/forward", map[string]string{"X-Forwarded-Uri": "/orders", "X-Forwarded-Method": "DELETE"}), 401},
	}
	for _, c := range calls {
		b.Run(c.name, func(b *testing.B) {
			w := &discard{h: http.Header{}}
			r := c.req()
			b.ReportAllocs()
			for b.Loop() {
				w.reset()
				d.ServeHTTP(w, r)
			}
			if w.code != c.status {
				b.Fatalf("status %d, want %d", w.code, c.status)
			}
		})
	}
	b.Run("authzen_evaluation", func(b *testing.B) {
		const body = `{"subject":{"type":"user","id":"ann","properties":{"role":"admin"}},"action":{"name":"delete"},"resource":{"type":"doc","id":"1"}}`
		w := &discard{h: http.Header{}}
		b.ReportAllocs()
		for b.Loop() {
			w.reset()
			d.ServeHTTP(w, httptest.NewRequest("POST", EvaluationPath, strings.NewReader(body)))
		}
		if w.code != 200 {
			b.Fatalf("status %d", w.code)
		}
	})
	b.Run("grpc_check_write_admin_jwt", func(b *testing.B) {
		g := grpcAuthorization{d: d}
		in := checkRequest("POST", "/orders", map[string]string{"authorization": admin}, "")
		b.ReportAllocs()
		for b.Loop() {
			res, err := g.Check(context.Background(), in)
			if err != nil || res.GetOkResponse() == nil {
				b.Fatal(res, err)
			}
		}
	})
}
