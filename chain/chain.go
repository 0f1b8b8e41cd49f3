package chain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
)

// Entry is one element of a chain as configured: APIcast's
// {"name", "version", "configuration"}.
type Entry struct {
	Name          string          `json:"name"`
	Version       string          `json:"version,omitempty"`
	Configuration json.RawMessage `json:"configuration,omitempty"`
}

// ServiceChain is the name of the global chain entry that marks where
// each service's chain runs.
const ServiceChain = "service_chain"

// DefaultFailStatus is the status a request gets when a policy fails in a
// request phase: the chain fails closed.
const DefaultFailStatus = http.StatusServiceUnavailable

// member is a built policy with its name, for attribution.
type member struct {
	name   string
	policy Policy
}

// Chain is a compiled policy chain: its policies sorted into per-phase
// lists, so that a phase with no policy costs nothing. A Chain is
// immutable once built and safe for concurrent use.
type Chain struct {
	members []member
	// serviceAt is the position of the service_chain marker, or -1.
	serviceAt int

	rewrite   []named[Rewriter]
	access    []named[Accessor]
	content   []named[ContentProducer]
	balancer  []named[UpstreamBalancer]
	headers   []named[HeaderFilter]
	body      []named[BodyFilter]
	post      []named[PostActioner]
	log       []named[Logger]
	ssl       []named[SSLCertificateHandler]
	metrics   []named[MetricsCollector]
	exports   map[string]any
	failState int
	// dropped are the entries BuildTolerant left out.
	dropped []Problem
	// guardStatus is the status of the chain's FailureGuard, 0 without
	// one; refuse is set when it has one and a policy was left out.
	guardStatus int
	refuse      bool

	// OnFailure is told of every policy failure in a request phase, for
	// metrics; it may be nil.
	OnFailure func(policy string, phase Phase, err error)
}

type named[T any] struct {
	name string
	p    T
}

// Problem is a chain entry that could not be built.
type Problem struct {
	Index  int    // position in the chain
	Policy string // the entry's name
	Err    error
}

func (p Problem) Error() string {
	return fmt.Sprintf("policy_chain[%d] (%s): %v", p.Index, p.Policy, p.Err)
}

func (p Problem) Unwrap() error { return p.Err }

// Build compiles entries into a chain. Every entry's configuration is
// validated against its manifest and every problem is reported, joined.
// An entry named service_chain marks where service chains run when the
// chain is the global one (see Compose).
func Build(entries []Entry, env Env) (*Chain, error) {
	c, _, err := build(entries, env, false)
	return c, err
}

// BuildTolerant compiles entries as APIcast does: an entry that cannot be
// built (an unknown policy, a configuration its manifest rejects, a
// policy that refuses its configuration) is left out of the chain, and
// the rest runs. The entries left out are returned, each as a Problem;
// the chain remembers them too (see Dropped), so that an on_failed policy
// in it can refuse every request. Problems of the chain as a whole (two
// service_chain markers, a failing init) are still an error.
func BuildTolerant(entries []Entry, env Env) (*Chain, []Problem, error) {
	return build(entries, env, true)
}

func build(entries []Entry, env Env, tolerant bool) (*Chain, []Problem, error) {
	var members []member
	var errs []error
	var dropped []Problem
	drop := func(p Problem) {
		if tolerant {
			dropped = append(dropped, p)
		} else {
			errs = append(errs, p)
		}
	}
	serviceAt := -1
	for i, e := range entries {
		name, version := normalise(e.Name, e.Version)
		if name == ServiceChain {
			if serviceAt >= 0 {
				errs = append(errs, Problem{i, name, errors.New("service_chain appears twice")})
			}
			serviceAt = len(members)
			continue
		}
		f, ok := Lookup(name, version)
		if !ok && env.Resolve != nil {
			f, ok = env.Resolve(name, version)
		}
		if !ok {
			drop(Problem{i, name, fmt.Errorf("unknown policy %q version %q", name, version)})
			continue
		}
		cfg := e.Configuration
		if len(cfg) == 0 || string(cfg) == "null" {
			cfg = json.RawMessage("{}")
		}
		if f.Validate != nil {
			if err := f.Validate(cfg); err != nil {
				drop(Problem{i, name, fmt.Errorf("configuration: %w", err)})
				continue
			}
		}
		p, err := f.New(cfg, env)
		if err != nil {
			drop(Problem{i, name, err})
			continue
		}
		members = append(members, member{name: name, policy: p})
	}
	if len(errs) > 0 {
		closeMembers(members)
		return nil, nil, errors.Join(errs...)
	}
	for _, m := range members {
		if in, ok := m.policy.(Initializer); ok {
			if err := in.Init(); err != nil {
				closeMembers(members)
				return nil, nil, fmt.Errorf("policy %s: init: %w", m.name, err)
			}
		}
		if in, ok := m.policy.(WorkerInitializer); ok {
			if err := in.InitWorker(); err != nil {
				closeMembers(members)
				return nil, nil, fmt.Errorf("policy %s: init_worker: %w", m.name, err)
			}
		}
	}
	c := compile(members, serviceAt, dropped)
	return c, dropped, nil
}

// closeMembers releases what the policies of a chain that failed to build
// hold; their errors are dropped, as the build's error says what matters.
func closeMembers(members []member) {
	for _, m := range members {
		if cl, ok := m.policy.(Closer); ok {
			_ = cl.Close()
		}
	}
}

// normalise strips APIcast's legacy "apicast.policy." prefix and defaults
// the version to builtin.
func normalise(name, version string) (string, string) {
	if rest, ok := strings.CutPrefix(name, "apicast.policy."); ok {
		return rest, BuiltinVersion
	}
	if version == "" {
		version = BuiltinVersion
	}
	return name, version
}

// Compose expands service inside global at global's service_chain marker,
// or at its end when it has none. Both keep their policy instances.
func Compose(global, service *Chain) *Chain {
	if global == nil || len(global.members) == 0 {
		return service
	}
	if service == nil {
		return global
	}
	at := global.serviceAt
	if at < 0 {
		at = len(global.members)
	}
	members := make([]member, 0, len(global.members)+len(service.members))
	members = append(members, global.members[:at]...)
	members = append(members, service.members...)
	members = append(members, global.members[at:]...)
	dropped := append(append([]Problem(nil), global.dropped...), service.dropped...)
	c := compile(members, -1, dropped)
	c.failState = service.failState
	return c
}

func compile(members []member, serviceAt int, dropped []Problem) *Chain {
	c := &Chain{members: members, serviceAt: serviceAt, failState: DefaultFailStatus, dropped: dropped,
		rewrite:  acting[Rewriter](members),
		access:   acting[Accessor](members),
		content:  acting[ContentProducer](members),
		balancer: acting[UpstreamBalancer](members),
		headers:  acting[HeaderFilter](members),
		body:     acting[BodyFilter](members),
		post:     acting[PostActioner](members),
		log:      acting[Logger](members),
		ssl:      acting[SSLCertificateHandler](members),
		metrics:  acting[MetricsCollector](members),
	}
	for _, m := range members {
		if g, ok := m.policy.(FailureGuard); ok {
			c.guardStatus = g.FailureStatus()
			c.refuse = len(dropped) > 0
			break
		}
	}
	// Exports: the first policy wins on a clash.
	for i := len(members) - 1; i >= 0; i-- {
		if e, ok := members[i].policy.(Exporter); ok {
			if c.exports == nil {
				c.exports = map[string]any{}
			}
			for k, v := range e.Export() {
				c.exports[k] = v
			}
		}
	}
	return c
}

// acting returns, in chain order, the members whose policy acts in the
// phase of interface T.
func acting[T any](members []member) []named[T] {
	var out []named[T]
	for _, m := range members {
		if p, ok := m.policy.(T); ok {
			out = append(out, named[T]{m.name, p})
		}
	}
	return out
}

// SetFailStatus sets the status of a request whose policy fails (503 by
// default).
func (c *Chain) SetFailStatus(status int) { c.failState = status }

// FailStatus returns the status of a request whose policy fails: the
// FailureGuard's, when the chain has one.
func (c *Chain) FailStatus() int {
	if c.guardStatus != 0 {
		return c.guardStatus
	}
	return c.failState
}

// Names lists the chain's policies in order.
func (c *Chain) Names() []string {
	out := make([]string, len(c.members))
	for i, m := range c.members {
		out[i] = m.name
	}
	return out
}

// Len returns the number of policies in the chain.
func (c *Chain) Len() int { return len(c.members) }

// Policies returns the chain's policies in order.
func (c *Chain) Policies() []Policy {
	out := make([]Policy, len(c.members))
	for i, m := range c.members {
		out[i] = m.policy
	}
	return out
}

// Dropped returns the entries that BuildTolerant left out of the chain
// (and, for a composed chain, out of its parts), in order.
func (c *Chain) Dropped() []Problem { return c.dropped }

// Exports returns the chain's static values, for NewContext.
func (c *Chain) Exports() map[string]any { return c.exports }

// Close releases what the chain's policies hold.
func (c *Chain) Close() error {
	var errs []error
	for _, m := range c.members {
		if cl, ok := m.policy.(Closer); ok {
			if err := cl.Close(); err != nil {
				errs = append(errs, fmt.Errorf("policy %s: %w", m.name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// fail ends the request because policy failed in phase: the chain fails
// closed.
func (c *Chain) fail(ctx *Context, policy string, phase Phase, err error) {
	if ctx.failure == nil {
		ctx.failure = fmt.Errorf("policy %s in %s: %w", policy, phase, err)
	}
	if ctx.Logger != nil {
		ctx.Logger.Error("policy failed; failing the request closed",
			"service", ctx.ServiceID, "policy", policy, "phase", phase.String(), "error", err.Error())
	}
	if c.OnFailure != nil {
		c.OnFailure(policy, phase, err)
	}
	ctx.Response.Header = make(http.Header)
	ctx.Response.Status = c.FailStatus()
	ctx.Response.Body = nil
	ctx.content = localContent
	ctx.end = endRequest
}

// refuseDropped ends a request of a chain whose FailureGuard stands for a
// policy left out of it: the request gets the guard's status before any
// policy runs. The drop was logged when the chain was built, so the
// request is logged at debug level only; it is counted as a failure of the
// dropped policy.
func (c *Chain) refuseDropped(ctx *Context) {
	p := c.dropped[0]
	if ctx.failure == nil {
		ctx.failure = fmt.Errorf("policy %s could not be built: %w", p.Policy, p.Err)
	}
	if ctx.Logger != nil && ctx.Logger.Enabled(context.Background(), slog.LevelDebug) {
		ctx.Logger.Debug("refusing the request: a policy of the chain could not be built",
			"service", ctx.ServiceID, "policy", p.Policy, "error", p.Err.Error())
	}
	if c.OnFailure != nil {
		c.OnFailure(p.Policy, PhaseRewrite, p.Err)
	}
	ctx.Response.Header = make(http.Header)
	ctx.Response.Status = c.guardStatus
	ctx.Response.Body = nil
	ctx.content = localContent
	ctx.end = endRequest
}

// call runs f for one policy, turning a panic into an error.
func call(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
		}
	}()
	return f()
}

func runPhase[T any](c *Chain, ctx *Context, phase Phase, list []named[T], f func(T) error) {
	if ctx.end == endRequest {
		return
	}
	ctx.phase = phase
	for _, n := range list {
		if err := call(func() error { return f(n.p) }); err != nil {
			c.fail(ctx, n.name, phase, err)
			return
		}
		if ctx.end != running {
			if ctx.end == endPhase {
				ctx.end = running
			}
			return
		}
	}
}

// Rewrite runs the rewrite phase. A chain whose FailureGuard stands for a
// policy left out of it refuses the request here, before any policy runs.
func (c *Chain) Rewrite(ctx *Context) {
	if c.refuse && ctx.end != endRequest {
		c.refuseDropped(ctx)
		return
	}
	runPhase(c, ctx, PhaseRewrite, c.rewrite, func(p Rewriter) error { return p.Rewrite(ctx) })
}

// Access runs the access phase.
func (c *Chain) Access(ctx *Context) {
	runPhase(c, ctx, PhaseAccess, c.access, func(p Accessor) error { return p.Access(ctx) })
}

// Content runs the content phase until a policy produces the response.
func (c *Chain) Content(ctx *Context) {
	if ctx.end == endRequest {
		return
	}
	ctx.phase = PhaseContent
	for _, n := range c.content {
		var handled bool
		err := call(func() (err error) {
			handled, err = n.p.Content(ctx)
			return err
		})
		if err != nil {
			c.fail(ctx, n.name, PhaseContent, err)
			return
		}
		if handled || ctx.content != noContent {
			if ctx.content == noContent {
				ctx.content = localContent
			}
			ctx.producer = n.name
			return
		}
		if ctx.end != running {
			if ctx.end == endPhase {
				ctx.end = running
			}
			return
		}
	}
}

// Balance runs the balancer phase, before an attempt to reach the upstream.
func (c *Chain) Balance(ctx *Context) {
	runPhase(c, ctx, PhaseBalancer, c.balancer, func(p UpstreamBalancer) error { return p.Balance(ctx) })
}

// HeaderFilter runs the header filters over ctx.Response. It runs after an
// exit too; a failure replaces the response with the fail status.
func (c *Chain) HeaderFilter(ctx *Context) {
	ctx.phase = PhaseHeaderFilter
	for _, n := range c.headers {
		if err := call(func() error { return n.p.HeaderFilter(ctx) }); err != nil {
			c.fail(ctx, n.name, PhaseHeaderFilter, err)
			return
		}
	}
}

// HasBodyFilters reports whether any policy filters response bodies, so
// the gateway can stream bodies untouched otherwise.
func (c *Chain) HasBodyFilters() bool { return len(c.body) > 0 }

// Has reports whether any policy of the chain acts in phase p, so that a
// caller can skip the bookkeeping of empty phases.
func (c *Chain) Has(p Phase) bool {
	switch p {
	case PhaseRewrite:
		return len(c.rewrite) > 0 || c.refuse
	case PhaseAccess:
		return len(c.access) > 0
	case PhaseContent:
		return len(c.content) > 0
	case PhaseBalancer:
		return len(c.balancer) > 0
	case PhaseHeaderFilter:
		return len(c.headers) > 0
	case PhaseBodyFilter:
		return len(c.body) > 0
	case PhasePostAction:
		return len(c.post) > 0
	case PhaseLog:
		return len(c.log) > 0
	case PhaseSSLCertificate:
		return len(c.ssl) > 0
	case PhaseMetrics:
		return len(c.metrics) > 0
	}
	for _, m := range c.members {
		switch p {
		case PhaseInit:
			if _, ok := m.policy.(Initializer); ok {
				return true
			}
		case PhaseInitWorker:
			if _, ok := m.policy.(WorkerInitializer); ok {
				return true
			}
		}
	}
	return false
}

// BodyFilter passes one chunk of the response body through every body
// filter in order.
func (c *Chain) BodyFilter(ctx *Context, chunk []byte, eof bool) ([]byte, error) {
	ctx.phase = PhaseBodyFilter
	for _, n := range c.body {
		var out []byte
		err := call(func() (err error) {
			out, err = n.p.BodyFilter(ctx, chunk, eof)
			return err
		})
		if err != nil {
			c.fail(ctx, n.name, PhaseBodyFilter, err)
			return nil, ctx.failure
		}
		chunk = out
	}
	return chunk, nil
}

// PostAction runs the post_action phase; failures are logged only, as the
// response is already sent.
func (c *Chain) PostAction(ctx *Context) {
	ctx.phase = PhasePostAction
	for _, n := range c.post {
		if err := call(func() error { return n.p.PostAction(ctx) }); err != nil {
			c.logFailure(ctx, n.name, PhasePostAction, err)
		}
	}
}

// Log runs the log phase; failures are logged only.
func (c *Chain) Log(ctx *Context) {
	ctx.phase = PhaseLog
	for _, n := range c.log {
		if err := call(func() error { return n.p.Log(ctx) }); err != nil {
			c.logFailure(ctx, n.name, PhaseLog, err)
		}
	}
}

// SSLCertificate runs the ssl_certificate phase.
func (c *Chain) SSLCertificate(ctx *Context) {
	runPhase(c, ctx, PhaseSSLCertificate, c.ssl, func(p SSLCertificateHandler) error { return p.SSLCertificate(ctx) })
}

// Metrics runs the metrics phase, when the metrics endpoint is scraped.
func (c *Chain) Metrics(logger *slog.Logger) {
	for _, n := range c.metrics {
		if err := call(n.p.Metrics); err != nil && logger != nil {
			logger.Error("policy failed in metrics", "policy", n.name, "error", err.Error())
		}
	}
}

func (c *Chain) logFailure(ctx *Context, policy string, phase Phase, err error) {
	if ctx.Logger != nil {
		ctx.Logger.Error("policy failed after the response was sent",
			"service", ctx.ServiceID, "policy", policy, "phase", phase.String(), "error", err.Error())
	}
	if c.OnFailure != nil {
		c.OnFailure(policy, phase, err)
	}
}
