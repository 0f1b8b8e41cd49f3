package chain

import (
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// pooled are the parts of a Context that AcquireContext reuses from one
// request to the next: the request copy, its URL and headers, and the maps.
type pooled struct {
	req     http.Request
	url     url.URL
	header  http.Header
	respHdr http.Header
}

var contextPool = sync.Pool{New: func() any {
	return &Context{pool: &pooled{header: make(http.Header, 16), respHdr: make(http.Header, 8)}}
}}

// maxPooledHeaders bounds the header maps kept for reuse, so that one
// request with huge headers does not pin memory.
const maxPooledHeaders = 64

// AcquireContext is NewContext with the Context, its request copy and its
// maps taken from a pool, which spares a busy gateway most of the
// allocations of a request. The caller must call Release once the request
// is over (after log), and neither it nor any policy may keep the Context,
// its Request or its header maps after that.
func AcquireContext(r *http.Request, clientIP string, logger *slog.Logger, exports map[string]any) *Context {
	c := contextPool.Get().(*Context)
	p := c.pool
	host := r.Host
	if h, _, ok := cutPort(host); ok {
		host = h
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	p.req = *r
	p.url = *r.URL
	p.req.URL = &p.url
	n := 0
	for _, vs := range r.Header {
		n += len(vs)
	}
	// The values get a fresh array: a policy may share a request header's
	// values with the response (CORS echoing Origin), and the server may
	// still be writing that response after Release.
	vals := make([]string, n)
	for k, vs := range r.Header {
		// A full slice expression: appending to one header's values
		// reallocates instead of running into the next header's.
		dst := vals[:len(vs):len(vs)]
		copy(dst, vs)
		p.header[k] = dst
		vals = vals[len(vs):]
	}
	p.req.Header = p.header

	c.Request = &p.req
	c.ClientIP = clientIP
	c.Logger = logger
	c.Start = time.Now()
	c.exports = exports
	c.Original = Original{
		Method:   r.Method,
		Scheme:   scheme,
		Host:     lower(host),
		Path:     r.URL.Path,
		RawQuery: r.URL.RawQuery,
		URI:      r.URL.RequestURI(),
		Header:   r.Header,
	}
	c.Response = Response{Header: p.respHdr}
	return c
}

// Release returns a Context from AcquireContext to the pool. It does
// nothing for a Context from NewContext.
func (c *Context) Release() {
	p := c.pool
	if p == nil {
		return
	}
	if len(p.header) > maxPooledHeaders {
		p.header = make(http.Header, 16)
	} else {
		clear(p.header)
	}
	if len(p.respHdr) > maxPooledHeaders {
		p.respHdr = make(http.Header, 8)
	} else {
		clear(p.respHdr)
	}
	p.req = http.Request{}
	p.url = url.URL{}
	values, private := c.values, c.private
	if len(values) > maxPooledHeaders {
		values = nil
	}
	if len(private) > maxPooledHeaders {
		private = nil
	}
	clear(values)
	clear(private)
	*c = Context{pool: p, values: values, private: private}
	contextPool.Put(c)
}

// EmptyResponseHeader returns an empty header map for the response: the
// Context's pooled one, cleared, when it came from AcquireContext, else a
// new one. The gateway reads the upstream's response header into it.
func (c *Context) EmptyResponseHeader() http.Header {
	if c.pool == nil {
		return make(http.Header)
	}
	clear(c.pool.respHdr)
	return c.pool.respHdr
}
