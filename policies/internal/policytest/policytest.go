// Package policytest drives builtin chain policies in tests: it builds a
// chain from entries and runs a request through its phases in the order
// the gateway does, with a stand-in for the upstream, so a policy's
// effect on the request sent upstream and on the response is visible
// without a network.
package policytest

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/verdict-policy/verdict/chain"
)

// Upstream stands in for the upstream server: it sees the request as the
// policies left it and returns a response status, headers and body.
type Upstream func(r *http.Request) (status int, header http.Header, body []byte)

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

// Run sends r through ch. Unless a policy answers or ends the request,
// up answers it (nil: 200 with an empty body). The response body passes
// through the body filters in chunks of chunk bytes (all at once when 0).
func Run(ch *chain.Chain, r *http.Request, clientIP string, up Upstream, chunk int) Result {
	c := chain.NewContext(r, clientIP, nil, ch.Exports())
	ch.Rewrite(c)
	ch.Access(c)
	ch.Content(c)
	res := Result{Context: c}
	if !c.Exited() && !c.Produced() {
		// No content producer in the chain: behave like the apicast
		// policy's proxying, so the policies under test see an upstream.
		res.Proxied = true
		if up != nil {
			status, h, body := up(c.Request)
			c.Response.Status = status
			for k, v := range h {
				c.Response.Header[k] = v
			}
			c.Response.Body = body
		} else {
			c.Response.Status = http.StatusOK
		}
	}
	if c.Response.Status == 0 {
		c.Response.Status = http.StatusOK
	}
	ch.HeaderFilter(c)
	body := c.Response.Body
	if ch.HasBodyFilters() {
		var out []byte
		step := chunk
		if step <= 0 || step > len(body) {
			step = len(body)
		}
		for i := 0; ; i += step {
			end := min(i+step, len(body))
			eof := end >= len(body)
			got, err := ch.BodyFilter(c, body[i:end], eof)
			if err != nil {
				res.BodyErr = err
				break
			}
			out = append(out, got...)
			if eof {
				break
			}
		}
		body = out
	}
	ch.PostAction(c)
	ch.Log(c)
	res.Status = c.Response.Status
	res.Header = c.Response.Header
	res.Body = body
	return res
}
