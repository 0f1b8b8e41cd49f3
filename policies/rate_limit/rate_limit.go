// Package ratelimit is the builtin chain policy "rate_limit" (APIcast's
// Edge Limiting): in the access phase it counts each request against
// connection, leaky bucket and fixed window limiters kept in a store.
// The store comes from the chain's environment (Env.Store, shared by the
// gateway), from the policy's own redis_url, or
// is a memory store of the policy's own; instances of the gateway that
// share one Redis store therefore share their limits. Keys, conditions and
// every setting are compiled when the chain is built.
package ratelimit

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/policies/internal/builtin"
	"github.com/verdict-policy/verdict/policies/internal/condition"
	"github.com/verdict-policy/verdict/store"
)

// Name is the policy's name in a chain entry.
const Name = "rate_limit"

// LeaseTTL bounds how long a connection limiter's slot stays taken by a
// request that never reaches the log phase (a crashed instance): after it
// the slot frees itself.
const LeaseTTL = 5 * time.Minute

// The defaults of the configuration.
const (
	DefaultExceededStatus = http.StatusTooManyRequests
	DefaultConfigStatus   = http.StatusInternalServerError
	// StoreErrorStatus is what a request gets with on_store_error: deny
	// while the store cannot be reached.
	StoreErrorStatus = http.StatusServiceUnavailable
)

// releaseTimeout bounds giving a connection slot back in the log phase.
const releaseTimeout = 2 * time.Second

//go:embed apicast-policy.json
var manifestJSON []byte

func init() {
	builtin.Register(Name, manifestJSON, func(cfg json.RawMessage, env chain.Env) (chain.Policy, error) {
		return New(cfg, env)
	})
}

// Config is the policy's configuration.
type Config struct {
	ConnectionLimiters  []ConnectionLimiter  `json:"connection_limiters"`
	LeakyBucketLimiters []LeakyBucketLimiter `json:"leaky_bucket_limiters"`
	FixedWindowLimiters []FixedWindowLimiter `json:"fixed_window_limiters"`
	// RedisURL, when set, makes the policy count in a Redis server of its
	// own instead of the gateway's store.
	RedisURL string `json:"redis_url"`
	// LimitsExceededError is what a request over a limit gets.
	LimitsExceededError ErrorHandling `json:"limits_exceeded_error"`
	// ConfigurationError is what a request gets when a limiter's key
	// cannot be made (a template that fails or renders empty), and, unless
	// OnStoreError says otherwise, when the store cannot be reached.
	ConfigurationError ErrorHandling `json:"configuration_error"`
	// OnStoreError is allow or deny; empty follows ConfigurationError, as
	// APIcast does.
	OnStoreError string `json:"on_store_error"`
}

// Key names what a limiter counts by.
type Key struct {
	Name     string `json:"name"`
	NameType string `json:"name_type"`
	// Scope is service (the default) or global.
	Scope string `json:"scope"`
}

// ConnectionLimiter limits the requests in flight.
type ConnectionLimiter struct {
	Key       Key             `json:"key"`
	Conn      int64           `json:"conn"`
	Burst     int64           `json:"burst"`
	Delay     *float64        `json:"delay"`
	Condition *condition.Spec `json:"condition"`
}

// LeakyBucketLimiter limits requests to a steady rate per second.
type LeakyBucketLimiter struct {
	Key       Key             `json:"key"`
	Rate      float64         `json:"rate"`
	Burst     float64         `json:"burst"`
	Condition *condition.Spec `json:"condition"`
}

// FixedWindowLimiter allows count requests per window of seconds; a window
// of 0, or none, is 1 second.
type FixedWindowLimiter struct {
	Key       Key             `json:"key"`
	Count     int64           `json:"count"`
	Window    *int64          `json:"window"`
	Condition *condition.Spec `json:"condition"`
}

// ErrorHandling says what a request that meets an error gets.
type ErrorHandling struct {
	StatusCode *int `json:"status_code"`
	// ErrorHandling is exit (the default: answer with StatusCode) or log
	// (log it and let the request go on).
	ErrorHandling string `json:"error_handling"`
}

type kind uint8

const (
	kindConn kind = iota
	kindBucket
	kindWindow
)

var kindNames = [...]string{"connections", "leaky_bucket", "fixed_window"}

// limiter is one compiled limiter.
type limiter struct {
	kind  kind
	field string // its place in the configuration, for logs
	// prefix is put before a rendered key; key is the whole key when the
	// name is plain.
	prefix, key string
	// perService is set for a service-scoped key in the global chain: the
	// service is the request's, known only when it comes.
	perService bool
	name       *condition.Value
	plain      string // the name, when plain
	cond       *condition.Condition

	conn, connBurst int64
	delay           time.Duration
	rate, burst     float64
	count           int64
	window          time.Duration
}

type handling struct {
	status int
	exit   bool
}

// Policy enforces the configured limits. It is safe for concurrent use.
type Policy struct {
	limiters []limiter
	conns    bool // some limiter is a connection limiter
	// shared is the gateway's store; open makes the policy's own, once,
	// kept in own (or the failure in openErr).
	shared   store.Store
	open     func() (store.Store, error)
	openOnce sync.Once
	own      store.Store
	openErr  error
	exceeded handling
	config   handling
	onStore  storeMode
	logger   *slog.Logger

	storeErrors atomic.Uint64
	// lastStoreLog is when a store failure was last logged, in Unix
	// nanoseconds: an outage is logged once a second, not per request.
	lastStoreLog atomic.Int64
	closeOnce    sync.Once
}

var (
	_ chain.Accessor = (*Policy)(nil)
	_ chain.Logger   = (*Policy)(nil)
	_ chain.Closer   = (*Policy)(nil)
)

// New builds the policy from its JSON configuration. The store is, in
// order: a Redis server of its own when the configuration sets redis_url,
// env.Store when the gateway gives one, else a memory store of
// its own (whose counts a reload starts afresh). A store of its own is
// opened by the first request that needs it and closed by Close.
func New(raw json.RawMessage, env chain.Env) (*Policy, error) {
	var cfg Config
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	p := &Policy{logger: env.Logger}
	if p.logger == nil {
		p.logger = slog.New(slog.DiscardHandler)
	}
	var err error
	if p.exceeded, err = compileHandling(cfg.LimitsExceededError, DefaultExceededStatus); err != nil {
		return nil, fmt.Errorf("limits_exceeded_error.%w", err)
	}
	if p.config, err = compileHandling(cfg.ConfigurationError, DefaultConfigStatus); err != nil {
		return nil, fmt.Errorf("configuration_error.%w", err)
	}
	switch cfg.OnStoreError {
	case "":
		p.onStore = storeAsConfig
	case "allow":
		p.onStore = storeAllow
	case "deny":
		p.onStore = storeDeny
	default:
		return nil, fmt.Errorf("on_store_error: %q is neither allow nor deny", cfg.OnStoreError)
	}
	for i, l := range cfg.ConnectionLimiters {
		field := fmt.Sprintf("connection_limiters[%d]", i)
		if l.Conn < 1 {
			return nil, fmt.Errorf("%s.conn: %d is below 1", field, l.Conn)
		}
		if l.Burst < 0 {
			return nil, fmt.Errorf("%s.burst: %d is below 0", field, l.Burst)
		}
		delay := 1.0
		if l.Delay != nil {
			delay = *l.Delay
		}
		if !(delay > 0) || delay > 3600 {
			return nil, fmt.Errorf("%s.delay: %v is not in (0, 3600] seconds", field, delay)
		}
		lim, err := compileLimiter(kindConn, field, l.Key, l.Condition, env.ServiceID)
		if err != nil {
			return nil, err
		}
		lim.conn, lim.connBurst, lim.delay = l.Conn, l.Burst, time.Duration(delay*float64(time.Second))
		p.limiters = append(p.limiters, lim)
		p.conns = true
	}
	for i, l := range cfg.LeakyBucketLimiters {
		field := fmt.Sprintf("leaky_bucket_limiters[%d]", i)
		if !(l.Rate >= 0.001) || l.Rate > 1e9 {
			return nil, fmt.Errorf("%s.rate: %v is not from 0.001 to 1e9 requests per second", field, l.Rate)
		}
		if !(l.Burst >= 0) || l.Burst > 1e12 {
			return nil, fmt.Errorf("%s.burst: %v is not from 0 to 1e12", field, l.Burst)
		}
		lim, err := compileLimiter(kindBucket, field, l.Key, l.Condition, env.ServiceID)
		if err != nil {
			return nil, err
		}
		lim.rate, lim.burst = l.Rate, l.Burst
		p.limiters = append(p.limiters, lim)
	}
	for i, l := range cfg.FixedWindowLimiters {
		field := fmt.Sprintf("fixed_window_limiters[%d]", i)
		if l.Count < 1 {
			return nil, fmt.Errorf("%s.count: %d is below 1", field, l.Count)
		}
		window := int64(1)
		if l.Window != nil && *l.Window != 0 {
			// As in APIcast, a window of 0 is the default of 1 second.
			window = *l.Window
		}
		if window < 1 || window > 366*24*3600 {
			return nil, fmt.Errorf("%s.window: %d is not from 0 (1 second) to a year", field, window)
		}
		lim, err := compileLimiter(kindWindow, field, l.Key, l.Condition, env.ServiceID)
		if err != nil {
			return nil, err
		}
		lim.count, lim.window = l.Count, time.Duration(window)*time.Second
		p.limiters = append(p.limiters, lim)
	}
	switch s := env.Store; {
	case cfg.RedisURL != "":
		// Checked now, opened when the first request needs it: a chain
		// that fails to build or never serves holds no connections.
		if _, err := goredis.ParseURL(cfg.RedisURL); err != nil {
			return nil, fmt.Errorf("redis_url: %w", err)
		}
		url := cfg.RedisURL
		p.open = func() (store.Store, error) {
			return store.NewRedis(context.Background(), store.RedisOptions{URL: url})
		}
	case s != nil:
		p.shared = s
	default:
		p.open = func() (store.Store, error) { return store.NewMemory(store.MemoryOptions{}), nil }
	}
	return p, nil
}

// store returns the store to count in, opening the policy's own the
// first time.
func (p *Policy) store() (store.Store, error) {
	if p.shared != nil {
		return p.shared, nil
	}
	p.openOnce.Do(func() { p.own, p.openErr = p.open() })
	if p.own == nil && p.openErr == nil {
		// Close ran first and used up the once.
		return nil, errClosed
	}
	return p.own, p.openErr
}

func compileHandling(h ErrorHandling, status int) (handling, error) {
	out := handling{status: status, exit: true}
	if h.StatusCode != nil {
		if *h.StatusCode < 200 || *h.StatusCode > 599 {
			return out, fmt.Errorf("status_code: %d is not a final HTTP status (200-599)", *h.StatusCode)
		}
		out.status = *h.StatusCode
	}
	switch h.ErrorHandling {
	case "", "exit":
	case "log":
		out.exit = false
	default:
		return out, fmt.Errorf("error_handling: %q is neither exit nor log", h.ErrorHandling)
	}
	return out, nil
}

// compileLimiter prepares a limiter's key and condition. A key scoped to
// the service is "<service>_<kind>_<name>", a global one "<kind>_<name>",
// as in APIcast; in the global chain (service empty) the service is the
// request's; fixed windows need no window prefix, as the store aligns
// them to the epoch itself.
func compileLimiter(k kind, field string, key Key, cond *condition.Spec, service string) (limiter, error) {
	lim := limiter{kind: k, field: field}
	switch key.Scope {
	case "", "service":
		lim.prefix = service + "_" + kindNames[k] + "_"
		if service == "" {
			lim.perService = true
			lim.prefix = "_" + kindNames[k] + "_"
		}
	case "global":
		lim.prefix = kindNames[k] + "_"
	default:
		return lim, fmt.Errorf("%s.key.scope: %q is neither service nor global", field, key.Scope)
	}
	if key.Name == "" {
		return lim, fmt.Errorf("%s.key.name: empty", field)
	}
	t, err := condition.CompileValue(key.Name, key.NameType)
	if err != nil {
		return lim, fmt.Errorf("%s.key.name: %w", field, err)
	}
	if t.IsPlain() {
		lim.key = lim.prefix + key.Name
		lim.plain = key.Name
	} else {
		lim.name = t
	}
	if cond != nil {
		if lim.cond, err = condition.Compile(*cond); err != nil {
			return lim, fmt.Errorf("%s.condition.%w", field, err)
		}
	}
	return lim, nil
}

// leases are the connection slots a request holds, given back in log.
type leases []store.Lease

// errClosed is what a closed policy's store calls get.
var errClosed = errors.New("the policy is closed")

// errConfig marks a limiter whose key could not be made.
var errConfig = errors.New("configuration error")

// Access counts the request against every limiter whose condition holds,
// in the order connection, leaky bucket, fixed window limiters, and stops
// at the first that refuses it. Requests within a burst wait their delay
// here.
func (p *Policy) Access(c *chain.Context) error {
	if len(p.limiters) == 0 {
		return nil
	}
	ctx := c.Request.Context()
	st, err := p.store()
	if err != nil {
		p.storeError(c, &p.limiters[0], fmt.Errorf("%w: %w", store.ErrUnavailable, err))
		return nil
	}
	var delay time.Duration
	for i := range p.limiters {
		l := &p.limiters[i]
		if l.cond != nil {
			ok, err := l.cond.Holds(c)
			if err != nil {
				if p.configError(c, l, err) {
					return nil
				}
				continue
			}
			if !ok {
				continue
			}
		}
		key := l.key
		if l.perService && l.name == nil {
			key = c.ServiceID + l.prefix + l.plain
		}
		if l.name != nil {
			name, err := l.name.Render(c, nil)
			if err == nil && name == "" {
				err = errors.New("the key rendered empty")
			}
			if err != nil {
				if p.configError(c, l, err) {
					return nil
				}
				continue
			}
			key = l.prefix + name
			if l.perService {
				key = c.ServiceID + key
			}
		}
		var (
			d        time.Duration
			rejected *rejection
			err      error
		)
		switch l.kind {
		case kindConn:
			d, rejected, err = p.acquire(ctx, st, c, l, key)
		case kindBucket:
			var r store.BucketResult
			if r, err = st.Bucket(ctx, key, l.rate, l.burst); err == nil {
				if r.Allowed {
					d = r.Delay
				} else {
					rejected = &rejection{limit: int64(math.Ceil(l.rate)), reset: r.RetryAfter}
				}
			}
		case kindWindow:
			var r store.WindowResult
			if r, err = st.Window(ctx, key, l.count, l.window); err == nil && !r.Allowed {
				rejected = &rejection{limit: l.count, reset: r.Reset}
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				// The client went away while the store was asked: not a
				// store failure, and nobody is left to answer.
				return nil
			}
			if p.storeError(c, l, err) {
				return nil
			}
			continue
		}
		if rejected != nil {
			if p.exceeded.exit {
				p.release(c)
				rejected.respond(c, p.exceeded.status)
				return nil
			}
			p.log(c).Info("rate limit exceeded; letting the request through (error_handling: log)",
				"policy", Name, "limiter", l.field, "key", key)
			continue
		}
		delay = max(delay, d)
	}
	if delay > 0 {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
	return nil
}

// acquire takes a connection slot for the request. Up to conn requests
// pass at once; the next burst ones wait delay for each full conn ahead
// of them, as APIcast's connection limiter does.
func (p *Policy) acquire(ctx context.Context, st store.Store, c *chain.Context, l *limiter, key string) (time.Duration, *rejection, error) {
	lease, err := st.Acquire(ctx, key, l.conn+l.connBurst, LeaseTTL)
	if err != nil {
		return 0, nil, err
	}
	if !lease.Allowed {
		return 0, &rejection{limit: l.conn + l.connBurst, reset: l.delay}, nil
	}
	held, _ := c.Private(p).(*leases)
	if held == nil {
		held = new(leases)
		c.SetPrivate(p, held)
	}
	*held = append(*held, lease)
	var d time.Duration
	if lease.Count > l.conn {
		d = l.delay * time.Duration((lease.Count-1)/l.conn)
	}
	return d, nil, nil
}

// Log gives back the connection slots the request took.
func (p *Policy) Log(c *chain.Context) error {
	if !p.conns {
		return nil
	}
	p.release(c)
	return nil
}

func (p *Policy) release(c *chain.Context) {
	held, _ := c.Private(p).(*leases)
	if held == nil || len(*held) == 0 {
		return
	}
	// The request's own context may be cancelled by now; the slot must go
	// back regardless.
	ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
	defer cancel()
	for _, l := range *held {
		if err := l.Release(ctx); err != nil {
			p.noteStoreError(c, "release", err)
		}
	}
	*held = (*held)[:0]
}

// configError applies configuration_error and reports whether the request
// was ended.
func (p *Policy) configError(c *chain.Context, l *limiter, err error) bool {
	p.log(c).Error("rate limit: a limiter's key or condition failed",
		"policy", Name, "limiter", l.field, "error", err.Error())
	if !p.config.exit {
		return false
	}
	p.release(c)
	c.Exit(p.config.status, http.StatusText(p.config.status)+"\n")
	return true
}

// storeMode says what a request gets while the store cannot be reached.
type storeMode uint8

const (
	storeAsConfig storeMode = iota // what configuration_error says
	storeAllow                     // it passes
	storeDeny                      // StoreErrorStatus
)

// storeError applies on_store_error and reports whether the request was
// ended. The store's text goes to the log only.
func (p *Policy) storeError(c *chain.Context, l *limiter, err error) bool {
	if !errors.Is(err, store.ErrUnavailable) {
		// The store refused the arguments: a bug in the compiled limiter,
		// not an outage.
		return p.configError(c, l, fmt.Errorf("%w: %w", errConfig, err))
	}
	p.noteStoreError(c, l.field, err)
	status := StoreErrorStatus
	switch {
	case p.onStore == storeAllow:
		return false
	case p.onStore == storeAsConfig && !p.config.exit:
		return false
	case p.onStore == storeAsConfig:
		status = p.config.status
	}
	p.release(c)
	c.Exit(status, http.StatusText(status)+"\n")
	return true
}

// noteStoreError counts a store failure and logs it, at most once a
// second with the number of failures since.
func (p *Policy) noteStoreError(c *chain.Context, what string, err error) {
	n := p.storeErrors.Add(1)
	now := time.Now().UnixNano()
	last := p.lastStoreLog.Load()
	if now-last < int64(time.Second) || !p.lastStoreLog.CompareAndSwap(last, now) {
		return
	}
	logger := p.log(c)
	action := "allowing requests (on_store_error)"
	switch {
	case p.onStore == storeDeny:
		action = "denying requests (on_store_error)"
	case p.onStore == storeAsConfig && p.config.exit:
		action = "denying requests (configuration_error)"
	case p.onStore == storeAsConfig:
		action = "allowing requests (configuration_error)"
	}
	logger.Warn("rate limit: the store cannot be reached; "+action,
		"policy", Name, "limiter", what, "store_errors_total", n, "error", err.Error())
}

// log returns the request's logger, else the chain's.
func (p *Policy) log(c *chain.Context) *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return p.logger
}

// StoreErrors returns how many store operations of this policy instance
// failed.
func (p *Policy) StoreErrors() uint64 { return p.storeErrors.Load() }

// Close closes the store when the policy opened it itself.
func (p *Policy) Close() error {
	var err error
	p.closeOnce.Do(func() {
		p.openOnce.Do(func() {}) // nothing opens after Close
		if p.own != nil {
			err = p.own.Close()
		}
	})
	return err
}

// rejection is a refused request's limit and when to retry.
type rejection struct {
	limit int64
	reset time.Duration
}

// respond ends the request with status and the RateLimit-* and
// Retry-After headers.
func (r *rejection) respond(c *chain.Context, status int) {
	secs := int64(math.Ceil(r.reset.Seconds()))
	if secs < 1 {
		secs = 1
	}
	reset := strconv.FormatInt(secs, 10)
	h := c.Response.Header
	h["Ratelimit-Limit"] = []string{strconv.FormatInt(r.limit, 10)}
	h["Ratelimit-Remaining"] = []string{"0"}
	h["Ratelimit-Reset"] = []string{reset}
	h["Retry-After"] = []string{reset}
	c.Exit(status, http.StatusText(status)+"\n")
}
