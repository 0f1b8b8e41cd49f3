// Package routing is the builtin chain policy "routing" (APIcast's
// Routing): in the access phase it chooses an upstream by conditions over
// the request's path, headers, query arguments, JWT claims and Liquid
// values, and in the content phase it proxies there. When no rule holds it
// leaves the content phase to the next producer, usually apicast. Rules,
// regular expressions and templates are compiled when the chain is built.
package routing

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/policies/internal/builtin"
	"github.com/verdict-policy/verdict/policies/internal/condition"
	"github.com/verdict-policy/verdict/policies/internal/liquidctx"
	"github.com/verdict-policy/verdict/policies/jwt"
)

// Name is the policy's name in a chain entry.
const Name = "routing"

// UpstreamKey is the context key under which the chosen upstream (a
// *chain.Upstream) is shared, as APIcast's route_upstream.
const UpstreamKey = "route_upstream"

//go:embed apicast-policy.json
var manifestJSON []byte

func init() {
	builtin.Register(Name, manifestJSON, func(cfg json.RawMessage, env chain.Env) (chain.Policy, error) {
		hostRewrite := ""
		if svc := env.Service; svc != nil {
			hostRewrite = svc.HostnameRewrite
		}
		return New(cfg, hostRewrite)
	})
}

// Config is the policy's configuration.
type Config struct {
	Rules []Rule `json:"rules"`
}

// Rule is one configured route.
type Rule struct {
	URL         string    `json:"url"`
	HostHeader  string    `json:"host_header"`
	ReplacePath string    `json:"replace_path"`
	OwnerID     *int64    `json:"owner_id"`
	OwnerType   string    `json:"owner_type"`
	Condition   Condition `json:"condition"`
}

// Condition combines operations.
type Condition struct {
	CombineOp  string      `json:"combine_op"`
	Operations []Operation `json:"operations"`
}

// Operation compares one value of the request with a configured value.
type Operation struct {
	Match        string `json:"match"`
	HeaderName   string `json:"header_name"`
	QueryArgName string `json:"query_arg_name"`
	JWTClaimName string `json:"jwt_claim_name"`
	LiquidValue  string `json:"liquid_value"`
	Op           string `json:"op"`
	Value        string `json:"value"`
	ValueType    string `json:"value_type"`
}

type source uint8

const (
	fromPath source = iota
	fromHeader
	fromQueryArg
	fromJWTClaim
	fromLiquid
)

// operation is an Operation compiled.
type operation struct {
	from   source
	name   string // header (canonical), query argument or claim name
	claim  []string
	liquid *liquidctx.Template
	op     condition.Op
	value  *liquidctx.Template
	// re is the compiled regular expression of a plain matches value.
	re *regexp.Regexp
}

// rule is a Rule compiled.
type rule struct {
	upstream    *chain.Upstream
	replacePath *liquidctx.Template
	or          bool
	ops         []operation
}

// Policy routes requests. It holds its compiled rules only and is safe for
// concurrent use.
type Policy struct {
	rules []rule
}

var (
	_ chain.Accessor        = (*Policy)(nil)
	_ chain.ContentProducer = (*Policy)(nil)
)

// New builds the policy; hostRewrite is the service's hostname_rewrite,
// the Host of rules without host_header.
func New(raw json.RawMessage, hostRewrite string) (*Policy, error) {
	var cfg Config
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	p := &Policy{rules: make([]rule, 0, len(cfg.Rules))}
	for i, r := range cfg.Rules {
		at := fmt.Sprintf("rules[%d]", i)
		u, err := url.Parse(r.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			return nil, fmt.Errorf("%s.url: %q is not an http:// or https:// URL with a host", at, r.URL)
		}
		u.RawQuery, u.Fragment = "", ""
		up := &chain.Upstream{URL: u, Host: hostRewrite}
		if r.HostHeader != "" {
			if strings.ContainsAny(r.HostHeader, " \t\r\n/") {
				return nil, fmt.Errorf("%s.host_header: %q is not a host name", at, r.HostHeader)
			}
			up.Host = r.HostHeader
		}
		cr := rule{upstream: up}
		if r.ReplacePath != "" {
			if cr.replacePath, err = liquidctx.Compile(r.ReplacePath, liquidctx.Liquid); err != nil {
				return nil, fmt.Errorf("%s.replace_path: %w", at, err)
			}
		}
		if cr.or, err = condition.ParseCombineOp(r.Condition.CombineOp); err != nil {
			return nil, fmt.Errorf("%s.condition.combine_op: %w", at, err)
		}
		for j, o := range r.Condition.Operations {
			co, err := compileOperation(o)
			if err != nil {
				return nil, fmt.Errorf("%s.condition.operations[%d].%w", at, j, err)
			}
			cr.ops = append(cr.ops, co)
		}
		p.rules = append(p.rules, cr)
	}
	return p, nil
}

func compileOperation(o Operation) (operation, error) {
	var co operation
	switch o.Match {
	case "path":
		co.from = fromPath
	case "header":
		if o.HeaderName == "" {
			return co, fmt.Errorf("header_name: required with match header")
		}
		co.from, co.name = fromHeader, o.HeaderName
	case "query_arg":
		if o.QueryArgName == "" {
			return co, fmt.Errorf("query_arg_name: required with match query_arg")
		}
		co.from, co.name = fromQueryArg, o.QueryArgName
	case "jwt_claim":
		if o.JWTClaimName == "" {
			return co, fmt.Errorf("jwt_claim_name: required with match jwt_claim")
		}
		co.from, co.name, co.claim = fromJWTClaim, o.JWTClaimName, strings.Split(o.JWTClaimName, ".")
	case "liquid":
		if o.LiquidValue == "" {
			return co, fmt.Errorf("liquid_value: required with match liquid")
		}
		t, err := liquidctx.Compile(o.LiquidValue, liquidctx.Liquid)
		if err != nil {
			return co, fmt.Errorf("liquid_value: %w", err)
		}
		co.from, co.liquid = fromLiquid, t
	default:
		return co, fmt.Errorf("match: %q is not path, header, query_arg, jwt_claim or liquid", o.Match)
	}
	op, err := condition.ParseOp(o.Op)
	if err != nil {
		return co, fmt.Errorf("op: %w", err)
	}
	co.op = op
	t, err := liquidctx.Compile(o.Value, o.ValueType)
	if err != nil {
		return co, fmt.Errorf("value: %w", err)
	}
	co.value = t
	if co.op == condition.OpMatches && t.IsPlain() {
		if co.re, err = condition.Pattern(o.Value); err != nil {
			return co, fmt.Errorf("value: %w", err)
		}
	}
	return co, nil
}

// Access chooses the upstream of the first rule that holds.
func (p *Policy) Access(c *chain.Context) error {
	for i := range p.rules {
		r := &p.rules[i]
		ok, err := r.holds(c)
		if err != nil {
			return fmt.Errorf("routing rule %d: %w", i, err)
		}
		if !ok {
			continue
		}
		if r.replacePath != nil {
			path, err := r.replacePath.Render(c)
			if err != nil {
				return fmt.Errorf("routing rule %d: replace_path: %w", i, err)
			}
			if !strings.HasPrefix(path, "/") {
				path = "/" + path
			}
			c.Request.URL.Path, c.Request.URL.RawPath = path, ""
		}
		c.Set(UpstreamKey, r.upstream)
		return nil
	}
	return nil
}

// Content proxies to the chosen upstream; without one it leaves the
// content phase to the next policy. As in APIcast, the upstream is read
// from the shared route_upstream.
func (p *Policy) Content(c *chain.Context) (bool, error) {
	v, _ := c.Get(UpstreamKey)
	u, ok := v.(*chain.Upstream)
	if !ok || u == nil {
		return false, nil
	}
	c.ProxyTo(u)
	return true, nil
}

func (r *rule) holds(c *chain.Context) (bool, error) {
	if len(r.ops) == 0 {
		return true, nil
	}
	for i := range r.ops {
		ok, err := r.ops[i].holds(c)
		if err != nil {
			return false, err
		}
		if ok == r.or {
			// The first true operation decides "or", the first false "and".
			return ok, nil
		}
	}
	return !r.or, nil
}

func (o *operation) holds(c *chain.Context) (bool, error) {
	left, present, err := o.left(c)
	if err != nil {
		return false, err
	}
	if !present {
		return o.op == condition.OpNotEqual, nil
	}
	if o.re != nil {
		return o.re.MatchString(left), nil
	}
	right, err := o.value.Render(c)
	if err != nil {
		return false, fmt.Errorf("value: %w", err)
	}
	switch o.op {
	case condition.OpEqual:
		return left == right, nil
	case condition.OpNotEqual:
		return left != right, nil
	}
	re, err := condition.Pattern(right)
	if err != nil {
		// A template rendered into a bad pattern: the operation cannot hold.
		return false, nil
	}
	return re.MatchString(left), nil
}

// left returns the request's value the operation tests, and whether the
// request has it.
func (o *operation) left(c *chain.Context) (string, bool, error) {
	switch o.from {
	case fromPath:
		return c.Request.URL.Path, true, nil
	case fromHeader:
		v := c.Request.Header.Values(o.name)
		if len(v) == 0 {
			return "", false, nil
		}
		return v[0], true, nil
	case fromQueryArg:
		return queryArg(c.Request.URL.RawQuery, o.name)
	case fromJWTClaim:
		claims, _ := c.Get(jwt.ContextKey)
		v, ok := jwt.Claim(claims, o.name, o.claim)
		if !ok {
			return "", false, nil
		}
		return jwt.ClaimString(v), true, nil
	}
	s, err := o.liquid.Render(c)
	if err != nil {
		return "", false, fmt.Errorf("liquid_value: %w", err)
	}
	return s, true, nil
}

// queryArg returns the first value of the query argument name without
// parsing the whole query into a map.
func queryArg(raw, name string) (string, bool, error) {
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(pair, "=")
		if k != name {
			if !strings.ContainsAny(k, "%+") {
				continue
			}
			if dk, err := url.QueryUnescape(k); err != nil || dk != name {
				continue
			}
		}
		if !strings.ContainsAny(v, "%+") {
			return v, true, nil
		}
		dv, err := url.QueryUnescape(v)
		if err != nil {
			return v, true, nil
		}
		return dv, true, nil
	}
	return "", false, nil
}
