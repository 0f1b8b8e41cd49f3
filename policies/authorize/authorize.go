// Package authorize is the authorize chain policy: it decides each request
// with a named pdl document over the request's attributes, ends refused
// requests, and carries out the decision's header obligations.
package authorize

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/internal/httpx"
	"github.com/verdict-policy/verdict/internal/outcome"
	"github.com/verdict-policy/verdict/pdl"
	"github.com/verdict-policy/verdict/policies/internal/builtin"
)

//go:embed apicast-policy.json
var manifestJSON []byte

// Name is the policy's name in a chain.
const Name = "authorize"

// The obligations the policy carries out are those of package
// internal/outcome, spelled as the authz front door spells them, so that
// one document serves both: setRequestHeader, appendRequestHeader,
// removeRequestHeader, setResponseHeader, denyStatus, denyBody and
// redirect. The earlier spellings below are still read.
const (
	// SetRequestHeaders is the earlier spelling of setRequestHeader.
	SetRequestHeaders = "set_request_headers"
	// SetResponseHeaders is the earlier spelling of setResponseHeader.
	SetResponseHeaders = "set_response_headers"
)

func init() {
	builtin.Register(Name, manifestJSON, New)
}

// Config is the policy's configuration.
type Config struct {
	Policy        string  `json:"policy"`
	Status        int     `json:"status"`
	Body          *string `json:"body"`
	ContentType   string  `json:"content_type"`
	NotApplicable string  `json:"not_applicable"`
}

// Policy is a built authorize policy.
type Policy struct {
	doc         *pdl.Document
	status      int
	body        string
	contentType string
	permitNA    bool
}

// New builds the policy; the named document must exist.
func New(raw json.RawMessage, env chain.Env) (chain.Policy, error) {
	var c Config
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	if env.Document == nil {
		return nil, fmt.Errorf("policy: no policy documents are available to look %q up in", c.Policy)
	}
	doc, ok := env.Document(c.Policy)
	if !ok {
		return nil, fmt.Errorf("policy: there is no policy document named %q under policies", c.Policy)
	}
	p := &Policy{doc: doc, status: c.Status, body: "Forbidden\n", contentType: c.ContentType,
		permitNA: c.NotApplicable == "permit"}
	if p.status == 0 {
		p.status = http.StatusForbidden
	}
	if c.Body != nil {
		p.body = *c.Body
	}
	if p.contentType == "" {
		p.contentType = "text/plain; charset=utf-8"
	}
	return p, nil
}

// responseHeaders are the response headers a decision asked for, kept
// for header_filter.
type responseHeaders []outcome.Field

// decision is the per-request work of Access, pooled: the attributes the
// document reads and the outcome the decision turns into.
type decision struct {
	attrs Attributes
	out   outcome.Outcome
}

var decisionPool = sync.Pool{New: func() any { return new(decision) }}

// Access decides the request.
func (p *Policy) Access(c *chain.Context) error {
	w := decisionPool.Get().(*decision)
	defer decisionPool.Put(w)
	w.attrs.c = c
	d := p.doc.Decide(&w.attrs)
	w.attrs.c = nil

	o := &w.out
	err := o.Read(&d)
	allowed := err == nil && (d.Effect == pdl.Permit || (d.Effect == pdl.NotApplicable && p.permitNA))
	if err != nil {
		c.Logger.Warn("refusing a request whose decision has a malformed obligation", "error", err, "path", d.Path)
	}
	if allowed {
		for _, ob := range d.Obligations {
			if !outcome.Known(ob.Name) {
				// An obligation the gateway cannot carry out: refusing is
				// the only safe reading of the decision.
				c.Logger.Warn("refusing a permit with an obligation the authorize policy cannot carry out",
					"obligation", ob.Name, "path", d.Path)
				allowed = false
				break
			}
		}
	}
	if d.Effect == pdl.Indeterminate {
		c.Logger.Warn("authorization indeterminate; refusing", "error", d.Error, "path", d.Path)
	}
	if len(o.SetResponse) > 0 {
		c.SetPrivate(p, append(responseHeaders(nil), o.SetResponse...))
	}
	if allowed {
		h := c.Request.Header
		for _, f := range o.RemoveRequest {
			h.Del(f)
		}
		for _, f := range o.SetRequest {
			h.Set(f.Name, f.Value)
		}
		for _, f := range o.AppendRequest {
			h.Add(f.Name, f.Value)
		}
		return nil
	}
	status, body, contentType := p.status, p.body, p.contentType
	if o.StatusGiven() {
		status = o.Status
	}
	if o.BodyGiven() {
		body = o.Body
		if o.JSONBody {
			contentType = "application/json"
		}
	}
	if o.Location != "" {
		c.Response.Header.Set("Location", o.Location)
	}
	c.Response.Header.Set("Content-Type", contentType)
	c.Exit(status, body)
	return nil
}

// HeaderFilter sets the response headers the decision asked for.
func (p *Policy) HeaderFilter(c *chain.Context) error {
	if hs, ok := c.Private(p).(responseHeaders); ok {
		for _, h := range hs {
			c.Response.Header.Set(h.Name, h.Value)
		}
	}
	return nil
}

// Attributes presents a request to a pdl document, with the request
// vocabulary the authz front door shares, so that one document serves
// both:
//
//	method, path, host, scheme, uri, query, client_ip
//	header.NAME (any case; several lines joined with ", ")
//	query.NAME (the first value)
//	header (or headers) and args: every header (lower-case names) and
//	every query argument as an object, for templates
//	jwt.CLAIM and jwt: the claims the jwt policy verified earlier in the
//	chain (a value it leaves in the context)
//
// and the gateway's own:
//
//	service_id
//	original.method, original.path, original.host, original.uri
//	anything else: a value an earlier policy set in the context (a dotted
//	name reaches into nested maps)
type Attributes struct {
	c *chain.Context
}

// NewAttributes returns the attributes of the request in c.
func NewAttributes(c *chain.Context) *Attributes { return &Attributes{c: c} }

// Attribute implements pdl.Attributes.
func (a *Attributes) Attribute(name string) (any, error) {
	c := a.c
	r := c.Request
	switch name {
	case "method":
		return r.Method, nil
	case "path":
		return r.URL.Path, nil
	case "host":
		return c.Original.Host, nil
	case "scheme":
		return c.Original.Scheme, nil
	case "uri":
		return r.URL.RequestURI(), nil
	case "query":
		return r.URL.RawQuery, nil
	case "client_ip":
		return c.ClientIP, nil
	case "service_id":
		return c.ServiceID, nil
	case "original.method":
		return c.Original.Method, nil
	case "original.path":
		return c.Original.Path, nil
	case "original.host":
		return c.Original.Host, nil
	case "original.uri":
		return c.Original.URI, nil
	case "header", "headers":
		// The whole set, for templates: {{ header.x-api-key }}.
		return httpx.HeaderObject(r.Header), nil
	case "args":
		q := r.URL.Query()
		m := make(map[string]any, len(q))
		for k, vs := range q {
			if len(vs) > 0 {
				m[k] = vs[0]
			}
		}
		return m, nil
	}
	if h, ok := strings.CutPrefix(name, "header."); ok {
		if v, ok := httpx.HeaderValue(r.Header, h); ok {
			return v, nil
		}
		return nil, nil
	}
	if q, ok := strings.CutPrefix(name, "query."); ok {
		vs, ok := r.URL.Query()[q]
		if !ok || len(vs) == 0 {
			return nil, nil
		}
		return vs[0], nil
	}
	if v, ok := c.Get(name); ok {
		return v, nil
	}
	head, rest, dotted := strings.Cut(name, ".")
	if !dotted {
		return nil, nil
	}
	v, ok := c.Get(head)
	if !ok {
		return nil, nil
	}
	return pdl.Input{"v": v}.Attribute("v." + rest)
}

var (
	_ chain.Accessor     = (*Policy)(nil)
	_ chain.HeaderFilter = (*Policy)(nil)
	_ pdl.Attributes     = (*Attributes)(nil)
)
