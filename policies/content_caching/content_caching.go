// Package contentcaching is the builtin chain policy "content_caching"
// (APIcast's Content caching): upstream responses to GET and HEAD
// requests are kept in the shared store and served again while fresh,
// for the requests its rules turn the cache on for. Rules are decided in
// access; a kept response is served in content, so every access check
// still runs for it; the upstream's response is captured through the
// header and body filters and written to the store in post_action, once
// it has been sent whole. Freshness follows the upstream's Cache-Control
// and Expires, else a configured time, as nginx's proxy cache does under
// APIcast.
package contentcaching

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/policies/internal/builtin"
	"github.com/verdict-policy/verdict/policies/internal/condition"
	"github.com/verdict-policy/verdict/policies/internal/throttle"
	"github.com/verdict-policy/verdict/store"
)

// Name is the policy's name in a chain entry.
const Name = "content_caching"

// The environment variables APIcast reads its cache settings from; they
// are the defaults of status_codes and max_time.
const (
	StatusCodesEnv = "APICAST_CACHE_STATUS_CODES"
	MaxTimeEnv     = "APICAST_CACHE_MAX_TIME"
)

// Defaults of the settings, APIcast's.
const (
	DefaultStatusCodes = "200 302"
	DefaultMaxTime     = time.Minute
	DefaultMaxBodySize = 1 << 20
	DefaultHeader      = "X-Cache-Status"
)

// The cache statuses told to the client.
const (
	Hit     = "HIT"
	Miss    = "MISS"
	Expired = "EXPIRED"
	Bypass  = "BYPASS"
)

// Inactive is how long a response stays in the store after it stops being
// fresh (nginx's default inactive time), so that a later request is told
// EXPIRED rather than MISS.
const Inactive = 10 * time.Minute

// routeUpstream is APIcast's context key of the upstream a routing policy
// chose (a *chain.Upstream); it is part of the cache key, as the upstream
// host is of nginx's.
const routeUpstream = "route_upstream"

//go:embed apicast-policy.json
var manifestJSON []byte

func init() {
	builtin.Register(Name, manifestJSON, func(cfg json.RawMessage, env chain.Env) (chain.Policy, error) {
		return New(cfg, env)
	})
}

// Config is the policy's configuration.
type Config struct {
	Rules       []Rule `json:"rules"`
	StatusCodes []any  `json:"status_codes"`
	MaxTime     string `json:"max_time"`
	MaxBodySize *int64 `json:"max_body_size"`
}

// Rule turns the cache on or off for the requests its condition holds for.
type Rule struct {
	Cache     bool            `json:"cache"`
	Header    *string         `json:"header"`
	Condition *condition.Spec `json:"condition"`
}

type rule struct {
	cache  bool
	header string
	cond   *condition.Condition
}

// Policy keeps and serves responses. It holds its configuration and its
// store, and is safe for concurrent use.
type Policy struct {
	rules    []rule
	statuses statusSet
	maxTime  time.Duration
	maxBody  int64
	// table is the store table of the chain's service; empty in the
	// global chain, where each request's service names it.
	table string

	shared   store.Store
	openOnce sync.Once
	own      store.Store

	now    func() time.Time
	logger *slog.Logger
	failed throttle.Log
}

var (
	_ chain.Accessor        = (*Policy)(nil)
	_ chain.ContentProducer = (*Policy)(nil)
	_ chain.HeaderFilter    = (*Policy)(nil)
	_ chain.BodyFilter      = (*Policy)(nil)
	_ chain.PostActioner    = (*Policy)(nil)
	_ chain.Closer          = (*Policy)(nil)
)

// New builds the policy. status_codes and max_time default to APIcast's
// environment variables, read now; a bad value of either is a load error
// naming it.
func New(raw json.RawMessage, env chain.Env) (*Policy, error) {
	var cfg Config
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	p := &Policy{maxBody: DefaultMaxBodySize, now: time.Now, logger: env.Logger}
	if p.logger == nil {
		p.logger = slog.Default()
	}
	for i, r := range cfg.Rules {
		cr := rule{cache: r.Cache, header: DefaultHeader}
		if r.Header != nil {
			cr.header = *r.Header
		}
		if r.Condition != nil {
			cond, err := condition.Compile(*r.Condition)
			if err != nil {
				return nil, fmt.Errorf("rules[%d].condition.%w", i, err)
			}
			cr.cond = cond
		}
		p.rules = append(p.rules, cr)
	}
	var err error
	switch {
	case len(cfg.StatusCodes) > 0:
		fields := make([]string, len(cfg.StatusCodes))
		for i, v := range cfg.StatusCodes {
			fields[i] = fmt.Sprint(v)
		}
		if p.statuses, err = parseStatusCodes(strings.Join(fields, " ")); err != nil {
			return nil, fmt.Errorf("status_codes: %w", err)
		}
	case os.Getenv(StatusCodesEnv) != "":
		if p.statuses, err = parseStatusCodes(os.Getenv(StatusCodesEnv)); err != nil {
			return nil, fmt.Errorf("%s: %w", StatusCodesEnv, err)
		}
	default:
		p.statuses, _ = parseStatusCodes(DefaultStatusCodes)
	}
	switch {
	case cfg.MaxTime != "":
		if p.maxTime, err = parseNginxTime(cfg.MaxTime); err != nil {
			return nil, fmt.Errorf("max_time: %w", err)
		}
	case os.Getenv(MaxTimeEnv) != "":
		if p.maxTime, err = parseNginxTime(os.Getenv(MaxTimeEnv)); err != nil {
			return nil, fmt.Errorf("%s: %w", MaxTimeEnv, err)
		}
	default:
		p.maxTime = DefaultMaxTime
	}
	if cfg.MaxBodySize != nil {
		p.maxBody = *cfg.MaxBodySize
	}
	if env.ServiceID != "" {
		p.table = tableOf(env.ServiceID)
	}
	if env.Store != nil {
		p.shared = env.Store
	}
	return p, nil
}

func tableOf(service string) string { return "content_caching:" + service }

// store returns the store responses are kept in: the gateway's, or one
// of the policy's own, made on first use.
func (p *Policy) store() store.Store {
	if p.shared != nil {
		return p.shared
	}
	p.openOnce.Do(func() { p.own = store.NewMemory(store.MemoryOptions{}) })
	return p.own
}

// Close releases a store of the policy's own.
func (p *Policy) Close() error {
	p.openOnce.Do(func() {}) // a request after Close gets no new store
	if p.own != nil {
		return p.own.Close()
	}
	return nil
}

// state is a request's cache state, kept privately in its context.
type state struct {
	header string // the status header, "" for none
	status string // HIT, MISS, EXPIRED, BYPASS
	table  string
	key    string

	// capture is set when the upstream's response is to be kept; the
	// fields below describe it once the header filter accepted it.
	capture bool
	fresh   time.Duration
	entry   entry
	eof     bool
}

// Access decides, by the first rule whose condition holds, whether the
// request uses the cache.
func (p *Policy) Access(c *chain.Context) error {
	for i := range p.rules {
		r := &p.rules[i]
		ok, err := r.cond.Holds(c)
		if err != nil {
			return fmt.Errorf("content_caching rules[%d]: %w", i, err)
		}
		if !ok {
			continue
		}
		if r.cache {
			c.SetPrivate(p, &state{header: r.header})
		}
		return nil
	}
	return nil
}

// Content answers the request with a fresh kept response. Otherwise it
// lets the next policy proxy, and marks the response for keeping.
func (p *Policy) Content(c *chain.Context) (bool, error) {
	st, _ := c.Private(p).(*state)
	if st == nil {
		return false, nil
	}
	method := c.Request.Method
	if method != http.MethodGet && method != http.MethodHead {
		st.status = Bypass
		return false, nil
	}
	st.table = p.table
	if st.table == "" {
		st.table = tableOf(c.ServiceID)
	}
	st.key = key(c)
	data, found, err := p.store().TableGet(c.Request.Context(), st.table, st.key)
	if err != nil {
		// Without the store the request goes upstream, and nothing is kept.
		st.status = Bypass
		p.warn(c, "the cache cannot be read", err)
		return false, nil
	}
	st.status = Miss
	if found {
		e, err := decodeEntry(data)
		switch {
		case err != nil:
			p.warn(c, "a kept response does not decode; fetching it again", err)
		case !sameVariant(e.vary, c.Request.Header):
		case p.now().Before(e.freshUntil):
			st.status = Hit
			c.Respond(e.status, e.header, e.body)
			return true, nil
		default:
			st.status = Expired
		}
	}
	st.capture = true
	if method == http.MethodHead {
		// As nginx does, a HEAD that misses fetches the whole response, to
		// keep it; the client gets the head only.
		c.Request.Method = http.MethodGet
	}
	return false, nil
}

// key is the request's cache key: method, scheme, host, path and query as
// they go upstream, and the upstream a routing policy chose. HEAD shares
// GET's key.
func key(c *chain.Context) string {
	var b strings.Builder
	b.WriteString("GET ")
	b.WriteString(c.Original.Scheme)
	b.WriteString("://")
	b.WriteString(c.Original.Host)
	b.WriteString(c.Request.URL.RequestURI())
	if v, ok := c.Get(routeUpstream); ok {
		if u, ok := v.(*chain.Upstream); ok && u != nil && u.URL != nil {
			b.WriteString(" ")
			b.WriteString(u.URL.Scheme)
			b.WriteString("://")
			b.WriteString(u.URL.Host)
			b.WriteString(u.URL.Path)
		}
	}
	return b.String()
}

// sameVariant reports whether the request has the header values the kept
// response was fetched with, for the names it varies by.
func sameVariant(vary []string, h http.Header) bool {
	for i := 0; i+1 < len(vary); i += 2 {
		if strings.Join(h.Values(vary[i]), ", ") != vary[i+1] {
			return false
		}
	}
	return true
}

// HeaderFilter tells the client the cache status and decides whether the
// upstream's response is kept.
func (p *Policy) HeaderFilter(c *chain.Context) error {
	st, _ := c.Private(p).(*state)
	if st == nil {
		return nil
	}
	if st.capture {
		p.accept(c, st)
	}
	if st.header != "" && st.status != "" {
		c.Response.Header.Set(st.header, st.status)
	}
	return nil
}

// accept keeps capture set only for a response from the upstream that may
// be kept, and snapshots its status and header.
func (p *Policy) accept(c *chain.Context, st *state) {
	st.capture = false
	r := &c.Response
	// A policy's own answer is never kept: only what came from upstream
	// (the gateway's empty answer of a chain without a content policy
	// counts as such, and is harmless to keep).
	if c.Exited() || (c.Produced() && !c.Proxying()) || c.Failed() != nil || !p.statuses.has(r.Status) {
		return
	}
	now := p.now()
	fresh, ok := lifetime(r.Header, len(c.Original.Header["Authorization"]) > 0, now, p.maxTime)
	if !ok {
		return
	}
	if r.Body != nil {
		// The gateway answered itself (the upstream could not be reached).
		return
	}
	if cl := r.Header.Get("Content-Length"); cl != "" {
		if n, err := strconv.ParseInt(cl, 10, 64); err != nil || n > p.maxBody {
			return
		}
	}
	st.capture, st.fresh = true, fresh
	st.entry = entry{freshUntil: now.Add(fresh), status: r.Status, header: r.Header.Clone()}
	for _, name := range varyNames(r.Header) {
		st.entry.vary = append(st.entry.vary, name, strings.Join(c.Request.Header.Values(name), ", "))
	}
}

// BodyFilter collects the body of a response being kept, up to
// max_body_size; the body passes unchanged.
func (p *Policy) BodyFilter(c *chain.Context, chunk []byte, eof bool) ([]byte, error) {
	st, _ := c.Private(p).(*state)
	if st == nil || !st.capture {
		return chunk, nil
	}
	if int64(len(st.entry.body)+len(chunk)) > p.maxBody {
		st.capture, st.entry = false, entry{}
		return chunk, nil
	}
	st.entry.body = append(st.entry.body, chunk...)
	st.eof = eof
	return chunk, nil
}

// PostAction writes a response that was sent whole to the store. It
// stays there Inactive longer than it is fresh.
func (p *Policy) PostAction(c *chain.Context) error {
	st, _ := c.Private(p).(*state)
	if st == nil || !st.capture || !st.eof || c.Failed() != nil {
		return nil
	}
	st.capture = false
	if st.entry.body == nil {
		st.entry.body = []byte{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := p.store().TablePut(ctx, st.table, st.key, st.entry.encode(), st.fresh+Inactive)
	if err != nil && !errors.Is(err, store.ErrFull) {
		p.warn(c, "a response cannot be kept", err)
	}
	return nil
}

// warn logs a store failure, at most once a second with the number held
// back.
func (p *Policy) warn(c *chain.Context, msg string, err error) {
	held, ok := p.failed.Allow(time.Now())
	if !ok {
		return
	}
	logger := c.Logger
	if logger == nil {
		logger = p.logger
	}
	logger.Warn("content_caching: "+msg, "error", err.Error(), "failures_not_logged", held)
}
