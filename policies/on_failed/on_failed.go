// Package onfailed is the builtin chain policy "on_failed" (APIcast's On
// fail): it names the status a chain answers when one of its policies
// fails. It acts in no phase; the chain reads it as a chain.FailureGuard
// when it is built.
package onfailed

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
const Name = "on_failed"

func init() { builtin.Simple(Name, manifestJSON, New) }

// Policy is a built on_failed policy.
type Policy struct {
	status int
}

// New builds the policy; error_status_code defaults to 503.
func New(raw json.RawMessage) (*Policy, error) {
	var c struct {
		ErrorStatusCode *int `json:"error_status_code"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	p := &Policy{status: http.StatusServiceUnavailable}
	if c.ErrorStatusCode != nil {
		p.status = *c.ErrorStatusCode
	}
	return p, nil
}

// FailureStatus is the status of the chain's refused requests.
func (p *Policy) FailureStatus() int { return p.status }

var _ chain.FailureGuard = (*Policy)(nil)
