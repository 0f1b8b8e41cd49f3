package server

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/config"
	"github.com/verdict-policy/verdict/gateway"
	"github.com/verdict-policy/verdict/internal/h1"
	"github.com/verdict-policy/verdict/internal/reply"
	_ "github.com/verdict-policy/verdict/policies/all" // every builtin chain policy
)

// policiesPath lists the registered chain policies on the admin listener.
const policiesPath = "/v1/policies"

// gatewayDoor puts the API gateway through the same prepare-then-install
// reload as the front doors; it serves on a listener of its own rather
// than on the policy listener.
type gatewayDoor struct {
	gw     *gateway.Gateway
	err    error
	logger *slog.Logger
	ln     net.Listener
	// installed is set once the first configuration is in; the listener
	// is bound after that, at start-up.
	installed bool
}

func newGatewayDoor(deps doorDeps) *gatewayDoor {
	opts := gateway.Options{Logger: deps.logger.With("listener", "gateway"), Registerer: deps.registry}
	if deps.stores != nil {
		opts.Store = deps.stores.get
	}
	gw, err := gateway.New(opts)
	return &gatewayDoor{gw: gw, err: err, logger: deps.logger}
}

// Patterns is empty: nothing of the gateway is on the policy listener.
func (d *gatewayDoor) Patterns() []string { return nil }

func (d *gatewayDoor) ServeHTTP(w http.ResponseWriter, r *http.Request) { d.gw.ServeHTTP(w, r) }

// Prepare builds the gateway's chains for cfg.
func (d *gatewayDoor) Prepare(cfg *config.Config, docs []config.Document) (func(), error) {
	if d.err != nil {
		return nil, d.err
	}
	install, err := d.gw.Prepare(cfg, docs)
	if err != nil {
		return nil, err
	}
	return func() {
		install()
		first := !d.installed
		d.installed = true
		if !first && d.ln == nil && gateway.Enabled(cfg) {
			d.logger.Warn("the configuration now has services, but the gateway listener starts only at start-up; restart to serve them")
		}
	}, nil
}

func (s *Server) gatewayDoor() *gatewayDoor {
	for _, d := range s.doors {
		if g, ok := d.(*gatewayDoor); ok {
			return g
		}
	}
	return nil
}

// listenGateway binds the gateway listener when the configuration has
// services or a global chain. On failure it closes the other listeners.
func (s *Server) listenGateway() error {
	s.mu.Lock()
	cfg := s.cfg
	s.mu.Unlock()
	d := s.gatewayDoor()
	if d == nil || !gateway.Enabled(cfg) {
		return nil
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", cfg.GatewayAddr())
	if err != nil {
		for _, l := range []net.Listener{s.policyLn, s.adminLn, s.grpcLn} {
			if l != nil {
				l.Close()
			}
		}
		return fmt.Errorf("gateway listener: %w", err)
	}
	d.ln = ln
	return nil
}

// GatewayAddr returns the bound address of the gateway listener, or ""
// when there is none.
func (s *Server) GatewayAddr() string {
	if d := s.gatewayDoor(); d != nil {
		return addrOf(d.ln)
	}
	return ""
}

// gatewayServer returns the gateway's server and listener, or nils when
// the gateway does not listen. maxConns bounds its connections; l sets
// its body timeouts.
func (s *Server) gatewayServer(maxConns int, l config.ListenerLimits) (*h1.Server, net.Listener) {
	d := s.gatewayDoor()
	if d == nil || d.ln == nil {
		return nil, nil
	}
	s.mu.Lock()
	maxHeader := gateway.ConfigOf(s.cfg).WithDefaults().MaxHeaderBytes
	s.mu.Unlock()
	s.logger.Info("gateway listening", "gateway", addrOf(d.ln))
	// No bound on reading a whole request body or on a response's
	// writes: proxied bodies may stream for long. A body that stops
	// coming (or trickles, with body_min_rate) times out; the upstream
	// side has per-operation timeouts.
	return &h1.Server{
		Handler:           d.gw,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       -1,
		BodyTimeout:       bodyTimeout(l),
		BodyMinRate:       l.BodyMinRate,
		WriteTimeout:      -1,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    maxHeader,
		MaxConns:          maxConns,
		Logger:            s.logger,
	}, d.ln
}

// policyListing is one registered chain policy in GET /v1/policies.
type policyListing struct {
	Name     string          `json:"name"`
	Version  string          `json:"version"`
	Manifest json.RawMessage `json:"manifest"`
}

// servePolicies lists every registered chain policy with its manifest, so
// that a user interface can build configuration forms from the schemas.
func (s *Server) servePolicies(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		reply.MethodNotAllowed(w, r, http.MethodGet)
		return
	}
	var out []policyListing
	for _, f := range chain.Registered() {
		m := f.Manifest
		if len(m) == 0 {
			m = json.RawMessage("null")
		}
		out = append(out, policyListing{Name: f.Name, Version: f.Version, Manifest: m})
	}
	reply.JSON(w, http.StatusOK, map[string]any{"policies": out})
}

// closeGateway closes the gateway's policies and upstream connections at
// shutdown; a failure is logged, as the process is ending anyway.
func (s *Server) closeGateway() {
	d := s.gatewayDoor()
	if d == nil || d.gw == nil {
		return
	}
	if err := d.gw.Close(); err != nil {
		s.logger.Warn("closing the gateway's policies", "error", err.Error())
	}
}
