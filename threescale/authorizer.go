package threescale

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/verdict-policy/verdict/store"
)

// Mode is how an Authorizer talks to the backend.
type Mode uint8

const (
	// ModeAuthrep is the apicast policy's way: an authorization the cache
	// holds passes at once and is reported afterwards with an authrep call
	// (Report); any other request is authorized and reported with one
	// synchronous authrep call.
	ModeAuthrep Mode = iota
	// ModeBatch is the 3scale_batcher policy's way: authorizations
	// (granted and denied) are cached for AuthsTTL and asked for with
	// authorize calls; usage is added up in memory or in the store and
	// reported every BatchInterval with one report call per service.
	ModeBatch
)

// String returns the mode's name.
func (m Mode) String() string {
	if m == ModeBatch {
		return "batch"
	}
	return "authrep"
}

// Defaults for Options fields left at zero.
const (
	DefaultAuthsTTL      = 10 * time.Second
	DefaultBatchInterval = 10 * time.Second
	DefaultCacheSize     = 100_000
	DefaultReportWorkers = 4
	DefaultReportQueue   = 1024
	DefaultKeyPrefix     = "threescale:"
)

// Store is the shared state an Authorizer keeps its caches and batched
// reports in when several instances must share them. store.Memory and
// store.Redis satisfy it.
type Store interface {
	store.Counters
	store.CounterTaker
	store.Sets
	store.Values
}

// Options configure an Authorizer.
type Options struct {
	// Mode is authrep (the default) or batch.
	Mode Mode
	// Caching is how the cache follows the backend when a request does not
	// say: CacheStrict by default in authrep mode (APIcast's default
	// handler), CacheNone in batch mode (no caching policy). In batch mode
	// it governs the cache consulted only when the backend is unreachable.
	Caching CacheMode
	// CacheTTL, in authrep mode, is how long an authorization stays
	// cached; 0 keeps it until a later answer of the backend drops it, as
	// APIcast does. A Request's TTL overrides it.
	CacheTTL time.Duration
	// AuthsTTL, in batch mode, is how long an answer (granted or denied)
	// is cached (auths_ttl); DefaultAuthsTTL when 0.
	AuthsTTL time.Duration
	// BatchInterval, in batch mode, is how often batched usage is
	// reported (batch_report_seconds); DefaultBatchInterval when 0.
	BatchInterval time.Duration
	// ResponseCodes sends the client's response status as log[code] with
	// the reports that follow cached authorizations
	// (APICAST_RESPONSE_CODES).
	ResponseCodes bool
	// CacheSize bounds each in-process cache; DefaultCacheSize when 0.
	CacheSize int
	// Store, when set, holds the caches and batched reports so that every
	// instance using it shares them; nil keeps them in this process, the
	// fastest.
	Store Store
	// KeyPrefix starts every key written to Store; DefaultKeyPrefix when
	// empty.
	KeyPrefix string
	// ReportWorkers and ReportQueue size the pool that sends the reports
	// of cached authorizations (authrep mode). When the queue is full the
	// caller of Report sends its report itself. Defaults
	// DefaultReportWorkers and DefaultReportQueue.
	ReportWorkers, ReportQueue int
	// Clock is the time source; the wall clock when nil.
	Clock Clock
	// Logger receives the authorizer's logs; slog.Default() when nil.
	Logger *slog.Logger
	// Metrics, when set, counts cache hits and misses, dropped reports and
	// store errors.
	Metrics *Metrics
}

// Request is one request to authorize.
type Request struct {
	// Service is the request's service.
	Service *Service
	// Credentials identify the application.
	Credentials Credentials
	// Usage is what the request costs, from the mapping rules.
	Usage Usage
	// Referrer, when set, is sent as the referrer parameter (the
	// 3scale_referrer policy) and is part of the cache key.
	Referrer string
	// TTL, when above 0, is how long an authorization of this request may
	// stay cached in authrep mode, e.g. until the OIDC token expires.
	TTL time.Duration
	// Caching, when not CacheDefault, replaces the Authorizer's mode for
	// this request (a caching policy in the service's chain).
	Caching CacheMode
}

// Source says where a Decision came from.
type Source uint8

const (
	// FromBackend: the backend answered this request.
	FromBackend Source = iota
	// FromCache: a cached answer decided without calling the backend, or
	// after the backend could not be reached.
	FromCache
	// FromNothing: the backend could not be reached and nothing was
	// cached, or the request could not be made.
	FromNothing
)

var sourceNames = [...]string{"backend", "cache", "nothing"}

// String returns the source's name.
func (s Source) String() string {
	if int(s) < len(sourceNames) {
		return sourceNames[s]
	}
	return fmt.Sprintf("Source(%d)", uint8(s))
}

// Decision is the outcome of Authorize.
type Decision struct {
	// Allowed is true when the request may go on.
	Allowed bool
	// Status is the status to answer a denied request with, as APIcast
	// answers: 429 when limits are exceeded, 403 otherwise (invalid
	// credentials, a refused application, or an unreachable backend with
	// nothing cached); 401 for missing credentials and 404 for an empty
	// usage. 0 when Allowed.
	Status int
	// Reason is the backend's rejection reason (e.g. limits_exceeded,
	// user_key_invalid), empty when unknown.
	Reason string
	// RetryAfter is, for a 429, the seconds until the limit resets (the
	// backend's 3scale-limit-reset); 0 when unknown.
	RetryAfter int64
	// Source says where the decision came from.
	Source Source
	// BackendCalled is true when the backend was asked for this request.
	BackendCalled bool
	// Unavailable is true when the backend could not be reached: a
	// cached authorization allowed the request, or nothing did. A policy
	// that fails open lets the latter through.
	Unavailable bool
	// ReportPending is true when the request was allowed from the cache
	// in authrep mode: call Report once the response is known.
	ReportPending bool
	// Result is the backend's answer when BackendCalled, for policies
	// that read its limit headers.
	Result *Result
	// Err is set when the request could not be authorized at all: missing
	// credentials, an empty usage, a cancelled context.
	Err error
}

// Authorizer authorizes requests against the backend with a cache in
// front, in one of two modes, and reports their usage. It is safe for
// concurrent use; Close it to send what is pending.
type Authorizer struct {
	mode          Mode
	caching       CacheMode
	cacheTTL      time.Duration
	authsTTL      time.Duration
	interval      time.Duration
	responseCodes bool
	clock         Clock
	log           *slog.Logger
	metrics       *Metrics

	// handled is the cache the cache modes govern: authorizations in
	// authrep mode, the outage fallback in batch mode.
	handled authCache
	// auths is the batch mode's cache of answers.
	auths authCache
	// local batches usage in this process; shared, when set, in the store
	// (local then holds what the store could not take).
	local  *localBatch
	shared *storeBatch

	queue    chan reportJob
	closeMu  sync.RWMutex
	closed   bool
	workers  sync.WaitGroup
	inflight atomic.Int64
	stop     chan struct{}
	flusher  sync.WaitGroup
	flushMu  sync.Mutex

	flightsMu sync.Mutex
	flights   map[string]*flight

	lastStoreLog atomic.Int64
}

type reportJob struct {
	r    Request
	code int
}

// New builds an Authorizer and starts its report workers (authrep mode)
// or its report timer (batch mode).
func New(o Options) (*Authorizer, error) {
	if o.Mode > ModeBatch {
		return nil, fmt.Errorf("unknown authorizer mode %d", o.Mode)
	}
	if o.Caching > CacheNone {
		return nil, fmt.Errorf("unknown caching mode %d", o.Caching)
	}
	if o.CacheTTL < 0 || o.AuthsTTL < 0 || o.BatchInterval < 0 {
		return nil, errors.New("cache TTLs and the report interval must not be negative")
	}
	a := &Authorizer{
		mode:          o.Mode,
		caching:       o.Caching,
		cacheTTL:      o.CacheTTL,
		authsTTL:      o.AuthsTTL,
		interval:      o.BatchInterval,
		responseCodes: o.ResponseCodes,
		clock:         o.Clock,
		log:           o.Logger,
		metrics:       o.Metrics,
		local:         newLocalBatch(),
		stop:          make(chan struct{}),
		flights:       make(map[string]*flight),
	}
	if a.caching == CacheDefault {
		a.caching = CacheStrict
		if a.mode == ModeBatch {
			a.caching = CacheNone
		}
	}
	if a.authsTTL == 0 {
		a.authsTTL = DefaultAuthsTTL
	}
	if a.interval == 0 {
		a.interval = DefaultBatchInterval
	}
	if a.clock == nil {
		a.clock = systemClock{}
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	size := o.CacheSize
	if size <= 0 {
		size = DefaultCacheSize
	}
	if o.Store != nil {
		prefix := o.KeyPrefix
		if prefix == "" {
			prefix = DefaultKeyPrefix
		}
		a.handled.shared = &storeCache{values: o.Store, prefix: prefix + "auth:"}
		a.auths.shared = &storeCache{values: o.Store, prefix: prefix + "batch-auth:"}
		a.shared = &storeBatch{st: o.Store, prefix: prefix, local: a.local}
	} else {
		a.handled.local = newLocalCache(size, a.clock.Now)
		a.auths.local = newLocalCache(size, a.clock.Now)
	}
	switch a.mode {
	case ModeAuthrep:
		workers, queue := o.ReportWorkers, o.ReportQueue
		if workers <= 0 {
			workers = DefaultReportWorkers
		}
		if queue <= 0 {
			queue = DefaultReportQueue
		}
		a.queue = make(chan reportJob, queue)
		for range workers {
			a.workers.Add(1)
			go a.reportWorker()
		}
	case ModeBatch:
		a.flusher.Add(1)
		go a.flushLoop()
	}
	return a, nil
}

// Mode returns the authorizer's mode.
func (a *Authorizer) Mode() Mode { return a.mode }

// keyBuf is the size of the stack buffer cache keys are built in; longer
// keys spill to the heap.
const keyBuf = 512

// Authorize decides whether r may go on. In authrep mode an authorization
// the cache holds decides at once (Decision.ReportPending: call Report
// after the response); otherwise the backend is called with authrep. In
// batch mode a cached answer decides and usage is batched; otherwise the
// backend is called with authorize.
func (a *Authorizer) Authorize(ctx context.Context, r *Request) Decision {
	if r == nil || r.Service == nil {
		return Decision{Status: http.StatusForbidden, Source: FromNothing, Err: errors.New("authorize: request without a service")}
	}
	if err := r.Credentials.check(r.Service.version); err != nil {
		return Decision{Status: http.StatusUnauthorized, Source: FromNothing, Err: err}
	}
	if r.Usage.Len() == 0 {
		return Decision{Status: http.StatusNotFound, Source: FromNothing, Err: errors.New("authorize: empty usage (no mapping rule matched)")}
	}
	mode := r.Caching
	if mode == CacheDefault || mode > CacheNone {
		mode = a.caching
	}
	var kb [keyBuf]byte
	key := appendAuthKey(kb[:0], r)
	if a.mode == ModeBatch {
		return a.authorizeBatch(ctx, r, key, mode)
	}
	return a.authorizeAuthrep(ctx, r, key, mode)
}

func (a *Authorizer) authorizeAuthrep(ctx context.Context, r *Request, key []byte, mode CacheMode) Decision {
	if mode != CacheNone {
		e, ok, err := a.handled.get(ctx, key)
		if err != nil {
			a.storeFailed("read a cached authorization", err)
		}
		if ok && e.status == http.StatusOK {
			a.metrics.cache(true)
			return Decision{Allowed: true, Source: FromCache, ReportPending: true}
		}
	}
	a.metrics.cache(false)
	res := r.Service.client.Authrep(ctx, r, 0)
	if err := ctx.Err(); err != nil {
		// The caller gave up: the backend's silence says nothing about it.
		return Decision{Status: http.StatusForbidden, Source: FromNothing, BackendCalled: true, Result: &res, Err: err}
	}
	a.handle(ctx, mode, key, &res, a.ttlOf(r), false)
	return a.decide(ctx, mode, key, &res)
}

func (a *Authorizer) authorizeBatch(ctx context.Context, r *Request, key []byte, mode CacheMode) Decision {
	e, ok, err := a.auths.get(ctx, key)
	if err != nil {
		a.storeFailed("read a cached authorization", err)
	}
	if ok {
		a.metrics.cache(true)
		if e.status == http.StatusOK {
			a.count(ctx, r)
			return Decision{Allowed: true, Source: FromCache}
		}
		return denial(e.reason, 0, FromCache)
	}
	a.metrics.cache(false)
	res := a.authorizeOnce(ctx, r, key)
	if err := ctx.Err(); err != nil {
		return Decision{Status: http.StatusForbidden, Source: FromNothing, BackendCalled: true, Result: &res, Err: err}
	}
	if mode != CacheNone {
		a.handle(ctx, mode, key, &res, 0, false)
	}
	switch {
	case res.Authorized:
		if err := a.auths.set(ctx, key, entry{status: http.StatusOK}, a.authsTTL); err != nil {
			a.storeFailed("cache an authorization", err)
		}
		a.count(ctx, r)
		return Decision{Allowed: true, Source: FromBackend, BackendCalled: true, Result: &res}
	case !res.Unavailable():
		reason := rejection(&res)
		if err := a.auths.set(ctx, key, entry{status: res.Status, reason: reason}, a.authsTTL); err != nil {
			a.storeFailed("cache a denial", err)
		}
		d := denial(reason, 0, FromBackend)
		d.BackendCalled, d.Result = true, &res
		return d
	}
	d := Decision{Status: http.StatusForbidden, Source: FromNothing, BackendCalled: true, Unavailable: true, Result: &res}
	if mode != CacheNone {
		if e, ok, err := a.handled.get(ctx, key); err != nil {
			a.storeFailed("read a cached authorization", err)
		} else if ok && e.status == http.StatusOK {
			a.count(ctx, r)
			d.Allowed, d.Status, d.Source = true, 0, FromCache
		}
	}
	return d
}

// flight is one authorize call that concurrent requests with the same key
// wait for.
type flight struct {
	done chan struct{}
	res  Result
	// abandoned is set when the caller that made the call gave up: its
	// result says nothing about the backend.
	abandoned bool
}

// authorizeOnce calls authorize, or waits for the call another request
// with the same key is making. An authorize call counts nothing, so one
// answer serves them all: when a cached answer expires under load, the
// backend is asked once, not by every request that arrives meanwhile.
func (a *Authorizer) authorizeOnce(ctx context.Context, r *Request, key []byte) Result {
	for {
		a.flightsMu.Lock()
		f := a.flights[string(key)]
		if f == nil {
			f = &flight{done: make(chan struct{})}
			k := string(key)
			a.flights[k] = f
			a.flightsMu.Unlock()
			f.res = r.Service.client.Authorize(ctx, r)
			f.abandoned = ctx.Err() != nil
			a.flightsMu.Lock()
			delete(a.flights, k)
			a.flightsMu.Unlock()
			close(f.done)
			return f.res
		}
		a.flightsMu.Unlock()
		select {
		case <-f.done:
			if !f.abandoned {
				return f.res
			}
			// The caller gave up: ask again.
		case <-ctx.Done():
			return Result{Err: ctx.Err()}
		}
	}
}

// decide turns the backend's answer to an authrep into a decision; when
// the backend could not be reached, the cache (as the handler left it)
// decides.
func (a *Authorizer) decide(ctx context.Context, mode CacheMode, key []byte, res *Result) Decision {
	switch {
	case res.Authorized:
		return Decision{Allowed: true, Source: FromBackend, BackendCalled: true, Result: res}
	case !res.Unavailable():
		var retry int64
		reason := rejection(res)
		if reason == ReasonLimitsExceeded && res.Limits.Present && res.Limits.Reset > 0 {
			retry = res.Limits.Reset
		}
		d := denial(reason, retry, FromBackend)
		d.BackendCalled, d.Result = true, res
		return d
	}
	d := Decision{Status: http.StatusForbidden, Source: FromNothing, BackendCalled: true, Unavailable: true, Result: res}
	if mode == CacheNone {
		return d
	}
	e, ok, err := a.handled.get(ctx, key)
	if err != nil {
		a.storeFailed("read a cached authorization", err)
	}
	if ok && e.status == http.StatusOK {
		d.Allowed, d.Status, d.Source = true, 0, FromCache
	}
	return d
}

// rejection returns the reason a denial is answered by. A limit of 0 is a
// metric the plan disables: the backend says limits_exceeded, APIcast
// answers it as a plain refusal.
func rejection(res *Result) string {
	reason := res.RejectionReason
	if reason == ReasonLimitsExceeded && res.Limits.Present && res.Limits.MaxValue == 0 {
		return ""
	}
	return reason
}

func denial(reason string, retry int64, src Source) Decision {
	status := http.StatusForbidden
	if reason == ReasonLimitsExceeded {
		status = http.StatusTooManyRequests
	}
	return Decision{Status: status, Reason: reason, RetryAfter: retry, Source: src}
}

func (a *Authorizer) ttlOf(r *Request) time.Duration {
	if r.TTL > 0 {
		return r.TTL
	}
	return a.cacheTTL
}

// handle updates the cache after an answer, as the mode says. afterHit is
// true for the report that follows a cached authorization: a strict cache
// already holds the authorization and is not written again.
func (a *Authorizer) handle(ctx context.Context, mode CacheMode, key []byte, res *Result, ttl time.Duration, afterHit bool) {
	var err error
	switch mode {
	case CacheStrict:
		if res.Authorized {
			if !afterHit {
				err = a.handled.set(ctx, key, entry{status: http.StatusOK}, ttl)
			}
		} else {
			err = a.handled.del(ctx, key)
		}
	case CacheResilient, CacheAllow:
		switch {
		case !res.Unavailable():
			err = a.handled.set(ctx, key, entry{status: res.Status, reason: rejection(res)}, ttl)
		case mode == CacheAllow:
			err = a.handled.add(ctx, key, entry{status: http.StatusOK}, ttl)
		}
	case CacheNone:
		err = a.handled.del(ctx, key)
	}
	if err != nil {
		a.storeFailed("update the authorization cache", err)
	}
}

// count adds r's usage to the batch.
func (a *Authorizer) count(ctx context.Context, r *Request) {
	if a.shared == nil {
		a.local.add(r.Service, &r.Credentials, r.Usage)
		return
	}
	a.local.of(r.Service) // so that Flush knows the service
	if err := a.shared.add(ctx, r.Service, &r.Credentials, r.Usage); err != nil {
		a.storeFailed("batch a report (kept in this instance)", err)
	}
}

// Report sends, in authrep mode, the report of a request that d allowed
// from the cache: an authrep call whose answer updates the cache, so that
// a revoked application or an exhausted limit is noticed. code is the
// status the client got (sent as log[code] with ResponseCodes). The call is
// made by the report workers on a copy of r, so the caller may reuse r at
// once. It does nothing when d has no pending report.
func (a *Authorizer) Report(r *Request, d Decision, code int) {
	if !d.ReportPending || a.mode != ModeAuthrep || r == nil || r.Service == nil {
		return
	}
	j := reportJob{r: *r, code: code}
	j.r.Usage = r.Usage.Clone()
	a.inflight.Add(1)
	a.closeMu.RLock()
	if !a.closed {
		select {
		case a.queue <- j:
			a.closeMu.RUnlock()
			return
		default:
		}
	}
	a.closeMu.RUnlock()
	a.sendReport(j) // queue full or closing: the caller runs it
}

func (a *Authorizer) reportWorker() {
	defer a.workers.Done()
	for j := range a.queue {
		a.sendReport(j)
	}
}

func (a *Authorizer) sendReport(j reportJob) {
	defer a.inflight.Add(-1)
	code := 0
	if a.responseCodes {
		code = j.code
	}
	ctx := context.Background()
	res := j.r.Service.client.Authrep(ctx, &j.r, code)
	if res.Unavailable() {
		a.log.Warn("3scale: reporting a cached authorization failed", "service", j.r.Service.id, "error", res.Err)
	}
	mode := j.r.Caching
	if mode == CacheDefault || mode > CacheNone {
		mode = a.caching
	}
	var kb [keyBuf]byte
	a.handle(ctx, mode, appendAuthKey(kb[:0], &j.r), &res, a.ttlOf(&j.r), true)
}

// Pending returns the usage batched in this process and not yet reported,
// summed over every metric, plus the reports of cached authorizations not
// yet sent.
func (a *Authorizer) Pending() int64 {
	return a.local.pending() + a.inflight.Load()
}

// Flush sends now what is pending: it waits for the reports of cached
// authorizations (authrep mode) and reports the batched usage of every
// service this authorizer has seen (batch mode). Usage the backend could
// not take stays batched for the next flush; transactions it refuses (a
// 4xx) are dropped and logged.
func (a *Authorizer) Flush(ctx context.Context) error {
	for a.inflight.Load() > 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("flush: waiting for %d reports: %w", a.inflight.Load(), ctx.Err())
		case <-time.After(2 * time.Millisecond):
		}
	}
	if a.mode != ModeBatch {
		return nil
	}
	a.flushMu.Lock()
	defer a.flushMu.Unlock()
	a.local.mu.RLock()
	services := make([]*Service, 0, len(a.local.services))
	for s := range a.local.services {
		services = append(services, s)
	}
	a.local.mu.RUnlock()
	var errs []error
	for _, s := range services {
		if err := a.flushService(ctx, s); err != nil {
			errs = append(errs, fmt.Errorf("service %s: %w", s.id, err))
		}
	}
	return errors.Join(errs...)
}

func (a *Authorizer) flushService(ctx context.Context, s *Service) error {
	counts := a.local.take(s)
	var takeErr error
	if a.shared != nil {
		shared, err := a.shared.take(ctx, s)
		if err != nil {
			a.storeFailed("take batched reports", err)
			takeErr = err
		}
		if counts == nil {
			counts = shared
		} else {
			for k, v := range shared {
				counts[k] += v
			}
		}
	}
	if len(counts) == 0 {
		return takeErr
	}
	var errs []error
	if takeErr != nil {
		errs = append(errs, takeErr)
	}
	for _, txs := range chunks(transactions(counts)) {
		res := s.client.Report(ctx, s, txs)
		switch {
		case res.Outcome == Accepted || res.Outcome == Authorized:
		case res.Unavailable():
			a.putBack(ctx, s, txs)
			errs = append(errs, fmt.Errorf("report kept for the next flush: %w", res.Err))
		default:
			a.metrics.reportDropped(len(txs))
			a.log.Error("3scale: the backend refused a report; its transactions are dropped",
				"service", s.id, "status", res.Status, "code", res.ErrorCode, "reason", res.Reason, "transactions", len(txs))
			errs = append(errs, fmt.Errorf("report refused with %d %s", res.Status, res.ErrorCode))
		}
	}
	return errors.Join(errs...)
}

// putBack returns the transactions of a report that could not be sent to
// the batch.
func (a *Authorizer) putBack(ctx context.Context, s *Service, txs []Transaction) {
	counts := make(map[batchKey]int64)
	for i := range txs {
		kind, id := reportIdentity(&txs[i].Credentials)
		for _, d := range txs[i].Usage.d {
			counts[batchKey{kind: kind, id: id, metric: d.Metric}] += d.Value
		}
	}
	if a.shared != nil {
		a.shared.putBack(ctx, s, counts)
		return
	}
	a.local.addCounts(s, counts)
}

func (a *Authorizer) flushLoop() {
	defer a.flusher.Done()
	t := a.clock.NewTicker(a.interval)
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-t.C():
			ctx, cancel := context.WithTimeout(context.Background(), a.interval+time.Minute)
			if err := a.Flush(ctx); err != nil {
				a.log.Warn("3scale: batched report", "error", err)
			}
			cancel()
		}
	}
}

// Close stops the report workers and the timer and sends what is pending.
// Reports made after Close are sent by their caller. It is safe to call
// more than once.
func (a *Authorizer) Close(ctx context.Context) error {
	a.closeMu.Lock()
	already := a.closed
	a.closed = true
	a.closeMu.Unlock()
	if !already {
		if a.queue != nil {
			close(a.queue)
		}
		close(a.stop)
	}
	done := make(chan struct{})
	go func() {
		a.workers.Wait()
		a.flusher.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("close: %w", ctx.Err())
	}
	return a.Flush(ctx)
}

// storeFailed logs a store failure at most once in ten seconds and counts
// every one.
func (a *Authorizer) storeFailed(what string, err error) {
	a.metrics.storeError()
	now := time.Now().UnixNano()
	last := a.lastStoreLog.Load()
	if now-last < int64(10*time.Second) || !a.lastStoreLog.CompareAndSwap(last, now) {
		return
	}
	a.log.Warn("3scale: shared store failed", "while", what, "error", err)
}
