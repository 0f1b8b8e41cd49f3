// Package jwt is the builtin chain policy "jwt": in the rewrite phase it
// verifies the request's bearer token (RS256, ES256, EdDSA or HS256, with
// keys from a secret, a PEM key, or a JSON Web Key Set read from a file or
// fetched from a URL) and shares the token's claims in the context under
// "jwt", the key APIcast's OIDC and jwt_parser use, for jwt_claim_check,
// routing and Liquid templates. Signature and claim checks are left to
// the top-level jwt package's verifier; this package owns the HTTP side:
// where the token is read from and how a refusal is answered.
package jwt

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/verdict-policy/verdict/chain"
	authjwt "github.com/verdict-policy/verdict/jwt"
	"github.com/verdict-policy/verdict/policies/internal/builtin"
)

// Name is the policy's name in a chain entry.
const Name = "jwt"

// ContextKey is the context key the claims are shared under.
const ContextKey = "jwt"

//go:embed apicast-policy.json
var manifestJSON []byte

func init() {
	builtin.Register(Name, manifestJSON, func(cfg json.RawMessage, env chain.Env) (chain.Policy, error) {
		return NewIn(cfg, env.Logger, env.Path)
	})
}

// Config is the policy's configuration; exactly one key source is set.
type Config struct {
	Secret        string `json:"secret"`
	PublicKey     string `json:"public_key"`
	PublicKeyFile string `json:"public_key_file"`
	JWKSFile      string `json:"jwks_file"`
	JWKSURL       string `json:"jwks_url"`
	// JWKSRefresh is in seconds; 0 means 300.
	JWKSRefresh int    `json:"jwks_refresh"`
	Issuer      string `json:"issuer"`
	Audience    string `json:"audience"`
	// Leeway is in seconds.
	Leeway int `json:"leeway"`
	// Required, true when nil, refuses requests without a token.
	Required *bool `json:"required"`
}

// tokenCacheSize bounds the verifier's cache of tokens already verified.
const tokenCacheSize = 4096

// Policy verifies bearer tokens. It holds its verifier only and is safe for
// concurrent use.
type Policy struct {
	verifier *authjwt.Verifier
	required bool
	// missing is the WWW-Authenticate value for a request without a token.
	missing []string
}

var _ chain.Rewriter = (*Policy)(nil)

// New builds the policy. File key sources are read now, so a missing or
// bad file is a load error; a jwks_url is fetched when a token first needs
// it. File paths are relative to the process's working directory; a chain
// built by the gateway resolves them against the configuration file's
// directory (see NewIn).
func New(raw json.RawMessage, logger *slog.Logger) (*Policy, error) {
	return NewIn(raw, logger, nil)
}

// NewIn is New with relative key file paths resolved by path (nil keeps
// them relative to the working directory).
func NewIn(raw json.RawMessage, logger *slog.Logger, path func(string) string) (*Policy, error) {
	var cfg Config
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	if path != nil {
		cfg.PublicKeyFile, cfg.JWKSFile = path(cfg.PublicKeyFile), path(cfg.JWKSFile)
	}
	opts := []authjwt.Option{authjwt.WithCache(tokenCacheSize), authjwt.WithLeeway(time.Duration(cfg.Leeway) * time.Second)}
	if cfg.Issuer != "" {
		opts = append(opts, authjwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, authjwt.WithAudience(cfg.Audience))
	}
	var sources []string
	for _, s := range [...]struct{ name, value string }{{"secret", cfg.Secret}, {"public_key", cfg.PublicKey},
		{"public_key_file", cfg.PublicKeyFile}, {"jwks_file", cfg.JWKSFile}, {"jwks_url", cfg.JWKSURL}} {
		if s.value != "" {
			sources = append(sources, s.name)
		}
	}
	if len(sources) != 1 {
		got := "none"
		if len(sources) > 0 {
			got = strings.Join(sources, " and ")
		}
		return nil, fmt.Errorf("set exactly one key source of secret, public_key, public_key_file, jwks_file and jwks_url (got %s)", got)
	}
	if cfg.JWKSRefresh != 0 && cfg.JWKSURL == "" {
		return nil, errors.New("jwks_refresh: only meaningful with jwks_url")
	}
	var v *authjwt.Verifier
	var err error
	switch {
	case cfg.Secret != "":
		v, err = authjwt.NewHS256([]byte(cfg.Secret), opts...)
		err = wrap("secret", err)
	case cfg.PublicKey != "":
		v, err = authjwt.NewPublicKey([]byte(cfg.PublicKey), opts...)
		err = wrap("public_key", err)
	case cfg.PublicKeyFile != "":
		var data []byte
		if data, err = os.ReadFile(cfg.PublicKeyFile); err == nil {
			v, err = authjwt.NewPublicKey(data, opts...)
		}
		err = wrap("public_key_file", err)
	case cfg.JWKSFile != "":
		var ks *authjwt.KeySet
		if ks, err = authjwt.ReadJWKSFile(cfg.JWKSFile); err == nil {
			v, err = authjwt.NewKeySet(authjwt.StaticKeys{Set: ks}, opts...)
		}
		err = wrap("jwks_file", err)
	default:
		if logger == nil {
			logger = slog.Default()
		}
		refresh := 300 * time.Second
		if cfg.JWKSRefresh > 0 {
			refresh = time.Duration(cfg.JWKSRefresh) * time.Second
		}
		src := authjwt.NewRemoteKeys(cfg.JWKSURL, authjwt.RemoteOptions{Refresh: refresh, Logger: logger})
		v, err = authjwt.NewKeySet(src, opts...)
		err = wrap("jwks_url", err)
	}
	if err != nil {
		return nil, err
	}
	p := &Policy{verifier: v, required: cfg.Required == nil || *cfg.Required}
	p.missing = []string{`Bearer realm="api"`}
	return p, nil
}

func wrap(field string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", field, err)
}

// Rewrite verifies the token and shares its claims.
func (p *Policy) Rewrite(c *chain.Context) error {
	auth := c.Request.Header.Values("Authorization")
	if len(auth) == 0 {
		if p.required {
			c.Response.Header["Www-Authenticate"] = p.missing
			c.Exit(http.StatusUnauthorized, "Bearer token missing\n")
		}
		return nil
	}
	token, ok := bearer(auth)
	if !ok {
		p.refuse(c, "invalid_request", "the Authorization header is not a single Bearer token")
		return nil
	}
	claims, err := p.verifier.Verify(token)
	if err != nil {
		if errors.Is(err, authjwt.ErrKeys) {
			if c.Logger != nil {
				c.Logger.Warn("jwt: cannot verify tokens", "err", err)
			}
			c.Exit(http.StatusServiceUnavailable, "Token signing keys unavailable\n")
			return nil
		}
		p.refuse(c, "invalid_token", reason(err))
		return nil
	}
	c.Set(ContextKey, claims)
	return nil
}

// refuse answers 401 with an RFC 6750 challenge.
func (p *Policy) refuse(c *chain.Context, code, description string) {
	c.Response.Header.Set("WWW-Authenticate", `Bearer realm="api", error="`+code+`", error_description="`+description+`"`)
	c.Exit(http.StatusUnauthorized, "Invalid token: "+description+"\n")
}

// bearer returns the token of a single "Bearer <token>" header value.
func bearer(values []string) (string, bool) {
	if len(values) != 1 {
		return "", false
	}
	scheme, token, ok := strings.Cut(values[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	if token == "" || strings.ContainsAny(token, " \t") {
		return "", false
	}
	return token, true
}

// reason says why a token was refused in words fit for a header: the
// verifier's errors may quote parts of the token, which a client controls,
// so only the kind of failure is told.
func reason(err error) string {
	switch {
	case errors.Is(err, authjwt.ErrExpired):
		return "the token expired"
	case errors.Is(err, authjwt.ErrNotYet):
		return "the token is not valid yet"
	case errors.Is(err, authjwt.ErrAudience):
		return "the token is not for this audience"
	case errors.Is(err, authjwt.ErrIssuer):
		return "the token is from another issuer"
	case errors.Is(err, authjwt.ErrAlgorithm):
		return "the token's algorithm is not accepted"
	case errors.Is(err, authjwt.ErrNoKey):
		return "the token's key is unknown"
	case errors.Is(err, authjwt.ErrSignature):
		return "the token's signature does not verify"
	default:
		return "the token is malformed"
	}
}

// Claim finds a claim in the claims a jwt policy shared (a map[string]any): by its
// whole name first, then by the dotted path parts into nested objects.
func Claim(claims any, name string, path []string) (any, bool) {
	m, ok := claims.(map[string]any)
	if !ok {
		return nil, false
	}
	if v, ok := m[name]; ok {
		return v, v != nil
	}
	if len(path) < 2 {
		return nil, false
	}
	var cur any = m
	for _, part := range path {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = obj[part]; !ok {
			return nil, false
		}
	}
	return cur, cur != nil
}

// ClaimString renders a claim as a string: strings as they are, whole
// numbers without a fraction, other values as JSON.
func ClaimString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		if x == float64(int64(x)) {
			return strconv.FormatInt(int64(x), 10)
		}
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		if x {
			return "true"
		}
		return "false"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
