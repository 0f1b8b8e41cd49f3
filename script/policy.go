package script

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"

	lua "github.com/yuin/gopher-lua"

	"github.com/verdict-policy/verdict/chain"
)

// phaseCount is the number of chain phases; a policy's phases fit a bit set.
const phaseCount = 12

func init() {
	if len(chain.Phases()) != phaseCount {
		panic("script: chain phases changed; update phaseCount")
	}
}

// Policy is one instance of a custom Lua policy in a chain: its
// configuration and a pool of Lua states, each holding the policy's
// modules and an instance made by new(config). A request takes a state on
// its first phase and gives it back after its last, so the phases of one
// request see one interpreter while requests run in parallel on others.
type Policy struct {
	folder *folder
	opts   Options
	config json.RawMessage
	logger *slog.Logger

	phases  uint16      // bit i set: the policy acts in chain.Phase(i)
	last    chain.Phase // the last request phase the policy acts in
	idle    sync.Pool   // *lease, per core
	reserve chan *state // idle states kept across collections
	export  map[string]any
	closed  atomic.Bool
}

// bodyFilteringPolicy is a Policy that acts in body_filter too. It is a
// separate type so that a chain without Lua body filters keeps streaming
// response bodies untouched.
type bodyFilteringPolicy struct{ *Policy }

func newPolicy(f *folder, config json.RawMessage, env chain.Env, opts Options) (chain.Policy, error) {
	logger := env.Logger
	if logger == nil {
		logger = opts.Logger
	}
	p := &Policy{
		folder:  f,
		opts:    opts,
		config:  config,
		logger:  logger.With("policy", f.name, "version", f.version),
		reserve: make(chan *state, opts.PoolSize),
	}
	st, err := p.newState()
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", f.dir, err)
	}
	for i, m := range st.methods {
		if m != nil {
			p.phases |= 1 << i
			if ph := chain.Phase(i); ph >= chain.PhaseSSLCertificate && ph <= chain.PhaseLog {
				p.last = ph
			}
		}
	}
	if exp, err := st.exports(); err != nil {
		return nil, fmt.Errorf("%s: export: %w", f.dir, err)
	} else {
		p.export = exp
	}
	p.reserve <- st
	if p.acts(chain.PhaseBodyFilter) {
		return bodyFilteringPolicy{p}, nil
	}
	return p, nil
}

func (p *Policy) regexes() *regexCache { return &p.folder.re }

func (p *Policy) acts(ph chain.Phase) bool { return p.phases&(1<<ph) != 0 }

// Phases lists the phases the policy acts in.
func (p *Policy) Phases() []chain.Phase {
	var out []chain.Phase
	for _, ph := range chain.Phases() {
		if p.acts(ph) {
			out = append(out, ph)
		}
	}
	return out
}

// lease is how a state sits in the per-core pool: the pool holds the
// lease, the lease holds the state. A lease the garbage collector drops
// (the pool lets go of what stayed idle through two collections) hands
// its state to the policy's reserve, so the state is kept or closed, never
// leaked. The state does not point back at its lease, which is what lets
// the lease be collected.
type lease struct{ st *state }

// get takes an idle state: from the per-core pool, which costs no lock
// and no memory shared between cores; else from the reserve; else a new
// one.
func (p *Policy) get() (*lease, error) {
	if l, ok := p.idle.Get().(*lease); ok {
		return l, nil
	}
	var st *state
	select {
	case st = <-p.reserve:
	default:
		var err error
		if st, err = p.newState(); err != nil {
			return nil, err
		}
	}
	l := &lease{st: st}
	runtime.AddCleanup(l, p.retire, st)
	return l, nil
}

func (p *Policy) put(l *lease) {
	if l.st.broken || p.closed.Load() {
		l.st.close() // its lease's cleanup finds it closed
		return
	}
	p.idle.Put(l)
}

// retire runs when the lease of st is collected: st goes to the reserve
// if there is room, else it is closed.
func (p *Policy) retire(st *state) {
	if st.isClosed() { // broken, closed by put
		return
	}
	if !p.closed.Load() {
		select {
		case p.reserve <- st:
			return
		default:
		}
	}
	st.close()
}

// Close drops the idle states; states still serving a request are dropped
// when it ends, and those in the per-core pool when it lets them go.
func (p *Policy) Close() error {
	p.closed.Store(true)
	for {
		select {
		case st := <-p.reserve:
			st.close()
		default:
			return nil
		}
	}
}

// Export returns the data the policy's export() published, if any.
func (p *Policy) Export() map[string]any { return p.export }

// stateFor returns the state serving ctx, taking one from the pool on the
// request's first phase.
func (p *Policy) stateFor(ctx *chain.Context) (*state, error) {
	if l, ok := ctx.Private(p).(*lease); ok && l != nil {
		return l.st, nil
	}
	l, err := p.get()
	if err != nil {
		return nil, err
	}
	l.st.bind(ctx)
	ctx.SetPrivate(p, l)
	return l.st, nil
}

// release gives ctx's state back to the pool.
func (p *Policy) release(ctx *chain.Context) {
	l, ok := ctx.Private(p).(*lease)
	if !ok || l == nil {
		return
	}
	ctx.SetPrivate(p, nil)
	l.st.unbind()
	p.put(l)
}

// run calls the policy's method for phase ph within the request ctx.
func (p *Policy) run(ctx *chain.Context, ph chain.Phase) error {
	if !p.acts(ph) {
		if ph == chain.PhaseLog {
			p.release(ctx)
		}
		return nil
	}
	st, err := p.stateFor(ctx)
	if err != nil {
		return err
	}
	err = st.callPhase(ph)
	if ph >= p.last || ph == chain.PhaseLog || st.broken {
		p.release(ctx)
	}
	return err
}

// once runs a phase that has no request (init, init_worker, metrics) in
// an idle state.
func (p *Policy) once(ph chain.Phase) error {
	if !p.acts(ph) {
		return nil
	}
	l, err := p.get()
	if err != nil {
		return err
	}
	defer p.put(l)
	return l.st.callPhase(ph)
}

// Init runs the policy's init.
func (p *Policy) Init() error { return p.once(chain.PhaseInit) }

// InitWorker runs the policy's init_worker.
func (p *Policy) InitWorker() error { return p.once(chain.PhaseInitWorker) }

// Metrics runs the policy's metrics.
func (p *Policy) Metrics() error { return p.once(chain.PhaseMetrics) }

// SSLCertificate runs the policy's ssl_certificate.
func (p *Policy) SSLCertificate(ctx *chain.Context) error {
	return p.run(ctx, chain.PhaseSSLCertificate)
}

// Rewrite runs the policy's rewrite.
func (p *Policy) Rewrite(ctx *chain.Context) error { return p.run(ctx, chain.PhaseRewrite) }

// Access runs the policy's access.
func (p *Policy) Access(ctx *chain.Context) error { return p.run(ctx, chain.PhaseAccess) }

// Content runs the policy's content: it handles the request when it
// printed a body or exited.
func (p *Policy) Content(ctx *chain.Context) (bool, error) {
	if !p.acts(chain.PhaseContent) {
		return false, nil
	}
	err := p.run(ctx, chain.PhaseContent)
	return err == nil && ctx.Produced(), err
}

// Balance runs the policy's balancer.
func (p *Policy) Balance(ctx *chain.Context) error { return p.run(ctx, chain.PhaseBalancer) }

// HeaderFilter runs the policy's header_filter.
func (p *Policy) HeaderFilter(ctx *chain.Context) error {
	return p.run(ctx, chain.PhaseHeaderFilter)
}

// PostAction runs the policy's post_action.
func (p *Policy) PostAction(ctx *chain.Context) error { return p.run(ctx, chain.PhasePostAction) }

// Log runs the policy's log and gives the request's state back.
func (p *Policy) Log(ctx *chain.Context) error { return p.run(ctx, chain.PhaseLog) }

// BodyFilter runs the policy's body_filter over one chunk; the script
// reads the chunk as ngx.arg[1] and the end flag as ngx.arg[2], and
// replaces the chunk by assigning ngx.arg[1].
func (p bodyFilteringPolicy) BodyFilter(ctx *chain.Context, chunk []byte, eof bool) ([]byte, error) {
	st, err := p.stateFor(ctx)
	if err != nil {
		return nil, err
	}
	st.chunk, st.chunkSet, st.eof = chunk, false, eof
	err = st.callPhase(chain.PhaseBodyFilter)
	out := st.chunk
	if st.chunkSet {
		out = []byte(st.newChunk)
	}
	st.chunk, st.newChunk = nil, ""
	if st.broken {
		p.release(ctx)
	}
	return out, err
}

// errOverBudget is wrapped by the error of a call stopped by its budget.
var errOverBudget = errors.New("over its budget")

// Interface guards: a Lua policy may act in every phase.
var (
	_ chain.Initializer           = (*Policy)(nil)
	_ chain.WorkerInitializer     = (*Policy)(nil)
	_ chain.SSLCertificateHandler = (*Policy)(nil)
	_ chain.Rewriter              = (*Policy)(nil)
	_ chain.Accessor              = (*Policy)(nil)
	_ chain.ContentProducer       = (*Policy)(nil)
	_ chain.UpstreamBalancer      = (*Policy)(nil)
	_ chain.HeaderFilter          = (*Policy)(nil)
	_ chain.PostActioner          = (*Policy)(nil)
	_ chain.Logger                = (*Policy)(nil)
	_ chain.MetricsCollector      = (*Policy)(nil)
	_ chain.Exporter              = (*Policy)(nil)
	_ chain.Closer                = (*Policy)(nil)
	_ chain.BodyFilter            = bodyFilteringPolicy{}
	_                             = lua.LNil
)
