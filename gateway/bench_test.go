package gateway

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/config"
	"github.com/verdict-policy/verdict/pdl"
	_ "github.com/verdict-policy/verdict/policies/all"
)

// fourPolicies is the chain of the gateway benchmarks and load runs:
// headers, cors, url_rewriting and apicast, each doing real work on the
// benchmark request.
const fourPolicies = `
      policy_chain:
        - name: headers
          configuration:
            request: [{op: set, header: X-Gateway, value: verdict}]
            response: [{op: set, header: X-Served-By, value: verdict}]
        - name: cors
          configuration: {allow_origin: "https://app.example.com", allow_methods: [GET, POST]}
        - name: url_rewriting
          configuration:
            commands: [{op: sub, regex: "^/v2/", replace: "/api/"}]
        - name: apicast
`

// document300 is a policy document of 300 policies, each for one
// resource path, permitting readers and admins and setting a header;
// anyone else gets not_applicable, which authorize refuses.
func document300(tb testing.TB) *pdl.Document {
	var b strings.Builder
	b.WriteString(`{"id": "api", "policies": [`)
	for i := 0; i < 300; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"id": "resource-%d", "target": {"path": {"equals": "/api/resource-%d"}},
 "rules": [{"id": "readers", "condition": {"header.x-role": {"in": ["reader", "admin"]}}, "effect": "permit",
            "obligations": {"set_request_headers": {"X-Resource": "resource-%d"}}}]}`, i, i, i)
	}
	b.WriteString(`]}`)
	doc, err := pdl.Compile(pdl.Options{}, pdl.Source{Name: "api.json", Data: []byte(b.String())})
	if err != nil {
		tb.Fatal(err)
	}
	return doc
}

func benchState(tb testing.TB, chainYAML string) (*Gateway, *state) {
	tb.Helper()
	g, err := New(Options{})
	if err != nil {
		tb.Fatal(err)
	}
	cfg, err := config.Parse("bench.yaml", []byte("services:\n  - id: 1\n    proxy:\n      api_backend: http://127.0.0.1:9\n"+chainYAML))
	if err != nil {
		tb.Fatal(err)
	}
	st, err := g.build(cfg, []config.Document{{Name: "api", Document: document300(tb)}})
	if err != nil {
		tb.Fatal(err)
	}
	return g, st
}

func benchRequest() *http.Request {
	r := httptest.NewRequest("GET", "http://localhost/v2/resource-150?page=2", nil)
	r.Header.Set("Origin", "https://app.example.com")
	r.Header.Set("X-Role", "reader")
	r.Header.Set("Accept", "application/json")
	r.Header.Set("User-Agent", "bench")
	return r
}

// BenchmarkChain measures the chain alone, as the gateway runs it for a
// proxied request: a pooled context, every request phase, the header
// filters over an upstream's response header, post_action and log. The upstream exchange
// itself is not included; the one header map per iteration stands for
// the one the transport allocates.
func BenchmarkChain(b *testing.B) {
	cases := []struct{ name, chain string }{
		{"empty", "      policy_chain: []\n"},
		{"apicast", ""},
		{"headers_cors_url_rewriting_apicast", fourPolicies},
		{"authorize_300_policies_apicast", "      policy_chain: [{name: url_rewriting, configuration: {commands: [{op: sub, regex: '^/v2/', replace: '/api/'}]}}, {name: authorize, configuration: {policy: api}}, {name: apicast}]\n"},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			_, st := benchState(b, bc.chain)
			svc := st.lookup("localhost")
			r := benchRequest()
			b.ReportAllocs()
			for b.Loop() {
				c := chain.AcquireContext(r, "127.0.0.1", svc.logger, svc.chain.Exports())
				c.ServiceID, c.Service = svc.id, svc.view
				ch := svc.chain
				ch.Rewrite(c)
				ch.Access(c)
				ch.Content(c)
				if bc.name != "empty" && !c.Proxying() {
					b.Fatalf("not proxying: %d %s", c.Response.Status, c.Response.Body)
				}
				ch.Balance(c)
				c.Response.Status = 200
				c.Response.Header = http.Header{"Content-Type": {"application/json"}, "Content-Length": {"17"}}
				ch.HeaderFilter(c)
				ch.PostAction(c)
				ch.Log(c)
				c.Release()
			}
		})
	}
}

// discard is a ResponseWriter that keeps nothing.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(int)             {}

// BenchmarkServeLocal measures ServeHTTP for a request answered by the
// gateway itself: host look-up, context, an empty chain or echo, the
// response, metrics.
func BenchmarkServeLocal(b *testing.B) {
	for _, bc := range []struct{ name, chain string }{
		{"empty_chain", "      policy_chain: []\n"},
		{"echo", "      policy_chain: [{name: echo}]\n"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			g, st := benchState(b, bc.chain)
			g.state.Store(st)
			r := benchRequest()
			w := &discard{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				g.ServeHTTP(w, r)
			}
		})
	}
}

// BenchmarkServeProxied measures a whole proxied request to an upstream on
// a loopback port, client included: through the gateway with the
// four-policy chain (a GET, and a POST of 1 KiB with a length and
// chunked), and through a minimal httputil.ReverseProxy as the baseline of
// the same run.
func BenchmarkServeProxied(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"hello": "world"}`)
	}))
	defer up.Close()
	g, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	cfg, err := config.Parse("bench.yaml", []byte("services:\n  - id: 1\n    proxy:\n      api_backend: "+up.URL+"\n"+fourPolicies))
	if err != nil {
		b.Fatal(err)
	}
	install, err := g.Prepare(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	install()
	target, _ := url.Parse(up.URL)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = &http.Transport{MaxIdleConnsPerHost: 64}
	payload := strings.NewReader(`{"items": [` + strings.Repeat(`"0123456789abcdef", `, 50) + `"end"]}`)
	for _, bc := range []struct {
		name    string
		handler http.Handler
		length  int64 // of the posted body; -1: chunked; 0: a GET
	}{
		{"gateway_four_policies", g, 0},
		{"gateway_four_policies_post_1k", g, payload.Size()},
		{"gateway_four_policies_post_1k_chunked", g, -1},
		{"reverseproxy_baseline", rp, 0},
	} {
		b.Run(bc.name, func(b *testing.B) {
			srv := httptest.NewServer(bc.handler)
			defer srv.Close()
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			method := "GET"
			if bc.length != 0 {
				method = "POST"
			}
			req, _ := http.NewRequest(method, srv.URL+"/v2/resource-1", nil)
			req.Host = "localhost"
			req.Header.Set("Origin", "https://app.example.com")
			body := io.NopCloser(payload)
			b.ReportAllocs()
			for b.Loop() {
				if bc.length != 0 {
					_, _ = payload.Seek(0, io.SeekStart)
					req.Body, req.ContentLength = body, bc.length
				}
				res, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != 200 {
					b.Fatalf("status %d", res.StatusCode)
				}
			}
		})
	}
}
