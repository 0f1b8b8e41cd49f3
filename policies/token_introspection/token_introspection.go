// Package tokenintrospection is the builtin chain policy
// "token_introspection" (APIcast's OAuth 2.0 Token Introspection): in the
// access phase it asks the identity provider's introspection endpoint
// (RFC 7662) about the request's bearer token and refuses the request
// unless the provider says the token is active. The endpoint and its
// credentials are configured, or found through the service's OpenID
// Connect issuer; answers may be kept in a bounded in-process cache that
// never outlives a token. Verifying a token's signature locally is the
// jwt and jwt_parser policies' business, not this one's.
package tokenintrospection

import (
	"context"
	"crypto/rsa"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/policies/internal/builtin"
	"github.com/verdict-policy/verdict/policies/internal/oidc"
	"github.com/verdict-policy/verdict/policies/internal/throttle"
)

// Name is the policy's name in a chain entry.
const Name = "token_introspection"

// The auth_type values.
const (
	AuthIssuer        = "use_3scale_oidc_issuer_endpoint"
	AuthBasic         = "client_id+client_secret"
	AuthSecretJWT     = "client_secret_jwt"
	AuthPrivateKeyJWT = "private_key_jwt"
)

// RefusalStatus and RefusalBody are APIcast's answer to a token that is
// not active: the service's auth_failed status and message, printed as a
// line.
const (
	RefusalStatus = http.StatusForbidden
	RefusalBody   = "Authentication failed\n"
)

// Timeout bounds one call to the introspection endpoint.
const Timeout = 5 * time.Second

// maxAnswer bounds the introspection answer read.
const maxAnswer = 1 << 20

//go:embed apicast-policy.json
var manifestJSON []byte

func init() {
	builtin.Register(Name, manifestJSON, func(cfg json.RawMessage, env chain.Env) (chain.Policy, error) {
		return New(cfg, env)
	})
}

// Config is the policy's configuration.
type Config struct {
	AuthType                   string `json:"auth_type"`
	IntrospectionURL           string `json:"introspection_url"`
	ClientID                   string `json:"client_id"`
	ClientSecret               string `json:"client_secret"`
	ClientJWTAssertionAudience string `json:"client_jwt_assertion_audience"`
	// ClientJWTAssertionExpiresIn is in seconds; 0 means 60.
	ClientJWTAssertionExpiresIn int    `json:"client_jwt_assertion_expires_in"`
	CertificateType             string `json:"certificate_type"`
	Certificate                 string `json:"certificate"`
	// MaxTTLTokens is in seconds; 0 means until the token's exp.
	MaxTTLTokens    int `json:"max_ttl_tokens"`
	MaxCachedTokens int `json:"max_cached_tokens"`
}

// Policy introspects tokens. It holds its configuration, its HTTP client
// and its cache, and is safe for concurrent use.
type Policy struct {
	authType string
	// endpoint and the credentials are fixed, unless discovery finds them.
	endpoint               string
	clientID, clientSecret string
	discovery              *oidc.Discovery
	// noIssuer is set for use_3scale_oidc_issuer_endpoint in a service
	// without an issuer: every request is refused, as in APIcast.
	noIssuer  bool
	assertion *assertion

	client *http.Client
	cache  *tokenCache // nil: answers are not kept
	maxTTL time.Duration
	now    func() time.Time
	logger *slog.Logger
	failed throttle.Log
}

var _ chain.Accessor = (*Policy)(nil)

// New builds the policy. A private_key_jwt key is read and parsed now, so
// a missing or bad key is a load error naming the field; relative paths
// resolve against the configuration file's directory (env.Path).
func New(raw json.RawMessage, env chain.Env) (*Policy, error) {
	var cfg Config
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	logger := env.Logger
	if logger == nil {
		logger = slog.Default()
	}
	p := &Policy{authType: cfg.AuthType, client: &http.Client{Timeout: Timeout}, now: time.Now, logger: logger}
	if p.authType == "" {
		p.authType = AuthBasic
	}
	if cfg.MaxCachedTokens > 0 {
		p.cache = newTokenCache(cfg.MaxCachedTokens)
		p.maxTTL = time.Duration(cfg.MaxTTLTokens) * time.Second
	}
	if p.authType == AuthIssuer {
		if err := p.useIssuer(env); err != nil {
			return nil, err
		}
		return p, nil
	}
	if err := checkEndpoint(cfg.IntrospectionURL); err != nil {
		return nil, fmt.Errorf("introspection_url: %w", err)
	}
	p.endpoint, p.clientID, p.clientSecret = cfg.IntrospectionURL, cfg.ClientID, cfg.ClientSecret
	lifetime := time.Duration(cfg.ClientJWTAssertionExpiresIn) * time.Second
	if lifetime <= 0 {
		lifetime = 60 * time.Second
	}
	switch p.authType {
	case AuthBasic:
	case AuthSecretJWT:
		if cfg.ClientSecret == "" {
			return nil, errors.New("client_secret: empty; client_secret_jwt signs the assertion with it")
		}
		p.assertion = newSecretAssertion(cfg.ClientID, cfg.ClientJWTAssertionAudience, lifetime, cfg.ClientSecret)
	case AuthPrivateKeyJWT:
		key, err := readKey(cfg.CertificateType, cfg.Certificate, env)
		if err != nil {
			return nil, fmt.Errorf("certificate: %w", err)
		}
		p.assertion = newKeyAssertion(cfg.ClientID, cfg.ClientJWTAssertionAudience, lifetime, key)
	default:
		return nil, fmt.Errorf("auth_type: %q is not one of %s, %s, %s and %s", cfg.AuthType, AuthIssuer, AuthBasic, AuthSecretJWT, AuthPrivateKeyJWT)
	}
	return p, nil
}

// useIssuer sets up use_3scale_oidc_issuer_endpoint: the endpoint comes
// from the issuer's metadata, the credentials from the issuer URL.
func (p *Policy) useIssuer(env chain.Env) error {
	var endpoint string
	if env.Service != nil {
		endpoint = env.Service.OIDCIssuerEndpoint
	}
	if endpoint == "" {
		// APIcast refuses every request of a service without OpenID
		// Connect; so does this policy, saying why once.
		p.noIssuer = true
		p.logger.Warn("token_introspection: auth_type use_3scale_oidc_issuer_endpoint needs the service's OpenID Connect issuer, and the service has none; every request is refused",
			"service", env.ServiceID)
		return nil
	}
	is, err := oidc.ParseIssuer(endpoint)
	if err != nil {
		return fmt.Errorf("the service's OpenID Connect issuer: %w", err)
	}
	p.clientID, p.clientSecret = is.ClientID, is.ClientSecret
	p.discovery = oidc.NewDiscovery(is, oidc.Options{Logger: p.logger})
	return nil
}

func checkEndpoint(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http:// or https:// URL with a host", s)
	}
	return nil
}

// readKey reads the private_key_jwt key: from a file (certificate_type
// path, the default) or from a data: URL (embedded).
func readKey(kind, value string, env chain.Env) (*rsa.PrivateKey, error) {
	var data []byte
	var err error
	switch kind {
	case "", "path":
		data, err = os.ReadFile(env.Path(value))
		var pe *fs.PathError
		if errors.As(err, &pe) {
			// The configured path, not the resolved one, names the file.
			err = fmt.Errorf("reading %q: %w", value, pe.Err)
		}
	case "embedded":
		data, err = parseDataURL(value)
	default:
		return nil, fmt.Errorf("certificate_type %q is neither path nor embedded", kind)
	}
	if err != nil {
		return nil, err
	}
	return parseRSAKey(data)
}

// Access lets the request on when its token is active and refuses it
// otherwise.
func (p *Policy) Access(c *chain.Context) error {
	token := bearer(c.Request.Header.Get("Authorization"))
	if token == "" {
		p.debug(c, "token_introspection: no bearer token; refusing")
		p.refuse(c)
		return nil
	}
	a, err := p.introspect(c.Request.Context(), token)
	if err != nil {
		p.warn(c, err)
		p.refuse(c)
		return nil
	}
	if !a.active {
		p.debug(c, "token_introspection: token not active; refusing")
		p.refuse(c)
	}
	return nil
}

func (p *Policy) refuse(c *chain.Context) {
	c.Response.Header.Set("Content-Type", "text/plain; charset=utf-8")
	c.Exit(RefusalStatus, RefusalBody)
}

func (p *Policy) debug(c *chain.Context, msg string) {
	if c.Logger != nil && c.Logger.Enabled(context.Background(), slog.LevelDebug) {
		c.Logger.Debug(msg)
	}
}

// warn logs a failed introspection, at most once a second with the
// number of failures since.
func (p *Policy) warn(c *chain.Context, err error) {
	held, ok := p.failed.Allow(p.now())
	if !ok {
		return
	}
	logger := c.Logger
	if logger == nil {
		logger = p.logger
	}
	logger.Warn("token_introspection: the token could not be introspected; refusing", "error", err.Error(), "failures_not_logged", held)
}

// introspect returns the provider's answer about token, from the cache
// when it holds one.
func (p *Policy) introspect(ctx context.Context, token string) (answer, error) {
	now := p.now()
	if p.cache != nil {
		if a, ok := p.cache.get(token, now); ok {
			return a, nil
		}
	}
	endpoint, id, secret, err := p.target()
	if err != nil {
		return answer{}, err
	}
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	if p.assertion != nil {
		signed, err := p.assertion.sign(now)
		if err != nil {
			return answer{}, err
		}
		form.Set("client_id", p.assertion.clientID)
		form.Set("client_assertion_type", assertionType)
		form.Set("client_assertion", signed)
	}
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if p.assertion == nil {
		req.SetBasicAuth(id, secret)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return answer{}, fmt.Errorf("POST %s: %w", endpoint, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return answer{}, fmt.Errorf("POST %s: reading the answer: %w", endpoint, err)
	}
	if resp.StatusCode != http.StatusOK {
		return answer{}, fmt.Errorf("POST %s: status %d", endpoint, resp.StatusCode)
	}
	if len(body) > maxAnswer {
		return answer{}, fmt.Errorf("POST %s: answer larger than %d bytes", endpoint, maxAnswer)
	}
	a, err := parseAnswer(body)
	if err != nil {
		return answer{}, fmt.Errorf("POST %s: %w", endpoint, err)
	}
	if p.cache != nil {
		if until, ok := p.keepUntil(a, now); ok {
			p.cache.put(token, a, until)
		}
	}
	return a, nil
}

// target returns the endpoint and the Basic credentials to introspect
// with.
func (p *Policy) target() (endpoint, id, secret string, err error) {
	if p.noIssuer {
		return "", "", "", errors.New("the service has no OpenID Connect issuer")
	}
	if p.discovery == nil {
		return p.endpoint, p.clientID, p.clientSecret, nil
	}
	md, err := p.discovery.Get()
	if err != nil {
		return "", "", "", err
	}
	if endpoint = md.Introspection(); endpoint == "" {
		return "", "", "", fmt.Errorf("the provider's metadata (%s) names no introspection endpoint", p.discovery.URL())
	}
	return endpoint, p.clientID, p.clientSecret, nil
}

// keepUntil says how long an answer may be kept: until the token's exp,
// and no longer than max_ttl_tokens; an answer without exp is kept for
// max_ttl_tokens, or not at all without it.
func (p *Policy) keepUntil(a answer, now time.Time) (time.Time, bool) {
	var until time.Time
	if !a.exp.IsZero() {
		until = a.exp
	}
	if p.maxTTL > 0 {
		if limit := now.Add(p.maxTTL); until.IsZero() || limit.Before(until) {
			until = limit
		}
	}
	return until, !until.IsZero() && until.After(now)
}

// parseAnswer reads an introspection answer: a JSON object whose active
// member is true for an active token (anything else is inactive, as RFC
// 7662 and APIcast read it), with an optional numeric exp.
func parseAnswer(body []byte) (answer, error) {
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil || doc == nil {
		return answer{}, errors.New("the answer is not a JSON object")
	}
	var a answer
	a.active, _ = doc["active"].(bool)
	if exp, ok := doc["exp"].(float64); ok && exp > 0 && exp < 1<<40 {
		a.exp = time.Unix(int64(exp), 0)
	}
	return a, nil
}

// bearer returns the token of an "Authorization: Bearer <token>" value,
// or "" for any other value.
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
