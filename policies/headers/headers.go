// Package headers is the builtin chain policy "headers" (APIcast's Header
// Modification): it sets, pushes, adds and deletes headers of the request
// sent upstream, in the rewrite phase, and of the response sent to the
// client, in the header_filter phase. Values may be Liquid templates over
// the request, compiled when the chain is built.
package headers

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"net/textproto"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/internal/httpx"
	"github.com/verdict-policy/verdict/policies/internal/builtin"
	"github.com/verdict-policy/verdict/policies/internal/liquidctx"
)

// Name is the policy's name in a chain entry.
const Name = "headers"

//go:embed apicast-policy.json
var manifestJSON []byte

func init() {
	builtin.Simple(Name, manifestJSON, New)
}

// Config is the policy's configuration.
type Config struct {
	// Request commands apply to the request sent upstream.
	Request []Command `json:"request"`
	// Response commands apply to the response sent to the client.
	Response []Command `json:"response"`
}

// Command is one change to a header.
type Command struct {
	// Op is add, set, push or delete.
	Op string `json:"op"`
	// Header is the header's name, in any case.
	Header string `json:"header"`
	// Value is the value to write; ignored by delete.
	Value string `json:"value"`
	// ValueType is plain (the default) or liquid.
	ValueType string `json:"value_type"`
}

// op is what a command does.
type op uint8

const (
	opSet op = iota
	opPush
	opAdd
	opDelete
)

// command is a Command compiled for the hot path.
type command struct {
	op    op
	key   string // canonical header name
	value *liquidctx.Template
	// fixed is the plain value as a one-element slice with no spare
	// capacity, shared by every request: appending to it copies.
	fixed []string
	host  bool // the request's Host, which net/http keeps apart
}

// Policy edits request and response headers. It holds only its compiled
// configuration and is safe for concurrent use.
type Policy struct {
	request, response []command
}

var (
	_ chain.Rewriter     = (*Policy)(nil)
	_ chain.HeaderFilter = (*Policy)(nil)
)

// New builds the policy from its JSON configuration.
func New(raw json.RawMessage) (*Policy, error) {
	var cfg Config
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	req, err := compile(cfg.Request, "request", true)
	if err != nil {
		return nil, err
	}
	resp, err := compile(cfg.Response, "response", false)
	if err != nil {
		return nil, err
	}
	return &Policy{request: req, response: resp}, nil
}

func compile(cmds []Command, field string, request bool) ([]command, error) {
	out := make([]command, 0, len(cmds))
	for i, c := range cmds {
		at := fmt.Sprintf("%s[%d]", field, i)
		var cc command
		switch c.Op {
		case "set":
			cc.op = opSet
		case "push":
			cc.op = opPush
		case "add":
			cc.op = opAdd
		case "delete":
			cc.op = opDelete
		default:
			return nil, fmt.Errorf("%s.op: unknown operation %q (want add, set, push or delete)", at, c.Op)
		}
		if !httpx.ValidFieldName(c.Header) {
			return nil, fmt.Errorf("%s.header: %q is not a valid header name", at, c.Header)
		}
		cc.key = textproto.CanonicalMIMEHeaderKey(c.Header)
		cc.host = request && cc.key == "Host"
		if cc.op != opDelete && (cc.key == "Content-Length" || cc.key == "Transfer-Encoding") {
			// A value here would contradict the body the gateway sends.
			return nil, fmt.Errorf("%s.header: %s follows the body and cannot be set; only delete is allowed", at, cc.key)
		}
		if cc.op != opDelete {
			t, err := liquidctx.Compile(c.Value, c.ValueType)
			if err != nil {
				return nil, fmt.Errorf("%s.value: %w", at, err)
			}
			if t.IsPlain() {
				if !httpx.ValidFieldValue(c.Value) {
					return nil, fmt.Errorf("%s.value: a header value cannot hold control characters such as CR or LF", at)
				}
				cc.fixed = []string{c.Value}[:1:1]
			}
			cc.value = t
		}
		out = append(out, cc)
	}
	return out, nil
}

// Rewrite applies the request commands to the request sent upstream.
func (p *Policy) Rewrite(c *chain.Context) error {
	for i := range p.request {
		cmd := &p.request[i]
		if cmd.host {
			if err := p.host(c, cmd); err != nil {
				return fmt.Errorf("request[%d]: %w", i, err)
			}
			continue
		}
		if err := apply(c, c.Request.Header, cmd); err != nil {
			return fmt.Errorf("request[%d]: %w", i, err)
		}
	}
	return nil
}

// HeaderFilter applies the response commands to the response.
func (p *Policy) HeaderFilter(c *chain.Context) error {
	for i := range p.response {
		if err := apply(c, c.Response.Header, &p.response[i]); err != nil {
			return fmt.Errorf("response[%d]: %w", i, err)
		}
	}
	return nil
}

func apply(c *chain.Context, h http.Header, cmd *command) error {
	if cmd.op == opDelete {
		delete(h, cmd.key)
		return nil
	}
	if cmd.op == opAdd && len(h[cmd.key]) == 0 {
		return nil
	}
	if cmd.fixed != nil {
		switch {
		case cmd.op != opSet:
			if cmd.fixed[0] != "" {
				h[cmd.key] = append(h[cmd.key], cmd.fixed[0])
			}
		case cmd.fixed[0] == "":
			delete(h, cmd.key)
		default:
			h[cmd.key] = cmd.fixed
		}
		return nil
	}
	v, err := cmd.value.Render(c)
	if err != nil {
		return err
	}
	if !httpx.ValidFieldValue(v) {
		return fmt.Errorf("header %s: the rendered value holds control characters", cmd.key)
	}
	switch {
	case cmd.op != opSet:
		if v != "" {
			h[cmd.key] = append(h[cmd.key], v)
		}
	case v == "":
		delete(h, cmd.key)
	default:
		h[cmd.key] = []string{v}
	}
	return nil
}

// host applies a command to the request's Host, which net/http keeps out
// of the header map: a request has one Host, so set, push and add all
// replace it. The proxying policy decides the Host sent upstream.
func (p *Policy) host(c *chain.Context, cmd *command) error {
	if cmd.op == opDelete {
		c.Request.Host = ""
		return nil
	}
	if cmd.op == opAdd && c.Request.Host == "" {
		return nil
	}
	v, err := cmd.value.Render(c)
	if err != nil {
		return err
	}
	if !httpx.ValidFieldValue(v) {
		return fmt.Errorf("header Host: the rendered value holds control characters")
	}
	c.Request.Host = v
	return nil
}
