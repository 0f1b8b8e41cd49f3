// Package upstreamconnection is the upstream_connection chain policy: it
// sets the timeouts the gateway uses with the upstream for the requests of
// its chain.
package upstreamconnection

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"time"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/policies/internal/builtin"
)

//go:embed apicast-policy.json
var manifestJSON []byte

// Name is the policy's name in a chain.
const Name = "upstream_connection"

func init() {
	builtin.Register(Name, manifestJSON, New)
}

// Policy is a built upstream_connection policy.
type Policy struct {
	timeouts chain.Timeouts
}

// New builds the policy from its configuration, in seconds.
func New(raw json.RawMessage, _ chain.Env) (chain.Policy, error) {
	var c struct {
		Connect float64 `json:"connect_timeout"`
		Send    float64 `json:"send_timeout"`
		Read    float64 `json:"read_timeout"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	seconds := func(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
	return &Policy{timeouts: chain.Timeouts{Connect: seconds(c.Connect), Send: seconds(c.Send), Read: seconds(c.Read)}}, nil
}

// Timeouts returns the timeouts the policy sets; zero fields are left alone.
func (p *Policy) Timeouts() chain.Timeouts { return p.timeouts }

// Rewrite sets the request's upstream timeouts.
func (p *Policy) Rewrite(c *chain.Context) error {
	if p.timeouts.Connect > 0 {
		c.UpstreamTimeouts.Connect = p.timeouts.Connect
	}
	if p.timeouts.Send > 0 {
		c.UpstreamTimeouts.Send = p.timeouts.Send
	}
	if p.timeouts.Read > 0 {
		c.UpstreamTimeouts.Read = p.timeouts.Read
	}
	return nil
}

var _ chain.Rewriter = (*Policy)(nil)
