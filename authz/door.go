// Package authz makes Verdict the external authorizer of proxies and an
// AuthZEN decision point. Each protocol adapter — Envoy ext_authz over HTTP
// and gRPC, nginx auth_request, Traefik and Caddy forward auth, AuthZEN —
// turns its call into one normalised Request, decides it with a named pdl
// document, and renders the decision and its header obligations back by
// that protocol's rules. It owns the authz section of the configuration
// file (Config), which it registers with package config and decodes
// itself; the file's frame and the documents are config's, listening is
// the server package's.
package authz

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/textproto"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/verdict-policy/verdict/config"
	"github.com/verdict-policy/verdict/internal/reply"
	"github.com/verdict-policy/verdict/jwt"
	"github.com/verdict-policy/verdict/pdl"
)

// Paths served on the policy listener.
const (
	EnvoyPath       = "/v1/authz/envoy"
	NginxPath       = "/v1/authz/nginx"
	ForwardPath     = "/v1/authz/forward"
	EvaluationPath  = "/access/v1/evaluation"
	EvaluationsPath = "/access/v1/evaluations"
	DiscoveryPath   = "/.well-known/authzen-configuration"
)

// tokenCacheSize bounds how many verified bearer tokens a verifier
// remembers: clients send the same token request after request.
const tokenCacheSize = 4096

// Door serves every adapter. Its configuration is replaced as a whole on
// reload, atomically. A Door is safe for concurrent use.
type Door struct {
	logger  *slog.Logger
	metrics *metrics
	snap    atomic.Pointer[snapshot]
	calls   sync.Pool // of *call: per-request scratch space
}

// snapshot is one loaded configuration of the door; it never changes.
type snapshot struct {
	envoy, nginx, forward, authzen *pdl.Document
	verifier                       *jwt.Verifier
	uriHeader, methodHeader        string // canonical, for look-ups
	uriHeaderName                  string // as configured, for messages
	maxBody                        int64
}

// New returns a Door with nothing configured: every endpoint answers 404
// until Prepare installs a configuration with an authz section. It
// registers verdict_authz_answers_total{adapter,answer} with reg, unless
// reg is nil. A nil logger discards logs.
func New(logger *slog.Logger, reg prometheus.Registerer) *Door {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Door{logger: logger, metrics: newMetrics(reg)}
}

// Patterns lists the http.ServeMux patterns the door serves.
func (d *Door) Patterns() []string {
	return []string{"/v1/authz/", "/access/v1/", DiscoveryPath}
}

// Prepare builds the door's state for cfg and its compiled documents. It
// fails when the authz section names a document that is not loaded or a
// key that cannot be read. It logs a warning for every obligation a
// document uses that an adapter's protocol cannot carry.
func (d *Door) Prepare(cfg *config.Config, docs []config.Document) (func(), error) {
	a := ConfigOf(cfg)
	if a == nil {
		return func() { d.snap.Store(nil) }, nil
	}
	byName := make(map[string]config.Document, len(docs))
	for _, doc := range docs {
		byName[doc.Name] = doc
	}
	s := &snapshot{
		uriHeader:     textproto.CanonicalMIMEHeaderKey(a.NginxURIHeader),
		uriHeaderName: a.NginxURIHeader,
		methodHeader:  textproto.CanonicalMIMEHeaderKey(a.NginxMethodHeader),
		maxBody:       cfg.Limits.MaxBodyBytes,
	}
	var errs []error
	lookup := func(ad AdapterConfig, adapter string) *pdl.Document {
		if ad.Policy == "" {
			return nil
		}
		doc, ok := byName[ad.Policy]
		if !ok {
			errs = append(errs, config.Problem{File: cfg.File, Line: ad.Line, Column: ad.Column, Field: ad.Field,
				Message: fmt.Sprintf("no document named %q under policies", ad.Policy)})
			return nil
		}
		d.warnUncarried(cfg, doc, adapter)
		return doc.Document
	}
	s.envoy = lookup(a.Envoy, "envoy")
	s.nginx = lookup(a.Nginx, "nginx")
	s.forward = lookup(a.Forward, "forward")
	s.authzen = lookup(a.AuthZEN, "authzen")
	if a.JWT != nil {
		v, err := newVerifier(cfg, a.JWT)
		if err != nil {
			errs = append(errs, config.Problem{File: cfg.File, Line: a.Line, Column: a.Column, Field: "authz.jwt", Message: err.Error()})
		}
		s.verifier = v
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return func() { d.snap.Store(s) }, nil
}

func newVerifier(cfg *config.Config, j *JWTConfig) (*jwt.Verifier, error) {
	opts := []jwt.Option{jwt.WithIssuer(j.Issuer), jwt.WithAudience(j.Audience), jwt.WithLeeway(j.Leeway),
		jwt.WithCache(tokenCacheSize)}
	if j.PublicKey == "" {
		return jwt.NewHS256([]byte(j.Secret), opts...)
	}
	if cfg.Embedded {
		return nil, errors.New("public_key is not available in the built-in configuration")
	}
	file := cfg.PolicyPath(config.Policy{Path: j.PublicKey})
	pemData, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("public_key: %w", err)
	}
	v, err := jwt.NewPublicKey(pemData, opts...)
	if err != nil {
		return nil, fmt.Errorf("public_key %s: %w", file, err)
	}
	return v, nil
}

// ServeHTTP routes a request to its adapter.
func (d *Door) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := d.snap.Load()
	p := r.URL.Path
	switch {
	case p == EnvoyPath || strings.HasPrefix(p, EnvoyPath+"/"):
		if d.configured(w, r, s != nil && s.envoy != nil, "envoy") {
			d.serveEnvoy(w, r, s)
		}
	case p == NginxPath:
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			reply.MethodNotAllowed(w, r, "GET, HEAD")
			return
		}
		if d.configured(w, r, s != nil && s.nginx != nil, "nginx") {
			d.serveNginx(w, r, s)
		}
	case p == ForwardPath || strings.HasPrefix(p, ForwardPath+"/"):
		if d.configured(w, r, s != nil && s.forward != nil, "forward") {
			d.serveForward(w, r, s)
		}
	case p == EvaluationPath || p == EvaluationsPath:
		if r.Method != http.MethodPost {
			reply.MethodNotAllowed(w, r, http.MethodPost)
			return
		}
		if d.configured(w, r, s != nil && s.authzen != nil, "authzen") {
			d.serveEvaluation(w, r, s, p == EvaluationsPath)
		}
	case p == DiscoveryPath:
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			reply.MethodNotAllowed(w, r, "GET, HEAD")
			return
		}
		if d.configured(w, r, s != nil && s.authzen != nil, "authzen") {
			serveDiscovery(w, r)
		}
	default:
		reply.NotFound(w, r)
	}
}

func (d *Door) configured(w http.ResponseWriter, r *http.Request, ok bool, adapter string) bool {
	if !ok {
		reply.Error(w, http.StatusNotFound, "not_found",
			fmt.Sprintf("no endpoint at %s: the %s adapter is not configured (authz.%s.policy)", r.URL.Path, adapter, adapter))
	}
	return ok
}

// decide runs doc on req and fills o; a decision that is indeterminate or
// carries malformed obligations is logged and denies.
func (d *Door) decide(doc *pdl.Document, req pdl.Attributes, o *Outcome, ad adapter) {
	adapter := adapterNames[ad]
	dec := doc.Decide(req)
	if err := o.Read(&dec); err != nil {
		d.logger.Warn("authz: bad obligation; denying", "adapter", adapter, "path", dec.Path, "error", err.Error())
	}
	if dec.Effect == pdl.Indeterminate {
		d.logger.Warn("authz: indeterminate decision; denying", "adapter", adapter, "path", dec.Path, "error", dec.Error)
	}
	d.metrics.count(ad, o.Allow)
}
