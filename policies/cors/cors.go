// Package cors is the builtin chain policy "cors" (APIcast's CORS Request
// Handling). It answers CORS preflight requests itself in the rewrite
// phase and adds the Access-Control-Allow-* headers to responses in the
// header_filter phase. Unlike APIcast, an allow_origin regular expression
// must match the whole Origin, and an origin that is not allowed gets no
// CORS headers at all.
package cors

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/policies/internal/builtin"
)

// Name is the policy's name in a chain entry.
const Name = "cors"

//go:embed apicast-policy.json
var manifestJSON []byte

func init() {
	builtin.Simple(Name, manifestJSON, New)
}

// Config is the policy's configuration.
type Config struct {
	// AllowHeaders are announced as allowed request headers; nil echoes
	// the preflight's Access-Control-Request-Headers.
	AllowHeaders []string `json:"allow_headers"`
	// AllowMethods are announced as allowed methods; nil echoes the
	// preflight's Access-Control-Request-Method.
	AllowMethods []string `json:"allow_methods"`
	// AllowOrigin is "*", one origin, or an anchored regular expression;
	// nil allows every origin.
	AllowOrigin *string `json:"allow_origin"`
	// AllowCredentials, true when nil, lets browsers send credentials.
	AllowCredentials *bool `json:"allow_credentials"`
	// MaxAge is how long a preflight's answer may be cached, in seconds;
	// DefaultMaxAge when nil.
	MaxAge *int `json:"max_age"`
}

// DefaultMaxAge is max_age when the configuration has none.
const DefaultMaxAge = 600

// The header names, canonical, for direct map access.
const (
	hOrigin         = "Origin"
	hRequestMethod  = "Access-Control-Request-Method"
	hRequestHeaders = "Access-Control-Request-Headers"
	hAllowOrigin    = "Access-Control-Allow-Origin"
	hAllowHeaders   = "Access-Control-Allow-Headers"
	hAllowMethods   = "Access-Control-Allow-Methods"
	hAllowCreds     = "Access-Control-Allow-Credentials"
	hMaxAge         = "Access-Control-Max-Age"
	hVary           = "Vary"
)

// originRule says which origins are allowed.
type originRule uint8

const (
	anyEchoed originRule = iota // no allow_origin: allow and echo any origin
	anyStar                     // "*"
	exact                       // one origin, compared without regard to case
	pattern                     // an anchored regular expression
)

// Policy handles CORS for a service. Header values are prepared at load as
// one-element slices with no spare capacity, shared by every request:
// appending to one copies it. A Policy is safe for concurrent use.
type Policy struct {
	rule    originRule
	origin  string
	re      *regexp.Regexp
	headers []string // nil: echo the request's
	methods []string // nil: echo the request's
	creds   []string // nil: not sent
	maxAge  []string
	star    []string
	vary    []string
}

var (
	_ chain.Rewriter     = (*Policy)(nil)
	_ chain.HeaderFilter = (*Policy)(nil)
)

func fixed(s string) []string { return []string{s}[:1:1] }

// New builds the policy from its JSON configuration.
func New(raw json.RawMessage) (*Policy, error) {
	var cfg Config
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	p := &Policy{star: fixed("*"), vary: fixed(hOrigin), creds: fixed("true"), maxAge: fixed(strconv.Itoa(DefaultMaxAge))}
	if cfg.AllowHeaders != nil {
		p.headers = fixed(strings.Join(cfg.AllowHeaders, ", "))
	}
	if cfg.AllowMethods != nil {
		p.methods = fixed(strings.Join(cfg.AllowMethods, ", "))
	}
	if cfg.AllowCredentials != nil && !*cfg.AllowCredentials {
		p.creds = nil
	}
	if cfg.MaxAge != nil {
		if *cfg.MaxAge < 0 {
			return nil, fmt.Errorf("max_age: %d is negative", *cfg.MaxAge)
		}
		p.maxAge = fixed(strconv.Itoa(*cfg.MaxAge))
	}
	if cfg.AllowOrigin != nil {
		switch o := *cfg.AllowOrigin; {
		case o == "":
			return nil, fmt.Errorf("allow_origin: empty; leave it out to allow any origin")
		case o == "*":
			p.rule = anyStar
		case isOrigin(o):
			p.rule, p.origin = exact, o
		default:
			if _, err := regexp.Compile(o); err != nil {
				return nil, fmt.Errorf("allow_origin: invalid regular expression %q: %w", o, err)
			}
			re := regexp.MustCompile(`^(?:` + o + `)$`)
			p.rule, p.re = pattern, re
		}
	}
	return p, nil
}

// isOrigin reports whether s reads as one literal origin
// (scheme://host[:port]) rather than a regular expression.
func isOrigin(s string) bool {
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; {
		case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9':
		case ch == ':' || ch == '/' || ch == '.' || ch == '-' || ch == '[' || ch == ']':
		default:
			return false
		}
	}
	u, err := url.Parse(s)
	return err == nil && u.Scheme != "" && u.Host != "" && (u.Path == "" || u.Path == "/")
}

// Rewrite answers a preflight request with 204; the headers are added by
// HeaderFilter, which runs for local answers too.
func (p *Policy) Rewrite(c *chain.Context) error {
	h := c.Original.Header
	if c.Original.Method == http.MethodOptions && len(h[hOrigin]) > 0 && len(h[hRequestMethod]) > 0 {
		c.Exit(http.StatusNoContent, "")
	}
	return nil
}

// HeaderFilter adds the CORS headers when the request has an allowed
// Origin.
func (p *Policy) HeaderFilter(c *chain.Context) error {
	in := c.Original.Header
	origin := in[hOrigin]
	if len(origin) == 0 || origin[0] == "" {
		return nil
	}
	out := c.Response.Header
	// The request's own values are shared without copying, capped so
	// that an append elsewhere copies them.
	echo := origin[:1:1]
	switch p.rule {
	case anyEchoed:
		p.allowOrigin(out, echo)
	case anyStar:
		if p.creds != nil {
			// Browsers refuse "*" on a request with credentials.
			p.allowOrigin(out, echo)
		} else {
			out[hAllowOrigin] = p.star
		}
	case exact:
		if !strings.EqualFold(origin[0], p.origin) {
			return nil
		}
		p.allowOrigin(out, echo)
	case pattern:
		if !p.re.MatchString(origin[0]) {
			return nil
		}
		p.allowOrigin(out, echo)
	}
	if p.headers != nil {
		out[hAllowHeaders] = p.headers
	} else if v := in[hRequestHeaders]; len(v) > 0 {
		out[hAllowHeaders] = v[:len(v):len(v)]
	}
	if p.methods != nil {
		out[hAllowMethods] = p.methods
	} else if v := in[hRequestMethod]; len(v) > 0 {
		out[hAllowMethods] = v[:1:1]
	}
	if p.creds != nil {
		out[hAllowCreds] = p.creds
	}
	out[hMaxAge] = p.maxAge
	return nil
}

// allowOrigin echoes the request's origin, and says so in Vary so that
// caches keep one answer per origin.
func (p *Policy) allowOrigin(out http.Header, echo []string) {
	out[hAllowOrigin] = echo
	if v := out[hVary]; len(v) == 0 {
		out[hVary] = p.vary
	} else if !hasToken(v, hOrigin) {
		out[hVary] = append(v, hOrigin)
	}
}

func hasToken(values []string, token string) bool {
	for _, v := range values {
		for f := range strings.SplitSeq(v, ",") {
			if t := strings.TrimSpace(f); t == "*" || strings.EqualFold(t, token) {
				return true
			}
		}
	}
	return false
}
