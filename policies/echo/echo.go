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
	status int
	// exitRequest ends the request in rewrite with status and no body;
	// exitPhase ends the rewrite phase only.
	exitRequest, exitPhase bool
}

// New builds the policy from its configuration.
func New(raw json.RawMessage, _ chain.Env) (chain.Policy, error) {
	var c Config
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	p := &Policy{status: c.Status}
	switch c.Exit {
	case "request":
		// APIcast exits with the status it set; with none set that is
		// status 0, which ends only the phase.
		p.exitRequest = c.Status != 0
		p.exitPhase = c.Status == 0
	case "phase":
		p.exitPhase = true
	}
	if p.status == 0 {
		p.status = http.StatusOK
	}
	return p, nil
}

var (
	textPlain = http.Header{"Content-Type": {"text/plain; charset=utf-8"}}
	appJSON   = http.Header{"Content-Type": {"application/json"}}
)

// Rewrite ends the request or the phase when configured to. Ending the
// request sends the status with an empty body.
func (p *Policy) Rewrite(c *chain.Context) error {
	switch {
	case p.exitRequest:
		c.Exit(p.status, "")
	case p.exitPhase:
		c.ExitPhase()
	}
	return nil
}

// Content answers with the request line and a newline, or, to a client
// that accepts exactly application/json, with {"request": line}.
func (p *Policy) Content(c *chain.Context) (bool, error) {
	o := &c.Original
	proto := c.Request.Proto
	if accept := o.Header["Accept"]; len(accept) > 0 && accept[0] == "application/json" {
		c.Respond(p.status, appJSON, jsonLine(o.Method, o.URI, proto))
		return true, nil
	}
	b := make([]byte, 0, len(o.Method)+len(o.URI)+len(proto)+3)
	b = append(b, o.Method...)
	b = append(b, ' ')
	b = append(b, o.URI...)
	b = append(b, ' ')
	b = append(b, proto...)
	b = append(b, '\n')
	c.Respond(p.status, textPlain, b)
	return true, nil
}

// jsonLine is {"request":"METHOD URI PROTO"} and a newline, encoded as
// APIcast's JSON encoder does: compact, with "/" written \/.
func jsonLine(method, uri, proto string) []byte {
	const head, tail = `{"request":"`, "\"}\n"
	b := make([]byte, 0, len(head)+len(method)+len(uri)+len(proto)+len(tail)+16)
	b = append(b, head...)
	b = appendJSONString(b, method)
	b = append(b, ' ')
	b = appendJSONString(b, uri)
	b = append(b, ' ')
	b = appendJSONString(b, proto)
	return append(b, tail...)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends the inside of a JSON string holding s.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; ch {
		case '"', '\\', '/':
			b = append(b, '\\', ch)
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			if ch < 0x20 || ch == 0x7f {
				b = append(b, '\\', 'u', '0', '0', hexDigits[ch>>4], hexDigits[ch&0xf])
				continue
			}
			b = append(b, ch)
		}
	}
	return b
}

var (
	_ chain.Rewriter        = (*Policy)(nil)
	_ chain.ContentProducer = (*Policy)(nil)
)
