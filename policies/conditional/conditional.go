// Package conditional is the builtin chain policy "conditional": it holds
// a nested policy chain and runs it, in every phase, only for the requests
// its condition holds for. The condition is evaluated once per request,
// when the request first reaches the policy (normally in rewrite), where
// APIcast evaluates it again in every phase; requests it does not hold for
// see nothing of the nested policies, not even their exports.
package conditional

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/policies/internal/builtin"
	"github.com/verdict-policy/verdict/policies/internal/condition"
)

// Name is the policy's name in a chain entry.
const Name = "conditional"

//go:embed apicast-policy.json
var manifestJSON []byte

func init() {
	builtin.Register(Name, manifestJSON, func(cfg json.RawMessage, env chain.Env) (chain.Policy, error) {
		p, err := New(cfg, env)
		if err != nil {
			return nil, err
		}
		if p.nested.HasBodyFilters() {
			return &filtering{p}, nil
		}
		return p, nil
	})
}

// Config is the policy's configuration.
type Config struct {
	// Condition decides, once per request, whether the nested chain runs.
	Condition condition.Spec `json:"condition"`
	// PolicyChain is the nested chain.
	PolicyChain []Entry `json:"policy_chain"`
}

// Entry is one policy of the nested chain.
type Entry struct {
	Name          string          `json:"name"`
	Version       string          `json:"version"`
	Configuration json.RawMessage `json:"configuration"`
	// Enabled false leaves the entry out, as a chain in a configuration
	// file may.
	Enabled *bool `json:"enabled"`
}

// verdict is a request's evaluated condition, kept in the context.
type verdict uint8

const (
	unknown verdict = iota
	holds
	fails
)

// Policy runs its nested chain for the requests its condition holds for.
// It is safe for concurrent use.
type Policy struct {
	cond    *condition.Condition
	nested  *chain.Chain
	exports map[string]any
	logger  *slog.Logger
}

// filtering is a Policy whose nested chain filters response bodies: only
// then does the conditional policy take part in body filtering, so that a
// chain without body filters keeps streaming bodies untouched.
type filtering struct{ *Policy }

var (
	_ chain.Rewriter         = (*Policy)(nil)
	_ chain.Accessor         = (*Policy)(nil)
	_ chain.ContentProducer  = (*Policy)(nil)
	_ chain.UpstreamBalancer = (*Policy)(nil)
	_ chain.HeaderFilter     = (*Policy)(nil)
	_ chain.PostActioner     = (*Policy)(nil)
	_ chain.Logger           = (*Policy)(nil)
	_ chain.MetricsCollector = (*Policy)(nil)
	_ chain.Closer           = (*Policy)(nil)
	_ chain.BodyFilter       = (*filtering)(nil)
)

// New builds the policy from its JSON configuration, building the nested
// chain with env, the environment of the chain the policy is in.
func New(raw json.RawMessage, env chain.Env) (*Policy, error) {
	var cfg Config
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	if len(cfg.Condition.Operations) == 0 {
		return nil, fmt.Errorf("condition.operations: empty; a conditional policy needs a condition")
	}
	cond, err := condition.Compile(cfg.Condition)
	if err != nil {
		return nil, fmt.Errorf("condition.%w", err)
	}
	entries := make([]chain.Entry, 0, len(cfg.PolicyChain))
	for _, e := range cfg.PolicyChain {
		if e.Enabled != nil && !*e.Enabled {
			continue
		}
		entries = append(entries, chain.Entry{Name: e.Name, Version: e.Version, Configuration: e.Configuration})
	}
	nested, err := chain.Build(entries, env)
	if err != nil {
		return nil, fmt.Errorf("nested %w", err)
	}
	logger := env.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Policy{cond: cond, nested: nested, exports: nested.Exports(), logger: logger}, nil
}

// Nested returns the nested chain.
func (p *Policy) Nested() *chain.Chain { return p.nested }

// active evaluates the condition the first time a phase of the request
// asks, and then answers from the context. When it first holds, the
// nested chain's exports become values of the request, below those that
// policies or exports already set.
func (p *Policy) active(c *chain.Context) (bool, error) {
	if v, ok := c.Private(p).(verdict); ok && v != unknown {
		return v == holds, nil
	}
	ok, err := p.cond.Holds(c)
	if err != nil || !ok {
		c.SetPrivate(p, fails)
		return false, err
	}
	c.SetPrivate(p, holds)
	for k, v := range p.exports {
		if _, set := c.Get(k); !set {
			c.Set(k, v)
		}
	}
	return true, nil
}

// Rewrite evaluates the condition and runs the nested rewrite phase.
func (p *Policy) Rewrite(c *chain.Context) error {
	ok, err := p.active(c)
	if ok {
		return failure(c, p.nested.Rewrite)
	}
	return err
}

// Access runs the nested access phase.
func (p *Policy) Access(c *chain.Context) error {
	ok, err := p.active(c)
	if ok {
		return failure(c, p.nested.Access)
	}
	return err
}

// Content runs the nested content phase; the request is handled when a
// nested policy produced the response.
func (p *Policy) Content(c *chain.Context) (bool, error) {
	ok, err := p.active(c)
	if !ok {
		return false, err
	}
	err = failure(c, p.nested.Content)
	return c.Produced(), err
}

// failure runs a nested phase and returns the failure of a nested policy
// in it, so that the chain the conditional policy is in fails the
// request with its own fail status and counts the failure.
func failure(c *chain.Context, phase func(*chain.Context)) error {
	before := c.Failed()
	phase(c)
	if after := c.Failed(); before == nil && after != nil {
		return after
	}
	return nil
}

// Balance runs the nested balancer phase.
func (p *Policy) Balance(c *chain.Context) error {
	ok, err := p.active(c)
	if ok {
		return failure(c, p.nested.Balance)
	}
	return err
}

// HeaderFilter runs the nested header filters.
func (p *Policy) HeaderFilter(c *chain.Context) error {
	ok, err := p.active(c)
	if ok {
		return failure(c, p.nested.HeaderFilter)
	}
	return err
}

// BodyFilter runs the nested body filters over a chunk.
func (f *filtering) BodyFilter(c *chain.Context, chunk []byte, eof bool) ([]byte, error) {
	ok, err := f.active(c)
	if !ok {
		return chunk, err
	}
	return f.nested.BodyFilter(c, chunk, eof)
}

// PostAction runs the nested post_action phase.
func (p *Policy) PostAction(c *chain.Context) error {
	ok, err := p.active(c)
	if ok {
		p.nested.PostAction(c)
	}
	return err
}

// Log runs the nested log phase.
func (p *Policy) Log(c *chain.Context) error {
	ok, err := p.active(c)
	if ok {
		p.nested.Log(c)
	}
	return err
}

// Metrics runs the nested metrics phase, which depends on no request.
func (p *Policy) Metrics() error {
	p.nested.Metrics(p.logger)
	return nil
}

// Close closes the nested policies.
func (p *Policy) Close() error { return p.nested.Close() }
