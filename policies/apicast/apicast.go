// Package apicast is the apicast chain policy: APIcast's default policy
// without the 3scale backend. It matches the service's mapping rules and
// proxies to the service's api_backend. It needs the service it belongs
// to (chain.Env.Service), so it fits service chains only.
package apicast

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/policies/internal/builtin"
)

//go:embed apicast-policy.json
var manifestJSON []byte

// Name is the policy's name in a chain.
const Name = "apicast"

func init() {
	builtin.Register(Name, manifestJSON, New)
}

// Policy is a built apicast policy for one service.
type Policy struct {
	upstream *chain.Upstream
	// checked says whether the service has proxy_rules at all: with an
	// empty list no request matches.
	checked bool
	rules   []rule
	noMatch chain.ErrorReply
	secret  string
}

// noMatchMark is the per-request note that no mapping rule matched.
type noMatchMark struct{}

// New builds the policy for the service in env.
func New(_ json.RawMessage, env chain.Env) (chain.Policy, error) {
	svc := env.Service
	if svc == nil {
		return nil, errors.New("apicast acts for a service: put it in a service's policy_chain, not in the global one")
	}
	p := &Policy{noMatch: svc.NoMatch, secret: svc.SecretToken, checked: svc.Rules != nil}
	if svc.APIBackend != "" {
		u, err := url.Parse(svc.APIBackend)
		if err != nil {
			return nil, fmt.Errorf("api_backend: %w", err)
		}
		p.upstream = &chain.Upstream{URL: u, Host: svc.HostnameRewrite}
	}
	for _, r := range svc.Rules {
		cr, err := compileRule(r)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.Field, err)
		}
		p.rules = append(p.rules, cr)
	}
	return p, nil
}

// Rewrite matches the mapping rules against the request as the rewrite
// policies before this one left it.
func (p *Policy) Rewrite(c *chain.Context) error {
	if !p.checked {
		return nil
	}
	if len(p.rules) == 0 {
		c.SetPrivate(p, noMatchMark{})
		return nil
	}
	path := c.Request.URL.EscapedPath()
	var query url.Values
	queryOf := func() url.Values {
		if query == nil {
			query = c.Request.URL.Query()
		}
		return query
	}
	matched := false
	for i := range p.rules {
		r := &p.rules[i]
		if r.match(c.Request.Method, path, queryOf) {
			matched = true
			if r.last {
				break
			}
		}
	}
	if !matched {
		c.SetPrivate(p, noMatchMark{})
	}
	return nil
}

// Access ends a request that matched no mapping rule.
func (p *Policy) Access(c *chain.Context) error {
	if _, no := c.Private(p).(noMatchMark); no {
		if p.noMatch.ContentType != "" {
			c.Response.Header.Set("Content-Type", p.noMatch.ContentType)
		}
		c.Exit(p.noMatch.Status, p.noMatch.Body)
	}
	return nil
}

// Content proxies to the service's api_backend.
func (p *Policy) Content(c *chain.Context) (bool, error) {
	if p.upstream == nil {
		// APIcast's answer: 404 with an empty body and nginx's default type.
		c.Logger.Debug("the service has no api_backend", "service", c.ServiceID)
		c.Response.Header.Set("Content-Type", "text/plain")
		c.Respond(http.StatusNotFound, nil, nil)
		return true, nil
	}
	if p.secret != "" {
		c.Request.Header.Set("X-3scale-Proxy-Secret-Token", p.secret)
	}
	c.ProxyTo(p.upstream)
	return true, nil
}

// rule is a compiled mapping rule.
type rule struct {
	method string // "" for ANY
	// literal is the whole pattern when it has no placeholder; re is used
	// otherwise.
	literal string
	exact   bool
	re      *regexp.Regexp
	query   []queryParam
	last    bool
}

type queryParam struct {
	name, value string
	any         bool // a {placeholder}: only presence counts
}

// segment is what a {placeholder} matches: one path segment.
const segment = `[\w\-.~%!$&'()*+,;=@:]+`

func compileRule(r chain.MappingRule) (rule, error) {
	out := rule{last: r.Last}
	if r.HTTPMethod != "ANY" {
		out.method = r.HTTPMethod
	}
	pattern := r.Pattern
	params := map[string]string{}
	if before, q, ok := strings.Cut(pattern, "?"); ok {
		pattern = before
		vals, err := url.ParseQuery(q)
		if err != nil {
			return rule{}, fmt.Errorf("pattern %q: query: %w", r.Pattern, err)
		}
		for k, v := range vals {
			params[k] = v[len(v)-1]
		}
	}
	for k, v := range r.QueryParameters {
		params[k] = v
	}
	for k, v := range params {
		out.query = append(out.query, queryParam{name: k, value: v, any: isPlaceholder(v)})
	}
	for strings.Contains(pattern, "//") {
		pattern = strings.ReplaceAll(pattern, "//", "/")
	}
	if p, ok := strings.CutSuffix(pattern, "$"); ok {
		pattern, out.exact = p, true
	}
	if !strings.Contains(pattern, "{") {
		out.literal = pattern
		return out, nil
	}
	var b strings.Builder
	b.WriteString("^")
	rest := pattern
	for rest != "" {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			b.WriteString(regexp.QuoteMeta(rest))
			break
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return rule{}, fmt.Errorf("pattern %q: a { is not closed", r.Pattern)
		}
		b.WriteString(regexp.QuoteMeta(rest[:i]))
		b.WriteString(segment)
		rest = rest[i+j+1:]
	}
	if out.exact {
		b.WriteString("$")
	}
	re, err := regexp.Compile(b.String())
	if err != nil {
		return rule{}, fmt.Errorf("pattern %q: %w", r.Pattern, err)
	}
	out.re = re
	return out, nil
}

func isPlaceholder(v string) bool {
	return len(v) > 2 && v[0] == '{' && v[len(v)-1] == '}'
}

func (r *rule) match(method, path string, query func() url.Values) bool {
	if r.method != "" && r.method != method {
		return false
	}
	switch {
	case r.re != nil:
		if !r.re.MatchString(path) {
			return false
		}
	case r.exact:
		if path != r.literal {
			return false
		}
	default:
		if !strings.HasPrefix(path, r.literal) {
			return false
		}
	}
	if len(r.query) == 0 {
		return true
	}
	q := query()
	for _, p := range r.query {
		vals, ok := q[p.name]
		if !ok || len(vals) == 0 {
			return false
		}
		if !p.any && vals[len(vals)-1] != p.value {
			return false
		}
	}
	return true
}

var (
	_ chain.Rewriter        = (*Policy)(nil)
	_ chain.Accessor        = (*Policy)(nil)
	_ chain.ContentProducer = (*Policy)(nil)
)
