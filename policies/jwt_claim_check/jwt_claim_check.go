// Package jwtclaimcheck is the builtin chain policy "jwt_claim_check"
// (APIcast's JWT Claim Check): in the access phase it refuses with 403 the
// requests whose JWT claims, shared by the jwt policy, do not meet the
// rules of the resource and method they ask for. Resources, regular
// expressions and templates are compiled when the chain is built; the
// token itself is verified by the jwt policy, not here.
package jwtclaimcheck

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/policies/internal/builtin"
	"github.com/verdict-policy/verdict/policies/internal/condition"
	"github.com/verdict-policy/verdict/policies/internal/liquidctx"
	"github.com/verdict-policy/verdict/policies/jwt"
)

// Name is the policy's name in a chain entry.
const Name = "jwt_claim_check"

// DefaultErrorMessage is the body of a refusal, before its newline, when
// none is configured.
const DefaultErrorMessage = "Request blocked due to JWT claim policy"

//go:embed apicast-policy.json
var manifestJSON []byte

func init() {
	builtin.Simple(Name, manifestJSON, New)
}

// Config is the policy's configuration.
type Config struct {
	ErrorMessage          *string `json:"error_message"`
	EnableExtendedContext bool    `json:"enable_extended_context"`
	Rules                 []Rule  `json:"rules"`
}

// Rule limits one resource.
type Rule struct {
	Resource     string      `json:"resource"`
	ResourceType string      `json:"resource_type"`
	Methods      []string    `json:"methods"`
	CombineOp    string      `json:"combine_op"`
	Operations   []Operation `json:"operations"`
}

// Operation tests one claim.
type Operation struct {
	Op           string `json:"op"`
	JWTClaim     string `json:"jwt_claim"`
	JWTClaimType string `json:"jwt_claim_type"`
	Value        string `json:"value"`
	ValueType    string `json:"value_type"`
}

type operation struct {
	claim     string
	claimPath []string
	claimTpl  *liquidctx.Template // a liquid jwt_claim
	op        condition.Op
	value     *liquidctx.Template
	re        *regexp.Regexp // a plain matches value
}

type rule struct {
	// resource is the compiled pattern of a plain resource; resourceTpl a
	// Liquid one, compiled per request.
	resource    *regexp.Regexp
	resourceTpl *liquidctx.Template
	anyMethod   bool
	methods     []string
	or          bool
	ops         []operation
}

// Policy checks claims. It holds its compiled rules only and is safe for
// concurrent use.
type Policy struct {
	rules    []rule
	message  string
	extended bool
}

var _ chain.Accessor = (*Policy)(nil)

// New builds the policy from its JSON configuration.
func New(raw json.RawMessage) (*Policy, error) {
	var cfg Config
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	p := &Policy{message: DefaultErrorMessage, extended: cfg.EnableExtendedContext}
	if cfg.ErrorMessage != nil {
		p.message = *cfg.ErrorMessage
	}
	// APIcast prints the message as a line.
	p.message += "\n"
	for i, r := range cfg.Rules {
		at := fmt.Sprintf("rules[%d]", i)
		var cr rule
		t, err := liquidctx.Compile(r.Resource, r.ResourceType)
		if err != nil {
			return nil, fmt.Errorf("%s.resource: %w", at, err)
		}
		if t.IsPlain() {
			if cr.resource, err = resourcePattern(r.Resource); err != nil {
				return nil, fmt.Errorf("%s.resource: %w", at, err)
			}
		} else {
			cr.resourceTpl = t
		}
		cr.anyMethod = len(r.Methods) == 0
		for _, m := range r.Methods {
			m = strings.ToUpper(m)
			if m == "ANY" {
				cr.anyMethod = true
			}
			cr.methods = append(cr.methods, m)
		}
		if cr.or, err = condition.ParseCombineOp(r.CombineOp); err != nil {
			return nil, fmt.Errorf("%s.combine_op: %w", at, err)
		}
		for j, o := range r.Operations {
			co, err := compileOperation(o)
			if err != nil {
				return nil, fmt.Errorf("%s.operations[%d].%w", at, j, err)
			}
			cr.ops = append(cr.ops, co)
		}
		p.rules = append(p.rules, cr)
	}
	return p, nil
}

func compileOperation(o Operation) (operation, error) {
	var co operation
	op, err := condition.ParseOp(o.Op)
	if err != nil {
		return co, fmt.Errorf("op: %w", err)
	}
	co.op = op
	if o.JWTClaim == "" {
		return co, fmt.Errorf("jwt_claim: empty")
	}
	t, err := liquidctx.Compile(o.JWTClaim, o.JWTClaimType)
	if err != nil {
		return co, fmt.Errorf("jwt_claim: %w", err)
	}
	if t.IsPlain() {
		co.claim, co.claimPath = o.JWTClaim, strings.Split(o.JWTClaim, ".")
	} else {
		co.claimTpl = t
	}
	if co.value, err = liquidctx.Compile(o.Value, o.ValueType); err != nil {
		return co, fmt.Errorf("value: %w", err)
	}
	if co.op == condition.OpMatches && co.value.IsPlain() {
		if co.re, err = condition.Pattern(o.Value); err != nil {
			return co, fmt.Errorf("value: %w", err)
		}
	}
	return co, nil
}

// placeholder is what {name} in a resource matches: one path segment.
const placeholder = `[^/]+`

// resourcePattern compiles a mapping-rule style path pattern: {name}
// matches one segment, a trailing $ the end of the path; otherwise the
// pattern is a prefix. A query part, if any, is ignored.
func resourcePattern(pattern string) (*regexp.Regexp, error) {
	if !strings.HasPrefix(pattern, "/") {
		return nil, fmt.Errorf("%q does not start with /", pattern)
	}
	pattern, _, _ = strings.Cut(pattern, "?")
	exact := strings.HasSuffix(pattern, "$")
	pattern = strings.TrimSuffix(pattern, "$")
	var b strings.Builder
	b.WriteString("^")
	for pattern != "" {
		open := strings.IndexByte(pattern, '{')
		if open < 0 {
			b.WriteString(regexp.QuoteMeta(pattern))
			break
		}
		end := strings.IndexByte(pattern[open:], '}')
		if end < 0 {
			return nil, fmt.Errorf("unclosed { in %q", pattern)
		}
		b.WriteString(regexp.QuoteMeta(pattern[:open]))
		b.WriteString(placeholder)
		pattern = pattern[open+end+1:]
	}
	if exact {
		b.WriteString("$")
	}
	return regexp.Compile(b.String())
}

// Access refuses a request that a rule applies to and that its claims do
// not satisfy.
func (p *Policy) Access(c *chain.Context) error {
	var claims map[string]any
	if v, ok := c.Get(jwt.ContextKey); ok {
		claims, _ = v.(map[string]any)
	}
	path := c.Request.URL.Path
	for i := range p.rules {
		r := &p.rules[i]
		applies, err := r.applies(c, path, claims)
		if err != nil {
			return fmt.Errorf("jwt_claim_check rule %d: %w", i, err)
		}
		if !applies {
			continue
		}
		ok, err := p.holds(r, c, claims)
		if err != nil {
			return fmt.Errorf("jwt_claim_check rule %d: %w", i, err)
		}
		if !ok {
			c.Exit(http.StatusForbidden, p.message)
			return nil
		}
	}
	return nil
}

func (r *rule) applies(c *chain.Context, path string, claims map[string]any) (bool, error) {
	if !r.anyMethod {
		found := false
		for _, m := range r.methods {
			if m == c.Request.Method {
				found = true
				break
			}
		}
		if !found {
			return false, nil
		}
	}
	if r.resource != nil {
		return r.resource.MatchString(path), nil
	}
	src, err := r.resourceTpl.RenderWith(c, claims)
	if err != nil {
		return false, fmt.Errorf("resource: %w", err)
	}
	re, err := resourcePattern(src)
	if err != nil {
		return false, nil // a rendered pattern that is not a path matches nothing
	}
	return re.MatchString(path), nil
}

func (p *Policy) holds(r *rule, c *chain.Context, claims map[string]any) (bool, error) {
	for i := range r.ops {
		ok, err := p.opHolds(&r.ops[i], c, claims)
		if err != nil {
			return false, err
		}
		if ok == r.or {
			return ok, nil
		}
	}
	return !r.or || len(r.ops) == 0, nil
}

// render renders a template with the claims as variables, over the whole
// request context when extended.
func (p *Policy) render(t *liquidctx.Template, c *chain.Context, claims map[string]any) (string, error) {
	if t.IsPlain() {
		return t.Source(), nil
	}
	if p.extended {
		return t.Render(c)
	}
	return t.RenderWith(c, claims)
}

func (p *Policy) opHolds(o *operation, c *chain.Context, claims map[string]any) (bool, error) {
	var left []string
	if o.claimTpl != nil {
		s, err := p.render(o.claimTpl, c, claims)
		if err != nil {
			return false, fmt.Errorf("jwt_claim: %w", err)
		}
		left = []string{s}
	} else if v, ok := jwt.Claim(claims, o.claim, o.claimPath); ok {
		if list, isList := v.([]any); isList {
			// A list claim (roles, groups) holds if one of its members does.
			for _, x := range list {
				left = append(left, jwt.ClaimString(x))
			}
		} else {
			left = []string{jwt.ClaimString(v)}
		}
	}
	if len(left) == 0 {
		return o.op == condition.OpNotEqual, nil
	}
	re := o.re
	var right string
	if re == nil {
		s, err := p.render(o.value, c, claims)
		if err != nil {
			return false, fmt.Errorf("value: %w", err)
		}
		right = s
		if o.op == condition.OpMatches {
			if re, err = condition.Pattern(right); err != nil {
				return false, nil
			}
		}
	}
	for _, l := range left {
		var ok bool
		switch o.op {
		case condition.OpEqual, condition.OpNotEqual:
			ok = l == right
		case condition.OpMatches:
			ok = re.MatchString(l)
		}
		if ok {
			return o.op != condition.OpNotEqual, nil
		}
	}
	return o.op == condition.OpNotEqual, nil
}
