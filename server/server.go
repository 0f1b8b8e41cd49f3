// Package server wires a Verdict process together: it loads the documents
// of a configuration, binds the policy and admin listeners, serves the
// decision API and the admin endpoints (/metrics, /healthz, /readyz,
// /v1/reload), reloads on request, on SIGHUP and when a watched file
// changes, and shuts down gracefully. The endpoints themselves live in
// their own packages; linking them here is what registers their sections
// of the configuration file, so a program that serves Verdict imports
// this package.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"

	"github.com/verdict-policy/verdict/api"
	"github.com/verdict-policy/verdict/config"
	"github.com/verdict-policy/verdict/internal/h1"
	"github.com/verdict-policy/verdict/internal/reply"
	"github.com/verdict-policy/verdict/pdp"
)

// shutdownTimeout bounds how long in-flight requests may take to finish
// once shutdown starts.
const shutdownTimeout = 10 * time.Second

// Server is one Verdict process. Create it with New, then call Run.
type Server struct {
	logger   *slog.Logger
	registry *prometheus.Registry
	decide   *pdp.Handler

	doors       []frontDoor
	stores      *sharedStores
	reloads     *prometheus.CounterVec
	lastSuccess prometheus.Gauge

	mu      sync.Mutex // serialises reloads and guards cfg
	cfg     *config.Config
	routes  atomic.Pointer[policyRoutes] // the policy listener's router
	changed chan struct{}                // a reload succeeded: the watched paths may differ
	settle  settleTimes                  // how long watched files must stay quiet (watch.go)

	listenOnce sync.Once
	listenErr  error
	policyLn   net.Listener
	adminLn    net.Listener
	grpcLn     net.Listener  // nil unless listen.grpc is set
	bound      config.Listen // the addresses of the listeners, once Listen ran
}

// grpcDoor is a front door that also serves gRPC services on the grpc
// listener (Envoy ext_authz).
type grpcDoor interface {
	RegisterGRPC(grpc.ServiceRegistrar)
}

// New loads every policy document of cfg and prepares the endpoints. It
// fails, with config.Problems listing every problem, when a document does
// not load. A nil logger discards logs.
func New(cfg *config.Config, logger *slog.Logger) (*Server, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	metrics, err := pdp.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	s := &Server{
		logger:   logger,
		registry: reg,
		decide:   pdp.New(metrics),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "verdict_reloads_total",
			Help: "Reloads of the configuration and policy documents, by result.",
		}, []string{"result"}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "verdict_config_last_reload_success_timestamp_seconds",
			Help: "When the running configuration was loaded, as a Unix time.",
		}),
		changed: make(chan struct{}, 1),
	}
	reg.MustRegister(s.reloads, s.lastSuccess)
	s.reloads.WithLabelValues("success")
	s.reloads.WithLabelValues("failure")

	if s.stores, err = newSharedStores(reg); err != nil {
		return nil, err
	}
	if s.doors, err = newDoors(doorDeps{logger: logger, registry: reg, stores: s.stores}); err != nil {
		return nil, err
	}
	docs, err := cfg.Compile()
	if err != nil {
		return nil, fmt.Errorf("load policy documents: %w", err)
	}
	installDoors, err := prepareDoors(s.doors, cfg, docs)
	if err != nil {
		return nil, err
	}
	s.install(cfg, docs)
	installDoors()
	s.route()
	warnExampleSecret(logger, cfg)
	return s, nil
}

// install makes cfg and its compiled documents the running version.
func (s *Server) install(cfg *config.Config, docs []config.Document) {
	s.cfg = cfg
	s.decide.Load(pdpDocuments(docs), cfg.Limits.MaxBodyBytes)
	s.lastSuccess.SetToCurrentTime()
	for _, d := range docs {
		sets, policies, rules := d.Document.Counts()
		s.logger.Info("policy document loaded", "document", d.Name, "sets", sets,
			"policies", policies, "rules", rules, "sources", d.Sources)
	}
}

func pdpDocuments(docs []config.Document) []pdp.Document {
	out := make([]pdp.Document, len(docs))
	for i, d := range docs {
		out[i] = pdp.Document{Name: d.Name, Vocabulary: d.Vocabulary, Sources: d.Sources, Document: d.Document}
	}
	return out
}

// Registry returns the registry holding the server's metrics.
func (s *Server) Registry() *prometheus.Registry { return s.registry }

// Reload reads the configuration file and every policy file again. On
// success the new documents replace the running ones at once; on failure
// the running ones stay, and the error lists every problem. Reloads run one
// at a time.
func (s *Server) Reload() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.reload()
	if err != nil {
		s.reloads.WithLabelValues("failure").Inc()
		return err
	}
	s.reloads.WithLabelValues("success").Inc()
	select {
	case s.changed <- struct{}{}:
	default:
	}
	return nil
}

func (s *Server) reload() error {
	cfg, err := s.cfg.Reload()
	if err != nil {
		return err
	}
	docs, err := cfg.Compile()
	if err != nil {
		return err
	}
	if err := checkExampleSecret(cfg, s.bound); err != nil {
		return err
	}
	installDoors, err := prepareDoors(s.doors, cfg, docs)
	if err != nil {
		return err
	}
	warnExampleSecret(s.logger, cfg)
	if cfg.Listen != s.cfg.Listen {
		s.logger.Warn("listen addresses changed; they take effect on restart",
			"policy", cfg.Listen.Policy, "admin", cfg.Listen.Admin)
	}
	if old, l := s.cfg.Limits, cfg.Limits; l.Policy != old.Policy || l.Gateway != old.Gateway || l.Admin != old.Admin || l.GRPC != old.GRPC {
		s.logger.Warn("listener limits changed; they take effect on restart (limits.max_body_bytes applies at once)")
	}
	s.install(cfg, docs)
	installDoors()
	s.route()
	return nil
}

// reloadAndLog reloads and logs the outcome; a failure keeps the running
// version.
func (s *Server) reloadAndLog(reason string) {
	if err := s.Reload(); err != nil {
		s.logger.Error("reload failed; keeping the running version", "reason", reason, "error", err.Error())
		return
	}
	s.logger.Info("reloaded", "reason", reason)
}

// Listen binds the policy and admin listeners. Run calls it when it has not
// been called; call it first to learn the addresses bound for port 0.
func (s *Server) Listen() error {
	s.listenOnce.Do(func() {
		s.mu.Lock()
		cfg := s.cfg
		s.mu.Unlock()
		listen := cfg.Listen
		if s.listenErr = checkExampleSecret(cfg, listen); s.listenErr != nil {
			return
		}
		s.bound = listen
		var lc net.ListenConfig
		s.policyLn, s.listenErr = lc.Listen(context.Background(), "tcp", listen.Policy)
		if s.listenErr != nil {
			s.listenErr = fmt.Errorf("policy listener: %w", s.listenErr)
			return
		}
		s.adminLn, s.listenErr = lc.Listen(context.Background(), "tcp", listen.Admin)
		if s.listenErr != nil {
			s.policyLn.Close()
			s.listenErr = fmt.Errorf("admin listener: %w", s.listenErr)
			return
		}
		if listen.GRPC != "" {
			s.grpcLn, s.listenErr = lc.Listen(context.Background(), "tcp", listen.GRPC)
			if s.listenErr != nil {
				s.policyLn.Close()
				s.adminLn.Close()
				s.listenErr = fmt.Errorf("grpc listener: %w", s.listenErr)
			}
		}
		if s.listenErr == nil {
			s.listenErr = s.listenGateway()
		}
	})
	return s.listenErr
}

// PolicyAddr returns the bound address of the policy listener, or "" before
// Listen.
func (s *Server) PolicyAddr() string { return addrOf(s.policyLn) }

// AdminAddr returns the bound address of the admin listener, or "" before
// Listen.
func (s *Server) AdminAddr() string { return addrOf(s.adminLn) }

// GRPCAddr returns the bound address of the gRPC listener, or "" before
// Listen or when listen.grpc is not set.
func (s *Server) GRPCAddr() string { return addrOf(s.grpcLn) }

func addrOf(ln net.Listener) string {
	if ln == nil {
		return ""
	}
	return ln.Addr().String()
}

// Run serves until ctx is done, then shuts down gracefully: the listeners
// close and requests in flight get up to ten seconds to finish. While
// running it reloads on SIGHUP and when the configuration file or a policy
// file changes.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	s.mu.Lock()
	limits := s.cfg.Limits
	s.mu.Unlock()
	nofile, _, err := openFileLimit()
	if err != nil {
		nofile = 0 // no limit to derive from
	}
	gatewayOn := s.GatewayAddr() != ""
	conns := connectionLimits(limits, nofile, gatewayOn, s.grpcLn != nil)
	logConnectionLimits(s.logger, conns, nofile, gatewayOn, s.grpcLn != nil)

	policySrv := s.policyServer(conns.policy, limits.Policy)
	adminLn := h1.LimitListener(s.adminLn, conns.admin, true, s.logger.With("listener", "admin"))
	servers := []httpServer{policySrv, s.httpServer(s.adminHandler())}
	listeners := []net.Listener{s.policyLn, adminLn}
	s.countConnections("policy", policySrv)
	s.countConnections("admin", adminLn)
	if srv, ln := s.gatewayServer(conns.gateway, limits.Gateway); ln != nil {
		servers, listeners = append(servers, srv), append(listeners, ln)
		s.countConnections("gateway", srv)
	}
	serveErr := make(chan error, len(servers)+1)
	for i, srv := range servers {
		go func() {
			if err := srv.Serve(listeners[i]); !errors.Is(err, http.ErrServerClosed) {
				serveErr <- err
			}
		}()
	}
	var grpcServer *grpc.Server
	if s.grpcLn != nil {
		grpcServer = grpc.NewServer()
		for _, d := range s.doors {
			if g, ok := d.(grpcDoor); ok {
				g.RegisterGRPC(grpcServer)
			}
		}
		grpcLn := h1.LimitListener(s.grpcLn, conns.grpc, false, s.logger.With("listener", "grpc"))
		s.countConnections("grpc", grpcLn)
		go func() {
			if err := grpcServer.Serve(grpcLn); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
				serveErr <- err
			}
		}()
	}
	s.logger.Info("serving", "policy", s.PolicyAddr(), "admin", s.AdminAddr(), "grpc", s.GRPCAddr())

	watchCtx, stopWatch := context.WithCancel(ctx)
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		s.watch(watchCtx)
	}()

	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-hup:
			s.reloadAndLog("SIGHUP")
		case err := <-serveErr:
			runErr = fmt.Errorf("serve: %w", err)
			break loop
		}
	}
	stopWatch()
	<-watchDone

	s.logger.Info("shutting down")
	shutCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if grpcServer != nil {
		stopped := make(chan struct{})
		go func() { grpcServer.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-shutCtx.Done():
			grpcServer.Stop()
		}
	}
	for _, srv := range servers {
		if err := srv.Shutdown(shutCtx); err != nil && runErr == nil {
			runErr = fmt.Errorf("shutdown: %w", err)
		}
	}
	s.closeGateway()
	if err := s.stores.close(); err != nil {
		s.logger.Warn("closing the shared store", "error", err.Error())
	}
	return runErr
}

// connectionCounter is a server or listener that counts its connections.
type connectionCounter interface {
	OpenConns() int
	RefusedConns() int64
}

// countConnections publishes a listener's open and refused connections
// as verdict_connections_open and verdict_connections_refused_total.
func (s *Server) countConnections(listener string, c connectionCounter) {
	labels := prometheus.Labels{"listener": listener}
	for _, col := range []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "verdict_connections_open",
			Help:        "Client connections open on a listener (admin and grpc: only while they have a limit).",
			ConstLabels: labels,
		}, func() float64 { return float64(c.OpenConns()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "verdict_connections_refused_total",
			Help:        "Client connections refused because their listener had its most connections open.",
			ConstLabels: labels,
		}, func() float64 { return float64(c.RefusedConns()) }),
	} {
		if err := s.registry.Register(col); err != nil {
			s.logger.Warn("registering a connection metric", "listener", listener, "error", err.Error())
		}
	}
}

// httpServer is what Run needs of an HTTP server: h1's on the policy
// and gateway listeners, net/http's on the admin listener.
type httpServer interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
}

// policyServer serves the policy listener with h1: its answers are small
// and many, and h1 costs about half of net/http per request. maxConns
// bounds its connections; l sets its body timeouts.
func (s *Server) policyServer(maxConns int, l config.ListenerLimits) *h1.Server {
	return &h1.Server{
		Handler:           s.policyHandler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		BodyTimeout:       bodyTimeout(l),
		BodyMinRate:       l.BodyMinRate,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxConns:          maxConns,
		Logger:            s.logger,
	}
}

// bodyTimeout returns the listener's body timeout, or the default.
func bodyTimeout(l config.ListenerLimits) time.Duration {
	if l.BodyTimeout > 0 {
		return l.BodyTimeout
	}
	return config.DefaultBodyTimeout
}

func (s *Server) httpServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
	}
}

// policyHandler routes the policy listener through the current routes,
// which a reload rebuilds when the doors' patterns change (a new Pexip
// base path, say).
func (s *Server) policyHandler() http.Handler { return (*policyRouter)(&s.routes) }

// policyRouter serves through the routes last built.
type policyRouter atomic.Pointer[policyRoutes]

func (p *policyRouter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	(*atomic.Pointer[policyRoutes])(p).Load().h.ServeHTTP(w, r)
}

// policyRoutes is the router of one set of patterns.
type policyRoutes struct {
	key string // the patterns, sorted and joined
	h   http.Handler
}

// route builds the policy listener's router for the doors' patterns,
// unless they are those of the running one: the decision API now, the
// front doors as they are configured.
func (s *Server) route() {
	patterns := map[string]http.Handler{pdp.DecidePath: s.decide, pdp.PoliciesPath: s.decide}
	for _, d := range s.doors {
		for _, p := range d.Patterns() {
			patterns[p] = d
		}
	}
	key := strings.Join(slices.Sorted(maps.Keys(patterns)), "\n")
	if cur := s.routes.Load(); cur != nil && cur.key == key {
		return
	}
	mux := http.NewServeMux()
	for p, h := range patterns {
		mux.Handle(p, h)
	}
	mux.HandleFunc("/", reply.NotFound)
	s.routes.Store(&policyRoutes{key: key, h: newUnredirected(mux, patterns)})
}

// unredirected routes requests whose path is not clean (doubled slashes,
// dot segments) by their cleaned path instead of answering with a
// redirect, which callers such as Pexip Infinity do not follow. The
// handler still sees the path as it was sent.
//
// A clean path goes first through a table of the plain patterns (exact
// paths, and subtrees ending in '/', longest first), which picks what the
// ServeMux would pick without its general matching; anything else goes to
// the ServeMux.
type unredirected struct {
	mux      *http.ServeMux
	exact    map[string]http.Handler
	prefixes []prefixRoute // longest first
}

type prefixRoute struct {
	prefix string
	h      http.Handler
}

func newUnredirected(mux *http.ServeMux, patterns map[string]http.Handler) unredirected {
	u := unredirected{mux: mux, exact: map[string]http.Handler{}}
	for p, h := range patterns {
		if p == "" || p[0] != '/' || strings.ContainsAny(p, " {}") || path.Clean(p) != strings.TrimSuffix(p, "/") && p != "/" {
			// A pattern with a method, a host or wildcards: the
			// ServeMux alone decides.
			return unredirected{mux: mux}
		}
		if strings.HasSuffix(p, "/") {
			u.prefixes = append(u.prefixes, prefixRoute{p, h})
		} else {
			u.exact[p] = h
		}
	}
	slices.SortFunc(u.prefixes, func(a, b prefixRoute) int { return len(b.prefix) - len(a.prefix) })
	return u
}

// fast returns the handler of a plain pattern matching the clean path p.
func (u unredirected) fast(p string) http.Handler {
	if u.exact == nil {
		return nil
	}
	if h, ok := u.exact[p]; ok {
		return h
	}
	for _, r := range u.prefixes {
		if strings.HasPrefix(p, r.prefix) {
			return r.h
		}
	}
	return nil
}

func (u unredirected) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if p == "" || p[0] != '/' || (!strings.Contains(p, "//") && !strings.Contains(p, "/.")) {
		// An escaped path (RawPath set, say %2F) is matched by the
		// ServeMux, which reads the escaped form.
		if r.URL.RawPath == "" && r.Method != http.MethodConnect {
			if h := u.fast(p); h != nil {
				h.ServeHTTP(w, r)
				return
			}
		}
		u.mux.ServeHTTP(w, r)
		return
	}
	clean := *r
	u2 := *r.URL
	u2.Path = path.Clean(p)
	if strings.HasSuffix(p, "/") && u2.Path != "/" {
		u2.Path += "/"
	}
	u2.RawPath = ""
	clean.URL = &u2
	h, _ := u.mux.Handler(&clean)
	h.ServeHTTP(w, r)
}

// adminHandler routes the admin listener.
func (s *Server) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
	}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		reply.JSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if !s.decide.Loaded() {
			reply.Error(w, http.StatusServiceUnavailable, "not_ready", "policy documents are not loaded yet")
			return
		}
		reply.JSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	mux.HandleFunc("/v1/reload", s.serveReload)
	mux.HandleFunc(policiesPath, s.servePolicies)
	mux.Handle(api.Prefix, api.Handler())
	mux.HandleFunc("/", reply.NotFound)
	return mux
}

func (s *Server) serveReload(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		reply.MethodNotAllowed(w, r, http.MethodPost)
		return
	}
	if err := s.Reload(); err != nil {
		s.logger.Error("reload failed; keeping the running version", "reason", "POST /v1/reload", "error", err.Error())
		reply.Error(w, http.StatusUnprocessableEntity, "reload_failed", err.Error())
		return
	}
	s.logger.Info("reloaded", "reason", "POST /v1/reload")
	body := s.decide.Documents()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}
