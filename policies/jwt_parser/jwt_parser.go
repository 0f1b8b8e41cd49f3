// Package jwtparser is the builtin chain policy "jwt_parser" (APIcast's
// JWT Parser): in the rewrite phase it verifies the request's bearer JWT
// with the keys of an OpenID provider, found through OpenID Connect
// Discovery from the configured issuer, and shares the token's claims in
// the context under "jwt", where jwt_claim_check and keycloak_role_check
// read them. Signatures and exp are checked by the authz/jwt verifier;
// this package adds what an OpenID provider's access token must also
// carry, finds the keys, and answers refusals.
package jwtparser

import (
	"context"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/verdict-policy/verdict/chain"
	authjwt "github.com/verdict-policy/verdict/jwt"
	"github.com/verdict-policy/verdict/policies/internal/builtin"
	"github.com/verdict-policy/verdict/policies/internal/oidc"
	"github.com/verdict-policy/verdict/policies/internal/throttle"
)

// Name is the policy's name in a chain entry.
const Name = "jwt_parser"

// ContextKey is the context key the claims are shared under (APIcast's
// context.jwt, the jwt policy's key too).
const ContextKey = "jwt"

// The answers to a request the policy refuses.
const (
	MissingBody     = "Authentication parameters missing\n"
	RefusalBody     = "Authentication failed\n"
	UnavailableBody = "Token signing keys unavailable\n"
)

// tokenCacheSize bounds the verifier's cache of tokens already verified.
const tokenCacheSize = 4096

// refresh is how long the provider's metadata and keys are used before
// they are fetched again.
const refresh = 5 * time.Minute

//go:embed apicast-policy.json
var manifestJSON []byte

func init() {
	builtin.Register(Name, manifestJSON, func(cfg json.RawMessage, env chain.Env) (chain.Policy, error) {
		return New(cfg, env.Logger)
	})
}

// Config is the policy's configuration.
type Config struct {
	IssuerEndpoint string `json:"issuer_endpoint"`
	Required       bool   `json:"required"`
}

// Policy verifies bearer tokens. It holds its verifier and the provider's
// cached metadata and keys, and is safe for concurrent use.
type Policy struct {
	required  bool
	discovery *oidc.Discovery // nil without an issuer_endpoint
	verifier  *authjwt.Verifier
	algs      algCache
	logger    *slog.Logger
	now       func() time.Time
	failed    throttle.Log
}

var _ chain.Rewriter = (*Policy)(nil)

// Options tune how the provider's metadata and keys are kept; zero fields
// take the defaults. The configuration has no such settings, as APIcast's
// has none; they are for programs that build the policy themselves, and
// for tests.
type Options struct {
	// Refresh is how long fetched metadata and keys are used before they
	// are fetched again (default 5 minutes).
	Refresh time.Duration
	// MinInterval is the least time between two fetches of the metadata,
	// or of the keys (default 10 s): a token naming an unknown key fetches
	// the keys at once, at most this often.
	MinInterval time.Duration
}

// New builds the policy. Nothing is fetched until a token needs the
// provider's keys, so a provider that is down does not fail the load.
func New(raw json.RawMessage, logger *slog.Logger) (*Policy, error) {
	return NewWith(raw, logger, Options{})
}

// NewWith is New with Options.
func NewWith(raw json.RawMessage, logger *slog.Logger, o Options) (*Policy, error) {
	var cfg Config
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	if logger == nil {
		logger = slog.Default()
	}
	p := &Policy{required: cfg.Required, logger: logger, now: time.Now}
	if cfg.IssuerEndpoint == "" {
		logger.Warn("jwt_parser: no issuer_endpoint; every request that carries a token is refused")
		return p, nil
	}
	is, err := oidc.ParseIssuer(cfg.IssuerEndpoint)
	if err != nil {
		return nil, fmt.Errorf("issuer_endpoint: %w", err)
	}
	if o.Refresh <= 0 {
		o.Refresh = refresh
	}
	p.discovery = oidc.NewDiscovery(is, oidc.Options{Refresh: o.Refresh, MinInterval: o.MinInterval, Logger: logger})
	src := &providerKeys{discovery: p.discovery, logger: logger, opts: authjwt.RemoteOptions{Refresh: o.Refresh, MinInterval: o.MinInterval, Logger: logger}}
	if p.verifier, err = authjwt.NewKeySet(src, authjwt.WithCache(tokenCacheSize)); err != nil {
		return nil, fmt.Errorf("issuer_endpoint: %w", err)
	}
	return p, nil
}

// Rewrite verifies the token and shares its claims.
func (p *Policy) Rewrite(c *chain.Context) error {
	token := bearer(c.Request.Header.Get("Authorization"))
	if token == "" {
		if p.required {
			c.Response.Header["Www-Authenticate"] = []string{"Bearer"}
			c.Exit(http.StatusUnauthorized, MissingBody)
		}
		return nil
	}
	if p.discovery == nil {
		p.refuse(c, "no issuer_endpoint is configured")
		return nil
	}
	md, err := p.discovery.Get()
	if err != nil {
		p.unavailable(c, err)
		return nil
	}
	claims, err := p.verifier.Verify(token)
	if err != nil {
		if errors.Is(err, authjwt.ErrKeys) {
			p.unavailable(c, err)
			return nil
		}
		p.refuse(c, err.Error())
		return nil
	}
	if why := p.check(md, token, claims); why != "" {
		p.refuse(c, why)
		return nil
	}
	c.Set(ContextKey, claims)
	return nil
}

// check returns why verified claims are not those of an access token of
// the provider, or "" when they are. The checks are APIcast's (after RFC
// 7523, section 3).
func (p *Policy) check(md *oidc.Metadata, token string, claims map[string]any) string {
	if md.Issuer == "" {
		return "the provider's metadata names no issuer"
	}
	if iss, _ := claims["iss"].(string); iss != md.Issuer {
		return "the token is from another issuer"
	}
	if sub, _ := claims["sub"].(string); sub == "" {
		return "the token has no sub"
	}
	switch aud := claims["aud"].(type) {
	case string:
		if aud == "" {
			return "the token has no aud"
		}
	case []any:
		if len(aud) == 0 {
			return "the token has no aud"
		}
	default:
		return "the token has no aud"
	}
	if exp, ok := claims["exp"].(float64); !ok || exp <= 0 {
		// The verifier refused an expired token; one without exp never
		// expires, which an access token may not.
		return "the token has no exp"
	}
	if iat, ok := claims["iat"]; ok {
		if f, isNum := iat.(float64); !isNum || f <= 0 {
			return "the token's iat is not a positive number"
		}
	}
	if typ, ok := claims["typ"]; ok && typ != "Bearer" {
		return "the token is not a Bearer token"
	}
	if !p.algs.allowed(token, md.IDTokenSigningAlgs) {
		return "the token's algorithm is not one the provider signs with"
	}
	return ""
}

func (p *Policy) refuse(c *chain.Context, why string) {
	if c.Logger != nil && c.Logger.Enabled(context.Background(), slog.LevelDebug) {
		c.Logger.Debug("jwt_parser: token refused", "reason", why)
	}
	c.Exit(http.StatusForbidden, RefusalBody)
}

func (p *Policy) unavailable(c *chain.Context, err error) {
	if held, ok := p.failed.Allow(p.now()); ok {
		logger := c.Logger
		if logger == nil {
			logger = p.logger
		}
		logger.Warn("jwt_parser: the provider's metadata or keys cannot be fetched; refusing with 503", "error", err.Error(), "failures_not_logged", held)
	}
	c.Exit(http.StatusServiceUnavailable, UnavailableBody)
}

// bearer returns the token of an "Authorization: Bearer <token>" value,
// or "" for any other value, as APIcast reads the header.
func bearer(h string) string {
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	token = strings.TrimSpace(token)
	if strings.ContainsAny(token, " \t") {
		return ""
	}
	return token
}

// providerKeys is the provider's key set: its jwks_uri is read from the
// metadata, and the set at that address is fetched and refreshed by the
// verifier's remote key source, replaced when the metadata names another
// address.
type providerKeys struct {
	discovery *oidc.Discovery
	logger    *slog.Logger
	opts      authjwt.RemoteOptions
	cur       atomic.Pointer[remoteSet]
	mu        sync.Mutex
}

type remoteSet struct {
	uri  string
	keys *authjwt.RemoteKeys
}

// KeySet implements authjwt.KeySource.
func (k *providerKeys) KeySet(missing bool) (*authjwt.KeySet, error) {
	md, err := k.discovery.Get()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", authjwt.ErrKeys, err)
	}
	if md.JWKSURI == "" {
		return nil, fmt.Errorf("%w: the provider's metadata (%s) names no jwks_uri", authjwt.ErrKeys, k.discovery.URL())
	}
	rs := k.cur.Load()
	if rs == nil || rs.uri != md.JWKSURI {
		k.mu.Lock()
		if rs = k.cur.Load(); rs == nil || rs.uri != md.JWKSURI {
			rs = &remoteSet{uri: md.JWKSURI, keys: authjwt.NewRemoteKeys(md.JWKSURI, k.opts)}
			k.cur.Store(rs)
		}
		k.mu.Unlock()
	}
	return rs.keys.KeySet(missing)
}

// algCache remembers, per encoded JOSE header, the algorithm it names:
// a provider's tokens share a handful of headers, so a token's algorithm
// is known without decoding its header again.
type algCache struct {
	mu sync.RWMutex
	m  map[string]string
}

// maxHeaders bounds the algCache; it starts afresh when full.
const maxHeaders = 64

// allowed reports whether the token's algorithm is one of algs. An empty
// list allows none: OpenID Connect Discovery requires the list.
func (a *algCache) allowed(token string, algs []string) bool {
	h64, _, _ := strings.Cut(token, ".")
	a.mu.RLock()
	alg, ok := a.m[h64]
	a.mu.RUnlock()
	if !ok {
		data, err := base64.RawURLEncoding.DecodeString(h64)
		if err != nil {
			return false
		}
		var h struct {
			Alg string `json:"alg"`
		}
		if json.Unmarshal(data, &h) != nil {
			return false
		}
		alg = h.Alg
		a.mu.Lock()
		if a.m == nil || len(a.m) >= maxHeaders {
			a.m = make(map[string]string, maxHeaders)
		}
		a.m[strings.Clone(h64)] = alg
		a.mu.Unlock()
	}
	for _, x := range algs {
		if x == alg {
			return true
		}
	}
	return false
}
