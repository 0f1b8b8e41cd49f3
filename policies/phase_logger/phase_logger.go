// Package phaselogger is the phase_logger chain policy: it logs the name
// of every phase it runs in, so the order of a chain's phases can be seen
// in the log. It changes nothing.
package phaselogger

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/policies/internal/builtin"
)

//go:embed apicast-policy.json
var manifestJSON []byte

// Name is the policy's name in a chain.
const Name = "phase_logger"

func init() {
	builtin.Register(Name, manifestJSON, New)
}

// Message is the text of every log line; the phase is in the "phase"
// attribute and, as in APIcast, at the end of the message.
const Message = "running phase: "

// Policy is a built phase_logger.
type Policy struct {
	level  slog.Level
	logger *slog.Logger // for the phases without a request
}

// New builds the policy from its configuration.
func New(raw json.RawMessage, env chain.Env) (chain.Policy, error) {
	var c struct {
		LogLevel string `json:"log_level"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	p := &Policy{level: slog.LevelInfo, logger: env.Logger}
	if c.LogLevel != "" {
		if err := p.level.UnmarshalText([]byte(c.LogLevel)); err != nil {
			return nil, fmt.Errorf("log_level: %w", err)
		}
	}
	if p.logger == nil {
		p.logger = slog.New(slog.DiscardHandler)
	}
	return p, nil
}

func (p *Policy) note(logger *slog.Logger, phase chain.Phase) {
	if logger == nil {
		logger = p.logger
	}
	logger.Log(context.Background(), p.level, Message+phase.String(), "phase", phase.String())
}

// Init logs the init phase.
func (p *Policy) Init() error { p.note(nil, chain.PhaseInit); return nil }

// InitWorker logs the init_worker phase.
func (p *Policy) InitWorker() error { p.note(nil, chain.PhaseInitWorker); return nil }

// SSLCertificate logs the ssl_certificate phase.
func (p *Policy) SSLCertificate(c *chain.Context) error {
	p.note(c.Logger, chain.PhaseSSLCertificate)
	return nil
}

// Rewrite logs the rewrite phase.
func (p *Policy) Rewrite(c *chain.Context) error { p.note(c.Logger, chain.PhaseRewrite); return nil }

// Access logs the access phase.
func (p *Policy) Access(c *chain.Context) error { p.note(c.Logger, chain.PhaseAccess); return nil }

// Content logs the content phase and leaves the content to others.
func (p *Policy) Content(c *chain.Context) (bool, error) {
	p.note(c.Logger, chain.PhaseContent)
	return false, nil
}

// Balance logs the balancer phase.
func (p *Policy) Balance(c *chain.Context) error { p.note(c.Logger, chain.PhaseBalancer); return nil }

// HeaderFilter logs the header_filter phase.
func (p *Policy) HeaderFilter(c *chain.Context) error {
	p.note(c.Logger, chain.PhaseHeaderFilter)
	return nil
}

// BodyFilter logs the body_filter phase, once per chunk.
func (p *Policy) BodyFilter(c *chain.Context, chunk []byte, _ bool) ([]byte, error) {
	p.note(c.Logger, chain.PhaseBodyFilter)
	return chunk, nil
}

// PostAction logs the post_action phase.
func (p *Policy) PostAction(c *chain.Context) error {
	p.note(c.Logger, chain.PhasePostAction)
	return nil
}

// Log logs the log phase.
func (p *Policy) Log(c *chain.Context) error { p.note(c.Logger, chain.PhaseLog); return nil }

// Metrics logs the metrics phase.
func (p *Policy) Metrics() error { p.note(nil, chain.PhaseMetrics); return nil }

var (
	_ chain.Initializer           = (*Policy)(nil)
	_ chain.WorkerInitializer     = (*Policy)(nil)
	_ chain.SSLCertificateHandler = (*Policy)(nil)
	_ chain.Rewriter              = (*Policy)(nil)
	_ chain.Accessor              = (*Policy)(nil)
	_ chain.ContentProducer       = (*Policy)(nil)
	_ chain.UpstreamBalancer      = (*Policy)(nil)
	_ chain.HeaderFilter          = (*Policy)(nil)
	_ chain.BodyFilter            = (*Policy)(nil)
	_ chain.PostActioner          = (*Policy)(nil)
	_ chain.Logger                = (*Policy)(nil)
	_ chain.MetricsCollector      = (*Policy)(nil)
)
