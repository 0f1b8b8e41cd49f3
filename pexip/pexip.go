// Package pexip answers Pexip Infinity's external policy API: service
// configuration, participant properties, media location, participant
// avatars, directory and registration requests. It turns each request into
// attributes (query parameters, normalised aliases, rows of data tables),
// asks the pdl document configured for the request type, and maps the
// decision and its obligations to the JSON Infinity expects, falling back
// to Infinity's own configuration whenever no policy decides or anything
// fails. It owns the pexip section of the configuration file (Config),
// which it registers with package config and decodes itself; the file's
// frame and the policy documents are config's, compiling them is pdl's.
package pexip

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/verdict-policy/verdict/config"
	"github.com/verdict-policy/verdict/internal/h1"
	"github.com/verdict-policy/verdict/internal/reply"
	"github.com/verdict-policy/verdict/pdl"
	"github.com/verdict-policy/verdict/store"
)

// PathPrefix is the path Infinity appends to a policy profile's URL.
const PathPrefix = "/policy/v1/"

// maxQueryBytes bounds the query string. Infinity's are under 2 KiB, but a
// participant in many IdP groups repeats idp_attribute_* once per group,
// and a query refused falls back, which skips every deny rule: the bound
// is generous.
const maxQueryBytes = 64 << 10

// kind indexes the request types, in RequestTypes order.
type kind int

const (
	serviceConfiguration kind = iota
	participantProperties
	mediaLocation
	participantAvatar
	directory
	registration
	numKinds
)

func (k kind) String() string { return RequestTypes[k] }

// Door is the Pexip front door: an http.Handler for the policy listener.
// Create it with New; Prepare and install a configuration before serving.
type Door struct {
	logger  *slog.Logger
	metrics *metrics
	cur     atomic.Pointer[state]
	reqs    sync.Pool
	bufs    sync.Pool
	attrs   sync.Pool // *[]slog.Attr of log lines

	store storeConn

	tlsMu     sync.Mutex
	tlsServer *h1.Server
	tlsAddr   string
	tlsLn     net.Listener
	// A listener bound by Prepare for the address the next install
	// serves HTTPS on, so that an address that cannot be bound fails the
	// start or the reload instead of being only logged.
	pendingLn   net.Listener
	pendingAddr string
	dryRun      bool // set by SetDryRun: Prepare binds nothing
}

// state is everything one configuration needs to answer requests. It is
// built by Prepare and never changed afterwards.
type state struct {
	basePath   string
	docs       [numKinds]docRef
	fallback   [numKinds]string
	overflow   string
	timeout    time.Duration
	logAliases string // LogPlain, LogHash or LogOmit
	tlsOnly    bool   // the plain listener refuses the endpoints
	auth       *basicAuth
	tables     []tableRef
	tableIndex map[string]int
	phonebook  phonebook
	ignoreLoc  bool
	maxResults int
	avatars    *avatars
	cert       *tls.Certificate
	tlsCfg     *TLSConfig
}

type docRef struct {
	name string
	doc  *pdl.Document
}

type tableRef struct {
	name   string
	key    string // the key column, left out when a row fills a result
	lookup []string
	table  Table
}

var _ http.Handler = (*Door)(nil)

// New creates the door; its metrics are registered with reg, which may be
// nil. Registering twice with one registry is a programming error and
// panics.
func New(logger *slog.Logger, reg prometheus.Registerer) *Door {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(reg)
	if err != nil {
		panic(fmt.Sprintf("pexip metrics: %v", err))
	}
	d := &Door{logger: logger, metrics: m}
	d.reqs.New = func() any { return &request{} }
	d.bufs.New = func() any { b := make([]byte, 0, 1024); return &b }
	d.attrs.New = func() any { a := make([]slog.Attr, 0, 12); return &a }
	return d
}

// Patterns returns the path the door serves on the policy listener:
// /policy/v1/ below the configured base path. A base path changed by a
// reload takes effect on restart.
func (d *Door) Patterns() []string {
	base := ""
	if st := d.cur.Load(); st != nil {
		base = st.basePath
	}
	return []string{base + PathPrefix}
}

// UseStores makes the door take its store from src, the process's shared
// stores, instead of opening and closing its own connection. Call it
// before the first Prepare.
func (d *Door) UseStores(src StoreSource) {
	d.store.mu.Lock()
	defer d.store.mu.Unlock()
	d.store.shared = src
}

// Prepare builds the door's state for cfg: the documents per request type,
// the tables read from their files, the credentials and the TLS
// certificate. Nothing running changes until install is called; a table
// file that does not load fails the whole reload, so the old one stays.
func (d *Door) Prepare(cfg *config.Config, docs []config.Document) (func(), error) {
	pc := ConfigOf(cfg)
	if pc == nil {
		return func() { d.cur.Store(nil); d.setTLS(nil) }, nil
	}
	where := fmt.Sprintf("%s:%d: pexip", cfg.File, pc.Line)
	st := &state{basePath: pc.BasePath, overflow: pc.Overflow, timeout: pc.Timeout, logAliases: pc.LogAliases,
		tlsOnly:   pc.TLS != nil && pc.TLS.Only,
		ignoreLoc: pc.Directory.IgnoreLocal, maxResults: pc.Directory.MaxResults,
		tableIndex: map[string]int{}, tlsCfg: pc.TLS}
	byName := make(map[string]*pdl.Document, len(docs))
	names := make([]string, 0, len(docs))
	for _, doc := range docs {
		byName[doc.Name] = doc.Document
		names = append(names, doc.Name)
	}
	var errs []error
	reported := map[string]bool{}
	for k := range numKinds {
		st.fallback[k] = pc.Fallback[k.String()]
		if k == participantAvatar || k == directory {
			continue // answered from data, not decided
		}
		name := pc.Policies[k.String()]
		field := "policies." + k.String()
		if name == "" {
			name, field = pc.Policy, "policy"
		}
		if name == "" {
			continue
		}
		doc, ok := byName[name]
		if !ok {
			if !reported[field] {
				reported[field] = true
				errs = append(errs, fmt.Errorf("%s.%s: no policy document is named %q (loaded: %s)", where, field, name, strings.Join(names, ", ")))
			}
			continue
		}
		st.docs[k] = docRef{name: name, doc: doc}
	}
	var shared store.Store
	freshStore := false
	for _, t := range pc.Tables {
		for _, attr := range t.Lookup {
			if attr == t.Name || strings.HasPrefix(attr, t.Name+".") {
				errs = append(errs, fmt.Errorf("%s.tables.%s.lookup: the table cannot be keyed by its own row", where, t.Name))
			}
		}
		if t.Store != "" {
			if cfg.Store.Backend != "redis" {
				errs = append(errs, fmt.Errorf("%s.tables.%s.store: tables from the store need store.redis; a memory store is private to one process", where, t.Name))
				continue
			}
			if shared == nil {
				var err error
				if shared, freshStore, err = d.store.get(cfg.Store); err != nil {
					errs = append(errs, fmt.Errorf("%s.tables.%s: %w", where, t.Name, err))
					continue
				}
			}
			st.tableIndex[t.Name] = len(st.tables)
			st.tables = append(st.tables, tableRef{name: t.Name, key: t.Key, lookup: t.Lookup, table: NewStoreTable(shared, t.Store)})
			if t.Name == pc.Directory.Table {
				st.phonebook = newStorePhonebook(shared, t.Store)
			}
			continue
		}
		data, err := cfg.ReadData(t.Path)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.tables.%s: %w", where, t.Name, err))
			continue
		}
		ft, err := ParseTable(cfg.DataPath(t.Path), data, t.Key)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.tables.%s: %w", where, t.Name, err))
			continue
		}
		st.tableIndex[t.Name] = len(st.tables)
		st.tables = append(st.tables, tableRef{name: t.Name, key: t.Key, lookup: t.Lookup, table: ft})
		if t.Name == pc.Directory.Table {
			st.phonebook = filePhonebook{ft}
		}
	}
	if a := pc.BasicAuth; a != nil {
		pass := a.Password
		switch {
		case a.PasswordEnv != "":
			pass = os.Getenv(a.PasswordEnv) // config checked that it is set
		case a.PasswordFile != "":
			data, err := cfg.ReadData(a.PasswordFile)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s.basic_auth.password_file: %w", where, err))
			}
			pass = strings.TrimRight(string(data), "\r\n")
		}
		if pass == "" {
			errs = append(errs, fmt.Errorf("%s.basic_auth: the password is empty", where))
		}
		st.auth = newBasicAuth(a.Username, pass)
	}
	if pc.Avatars.Dir != "" || pc.Avatars.URL != "" {
		av, err := newAvatars(cfg, pc.Avatars)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.avatars: %w", where, err))
		}
		st.avatars = av
	}
	if t := pc.TLS; t != nil {
		cert, err := loadCert(cfg, t)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.tls: %w", where, err))
		}
		st.cert = cert
	}
	if t := pc.TLS; t != nil && t.Listen != "" && len(errs) == 0 {
		if err := d.bindTLS(t.Listen); err != nil {
			errs = append(errs, fmt.Errorf("%s.tls.listen: %w", where, err))
		}
	}
	if len(errs) > 0 {
		if freshStore && shared != nil {
			_ = shared.Close()
		}
		return nil, errors.Join(errs...)
	}
	return func() {
		d.cur.Store(st)
		d.store.replace(cfg.Store, shared) // nil closes a store no table needs now
		d.setTLS(st)
	}, nil
}

// basicAuth compares credentials in constant time: both sides are hashed
// first, so neither the length nor the content leaks through timing.
type basicAuth struct {
	user, pass [sha256.Size]byte
}

func newBasicAuth(user, pass string) *basicAuth {
	return &basicAuth{user: sha256.Sum256([]byte(user)), pass: sha256.Sum256([]byte(pass))}
}

func (a *basicAuth) allows(r *http.Request) bool {
	user, pass, ok := r.BasicAuth()
	u := sha256.Sum256([]byte(user))
	p := sha256.Sum256([]byte(pass))
	match := subtle.ConstantTimeCompare(u[:], a.user[:]) & subtle.ConstantTimeCompare(p[:], a.pass[:])
	return ok && match == 1
}

// route splits a request path into its request type and, for avatar and
// registration requests, the still-escaped alias. Duplicate slashes and a
// trailing slash are tolerated: Infinity does not follow redirects.
func route(base, escaped string) (k kind, alias string, ok bool) {
	p := collapseSlashes(escaped)
	if base != "" {
		rest, found := strings.CutPrefix(p, base)
		if !found || !strings.HasPrefix(rest, "/") {
			return 0, "", false
		}
		p = rest
	}
	p, found := strings.CutPrefix(p, PathPrefix)
	if !found {
		return 0, "", false
	}
	switch strings.TrimSuffix(p, "/") {
	case "service/configuration":
		return serviceConfiguration, "", true
	case "participant/properties":
		return participantProperties, "", true
	case "participant/location":
		return mediaLocation, "", true
	case "registrations":
		return directory, "", true
	}
	if a, found := strings.CutPrefix(p, "participant/avatar/"); found && strings.Trim(a, "/") != "" {
		return participantAvatar, strings.Trim(a, "/"), true
	}
	if a, found := strings.CutPrefix(p, "registrations/"); found && strings.Trim(a, "/") != "" {
		return registration, strings.Trim(a, "/"), true
	}
	return 0, "", false
}

func collapseSlashes(p string) string {
	if !strings.Contains(p, "//") {
		return p
	}
	var b strings.Builder
	b.Grow(len(p))
	for i := 0; i < len(p); i++ {
		if p[i] == '/' && i > 0 && p[i-1] == '/' {
			continue
		}
		b.WriteByte(p[i])
	}
	return b.String()
}

// outcome labels for metrics and logs.
const (
	outAnswer       = "answer"
	outReject       = "reject"
	outRedirect     = "redirect"
	outFallback     = "fallback"
	outError        = "error"
	outBadRequest   = "bad_request"
	outUnauthorized = "unauthorized"
)

// ServeHTTP implements http.Handler.
func (d *Door) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	st := d.cur.Load()
	base := ""
	if st != nil {
		base = st.basePath
	}
	k, rawAlias, ok := route(base, r.URL.EscapedPath())
	if !ok || st == nil {
		reply.NotFound(w, r)
		return
	}
	lg := logLine{kind: k, start: start, aliasMode: st.logAliases}
	defer func() {
		if p := recover(); p != nil {
			lg.err = fmt.Sprintf("internal failure: %v", p)
			lg.outcome = outError
			d.writeFallback(w, st, k, &lg)
		}
		d.finish(r, &lg)
	}()
	if st.tlsOnly && r.TLS == nil {
		lg.outcome, lg.status = outBadRequest, http.StatusForbidden
		reply.Error(w, http.StatusForbidden, "https_required", "the Pexip policy API is served over HTTPS only (pexip.tls.only)")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		lg.outcome, lg.status = outBadRequest, http.StatusMethodNotAllowed
		reply.MethodNotAllowed(w, r, "GET, HEAD")
		return
	}
	if st.auth != nil && !st.auth.allows(r) {
		lg.outcome, lg.status = outUnauthorized, http.StatusUnauthorized
		w.Header().Set("WWW-Authenticate", `Basic realm="verdict", charset="UTF-8"`)
		reply.Error(w, http.StatusUnauthorized, "unauthorized", "missing or wrong credentials for the Pexip policy API")
		return
	}
	if len(r.URL.RawQuery) > maxQueryBytes {
		d.badRequest(w, &lg, http.StatusRequestURITooLong, "query_too_long",
			fmt.Sprintf("the query string has %d bytes; at most %d are accepted", len(r.URL.RawQuery), maxQueryBytes))
		return
	}
	req := d.reqs.Get().(*request)
	defer func() { req.reset(); d.reqs.Put(req) }()
	query, err := parseQuery(r.URL.RawQuery, req.query[:0])
	req.query = query
	if err != nil {
		d.badRequest(w, &lg, http.StatusBadRequest, "invalid_query", "the query string does not decode: "+err.Error())
		return
	}
	alias := ""
	if rawAlias != "" {
		if alias, err = url.PathUnescape(rawAlias); err != nil {
			d.badRequest(w, &lg, http.StatusBadRequest, "invalid_alias", "the alias in the path does not decode: "+err.Error())
			return
		}
	}
	lg.localAlias, lg.remoteAlias, lg.alias = query.value("local_alias"), query.value("remote_alias"), alias
	switch k {
	case participantAvatar:
		d.serveAvatar(w, r, st, query, alias, &lg)
	case directory:
		d.serveDirectory(w, r, st, query, &lg)
	default:
		req.ctx, req.st, req.kind, req.pathAlias = r.Context(), st, k.String(), alias
		req.deadline = start.Add(st.timeout)
		d.serveDecision(w, st, k, req, &lg)
	}
}

// badRequest answers a request Infinity should not have sent. The body
// keeps Pexip's envelope, so Infinity falls back, and carries the error
// envelope for people reading it.
func (d *Door) badRequest(w http.ResponseWriter, lg *logLine, status int, code, msg string) {
	lg.outcome, lg.status, lg.err = outBadRequest, status, msg
	reply.JSON(w, status, struct {
		Status string            `json:"status"`
		Action string            `json:"action"`
		Result struct{}          `json:"result"`
		Error  reply.ErrorDetail `json:"error"`
	}{Status: "fail", Action: "continue", Error: reply.ErrorDetail{Code: code, Message: msg}})
}

func (d *Door) serveDecision(w http.ResponseWriter, st *state, k kind, req *request, lg *logLine) {
	ref := st.docs[k]
	if ref.doc == nil {
		lg.outcome = outFallback
		d.writeFallback(w, st, k, lg)
		return
	}

	dec := ref.doc.Decide(req)
	lg.document, lg.decision, lg.path = ref.name, dec.Effect, dec.Path
	switch dec.Effect {
	case pdl.Permit:
		d.writePermit(w, st, k, req, dec, lg)
	case pdl.Deny:
		if k == mediaLocation { // Infinity has no way to refuse a location
			lg.outcome = outFallback
			d.writeFallback(w, st, k, lg)
			return
		}
		res, _ := d.results(st, k, req, dec, lg)
		if k != participantProperties {
			res = result{}
		} else if reason, ok := res["reject_reason"]; ok {
			res = result{"reject_reason": reason}
		} else {
			res = result{}
		}
		lg.outcome = outReject
		d.writeEnvelope(w, "reject", res, lg)
	case pdl.Indeterminate:
		lg.outcome, lg.err = outError, dec.Error
		d.writeFallback(w, st, k, lg)
	default:
		lg.outcome = outFallback
		d.writeFallback(w, st, k, lg)
	}
}

// results gathers the result obligations of a decision into one result,
// and the redirect alias if one is asked for. Earlier obligations win: a
// rule's fields override its policy's and its set's.
func (d *Door) results(st *state, k kind, req *request, dec pdl.Decision, lg *logLine) (result, string) {
	if req.res == nil {
		req.res = make(result, 8) // most results fit one map group
	}
	res := req.res // cleared when the request goes back to its pool
	redirect := ""
	for _, ob := range dec.Obligations {
		switch ob.Name {
		case "result":
			params, ok := ob.Params.(map[string]any)
			if !ok {
				lg.err = "the result obligation is not an object of fields"
				continue
			}
			for f, v := range params {
				if f == "fields_from" {
					continue
				}
				if _, set := res[f]; !set {
					res[f] = coerce(f, v)
				}
			}
			for _, src := range fieldSources(params["fields_from"]) {
				row, _ := req.Attribute(src)
				m, _ := row.(map[string]any)
				skip := ""
				if i, ok := st.tableIndex[src]; ok {
					skip = st.tables[i].key
				}
				for f, v := range m {
					if _, set := res[f]; !set && f != skip {
						res[f] = coerce(f, v)
					}
				}
			}
		case "redirect":
			if params, ok := ob.Params.(map[string]any); ok && redirect == "" {
				redirect = scalarString(params["new_alias"])
			}
		}
	}
	if k == mediaLocation {
		shapeOverflow(res, st.overflow)
	}
	return res, redirect
}

func fieldSources(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// shapeOverflow writes the overflow locations of a media location result
// in the configured form, whichever form the policy used. The list form
// may also be text, locations separated by commas (a CSV cell). Empty
// names are dropped in either form: Infinity discards a whole answer that
// names a location it does not know.
func shapeOverflow(res result, form string) {
	var list []any
	add := func(v any) {
		if s := strings.TrimSpace(scalarString(v)); s != "" {
			list = append(list, s)
		}
	}
	switch l := res["overflow_locations"].(type) {
	case []any:
		for _, v := range l {
			add(v)
		}
	case string:
		for v := range strings.SplitSeq(l, ",") {
			add(v)
		}
	}
	for _, f := range []string{"primary_overflow_location", "secondary_overflow_location"} {
		if v, ok := res[f]; ok && len(list) < 2 {
			add(v)
		}
	}
	delete(res, "overflow_locations")
	delete(res, "primary_overflow_location")
	delete(res, "secondary_overflow_location")
	if len(list) == 0 {
		return
	}
	if form == OverflowList {
		res["overflow_locations"] = list
		return
	}
	res["primary_overflow_location"] = list[0]
	if len(list) > 1 {
		res["secondary_overflow_location"] = list[1]
	}
}

func (d *Door) writePermit(w http.ResponseWriter, st *state, k kind, req *request, dec pdl.Decision, lg *logLine) {
	res, redirect := d.results(st, k, req, dec, lg)
	switch k {
	case serviceConfiguration:
		if redirect != "" {
			lg.outcome = outRedirect
			d.writeEnvelope(w, "redirect", result{"new_alias": redirect}, lg)
			return
		}
		if len(res) == 0 { // nothing to configure: let Infinity decide
			lg.outcome = outFallback
			d.writeFallback(w, st, k, lg)
			return
		}
	case mediaLocation:
		if scalarString(res["location"]) == "" {
			lg.outcome = outFallback
			d.writeFallback(w, st, k, lg)
			return
		}
		lg.outcome = outAnswer
		d.writeEnvelope(w, "", res, lg)
		return
	}
	lg.outcome = outAnswer
	d.writeEnvelope(w, "continue", res, lg)
}

// writeEnvelope writes 200 {"status":"success","action":...,"result":...};
// an empty action is left out, as media location answers have none.
func (d *Door) writeEnvelope(w http.ResponseWriter, action string, res result, lg *logLine) {
	bp := d.bufs.Get().(*[]byte)
	b := append((*bp)[:0], `{"status":"success"`...)
	if action != "" {
		b = append(b, `,"action":`...)
		b = appendString(b, action)
	}
	b = append(b, `,"result":`...)
	b = res.appendJSON(b)
	b = append(b, '}')
	writeJSON(w, http.StatusOK, b)
	lg.status = http.StatusOK
	*bp = b
	d.bufs.Put(bp)
}

var (
	notFoundBody = []byte(`{"status":"fail","action":"continue","result":{}}`)
	continueBody = []byte(`{"status":"success","action":"continue"}`)
	noEntries    = []byte(`{"status":"success","result":[]}`)
)

// writeFallback answers so that Infinity uses its own configuration: 404
// by default, or 200 continue when the request type is configured so.
func (d *Door) writeFallback(w http.ResponseWriter, st *state, k kind, lg *logLine) {
	if lg.outcome == "" {
		lg.outcome = outFallback
	}
	if k != participantAvatar && st.fallback[k] == FallbackContinue {
		lg.status = http.StatusOK
		if k == directory {
			writeJSON(w, http.StatusOK, noEntries)
			return
		}
		writeJSON(w, http.StatusOK, continueBody)
		return
	}
	lg.status = http.StatusNotFound
	writeJSON(w, http.StatusNotFound, notFoundBody)
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h["Content-Type"] = jsonContentType
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
