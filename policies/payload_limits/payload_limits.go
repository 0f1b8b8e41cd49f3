// Package payloadlimits is the builtin chain policy "payload_limits"
// (APIcast's Response/Request content limits): it answers 413 to request
// bodies and response bodies over a size limit. Unlike APIcast, which only
// reads Content-Length, it also counts bodies of unknown length as they
// stream, without buffering them.
package payloadlimits

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/policies/internal/builtin"
)

// Name is the policy's name in a chain entry.
const Name = "payload_limits"

// Message is the body of the 413 answer that replaces a response over the
// limit: 17 bytes, no newline, as APIcast sends it.
const Message = "Payload Too Large"

// RequestMessage is the body of the 413 answer to a request over the
// limit; APIcast prints it with a newline.
const RequestMessage = Message + "\n"

// contentType is nginx's default type, which APIcast's 413 answers get.
const contentType = "text/plain"

//go:embed apicast-policy.json
var manifestJSON []byte

func init() {
	builtin.Simple(Name, manifestJSON, New)
}

// Config is the policy's configuration: limits in bytes, 0 for none.
type Config struct {
	// Request is the largest request body accepted.
	Request int64 `json:"request"`
	// Response is the largest response body sent.
	Response int64 `json:"response"`
}

// ErrResponseTooLarge is the body filter's error for a response of
// unknown length that grew past the limit; the gateway then closes the
// connection.
var ErrResponseTooLarge = errors.New("response body over the payload limit")

// Policy enforces the request limit; it acts in access and header_filter.
// It is safe for concurrent use.
type Policy struct {
	request, response int64
}

// WithResponseLimit is the policy with a response limit, which needs the
// body_filter phase as well. New returns it only when a response limit is
// set, so that chains without one keep unfiltered response bodies.
type WithResponseLimit struct {
	Policy
}

var (
	_ chain.Accessor     = (*Policy)(nil)
	_ chain.HeaderFilter = (*Policy)(nil)
	_ chain.BodyFilter   = (*WithResponseLimit)(nil)
)

// New builds the policy from its JSON configuration: a *Policy, or a
// *WithResponseLimit when the response is limited.
func New(raw json.RawMessage) (chain.Policy, error) {
	var cfg Config
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	if cfg.Request < 0 {
		return nil, fmt.Errorf("request: %d is negative", cfg.Request)
	}
	if cfg.Response < 0 {
		return nil, fmt.Errorf("response: %d is negative", cfg.Response)
	}
	p := Policy{request: cfg.Request, response: cfg.Response}
	if p.response > 0 {
		return &WithResponseLimit{p}, nil
	}
	return &p, nil
}

// state is a request's state, kept only for requests that need it.
type state struct {
	body *limitedBody // the counted request body, if any
	// replace: the response is a 413 answer in place of what came, with
	// the body message.
	replace bool
	message string
	// counting: the response's length is unknown, so it is counted.
	counting bool
	sent     int64
}

func (p *Policy) state(c *chain.Context) *state {
	if st, ok := c.Private(p).(*state); ok {
		return st
	}
	st := &state{}
	c.SetPrivate(p, st)
	return st
}

// Access refuses a request declared too large, and counts a request body
// of unknown length as it is read.
func (p *Policy) Access(c *chain.Context) error {
	if p.request <= 0 {
		return nil
	}
	r := c.Request
	switch {
	case r.ContentLength > p.request:
		c.Response.Header["Content-Type"] = []string{contentType}
		c.Exit(http.StatusRequestEntityTooLarge, RequestMessage)
	case r.ContentLength < 0 && r.Body != nil && r.Body != http.NoBody:
		b := &limitedBody{rc: r.Body, left: p.request, limit: p.request}
		r.Body = b
		p.state(c).body = b
	}
	return nil
}

// HeaderFilter turns the response into a 413 answer when the request body
// passed the limit while streaming, or when the response is declared (or
// produced locally) over the limit; it starts counting a response of
// unknown length.
func (p *Policy) HeaderFilter(c *chain.Context) error {
	st, _ := c.Private(p).(*state)
	if st != nil && st.body != nil && st.body.tripped.Load() {
		// Usually the upstream request failed and the response is the
		// gateway's own error. An upstream that answered before the
		// body ran over keeps its answer unless this policy filters
		// bodies and so can replace it whole.
		if c.Response.Body != nil || p.response > 0 {
			p.tooLarge(c, st, RequestMessage)
		}
		return nil
	}
	if p.response <= 0 || (st != nil && st.replace) {
		return nil
	}
	res := &c.Response
	if cl := res.Header["Content-Length"]; len(cl) > 0 {
		if n, err := strconv.ParseInt(cl[0], 10, 64); err == nil && n > p.response {
			p.tooLarge(c, st, Message)
		}
		return nil
	}
	if res.Body != nil {
		if int64(len(res.Body)) > p.response {
			p.tooLarge(c, st, Message)
		}
		return nil
	}
	if c.Request.Method == http.MethodHead || res.Status == http.StatusNoContent || res.Status == http.StatusNotModified {
		return nil
	}
	if st == nil {
		st = p.state(c)
	}
	st.counting = true
	return nil
}

// tooLarge replaces the response with a 413 answer whose body is msg,
// keeping the headers that do not describe the body (such as CORS headers
// set earlier).
func (p *Policy) tooLarge(c *chain.Context, st *state, msg string) {
	if st == nil {
		st = p.state(c)
	}
	st.replace = true
	st.counting = false
	st.message = msg
	h := c.Response.Header
	for _, k := range entityHeaders {
		delete(h, k)
	}
	h["Content-Type"] = []string{contentType}
	c.Response.Status = http.StatusRequestEntityTooLarge
	c.Response.Body = []byte(msg)
}

// entityHeaders describe a body that the 413 answer replaces.
var entityHeaders = []string{
	"Content-Length", "Content-Encoding", "Content-Range", "Content-Disposition",
	"Content-Language", "Content-Md5", "Etag", "Last-Modified", "Transfer-Encoding",
}

// BodyFilter sends the 413 answer in place of a replaced body, and cuts
// off a response of unknown length at the limit.
func (p *WithResponseLimit) BodyFilter(c *chain.Context, chunk []byte, eof bool) ([]byte, error) {
	st, _ := c.Private(&p.Policy).(*state)
	if st == nil {
		return chunk, nil
	}
	if st.replace {
		if eof {
			return []byte(st.message), nil
		}
		return nil, nil
	}
	if st.counting {
		st.sent += int64(len(chunk))
		if st.sent > p.response {
			return nil, fmt.Errorf("%w: more than %d bytes", ErrResponseTooLarge, p.response)
		}
	}
	return chunk, nil
}

// limitedBody counts a request body as the gateway streams it upstream and
// fails the read that would pass the limit, with the error net/http's
// MaxBytesReader gives. The flag is read by another goroutine than the
// one reading the body.
type limitedBody struct {
	rc      io.ReadCloser
	left    int64
	limit   int64
	tripped atomic.Bool
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.tripped.Load() {
		return 0, &http.MaxBytesError{Limit: b.limit}
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.rc.Read(p)
	if int64(n) > b.left {
		b.tripped.Store(true)
		n = int(b.left)
		b.left = 0
		return n, &http.MaxBytesError{Limit: b.limit}
	}
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }
