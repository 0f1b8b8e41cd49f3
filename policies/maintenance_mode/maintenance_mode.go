// Package maintenancemode is the builtin chain policy "maintenance_mode"
// (APIcast's Maintenance Mode): in the access phase it ends requests with a
// fixed maintenance response, for every request or only for those that
// meet a condition. Conditions compare plain or Liquid values, compiled
// when the chain is built; templates may use the upstream an earlier
// policy chose.
package maintenancemode

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/config"
	"github.com/verdict-policy/verdict/manifest"
	"github.com/verdict-policy/verdict/policies/internal/liquidctx"
)

// Name is the policy's name in a chain entry.
const Name = "maintenance_mode"

// UpstreamKey is the context key where a policy that picks the upstream
// before the access phase may leave it (a *url.URL, a *chain.Upstream or
// a URL string), for conditions that test it. Context.Upstream, when set,
// is used first; when neither is, conditions see the service's
// api_backend.
const UpstreamKey = "upstream"

// The defaults of the configuration.
const (
	DefaultStatus      = http.StatusServiceUnavailable
	DefaultMessage     = "Service Unavailable - Maintenance"
	DefaultContentType = "text/plain; charset=utf-8"
)

//go:embed apicast-policy.json
var manifestJSON []byte

var policyManifest = manifest.MustParse(manifestJSON)

func init() {
	chain.Register(chain.Factory{
		Name:     Name,
		Version:  chain.BuiltinVersion,
		Manifest: manifestJSON,
		Validate: policyManifest.Validate,
		New: func(cfg json.RawMessage, env chain.Env) (chain.Policy, error) {
			p, err := New(cfg)
			if err != nil {
				return nil, err
			}
			if svc, ok := env.Service.(*config.Service); ok && svc != nil && svc.APIBackend != "" {
				if u, err := url.Parse(svc.APIBackend); err == nil {
					p.SetDefaultUpstream(u)
				}
			}
			return p, nil
		},
	})
}

// Config is the policy's configuration.
type Config struct {
	// Status of the answer; DefaultStatus when nil.
	Status *int `json:"status"`
	// Message is the answer's body, a newline added; DefaultMessage when nil.
	Message *string `json:"message"`
	// MessageContentType is the answer's Content-Type; DefaultContentType
	// when nil.
	MessageContentType *string `json:"message_content_type"`
	// Condition limits the answer to the requests it holds for; nil means
	// every request.
	Condition *Condition `json:"condition"`
}

// Condition limits the maintenance response to some requests.
type Condition struct {
	// Operations are the comparisons, at least one.
	Operations []Operation `json:"operations"`
	// CombineOp is and (the default) or or.
	CombineOp string `json:"combine_op"`
}

// Operation compares two values.
type Operation struct {
	// Left is the first value compared.
	Left string `json:"left"`
	// LeftType is plain (the default) or liquid.
	LeftType string `json:"left_type"`
	// Op is ==, != or matches (Right is a regular expression searched in
	// Left).
	Op string `json:"op"`
	// Right is the second value compared.
	Right string `json:"right"`
	// RightType is plain (the default) or liquid.
	RightType string `json:"right_type"`
}

type opKind uint8

const (
	opEqual opKind = iota
	opNotEqual
	opMatches
)

type operation struct {
	left, right *liquidctx.Template
	op          opKind
	re          *regexp.Regexp // matches with a plain right value
}

// Policy answers requests in maintenance. It is safe for concurrent use.
type Policy struct {
	status      int
	body        string
	contentType []string // shared, with no spare capacity
	ops         []operation
	any         bool // combine with or
	upstream    bool // a template mentions the upstream
	// fallback holds the template variables for the service's own
	// upstream, prepared at load for requests that chose no other.
	fallback map[string]any
}

var _ chain.Accessor = (*Policy)(nil)

// New builds the policy from its JSON configuration.
func New(raw json.RawMessage) (*Policy, error) {
	var cfg Config
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	p := &Policy{status: DefaultStatus, body: DefaultMessage + "\n", fallback: map[string]any{UpstreamKey: describe(nil)}}
	ct := DefaultContentType
	if cfg.Status != nil {
		if *cfg.Status < 200 || *cfg.Status > 599 {
			return nil, fmt.Errorf("status: %d is not a final HTTP status (200-599)", *cfg.Status)
		}
		p.status = *cfg.Status
	}
	if cfg.Message != nil {
		p.body = *cfg.Message + "\n"
	}
	if cfg.MessageContentType != nil {
		ct = *cfg.MessageContentType
	}
	p.contentType = []string{ct}[:1:1]
	if cond := cfg.Condition; cond != nil {
		switch cond.CombineOp {
		case "", "and":
		case "or":
			p.any = true
		default:
			return nil, fmt.Errorf("condition.combine_op: %q is neither and nor or", cond.CombineOp)
		}
		if len(cond.Operations) == 0 {
			return nil, fmt.Errorf("condition.operations: empty; leave the condition out to answer every request")
		}
		for i, o := range cond.Operations {
			at := fmt.Sprintf("condition.operations[%d]", i)
			op, err := compileOperation(o)
			if err != nil {
				return nil, fmt.Errorf("%s.%w", at, err)
			}
			p.upstream = p.upstream || op.left.Mentions(UpstreamKey) || op.right.Mentions(UpstreamKey)
			p.ops = append(p.ops, op)
		}
	}
	return p, nil
}

func compileOperation(o Operation) (operation, error) {
	var op operation
	var err error
	switch o.Op {
	case "==":
		op.op = opEqual
	case "!=":
		op.op = opNotEqual
	case "matches":
		op.op = opMatches
	default:
		return op, fmt.Errorf("op: unknown operator %q (want ==, != or matches)", o.Op)
	}
	if op.left, err = liquidctx.Compile(o.Left, o.LeftType); err != nil {
		return op, fmt.Errorf("left: %w", err)
	}
	if op.right, err = liquidctx.Compile(o.Right, o.RightType); err != nil {
		return op, fmt.Errorf("right: %w", err)
	}
	if op.op == opMatches && op.right.IsPlain() {
		if op.re, err = regexp.Compile(o.Right); err != nil {
			return op, fmt.Errorf("right: invalid regular expression %q: %w", o.Right, err)
		}
	}
	return op, nil
}

// Access ends the request with the maintenance response when the
// condition holds (always, without one).
func (p *Policy) Access(c *chain.Context) error {
	if len(p.ops) > 0 {
		hold, err := p.holds(c)
		if err != nil {
			return err
		}
		if !hold {
			return nil
		}
	}
	c.Response.Header["Content-Type"] = p.contentType
	c.Exit(p.status, p.body)
	return nil
}

// SetDefaultUpstream sets the upstream that conditions see when no policy
// chose one before the access phase: the service's api_backend.
func (p *Policy) SetDefaultUpstream(u *url.URL) {
	p.fallback = map[string]any{UpstreamKey: describe(u)}
}

func (p *Policy) holds(c *chain.Context) (bool, error) {
	var extra map[string]any
	if p.upstream {
		if u := chosenUpstream(c); u != nil {
			extra = map[string]any{UpstreamKey: describe(u)}
		} else {
			extra = p.fallback
		}
	}
	for i := range p.ops {
		ok, err := p.ops[i].eval(c, extra)
		if err != nil {
			return false, fmt.Errorf("condition.operations[%d]: %w", i, err)
		}
		if ok == p.any {
			// The first true operation decides "or"; the first false
			// decides "and".
			return ok, nil
		}
	}
	return !p.any, nil
}

func (o *operation) eval(c *chain.Context, extra map[string]any) (bool, error) {
	left, err := o.left.RenderWith(c, extra)
	if err != nil {
		return false, err
	}
	right, err := o.right.RenderWith(c, extra)
	if err != nil {
		return false, err
	}
	switch o.op {
	case opEqual:
		return left == right, nil
	case opNotEqual:
		return left != right, nil
	}
	re := o.re
	if re == nil {
		if re, err = regexp.Compile(right); err != nil {
			return false, fmt.Errorf("right: rendered %q is not a regular expression: %w", right, err)
		}
	}
	return re.MatchString(left), nil
}

// chosenUpstream returns the upstream a policy chose for the request so
// far, or nil.
func chosenUpstream(c *chain.Context) *url.URL {
	if c.Upstream != nil {
		return c.Upstream.URL
	}
	v, ok := c.Get(UpstreamKey)
	if !ok {
		return nil
	}
	switch x := v.(type) {
	case *url.URL:
		return x
	case *chain.Upstream:
		return x.URL
	case string:
		u, _ := url.Parse(x)
		return u
	}
	return nil
}

// describe gives templates an upstream's scheme, host, port and path, all
// empty for none.
func describe(u *url.URL) map[string]any {
	if u == nil {
		return map[string]any{"scheme": "", "host": "", "port": "", "path": ""}
	}
	port := u.Port()
	if port == "" {
		switch u.Scheme {
		case "http":
			port = strconv.Itoa(80)
		case "https":
			port = strconv.Itoa(443)
		}
	}
	path := u.Path
	if path == "" {
		path = "/"
	}
	return map[string]any{"scheme": u.Scheme, "host": u.Hostname(), "port": port, "path": path}
}
