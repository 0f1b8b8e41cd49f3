// Package retry is the retry chain policy: it asks the gateway to try the
// upstream again when an attempt cannot connect, times out, or answers one
// of the configured statuses, for idempotent methods unless told
// otherwise. The gateway runs the attempts; the policy only states when.
package retry

import (
	_ "embed" // the manifest
	"encoding/json"
	"fmt"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/policies/internal/builtin"
)

// Name is the policy's name in a chain entry.
const Name = "retry"

//go:embed apicast-policy.json
var manifestJSON []byte

func init() {
	builtin.Simple(Name, manifestJSON, New)
}

// Config is the policy's configuration.
type Config struct {
	// Retries is the number of attempts after the first (1 to 10).
	Retries int `json:"retries"`
	// Statuses count as failed attempts; nil means 502, 503 and 504.
	Statuses []int `json:"statuses"`
	// NonIdempotent retries POST and PATCH too.
	NonIdempotent bool `json:"non_idempotent"`
}

// DefaultStatuses are the upstream statuses retried when none are configured.
var DefaultStatuses = []int{502, 503, 504}

// Policy is a configured retry policy.
type Policy struct {
	retry *chain.Retry
}

// New builds the policy from its configuration.
func New(raw json.RawMessage) (*Policy, error) {
	var c Config
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("retry: %w", err)
	}
	if c.Retries < 1 || c.Retries > 10 {
		return nil, fmt.Errorf("retries: %d is not between 1 and 10", c.Retries)
	}
	statuses := c.Statuses
	if statuses == nil {
		statuses = DefaultStatuses
	}
	r := &chain.Retry{Attempts: c.Retries, Statuses: make(map[int]bool, len(statuses)), AllMethods: c.NonIdempotent}
	for _, s := range statuses {
		r.Statuses[s] = true
	}
	return &Policy{retry: r}, nil
}

// Rewrite states the retry settings for this request. The settings are
// shared by every request and never changed after New.
func (p *Policy) Rewrite(c *chain.Context) error {
	c.Set(chain.RetryKey, p.retry)
	return nil
}

var _ chain.Rewriter = (*Policy)(nil)
