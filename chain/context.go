package chain

import (
	"log/slog"
	"net/http"
	"net/url"
	"time"
)

// Context is the state of one request, shared by every policy of the
// chain in every phase. It is not safe for concurrent use: the gateway
// runs a request's phases one after another.
type Context struct {
	// Request is the request as it will be sent upstream. Policies may
	// change its URL, method and headers in rewrite and access.
	Request *http.Request
	// Original is the request as the client sent it, frozen on arrival.
	Original Original
	// ClientIP is the address of the client: the connection's peer, unless
	// a policy trusted a forwarding header and replaced it.
	ClientIP string
	// ServiceID names the service the request was routed to, empty when none.
	ServiceID string
	// Service describes that service; nil when none.
	Service *Service
	// Upstream is where a proxying content producer sends the request.
	Upstream *Upstream
	// UpstreamTimeouts, when a field is set, overrides the upstream's and the
	// gateway's timeout of the same kind for this request.
	UpstreamTimeouts Timeouts
	// Response is the response on its way to the client: set by Respond or
	// Exit for a local answer, or from the upstream's answer when proxying,
	// before the header filters run.
	Response Response
	// Logger logs with the request's service attached.
	Logger *slog.Logger
	// Start is when the request arrived.
	Start time.Time

	exports map[string]any
	values  map[string]any
	private map[any]any

	end      ending
	phase    Phase
	failure  error
	content  contentKind
	producer string // the policy that produced the content

	// pool holds the reusable parts of a Context from AcquireContext.
	pool *pooled
}

// Original is a frozen copy of the request as it arrived.
type Original struct {
	Method   string
	Scheme   string
	Host     string // lower-cased, without port
	Path     string
	RawQuery string
	URI      string // path and query, as sent
	Header   http.Header
}

// Upstream is a proxy target and how to reach it.
type Upstream struct {
	// URL holds the scheme, host and port, and a path prefix to put before
	// the request's path.
	URL *url.URL
	// Host, when set, is sent as the Host header instead of the URL's host.
	Host string
	// Timeouts for connecting, sending the request and reading the response;
	// zero means the gateway's default.
	ConnectTimeout, SendTimeout, ReadTimeout time.Duration
}

// Timeouts bound the work with an upstream; a zero field means "not set".
type Timeouts struct {
	Connect, Send, Read time.Duration
}

// Response is the status, headers and, for a local answer, the body of the
// response to the client.
type Response struct {
	Status int
	Header http.Header
	// Body is the body of a locally produced response. A proxied response's
	// body streams through the body filters instead.
	Body []byte
}

type ending uint8

const (
	running ending = iota
	endPhase
	endRequest
)

type contentKind uint8

const (
	noContent contentKind = iota
	localContent
	proxyContent
)

// NewContext prepares the context of request r. The gateway calls it once
// per request; exports are the chain's static values. Context.Request is a
// copy of r with its own URL and headers, for policies to change; r itself
// stays as the client sent it and backs Context.Original.
func NewContext(r *http.Request, clientIP string, logger *slog.Logger, exports map[string]any) *Context {
	host := r.Host
	if h, _, ok := cutPort(host); ok {
		host = h
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	out := new(http.Request)
	*out = *r
	u := *r.URL
	out.URL = &u
	out.Header = r.Header.Clone()
	if out.Header == nil {
		out.Header = make(http.Header)
	}
	c := &Context{
		Request:  out,
		ClientIP: clientIP,
		Logger:   logger,
		Start:    time.Now(),
		exports:  exports,
		Original: Original{
			Method:   r.Method,
			Scheme:   scheme,
			Host:     lower(host),
			Path:     r.URL.Path,
			RawQuery: r.URL.RawQuery,
			URI:      r.URL.RequestURI(),
			Header:   r.Header,
		},
		Response: Response{Header: make(http.Header)},
	}
	return c
}

func cutPort(host string) (string, string, bool) {
	if len(host) > 0 && host[0] == '[' {
		for i := len(host) - 1; i > 0; i-- {
			if host[i] == ']' {
				if i+1 < len(host) && host[i+1] == ':' {
					return host[1:i], host[i+2:], true
				}
				return host[1:i], "", true
			}
		}
		return host, "", false
	}
	for i := len(host) - 1; i >= 0; i-- {
		if host[i] == ':' {
			return host[:i], host[i+1:], true
		}
	}
	return host, "", false
}

func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// Get returns a value shared between the policies of the request: one a
// policy set during this request, else a static export of the chain.
func (c *Context) Get(key string) (any, bool) {
	if v, ok := c.values[key]; ok {
		return v, true
	}
	v, ok := c.exports[key]
	return v, ok
}

// Set shares a value with the other policies of the request.
func (c *Context) Set(key string, v any) {
	if c.values == nil {
		c.values = make(map[string]any, 4)
	}
	c.values[key] = v
}

// Delete removes a value set during the request.
func (c *Context) Delete(key string) { delete(c.values, key) }

// Values returns the values set during the request, for policies that
// bridge the context into another runtime. Changes to the map are seen by
// every policy.
func (c *Context) Values() map[string]any {
	if c.values == nil {
		c.values = make(map[string]any, 4)
	}
	return c.values
}

// Private returns the per-request state a policy instance keeps for
// itself, keyed by the instance.
func (c *Context) Private(owner any) any { return c.private[owner] }

// SetPrivate stores per-request state for a policy instance.
func (c *Context) SetPrivate(owner, v any) {
	if c.private == nil {
		c.private = make(map[any]any, 2)
	}
	c.private[owner] = v
}

// Exit ends the request with a local response: the rest of the current
// phase and the later request phases are skipped for every policy, while
// header_filter, body_filter, post_action and log still run. A zero status
// ends only the current phase (see ExitPhase).
func (c *Context) Exit(status int, body string) {
	if status == 0 {
		c.ExitPhase()
		return
	}
	c.Response.Status = status
	c.Response.Body = []byte(body)
	if body != "" && c.Response.Header.Get("Content-Type") == "" {
		c.Response.Header.Set("Content-Type", "text/plain; charset=utf-8")
	}
	c.content = localContent
	c.end = endRequest
}

// ExitPhase ends the current phase for every policy; the request goes on
// with the next phase.
func (c *Context) ExitPhase() {
	if c.end == running {
		c.end = endPhase
	}
}

// Exited reports whether a policy ended the request.
func (c *Context) Exited() bool { return c.end == endRequest }

// Failed returns the error of the policy that failed the request, or nil.
func (c *Context) Failed() error { return c.failure }

// Phase returns the phase being run.
func (c *Context) Phase() Phase { return c.phase }

// Respond produces a local response in the content phase.
func (c *Context) Respond(status int, header http.Header, body []byte) {
	c.Response.Status = status
	for k, v := range header {
		c.Response.Header[k] = v
	}
	c.Response.Body = body
	c.content = localContent
}

// ProxyTo makes the request go to upstream u; the gateway proxies it once
// the content phase is over.
func (c *Context) ProxyTo(u *Upstream) {
	c.Upstream = u
	c.content = proxyContent
}

// Proxying reports whether a content producer chose to proxy the request.
func (c *Context) Proxying() bool { return c.content == proxyContent && c.end != endRequest }

// Produced reports whether the response was produced, locally or by proxying.
func (c *Context) Produced() bool { return c.content != noContent }

// Producer names the policy that produced the content, if any.
func (c *Context) Producer() string { return c.producer }
