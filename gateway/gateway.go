// Package gateway is Verdict's API gateway data plane. It selects the
// service of a request by its host, runs the global policy chain with the
// service's chain expanded inside it phase by phase, and proxies to the
// upstream a content policy chose, streaming bodies both ways. What
// happens to a request is decided by the chain's policies (package chain,
// policies under policies/; the order of phases is chain's); the gateway
// only drives the phases, moves the bytes and keeps the configuration
// current across reloads. It owns the APIcast part of the configuration
// file (the services, policy_chain and gateway keys, see Config), which
// it registers with package config and decodes itself.
package gateway

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/config"
	"github.com/verdict-policy/verdict/pdl"
	"github.com/verdict-policy/verdict/script"
	"github.com/verdict-policy/verdict/store"
)

// DefaultPolicy is the chain of a service that configures none.
const DefaultPolicy = "apicast"

// Options configure a Gateway.
type Options struct {
	// Logger receives the gateway's logs; nil discards them.
	Logger *slog.Logger
	// Registerer receives the gateway's metrics; nil keeps them private.
	Registerer prometheus.Registerer
	// Resolve finds policies that are not builtin (custom Lua policies);
	// nil means builtin policies only.
	Resolve func(name, version string) (chain.Factory, bool)
	// Store, when set, returns the shared store of a configuration's
	// store settings; policies find it in chain.Env.Store. It is called on
	// every load.
	Store func(config.Store) (store.Store, error)
}

// Gateway serves the gateway listener. Create it with New, give it a
// configuration with Prepare and the returned install function, and serve
// it as an http.Handler. It is safe for concurrent use; a reload swaps the
// whole configuration at once while requests in flight finish on the one
// they started with.
type Gateway struct {
	logger     *slog.Logger
	metrics    *metrics
	resolve    func(name, version string) (chain.Factory, bool)
	store      func(config.Store) (store.Store, error)
	transports *transports

	state atomic.Pointer[state]
}

// New returns a gateway with no configuration: it answers 404 until one
// is installed.
func New(opts Options) (*Gateway, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	reg := opts.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	g := &Gateway{logger: logger, metrics: m, resolve: opts.Resolve, store: opts.Store, transports: newTransports(logger)}
	if err := reg.Register(metricsPhase{g}); err != nil {
		return nil, fmt.Errorf("gateway metrics phase: %w", err)
	}
	empty, err := chain.Build(nil, chain.Env{Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("gateway: empty chain: %w", err)
	}
	g.state.Store(&state{exact: map[string]*service{}, global: empty, settings: Config{}.WithDefaults(),
		unknown: m.forService("")})
	return g, nil
}

// state is one installed configuration.
type state struct {
	exact    map[string]*service
	wildcard []wildcard // longest suffix first
	global   *chain.Chain
	services []*service
	settings Config
	// unknown holds the metrics of requests for no service.
	unknown *serviceMetrics
	// warnings are the problems a lenient (APIcast) file was loaded with:
	// the configuration's own and the policies left out of chains.
	warnings config.Problems

	inflight atomic.Int64
	retired  atomic.Bool
}

type wildcard struct {
	suffix string // ".example.com"
	svc    *service
}

// service is a configured service with its composed chain.
type service struct {
	id      string
	cfg     *Service
	view    *chain.Service // what policies see of cfg
	chain   *chain.Chain   // global and service policies, composed
	own     *chain.Chain   // the service's own chain, for Close
	logger  *slog.Logger
	metrics *serviceMetrics
}

// acquire returns the current state, counted as in use until release.
func (g *Gateway) acquire() *state {
	for {
		st := g.state.Load()
		st.inflight.Add(1)
		if !st.retired.Load() {
			return st
		}
		// Swapped out between the load and the count: use the new one.
		st.inflight.Add(-1)
	}
}

func (st *state) release() { st.inflight.Add(-1) }

// lookup selects the service of a lower-cased, port-less host: an exact
// host first, then the longest matching wildcard.
func (st *state) lookup(host string) *service {
	if s, ok := st.exact[host]; ok {
		return s
	}
	for _, w := range st.wildcard {
		if len(host) > len(w.suffix) && strings.HasSuffix(host, w.suffix) {
			return w.svc
		}
	}
	return nil
}

// Warnings returns the problems the installed configuration was loaded
// with (see Prepare), each with its file, line and field.
func (g *Gateway) Warnings() config.Problems { return g.state.Load().warnings }

// Services returns the ids of the installed services, in configuration order.
func (g *Gateway) Services() []string {
	st := g.state.Load()
	out := make([]string, len(st.services))
	for i, s := range st.services {
		out[i] = s.id
	}
	return out
}

// Prepare builds every chain of cfg without touching the running
// configuration. Every problem is returned at once as config.Problems, each
// naming the file, line and field of the chain entry (unknown policy, a
// configuration that its manifest's schema rejects, a policy that refuses
// its configuration). install makes the new configuration current; the
// previous one's policies are closed once its last request has finished.
//
// An APIcast file without strict: true (cfg.Lenient) is loaded as
// APIcast loads it: a policy that cannot be built is left out of its
// chain and a duplicate service is skipped. Each such problem is logged
// as a warning here and listed by Warnings once installed.
func (g *Gateway) Prepare(cfg *config.Config, docs []config.Document) (install func(), err error) {
	st, err := g.build(cfg, docs)
	if err != nil {
		return nil, err
	}
	for _, w := range st.warnings {
		g.logger.Warn("configuration problem tolerated as APIcast does", "problem", w.Error())
	}
	return func() {
		old := g.state.Swap(st)
		if old != nil {
			old.retired.Store(true)
			go func() {
				if err := g.closeWhenIdle(old, 0); err != nil {
					g.logger.Warn("closing the policies of the replaced configuration", "error", err.Error())
				}
			}()
		}
	}, nil
}

// closeWhenIdle closes a replaced configuration's policies once no request
// uses it any more, or once maxWait has passed when it is not zero.
func (g *Gateway) closeWhenIdle(st *state, maxWait time.Duration) error {
	start := time.Now()
	for st.inflight.Load() > 0 && (maxWait == 0 || time.Since(start) < maxWait) {
		time.Sleep(20 * time.Millisecond)
	}
	var errs []error
	closed := map[*chain.Chain]bool{}
	for _, c := range append([]*chain.Chain{st.global}, ownChains(st.services)...) {
		if c == nil || closed[c] {
			continue
		}
		closed[c] = true
		if err := c.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func ownChains(svcs []*service) []*chain.Chain {
	out := make([]*chain.Chain, 0, len(svcs))
	for _, s := range svcs {
		out = append(out, s.own)
	}
	return out
}

// build compiles the chains of cfg into a state.
func (g *Gateway) build(cfg *config.Config, docs []config.Document) (*state, error) {
	gw := ConfigOf(cfg).WithDefaults()
	byName := make(map[string]*pdl.Document, len(docs))
	for _, d := range docs {
		byName[d.Name] = d.Document
	}
	document := func(name string) (*pdl.Document, bool) {
		d, ok := byName[name]
		return d, ok
	}
	var problems config.Problems
	st := &state{exact: map[string]*service{}, settings: gw, unknown: g.metrics.forService("")}

	resolve := g.resolve
	if dirs := script.Dirs(cfg); resolve == nil && len(dirs) > 0 {
		lp := script.LoadPathOf(cfg)
		resolve = script.Resolver(dirs, script.Options{Budget: lp.Budget, Instructions: int64(lp.Instructions),
			MaxBytes: lp.MaxBytes, PoolSize: lp.PoolSize, Logger: g.logger})
	}
	var shared store.Store
	if g.store != nil {
		var err error
		if shared, err = g.store(cfg.Store); err != nil {
			return nil, fmt.Errorf("%s: store: %w", cfg.File, err)
		}
	}
	dir := ""
	if cfg.File != "" && !cfg.Embedded {
		dir = filepath.Dir(cfg.File)
	}
	st.warnings = append(st.warnings, gw.Warnings...)
	// build compiles one chain, leaving out what cannot be built when the
	// file is lenient.
	build := func(entries []ChainEntry, field string, line, col int, env chain.Env) (*chain.Chain, error) {
		if !gw.Lenient {
			return chain.Build(toEntries(entries), env)
		}
		c, dropped, err := chain.BuildTolerant(toEntries(entries), env)
		for _, p := range dropped {
			for _, w := range chainProblems(cfg.File, field, line, col, entries, p) {
				w := w.(config.Problem)
				w.Message += "; it is left out of the chain, as APIcast does (strict: true refuses the file instead)"
				st.warnings = append(st.warnings, w)
			}
		}
		return c, err
	}
	globalEnv := chain.Env{Logger: g.logger, Dir: dir, Document: document, Resolve: resolve, Store: shared}
	global, err := build(gw.PolicyChain, "policy_chain", 0, 0, globalEnv)
	if err != nil {
		problems = append(problems, chainProblems(cfg.File, "policy_chain", 0, 0, gw.PolicyChain, err)...)
	} else {
		global.SetFailStatus(gw.FailStatus)
		global.OnFailure = g.metrics.onFailure("")
		st.global = global
	}
	for i := range gw.Services {
		sc := &gw.Services[i]
		logger := g.logger.With("service", sc.ID)
		entries := sc.PolicyChain
		if entries == nil {
			entries = []ChainEntry{{Name: DefaultPolicy, Field: sc.Field + ".proxy.policy_chain", Line: sc.Line, Column: sc.Column}}
		}
		view := serviceView(sc)
		env := chain.Env{Logger: logger, Dir: dir, ServiceID: sc.ID, Service: view, Document: document, Resolve: resolve, Store: shared}
		own, err := build(entries, sc.Field+".proxy.policy_chain", sc.Line, sc.Column, env)
		if err != nil {
			problems = append(problems, chainProblems(cfg.File, sc.Field+".proxy.policy_chain", sc.Line, sc.Column, entries, err)...)
			continue
		}
		fail := gw.FailStatus
		if sc.FailStatus != 0 {
			fail = sc.FailStatus
		}
		own.SetFailStatus(fail)
		if global == nil {
			continue
		}
		// With an empty global chain Compose returns own itself.
		composed := chain.Compose(global, own)
		composed.SetFailStatus(fail)
		composed.OnFailure = g.metrics.onFailure(sc.ID)
		svc := &service{id: sc.ID, cfg: sc, view: view, chain: composed, own: own, logger: logger, metrics: g.metrics.forService(sc.ID)}
		st.services = append(st.services, svc)
		for _, h := range sc.Hosts {
			if suffix, ok := strings.CutPrefix(h, "*"); ok {
				st.wildcard = append(st.wildcard, wildcard{suffix: suffix, svc: svc})
				continue
			}
			if _, dup := st.exact[h]; !dup {
				st.exact[h] = svc
			}
		}
	}
	if len(problems) > 0 {
		return nil, problems
	}
	// Longest wildcard first, so *.a.example.com beats *.example.com.
	for i := 1; i < len(st.wildcard); i++ {
		for j := i; j > 0 && len(st.wildcard[j].suffix) > len(st.wildcard[j-1].suffix); j-- {
			st.wildcard[j], st.wildcard[j-1] = st.wildcard[j-1], st.wildcard[j]
		}
	}
	return st, nil
}

func toEntries(in []ChainEntry) []chain.Entry {
	out := make([]chain.Entry, len(in))
	for i, e := range in {
		out[i] = chain.Entry{Name: e.Name, Version: e.Version, Configuration: e.Configuration}
	}
	return out
}

// chainProblems turns the error of chain.Build into positioned problems.
func chainProblems(file, field string, line, col int, entries []ChainEntry, err error) config.Problems {
	var out config.Problems
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	for _, e := range errs {
		p := config.Problem{File: file, Field: field, Line: line, Column: col, Message: e.Error()}
		var cp chain.Problem
		if errors.As(e, &cp) && cp.Index >= 0 && cp.Index < len(entries) {
			en := entries[cp.Index]
			p.Field, p.Line, p.Column = en.Field, en.Line, en.Column
			p.Message = fmt.Sprintf("policy %s: %v", cp.Policy, cp.Err)
		}
		out = append(out, p)
	}
	return out
}

// clientIP returns the host part of a connection's remote address.
func clientIP(remote string) string {
	if host, _, err := net.SplitHostPort(remote); err == nil {
		return host
	}
	return remote
}

// requestHost returns the host a request is for: lower-cased, without port.
func requestHost(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") {
		h = h[:i]
	}
	if len(h) > 1 && h[0] == '[' && h[len(h)-1] == ']' {
		h = h[1 : len(h)-1]
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(h)
		}
	}
	return h
}

// closeWait bounds how long Close waits for requests in flight.
const closeWait = 5 * time.Second

// Close ends the gateway's use of its configuration once requests in
// flight have finished (or after five seconds): the policies of the
// installed chains are closed and the idle upstream connections dropped. Call it after the listener
// has shut down; the gateway answers 404 afterwards.
func (g *Gateway) Close() error {
	empty, err := chain.Build(nil, chain.Env{Logger: g.logger})
	if err != nil {
		return fmt.Errorf("gateway: empty chain: %w", err)
	}
	old := g.state.Swap(&state{exact: map[string]*service{}, global: empty,
		settings: Config{}.WithDefaults(), unknown: g.metrics.forService("")})
	old.retired.Store(true)
	err = g.closeWhenIdle(old, closeWait)
	g.transports.closeIdle()
	return err
}

// serviceView is what policies see of a configured service.
func serviceView(sc *Service) *chain.Service {
	return &chain.Service{
		ID: sc.ID, SystemName: sc.SystemName, Hosts: sc.Hosts, APIBackend: sc.APIBackend,
		HostnameRewrite: sc.HostnameRewrite, SecretToken: sc.SecretToken,
		OIDCIssuerEndpoint: sc.OIDCIssuerEndpoint, Rules: sc.Rules, NoMatch: sc.NoMatch,
	}
}
