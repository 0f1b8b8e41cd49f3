// Package threescaletest runs a stand-in for 3scale's Service Management
// API ("backend") on a loopback port, for tests of the threescale package
// and of the policies that use it. It speaks the protocol the way 3scale's
// backend does: the authorize, authrep, oauth_* and report endpoints, the
// provider key and service token checks, applications identified by
// user_key, app_id/app_key or access token, plans with limits per period,
// usage counters, the <status> and <error> documents, and the
// 3scale-options extensions (rejection_reason_header, limit_headers,
// no_body). It records every call, can be stopped and started again on the
// same port, made slow, or made to fail. It also provides Clock, a clock
// tests move by hand.
package threescaletest

import (
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Service is a service the backend knows.
type Service struct {
	// ID is the service id.
	ID string
	// Token is the service token; ProviderKey the account's provider key.
	// Either authenticates a call for the service.
	Token, ProviderKey string
	// Version is the backend_version: "1" (the default) finds applications
	// by user_key, "2" and "oauth" by app_id.
	Version string
	// Metrics, when set, are the only metrics a usage may name; others are
	// answered with metric_invalid. When empty, any metric is accepted.
	Metrics []string
}

// Application is an application of a service.
type Application struct {
	// ID is the app_id; UserKey the user_key (for version 1 services).
	ID, UserKey string
	// Keys are the app_keys; an application without keys needs none.
	Keys []string
	// AccessTokens identify the application on the oauth endpoints.
	AccessTokens []string
	// Plan is the plan's name; Limits its usage limits.
	Plan   string
	Limits []Limit
	// Suspended applications are denied with application_not_active.
	Suspended bool
	// RedirectURL is shown in the application section of oauth answers.
	RedirectURL string
}

// Limit is a usage limit: at most Max of Metric per Period (minute, hour,
// day, week, month, year, eternity).
type Limit struct {
	Metric string
	Period string
	Max    int64
}

// Call is one request the backend received.
type Call struct {
	// Method and Path of the request; RawQuery its undecoded query.
	Method, Path, RawQuery string
	// Query is the decoded query; Form the decoded body of a report.
	Query, Form url.Values
	// Header holds the request's headers; Host its Host header.
	Header http.Header
	Host   string
	// Status is the status answered.
	Status int
}

// Backend is a running stand-in backend.
type Backend struct {
	tb   testing.TB
	addr string

	mu         sync.Mutex
	srv        *http.Server
	running    bool
	services   map[string]*service
	calls      []Call
	delay      time.Duration
	failStatus int
	now        func() time.Time
	conns      int
	arrived    int
}

type service struct {
	Service
	apps      map[string]*app // by id
	byUserKey map[string]*app
	byToken   map[string]*app
}

type app struct {
	Application
	usage map[usageKey]int64
}

type usageKey struct {
	metric, period string
	start          int64
}

// Start starts a backend on a free loopback port; it stops when the test
// ends.
func Start(tb testing.TB) *Backend {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("threescaletest: listen: %v", err)
	}
	b := &Backend{tb: tb, addr: ln.Addr().String(), services: make(map[string]*service), now: time.Now}
	b.serve(ln)
	tb.Cleanup(b.Stop)
	return b
}

func (b *Backend) serve(ln net.Listener) {
	srv := &http.Server{
		Handler:           http.HandlerFunc(b.handle),
		ReadHeaderTimeout: 10 * time.Second,
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				b.mu.Lock()
				b.conns++
				b.mu.Unlock()
			}
		},
	}
	b.mu.Lock()
	b.srv, b.running = srv, true
	b.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// URL returns the backend's base URL, http://127.0.0.1:PORT.
func (b *Backend) URL() string { return "http://" + b.addr }

// Addr returns the backend's host:port.
func (b *Backend) Addr() string { return b.addr }

// Stop closes the listener and every connection; calls then fail to
// connect. Stopping a stopped backend does nothing.
func (b *Backend) Stop() {
	b.mu.Lock()
	srv, running := b.srv, b.running
	b.running = false
	b.mu.Unlock()
	if running {
		_ = srv.Close()
	}
}

// Restart starts a stopped backend again on the same port, with its
// services, applications, usage and calls kept.
func (b *Backend) Restart() {
	b.tb.Helper()
	b.Stop()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ln, err := net.Listen("tcp", b.addr)
		if err == nil {
			b.serve(ln)
			return
		}
		if time.Now().After(deadline) {
			b.tb.Fatalf("threescaletest: listen again on %s: %v", b.addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// SetDelay makes every answer wait d (0: answer at once). A client that
// gives up meanwhile gets no answer.
func (b *Backend) SetDelay(d time.Duration) {
	b.mu.Lock()
	b.delay = d
	b.mu.Unlock()
}

// FailWith makes every call answer status with an empty body, as a broken
// backend or its proxy would (0: answer normally again).
func (b *Backend) FailWith(status int) {
	b.mu.Lock()
	b.failStatus = status
	b.mu.Unlock()
}

// SetNow replaces the clock that places usage in periods.
func (b *Backend) SetNow(now func() time.Time) {
	b.mu.Lock()
	b.now = now
	b.mu.Unlock()
}

// AddService adds (or replaces) a service.
func (b *Backend) AddService(s Service) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.services[s.ID] = &service{Service: s, apps: map[string]*app{}, byUserKey: map[string]*app{}, byToken: map[string]*app{}}
}

// AddApplication adds (or replaces) an application of a service added
// before. It returns the application's id.
func (b *Backend) AddApplication(serviceID string, a Application) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.services[serviceID]
	if s == nil {
		b.tb.Fatalf("threescaletest: no service %q", serviceID)
	}
	if a.ID == "" {
		a.ID = fmt.Sprintf("app-%d", len(s.apps)+1)
	}
	ap := &app{Application: a, usage: map[usageKey]int64{}}
	s.apps[a.ID] = ap
	if a.UserKey != "" {
		s.byUserKey[a.UserKey] = ap
	}
	for _, t := range a.AccessTokens {
		s.byToken[t] = ap
	}
	return a.ID
}

// SetSuspended suspends or resumes an application.
func (b *Backend) SetSuspended(serviceID, appID string, suspended bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.appLocked(serviceID, appID).Suspended = suspended
}

func (b *Backend) appLocked(serviceID, appID string) *app {
	s := b.services[serviceID]
	if s == nil || s.apps[appID] == nil {
		b.tb.Fatalf("threescaletest: no application %q in service %q", appID, serviceID)
	}
	return s.apps[appID]
}

// Usage returns an application's usage of metric in the current instance
// of period.
func (b *Backend) Usage(serviceID, appID, metric, period string) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	start, _, err := periodBounds(period, b.now())
	if err != nil {
		b.tb.Fatalf("threescaletest: %v", err)
	}
	return b.appLocked(serviceID, appID).usage[usageKey{metric, period, start.Unix()}]
}

// Calls returns every call received so far.
func (b *Backend) Calls() []Call {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.calls)
}

// CallsTo returns the calls to path (e.g. /transactions/authrep.xml).
func (b *Backend) CallsTo(path string) []Call {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []Call
	for _, c := range b.calls {
		if c.Path == path {
			out = append(out, c)
		}
	}
	return out
}

// WaitCalls waits until at least n calls to path have been received and
// returns them; the test fails after timeout.
func (b *Backend) WaitCalls(path string, n int, timeout time.Duration) []Call {
	b.tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		calls := b.CallsTo(path)
		if len(calls) >= n {
			return calls
		}
		if time.Now().After(deadline) {
			b.tb.Fatalf("threescaletest: %d calls to %s after %v, want %d", len(calls), path, timeout, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// WaitArrivals waits until at least n calls have arrived, answered or not
// (a slow backend records a call once it answers); the test fails after
// timeout.
func (b *Backend) WaitArrivals(n int, timeout time.Duration) {
	b.tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		b.mu.Lock()
		got := b.arrived
		b.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			b.tb.Fatalf("threescaletest: %d calls arrived after %v, want %d", got, timeout, n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// Connections returns how many connections the backend has accepted.
func (b *Backend) Connections() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.conns
}

// ResetCalls forgets the calls received so far.
func (b *Backend) ResetCalls() {
	b.mu.Lock()
	b.calls = nil
	b.mu.Unlock()
}

// answer is what a call gets.
type answer struct {
	status int
	header http.Header
	body   string
}

func (b *Backend) handle(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	b.arrived++
	delay, fail := b.delay, b.failStatus
	b.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
		}
	}
	call := Call{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Query: r.URL.Query(), Header: r.Header.Clone(), Host: r.Host}
	var ans answer
	if fail != 0 {
		ans = answer{status: fail}
	} else {
		ans = b.route(r, &call)
	}
	call.Status = ans.status
	b.mu.Lock()
	b.calls = append(b.calls, call)
	b.mu.Unlock()
	for k, v := range ans.header {
		w.Header()[k] = v
	}
	if ans.body != "" || fail == 0 {
		w.Header().Set("Content-Type", "application/vnd.3scale-v2.0+xml")
	}
	w.WriteHeader(ans.status)
	_, _ = io.WriteString(w, ans.body)
}

func (b *Backend) route(r *http.Request, call *Call) answer {
	ext := extensions(r.Header.Get("3scale-options"))
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/transactions/authorize.xml":
		return b.authorize(call.Query, ext, false, false)
	case r.Method == http.MethodGet && r.URL.Path == "/transactions/authrep.xml":
		return b.authorize(call.Query, ext, false, true)
	case r.Method == http.MethodGet && r.URL.Path == "/transactions/oauth_authorize.xml":
		return b.authorize(call.Query, ext, true, false)
	case r.Method == http.MethodGet && r.URL.Path == "/transactions/oauth_authrep.xml":
		return b.authorize(call.Query, ext, true, true)
	case r.Method == http.MethodPost && r.URL.Path == "/transactions.xml":
		return b.report(r, call)
	}
	return answer{status: http.StatusNotFound}
}

// ext holds the 3scale-options a call asked for.
type ext struct{ rejectionReason, limitHeaders, noBody bool }

func extensions(h string) ext {
	v, _ := url.ParseQuery(h)
	nb := v.Get("no_body")
	return ext{
		rejectionReason: v.Get("rejection_reason_header") == "1",
		limitHeaders:    v.Get("limit_headers") == "1",
		noBody:          v.Has("no_body") && nb != "0" && nb != "false",
	}
}

// apiError is one of the backend's errors: a status and an <error>
// document.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func (e *apiError) answer(x ext) answer {
	a := answer{status: e.status}
	if !x.noBody {
		a.body = `<?xml version="1.0" encoding="UTF-8"?><error code="` + escape(e.code) + `">` + escape(e.message) + `</error>`
	}
	return a
}

func errorAnswer(err error, x ext) answer {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.answer(x)
	}
	return answer{status: http.StatusInternalServerError}
}

// authenticate finds the service a call is for, with the backend's errors
// for a missing or wrong provider key or service token.
func (b *Backend) authenticate(q url.Values) (*service, error) {
	pk, token, sid := q.Get("provider_key"), q.Get("service_token"), q.Get("service_id")
	if pk == "" {
		if token == "" {
			return nil, &apiError{403, "provider_key_or_service_token_required", "Provider key or service token are required"}
		}
		if sid == "" {
			return nil, &apiError{422, "service_id_missing", "Service ID is missing"}
		}
		if s := b.services[sid]; s != nil && s.Token != "" && s.Token == token {
			return s, nil
		}
		return nil, &apiError{403, "service_token_invalid", fmt.Sprintf("service token %q or service id %q is invalid", token, sid)}
	}
	known := false
	for _, s := range b.services {
		if s.ProviderKey == pk {
			known = true
			if sid == "" {
				sid = s.ID // the provider's (only) service stands for its default one
			}
		}
	}
	if !known {
		return nil, &apiError{403, "provider_key_invalid", fmt.Sprintf("provider key %q is invalid", pk)}
	}
	s := b.services[sid]
	if s == nil || s.ProviderKey != pk {
		return nil, &apiError{403, "service_id_invalid", fmt.Sprintf("service id %q is invalid", sid)}
	}
	return s, nil
}

// findApp resolves the application a call names.
func (s *service) findApp(q url.Values, oauth bool) (*app, error) {
	appID, userKey, token := q.Get("app_id"), q.Get("user_key"), q.Get("access_token")
	if appID != "" && userKey != "" {
		return nil, &apiError{403, "authentication_error", "either app_id or user_key is allowed, not both"}
	}
	if oauth && appID == "" && token != "" {
		if a := s.byToken[token]; a != nil {
			return a, nil
		}
		return nil, &apiError{404, "application_not_found", fmt.Sprintf("application with access_token=%q was not found", token)}
	}
	if oauth && appID == "" {
		return nil, &apiError{404, "application_not_found", "application id is missing"}
	}
	if !oauth && (s.Version == "" || s.Version == "1") {
		if userKey == "" {
			return nil, &apiError{403, "user_key_invalid", "user key is missing"}
		}
		a := s.byUserKey[userKey]
		if a == nil {
			return nil, &apiError{403, "user_key_invalid", fmt.Sprintf("user key %q is invalid", userKey)}
		}
		return a, nil
	}
	if appID == "" {
		return nil, &apiError{404, "application_not_found", "application id is missing"}
	}
	a := s.apps[appID]
	if a == nil {
		return nil, &apiError{404, "application_not_found", fmt.Sprintf("application with id=%q was not found", appID)}
	}
	return a, nil
}

// usageEntry is one metric of a call's usage: an increment, or a value to
// set when written #N.
type usageEntry struct {
	metric string
	value  int64
	set    bool
}

// parseUsage reads usage[metric]=N (or =#N) parameters, in metric order.
func (s *service) parseUsage(q url.Values, prefix string) ([]usageEntry, error) {
	var out []usageEntry
	for k, vs := range q {
		if !strings.HasPrefix(k, prefix+"[") || !strings.HasSuffix(k, "]") {
			continue
		}
		metric := k[len(prefix)+1 : len(k)-1]
		if len(s.Metrics) > 0 && !slices.Contains(s.Metrics, metric) {
			return nil, &apiError{404, "metric_invalid", fmt.Sprintf("metric %q is invalid", metric)}
		}
		v := vs[0]
		e := usageEntry{metric: metric}
		if strings.HasPrefix(v, "#") {
			e.set, v = true, v[1:]
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return nil, &apiError{403, "usage_value_invalid", fmt.Sprintf("usage value %q for metric %q is invalid", vs[0], metric)}
		}
		e.value = n
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b usageEntry) int { return strings.Compare(a.metric, b.metric) })
	return out, nil
}

func (u usageEntry) apply(current int64) int64 {
	if u.set {
		return u.value
	}
	return current + u.value
}

// authorize answers the four authorization endpoints.
func (b *Backend) authorize(q url.Values, x ext, oauth, report bool) answer {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, err := b.authenticate(q)
	if err != nil {
		return errorAnswer(err, x)
	}
	if q.Has("user_id") {
		return (&apiError{400, "end_users_no_longer_supported", "End-users are no longer supported, do not specify the user_id parameter"}).answer(x)
	}
	a, err := s.findApp(q, oauth)
	if err != nil {
		return errorAnswer(err, x)
	}
	usage, err := s.parseUsage(q, "usage")
	if err != nil {
		return errorAnswer(err, x)
	}
	now := b.now()
	// The validators, in the backend's order: the key, the application's
	// state, the limits.
	var reject *apiError
	appKey, keyGiven := q.Get("app_key"), q.Has("app_key")
	checkKey := s.Version == "2" && !oauth || oauth && keyGiven
	if checkKey && len(a.Keys) > 0 && !slices.Contains(a.Keys, appKey) {
		msg := fmt.Sprintf("application key %q is invalid", appKey)
		if appKey == "" {
			msg = "application key is missing"
		}
		reject = &apiError{409, "application_key_invalid", msg}
	}
	if reject == nil && a.Suspended {
		reject = &apiError{409, "application_not_active", "application is not active"}
	}
	if reject == nil && !b.withinLimits(a, usage, now) {
		reject = &apiError{409, "limits_exceeded", "usage limits are exceeded"}
	}
	authorized := reject == nil
	if authorized && report {
		b.add(a, usage, now)
	}
	ans := answer{status: http.StatusOK, header: http.Header{}}
	if !authorized {
		ans.status = http.StatusConflict
		if x.rejectionReason {
			ans.header.Set("3scale-rejection-reason", reject.code)
		}
	}
	if x.limitHeaders && (authorized || reject.code == "limits_exceeded") {
		rem, reset, max := b.limitHeaders(a, usage, now)
		ans.header.Set("3scale-limit-remaining", strconv.FormatInt(rem, 10))
		ans.header.Set("3scale-limit-reset", strconv.FormatInt(reset, 10))
		if max >= 0 {
			ans.header.Set("3scale-limit-max-value", strconv.FormatInt(max, 10))
		}
	}
	if !x.noBody {
		ans.body = b.statusDoc(a, usage, reject, oauth, now)
	}
	return ans
}

// limitsFor returns the limits a usage is checked against: those of its
// metrics, or all of them for an empty usage.
func limitsFor(a *app, usage []usageEntry) []Limit {
	if len(usage) == 0 {
		return a.Limits
	}
	var out []Limit
	for _, l := range a.Limits {
		for _, u := range usage {
			if u.metric == l.Metric {
				out = append(out, l)
			}
		}
	}
	return out
}

func usageOf(usage []usageEntry, metric string) (usageEntry, bool) {
	for _, u := range usage {
		if u.metric == metric {
			return u, true
		}
	}
	return usageEntry{}, false
}

func (b *Backend) current(a *app, l Limit, now time.Time) int64 {
	start, _, _ := periodBounds(l.Period, now)
	return a.usage[usageKey{l.Metric, l.Period, start.Unix()}]
}

func (b *Backend) withinLimits(a *app, usage []usageEntry, now time.Time) bool {
	for _, l := range limitsFor(a, usage) {
		v := b.current(a, l, now)
		if u, ok := usageOf(usage, l.Metric); ok {
			v = u.apply(v)
		}
		if v > l.Max {
			return false
		}
	}
	return true
}

// add counts usage in every period.
func (b *Backend) add(a *app, usage []usageEntry, now time.Time) {
	for _, u := range usage {
		for _, p := range periods {
			start, _, _ := periodBounds(p, now)
			k := usageKey{u.metric, p, start.Unix()}
			a.usage[k] = u.apply(a.usage[k])
		}
	}
}

// limitHeaders computes the most constrained limit for the call's metrics:
// the fewest identical calls left, the longer period on a tie. The
// counters already hold the usage of an authorized authrep.
func (b *Backend) limitHeaders(a *app, usage []usageEntry, now time.Time) (remaining, reset, max int64) {
	remaining, reset, max = -1, -1, -1
	best := -1
	for _, l := range limitsFor(a, usage) {
		u, ok := usageOf(usage, l.Metric)
		per := int64(0)
		if ok {
			per = u.value
		}
		left := l.Max - b.current(a, l, now)
		if left < 0 {
			left = 0
		}
		same := int64(-1)
		switch {
		case left == 0:
			same = 0
		case per > 0:
			same = left / per
		}
		if same == -1 {
			continue
		}
		rank := slices.Index(periods, l.Period)
		if best == -1 || same < remaining || same == remaining && rank > best {
			remaining, max, best = same, l.Max, rank
			_, end, _ := periodBounds(l.Period, now)
			reset = -1
			if !end.IsZero() {
				reset = int64(math.Ceil(end.Sub(now).Seconds()))
			}
		}
	}
	if best == -1 {
		return -1, -1, -1
	}
	return remaining, reset, max
}

// statusDoc renders the <status> document.
func (b *Backend) statusDoc(a *app, usage []usageEntry, reject *apiError, oauth bool, now time.Time) string {
	var s strings.Builder
	s.WriteString(`<?xml version="1.0" encoding="UTF-8"?><status>`)
	if reject == nil {
		s.WriteString("<authorized>true</authorized>")
	} else {
		s.WriteString("<authorized>false</authorized><reason>" + escape(reject.message) + "</reason>")
	}
	if oauth {
		key := ""
		if len(a.Keys) > 0 {
			key = a.Keys[0]
		}
		s.WriteString("<application><id>" + escape(a.ID) + "</id><key>" + escape(key) + "</key><redirect_url>" + escape(a.RedirectURL) + "</redirect_url></application>")
	}
	s.WriteString("<plan>" + escape(a.Plan) + "</plan>")
	if len(a.Limits) > 0 {
		s.WriteString("<usage_reports>")
		for _, l := range a.Limits {
			cur := b.current(a, l, now)
			s.WriteString(`<usage_report metric="` + escape(l.Metric) + `" period="` + escape(l.Period) + `"`)
			if cur > l.Max {
				s.WriteString(` exceeded="true"`)
			}
			s.WriteString(">")
			if start, end, _ := periodBounds(l.Period, now); !end.IsZero() {
				s.WriteString("<period_start>" + start.Format(timeLayout) + "</period_start><period_end>" + end.Format(timeLayout) + "</period_end>")
			}
			s.WriteString("<max_value>" + strconv.FormatInt(l.Max, 10) + "</max_value><current_value>" + strconv.FormatInt(cur, 10) + "</current_value></usage_report>")
		}
		s.WriteString("</usage_reports>")
	}
	s.WriteString("</status>")
	return s.String()
}

// timeLayout is the backend's format of period bounds.
const timeLayout = "2006-01-02 15:04:05 -0700"

var periods = []string{"minute", "hour", "day", "week", "month", "year", "eternity"}

// periodBounds returns the instance of period that holds now, in UTC; an
// eternity has zero bounds.
func periodBounds(period string, now time.Time) (start, end time.Time, err error) {
	t := now.UTC()
	switch period {
	case "minute":
		start = t.Truncate(time.Minute)
		end = start.Add(time.Minute)
	case "hour":
		start = t.Truncate(time.Hour)
		end = start.Add(time.Hour)
	case "day":
		start = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
		end = start.AddDate(0, 0, 1)
	case "week":
		day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
		start = day.AddDate(0, 0, -((int(day.Weekday()) + 6) % 7)) // weeks start on Monday
		end = start.AddDate(0, 0, 7)
	case "month":
		start = time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
		end = start.AddDate(0, 1, 0)
	case "year":
		start = time.Date(t.Year(), 1, 1, 0, 0, 0, 0, time.UTC)
		end = start.AddDate(1, 0, 0)
	case "eternity":
	default:
		return time.Time{}, time.Time{}, fmt.Errorf("unknown period %q", period)
	}
	return start, end, nil
}

// report answers POST /transactions.xml: it checks the call and counts the
// usage of every transaction whose application exists, as the backend does
// later in its queue; unknown applications are skipped silently.
func (b *Backend) report(r *http.Request, call *Call) answer {
	x := ext{}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, _ := mime.ParseMediaType(ct)
		if mt != "application/x-www-form-urlencoded" && mt != "multipart/form-data" {
			return (&apiError{400, "content_type_invalid", "invalid Content-Type: " + ct}).answer(x)
		}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 10<<20))
	if err != nil {
		return answer{status: http.StatusBadRequest}
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return (&apiError{400, "bad_request", "request contains syntax errors, should not be repeated without modification"}).answer(x)
	}
	call.Form = form
	q := url.Values{}
	for k, v := range call.Query {
		q[k] = v
	}
	for k, v := range form {
		if !q.Has(k) {
			q[k] = v
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	s, err := b.authenticate(q)
	if err != nil {
		return errorAnswer(err, x)
	}
	txs := map[string]url.Values{}
	for k, v := range form {
		rest, ok := strings.CutPrefix(k, "transactions[")
		if !ok {
			continue
		}
		idx, field, ok := strings.Cut(rest, "]")
		if !ok {
			return (&apiError{400, "transactions_format_invalid", "transactions format is invalid"}).answer(x)
		}
		if txs[idx] == nil {
			txs[idx] = url.Values{}
		}
		// [usage][hits] becomes usage[hits]; [user_key] becomes user_key.
		field = strings.TrimPrefix(field, "[")
		field = strings.Replace(field, "]", "", 1)
		txs[idx][field] = v
	}
	if len(txs) == 0 {
		return (&apiError{400, "transactions_is_blank", "transactions parameter is blank"}).answer(x)
	}
	now := b.now()
	for _, tq := range txs {
		a := s.reportApp(tq)
		if a == nil {
			continue
		}
		usage, err := s.parseUsage(tq, "usage")
		if err != nil {
			continue
		}
		b.add(a, usage, now)
	}
	return answer{status: http.StatusAccepted}
}

// reportApp finds a report transaction's application, or nil.
func (s *service) reportApp(q url.Values) *app {
	if id := q.Get("app_id"); id != "" {
		return s.apps[id]
	}
	if k := q.Get("user_key"); k != "" {
		return s.byUserKey[k]
	}
	if t := q.Get("access_token"); t != "" {
		return s.byToken[t]
	}
	return nil
}

// escape escapes XML text and attribute values.
func escape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '&':
			b.WriteString("&amp;")
		case '"':
			b.WriteString("&quot;")
		case '\'':
			b.WriteString("&apos;")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
