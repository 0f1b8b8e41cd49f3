// Package cors is the builtin chain policy "cors" (APIcast's CORS Request
// Handling). It answers CORS preflight requests itself in the rewrite
// phase and adds the Access-Control-Allow-* headers to responses in the
// header_filter phase. As in APIcast, an allow_origin regular expression
// is searched anywhere in the Origin, and a request from an origin it does
// not match gets every CORS header but Access-Control-Allow-Origin.
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
	// the preflight's Access-Control-Request-Headers, and an empty list
	// sends no header.
	AllowHeaders []string `json:"allow_headers"`
	// AllowMethods are announced as allowed methods; nil echoes the
	// preflight's Access-Control-Request-Method, and an empty list sends
	// no header.
	AllowMethods []string `json:"allow_methods"`
	// AllowOrigin is "*", one origin, or a regular expression searched in
	// the Origin; nil or empty allows every origin.
	AllowOrigin *string `json:"allow_origin"`
	// AllowCredentials, true when nil, lets browsers send credentials; it
	// is sent as true or false.
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
	exact                       // one origin, always sent as configured
	pattern                     // a regular expression searched in the Origin
)

// Policy handles CORS for a service. Header values are prepared at load as
// one-element slices with no spare capacity, shared by every request:
// appending to one copies it. A Policy is safe for concurrent use.
type Policy struct {
	rule   originRule
	origin []string // the configured origin (exact)
	re     *regexp.Regexp
	// headers and methods are the configured lists, nil when the list is
	// empty; echoHeaders and echoMethods are set when none is configured.
	headers, methods         []string
	echoHeaders, echoMethods bool
	creds                    []string // "true" or "false"
	withCreds                bool
	maxAge                   []string
	star                     []string
	vary                     []string
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
	p := &Policy{star: fixed("*"), vary: fixed(hOrigin), creds: fixed("true"), withCreds: true, maxAge: fixed(strconv.Itoa(DefaultMaxAge))}
	p.echoHeaders = cfg.AllowHeaders == nil
	if len(cfg.AllowHeaders) > 0 {
		p.headers = fixed(strings.Join(cfg.AllowHeaders, ", "))
	}
	p.echoMethods = cfg.AllowMethods == nil
	if len(cfg.AllowMethods) > 0 {
		p.methods = fixed(strings.Join(cfg.AllowMethods, ", "))
	}
	if cfg.AllowCredentials != nil && !*cfg.AllowCredentials {
		p.creds, p.withCreds = fixed("false"), false
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
			// APIcast reads it as a pattern that every origin matches.
		case o == "*":
			p.rule = anyStar
		case isOrigin(o):
			p.rule, p.origin = exact, fixed(o)
		default:
			re, err := regexp.Compile(o)
			if err != nil {
				return nil, fmt.Errorf("allow_origin: invalid regular expression %q: %w", o, err)
			}
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

// HeaderFilter adds the CORS headers when the request has an Origin.
// Access-Control-Allow-Origin is left out when the Origin does not match
// an allow_origin pattern; the other headers are sent all the same, as
// APIcast sends them.
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
		if p.withCreds {
			// Browsers refuse "*" on a request with credentials.
			p.allowOrigin(out, echo)
		} else {
			out[hAllowOrigin] = p.star
		}
	case exact:
		// Sent whatever the Origin: a browser compares it with its own.
		out[hAllowOrigin] = p.origin
	case pattern:
		if p.re.MatchString(origin[0]) {
			p.allowOrigin(out, echo)
		}
	}
	if p.headers != nil {
		out[hAllowHeaders] = p.headers
	} else if v := in[hRequestHeaders]; p.echoHeaders && len(v) > 0 {
		out[hAllowHeaders] = v[:len(v):len(v)]
	}
	if p.methods != nil {
		out[hAllowMethods] = p.methods
	} else if v := in[hRequestMethod]; p.echoMethods && len(v) > 0 {
		out[hAllowMethods] = v[:1:1]
	}
	out[hAllowCreds] = p.creds
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
