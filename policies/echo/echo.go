// Package echo is the echo chain policy: it answers with the client's
// request line, which makes it the simplest content producer and a handy
// stand-in upstream in tests.
package echo

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/policies/internal/builtin"
)

//go:embed apicast-policy.json
var manifestJSON []byte

// Name is the policy's name in a chain.
const Name = "echo"

func init() {
	builtin.Register(Name, manifestJSON, New)
}

// Config is the policy's configuration.
type Config struct {
	// Status is the response status, 200 when zero.
	Status int `json:"status"`
	// Exit is "request", "phase" or empty.
	Exit string `json:"exit"`
}

// Policy is a built echo policy.
type Policy struct {
	cfg Config
}

// New builds the policy from its configuration.
func New(raw json.RawMessage, _ chain.Env) (chain.Policy, error) {
	var c Config
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	if c.Status == 0 {
		c.Status = http.StatusOK
	}
	return &Policy{cfg: c}, nil
}

var textPlain = http.Header{"Content-Type": {"text/plain; charset=utf-8"}}

func requestLine(c *chain.Context) []byte {
	return []byte(c.Original.Method + " " + c.Original.URI + " " + c.Request.Proto + "\n")
}

// Rewrite ends the request or the phase when configured to.
func (p *Policy) Rewrite(c *chain.Context) error {
	switch p.cfg.Exit {
	case "request":
		c.Response.Header.Set("Content-Type", "text/plain; charset=utf-8")
		c.Exit(p.cfg.Status, string(requestLine(c)))
	case "phase":
		c.ExitPhase()
	}
	return nil
}

// Content answers with the request line.
func (p *Policy) Content(c *chain.Context) (bool, error) {
	c.Respond(p.cfg.Status, textPlain, requestLine(c))
	return true, nil
}

var (
	_ chain.Rewriter        = (*Policy)(nil)
	_ chain.ContentProducer = (*Policy)(nil)
)
