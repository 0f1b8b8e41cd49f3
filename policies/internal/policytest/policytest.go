// Package policytest drives builtin chain policies in tests: it builds a
// chain from entries and runs a request through its phases in the order
// the gateway does, with a stand-in for the upstream, so a policy's
// effect on the request sent upstream and on the response is visible
// without a network.
package policytest

import (
	"encoding/json"
	"flag"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/verdict-policy/verdict/chain"
)

// Upstream stands in for the upstream server: it sees the request as the
// policies left it and returns a response status, headers and body.
type Upstream func(r *http.Request) (status int, header http.Header, body []byte)

// Unreachable is the status an Upstream returns to act as a failed
// upstream request: the gateway then answers 502 itself, as a local
// response.
const Unreachable = -1

// Result is what a request came to.
type Result struct {
	// Context is the request's context after every phase.
	Context *chain.Context
	// Proxied reports whether the request reached the upstream.
	Proxied bool
	// Status, Header and Body are what the client gets.
	Status int
	Header http.Header
	Body   []byte
	// BodyErr is the error a body filter returned, if any.
	BodyErr error
}

// Entry returns a chain entry for a builtin policy with a configuration
// written as JSON.
func Entry(name, config string) chain.Entry {
	e := chain.Entry{Name: name, Version: chain.BuiltinVersion}
	if config != "" {
		e.Configuration = json.RawMessage(config)
	}
	return e
}

// Build builds a chain, failing the test on an error.
func Build(tb testing.TB, entries ...chain.Entry) *chain.Chain {
	tb.Helper()
	ch, err := chain.Build(entries, chain.Env{})
	if err != nil {
		tb.Fatalf("building the chain: %v", err)
	}
	return ch
}

// Run sends r through ch, in the gateway's order of phases (see
// chain.Chain.Begin). Unless a policy answers or ends the request, it is
// proxied, balancer included: to the upstream a content policy chose, or,
// when none produced content, to a stand-in for the apicast policy's
// upstream; up answers either (nil: 200 with an empty body). As in the
// gateway, a local answer's body passes through the body filters at once,
// and the upstream's body streams through them in chunks of chunk bytes
// (all at once when 0), then an empty last call.
func Run(ch *chain.Chain, r *http.Request, clientIP string, up Upstream, chunk int) Result {
	c := chain.NewContext(r, clientIP, nil, ch.Exports())
	ch.Begin(c, nil)
	if !c.Exited() && !c.Produced() {
		// No content producer in the chain: behave like the apicast
		// policy's proxying, so the policies under test see an upstream.
		c.ProxyTo(&chain.Upstream{URL: standInUpstream})
	}
	res := Result{Context: c}
	var body []byte
	if ch.Route(c, nil) {
		res.Proxied = true
		streamed := answer(c, up)
		ch.FilterHeader(c, nil)
		body = c.Response.Body
		if streamed != nil && c.Failed() == nil {
			// As the gateway does, a proxied body streams through the
			// body filters whatever the header filters left in
			// Response.Body.
			body = streamed
			if ch.HasBodyFilters() {
				body, res.BodyErr = stream(ch, c, body, chunk)
			}
		} else if ch.HasBodyFilters() {
			body, res.BodyErr = ch.BodyFilter(c, body, true)
		}
	} else {
		body = ch.AnswerLocal(c, nil)
		if body == nil && c.Failed() != nil {
			res.BodyErr = c.Failed()
		}
	}
	ch.Finish(c, nil)
	res.Status = c.Response.Status
	res.Header = c.Response.Header
	res.Body = body
	return res
}

// standInUpstream is where Run proxies a request no policy produced
// content for; up answers it.
var standInUpstream = &url.URL{Scheme: "http", Host: "upstream.test", Path: "/"}

// answer puts the upstream's answer in c and returns the body to stream.
func answer(c *chain.Context, up Upstream) []byte {
	if up == nil {
		c.Response.Status = http.StatusOK
		return []byte{}
	}
	status, h, body := up(c.Request)
	if status == Unreachable {
		c.Response.Status = http.StatusBadGateway
		c.Response.Header.Set("Content-Type", "text/plain; charset=utf-8")
		c.Response.Body = []byte("the upstream could not be reached\n")
		return nil
	}
	c.Response.Status = status
	for k, v := range h {
		c.Response.Header[k] = v
	}
	if body == nil {
		body = []byte{}
	}
	return body
}

// stream passes body through the body filters in chunks, then makes the
// last call with no data, as the gateway does with a proxied body.
func stream(ch *chain.Chain, c *chain.Context, body []byte, chunk int) ([]byte, error) {
	if chunk <= 0 {
		chunk = max(len(body), 1)
	}
	var out []byte
	for i := 0; i < len(body); i += chunk {
		got, err := ch.BodyFilter(c, body[i:min(i+chunk, len(body))], false)
		out = append(out, got...)
		if err != nil {
			return out, err
		}
	}
	got, err := ch.BodyFilter(c, nil, true)
	return append(out, got...), err
}

// Benchmark sends r through ch b.N times, phase by phase in the gateway's
// order (balancer included), with a fresh context each time. Unless a policy answers, the
// upstream's answer is status, header and body, the body passing the body
// filters in one chunk. The request r is not changed: each context works
// on its own copy.
func Benchmark(b *testing.B, ch *chain.Chain, r *http.Request, status int, header http.Header, body []byte) {
	b.Helper()
	exports := ch.Exports()
	filters := ch.HasBodyFilters()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		c := chain.NewContext(r, "192.0.2.1", nil, exports)
		ch.Begin(c, nil)
		if !c.Exited() && !c.Produced() {
			c.ProxyTo(&chain.Upstream{URL: standInUpstream})
		}
		if ch.Route(c, nil) {
			c.Response.Status = status
			for k, v := range header {
				c.Response.Header[k] = v
			}
			ch.FilterHeader(c, nil)
			if filters {
				if _, err := ch.BodyFilter(c, body, false); err == nil {
					_, _ = ch.BodyFilter(c, nil, true)
				}
			}
		} else {
			ch.AnswerLocal(c, nil)
		}
		ch.Finish(c, nil)
		if c.Failed() != nil {
			b.Fatalf("the request failed: %v", c.Failed())
		}
	}
}

// CheckArbitrary is the body of a fuzz test over a policy's
// configuration and request: the configuration must either fail to build
// with an error or build a chain that handles the request without a
// panic. The chain turns a panic into a 503, so the failure is looked for
// in the context.
func CheckArbitrary(t *testing.T, name, config, method, target, header string) {
	t.Helper()
	ch, err := chain.Build([]chain.Entry{Entry(name, config)}, chain.Env{})
	if err != nil {
		if err.Error() == "" {
			t.Fatal("empty error message")
		}
		return
	}
	r, err := http.NewRequest(method, "http://api.example.com/", nil)
	if err != nil {
		return
	}
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return
	}
	r.URL = u
	r.RequestURI = target
	for line := range strings.SplitSeq(header, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			r.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
		}
	}
	res := Run(ch, r, "192.0.2.1", func(up *http.Request) (int, http.Header, []byte) {
		return 200, http.Header{"Content-Length": {"5"}}, []byte("hello")
	}, 2)
	if f := res.Context.Failed(); f != nil && strings.Contains(f.Error(), "panic") {
		t.Fatalf("config %s, %s %s: %v", config, method, target, f)
	}
}

// update makes Golden rewrite golden files instead of comparing with them.
var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// Golden compares got with the golden file testdata/name, or rewrites the
// file when the test runs with -update.
func Golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from the golden file (run with -update after checking):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}
