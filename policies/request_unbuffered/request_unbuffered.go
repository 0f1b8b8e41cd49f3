// Package requestunbuffered is the builtin chain policy
// "request_unbuffered" (APIcast's Request Unbuffered). Under APIcast it
// turns nginx's request buffering off for a service, so that a large or
// chunked body reaches the upstream as it arrives. Verdict's gateway
// streams every request body already, so the policy is accepted, to let
// APIcast configurations load, acts in no phase, and says so in the log
// when its chain is built.
package requestunbuffered

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/policies/internal/builtin"
)

// Name is the policy's name in a chain entry.
const Name = "request_unbuffered"

//go:embed apicast-policy.json
var manifestJSON []byte

func init() {
	builtin.Register(Name, manifestJSON, func(cfg json.RawMessage, env chain.Env) (chain.Policy, error) {
		return New(cfg, env)
	})
}

// Policy does nothing: request bodies already stream.
type Policy struct{}

// New builds the policy and logs, at info level, that it changes nothing.
func New(raw json.RawMessage, env chain.Env) (*Policy, error) {
	var cfg struct{}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	logger := env.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger.Info("request_unbuffered: the gateway streams request bodies to the upstream already; the policy changes nothing",
		"service", env.ServiceID)
	return &Policy{}, nil
}
