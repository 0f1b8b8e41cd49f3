// Package statuscodeoverwrite is the builtin chain policy
// "statuscode_overwrite" (APIcast's HTTP Status Code Overwrite): in the
// header_filter phase it replaces a response's status by the one
// configured for it, with a table built when the chain is built.
package statuscodeoverwrite

import (
	_ "embed"
	"encoding/json"
	"fmt"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/policies/internal/builtin"
)

// Name is the policy's name in a chain entry.
const Name = "statuscode_overwrite"

//go:embed apicast-policy.json
var manifestJSON []byte

func init() {
	builtin.Simple(Name, manifestJSON, New)
}

// Config is the policy's configuration.
type Config struct {
	HTTPStatuses []Mapping `json:"http_statuses"`
}

// Mapping replaces one status.
type Mapping struct {
	// Upstream is the status of the response as it comes.
	Upstream int `json:"upstream"`
	// Apicast is the status sent instead (APIcast's name for it).
	Apicast int `json:"apicast"`
}

const maxStatus = 600

// Policy replaces statuses. It is safe for concurrent use.
type Policy struct {
	// to maps a status to its replacement; 0 keeps it.
	to [maxStatus]uint16
}

var _ chain.HeaderFilter = (*Policy)(nil)

// New builds the policy from its JSON configuration.
func New(raw json.RawMessage) (*Policy, error) {
	var cfg Config
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	p := &Policy{}
	for i, m := range cfg.HTTPStatuses {
		if m.Upstream < 100 || m.Upstream >= maxStatus {
			return nil, fmt.Errorf("http_statuses[%d].upstream: %d is not an HTTP status", i, m.Upstream)
		}
		if m.Apicast < 200 || m.Apicast >= maxStatus {
			return nil, fmt.Errorf("http_statuses[%d].apicast: %d is not a final HTTP status (200-599)", i, m.Apicast)
		}
		if p.to[m.Upstream] != 0 {
			return nil, fmt.Errorf("http_statuses[%d].upstream: %d is mapped twice", i, m.Upstream)
		}
		p.to[m.Upstream] = uint16(m.Apicast)
	}
	return p, nil
}

// HeaderFilter replaces the response's status when it is mapped.
func (p *Policy) HeaderFilter(c *chain.Context) error {
	if s := c.Response.Status; s > 0 && s < maxStatus {
		if to := p.to[s]; to != 0 {
			c.Response.Status = int(to)
		}
	}
	return nil
}
