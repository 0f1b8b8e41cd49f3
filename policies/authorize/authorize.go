// Package authorize is the authorize chain policy: it decides each request
// with a named pdl document over the request's attributes, ends refused
// requests, and carries out the decision's header obligations.
package authorize

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/internal/httpx"
	"github.com/verdict-policy/verdict/pdl"
	"github.com/verdict-policy/verdict/policies/internal/builtin"
)

//go:embed apicast-policy.json
var manifestJSON []byte

// Name is the policy's name in a chain.
const Name = "authorize"

// The obligations the policy carries out. Their parameters map header
// names to values.
const (
	SetRequestHeaders  = "set_request_headers"
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
type responseHeaders []header

type header struct{ name, value string }

var attrPool = sync.Pool{New: func() any { return new(Attributes) }}

// Access decides the request.
func (p *Policy) Access(c *chain.Context) error {
	a := attrPool.Get().(*Attributes)
	a.c = c
	d := p.doc.Decide(a)
	a.c = nil
	attrPool.Put(a)

	allowed := d.Effect == pdl.Permit || (d.Effect == pdl.NotApplicable && p.permitNA)
	var resp responseHeaders
	for _, o := range d.Obligations {
		switch o.Name {
		case SetRequestHeaders:
			if allowed {
				eachHeader(o.Params, func(name, value string) { c.Request.Header.Set(name, value) })
			}
		case SetResponseHeaders:
			eachHeader(o.Params, func(name, value string) { resp = append(resp, header{name, value}) })
		default:
			if allowed {
				// An obligation the gateway cannot carry out: refusing is
				// the only safe reading of the decision.
				c.Logger.Warn("refusing a permit with an obligation the authorize policy cannot carry out",
					"obligation", o.Name, "path", d.Path)
				allowed = false
			}
		}
	}
	if len(resp) > 0 {
		c.SetPrivate(p, resp)
	}
	if d.Effect == pdl.Indeterminate {
		c.Logger.Warn("authorization indeterminate; refusing", "error", d.Error, "path", d.Path)
	}
	if !allowed {
		c.Response.Header.Set("Content-Type", p.contentType)
		c.Exit(p.status, p.body)
	}
	return nil
}

// HeaderFilter sets the response headers the decision asked for.
func (p *Policy) HeaderFilter(c *chain.Context) error {
	if hs, ok := c.Private(p).(responseHeaders); ok {
		for _, h := range hs {
			c.Response.Header.Set(h.name, h.value)
		}
	}
	return nil
}

// eachHeader calls f for every header of an obligation's parameters: an
// object of names to values (strings, numbers or booleans).
func eachHeader(params any, f func(name, value string)) {
	m, ok := params.(map[string]any)
	if !ok {
		return
	}
	for k, v := range m {
		if s, ok := scalarString(v); ok && httpx.ValidFieldName(k) && httpx.ValidFieldValue(s) {
			f(k, s)
		}
	}
}

func scalarString(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	case int:
		return strconv.Itoa(v), true
	case int64:
		return strconv.FormatInt(v, 10), true
	case bool:
		return strconv.FormatBool(v), true
	}
	return "", false
}

// Attributes presents a request to a pdl document. The names:
//
//	method, path, host, scheme, uri, query, client_ip, service_id
//	header.NAME (any case; several values joined with ", ")
//	query.NAME (the first value)
//	header (or headers) and args: every header (lower-case names) and
//	every query argument as an object, for templates
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
		m := make(map[string]any, len(r.Header))
		for k, vs := range r.Header {
			m[strings.ToLower(k)] = strings.Join(vs, ", ")
		}
		return m, nil
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
		vs := r.Header.Values(h)
		switch len(vs) {
		case 0:
			return nil, nil
		case 1:
			return vs[0], nil
		}
		return strings.Join(vs, ", "), nil
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
