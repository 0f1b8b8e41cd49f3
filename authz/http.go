package authz

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/verdict-policy/verdict/internal/reply"
)

// call is the per-request scratch space of a proxy adapter, pooled so a
// decision reuses its request and outcome slices.
type call struct {
	req Request
	out Outcome
}

func (d *Door) getCall(s *snapshot) *call {
	c, _ := d.calls.Get().(*call)
	if c == nil {
		c = new(call)
	}
	c.req.verifier = s.verifier
	return c
}

func (d *Door) putCall(c *call) {
	c.req = Request{}
	c.out.Reset()
	d.calls.Put(c)
}

// serveEnvoy answers Envoy's HTTP ext_authz check. Envoy sends the
// client's method and path_prefix + the client's path, so the original
// request is the request line with the prefix cut. Allow is exactly 200
// with the upstream mutations as headers; deny is the decision's status
// (never 200 nor a 5xx) with its headers and body.
func (d *Door) serveEnvoy(w http.ResponseWriter, r *http.Request, s *snapshot) {
	c := d.getCall(s)
	defer d.putCall(c)
	req := &c.req
	uri := strings.TrimPrefix(r.RequestURI, EnvoyPath)
	if uri == r.RequestURI { // an absolute-form request line
		uri = strings.TrimPrefix(r.URL.RequestURI(), EnvoyPath)
	}
	req.Method, req.Host, req.Header = r.Method, r.Host, r.Header
	req.Path, req.RawQuery = splitURI(uri)
	req.Scheme = forwardedProto(r)
	req.ClientIP = clientIP(r.Header, r.RemoteAddr)
	if r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
		if err != nil {
			var mbe *http.MaxBytesError
			d.metrics.invalid(adEnvoy)
			if errors.As(err, &mbe) {
				reply.Error(w, http.StatusRequestEntityTooLarge, "body_too_large",
					"the request body exceeds "+strconv.FormatInt(s.maxBody, 10)+" bytes (limits.max_body_bytes)")
				return
			}
			reply.Error(w, http.StatusBadRequest, "invalid_body", "the request body could not be read: "+err.Error())
			return
		}
		req.Body = body
	}
	o := &c.out
	d.decide(s.envoy, req, o, adEnvoy)
	h := w.Header()
	if o.Allow {
		for _, f := range o.SetRequest {
			h.Set(f.Name, f.Value)
		}
		for _, f := range o.AppendRequest {
			h.Add(f.Name, f.Value)
		}
		for _, f := range o.SetResponse {
			h.Set(f.Name, f.Value)
		}
		if len(o.RemoveRequest) > 0 {
			h.Set("X-Envoy-Auth-Headers-To-Remove", strings.Join(o.RemoveRequest, ", "))
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	st := o.Status
	if st == http.StatusOK || st < 200 || st >= 500 {
		st = http.StatusForbidden
	}
	writeDenial(w, o, st, true)
}

// serveNginx answers nginx's auth_request subrequest: always a GET, with
// the original URI and method in configured headers (X-Forwarded-Uri and
// X-Forwarded-Method as fallbacks). Allow is 200 with the upstream
// mutations as headers for auth_request_set; deny is 401 (with
// WWW-Authenticate) or 403, as nginx turns any other status into 500.
func (d *Door) serveNginx(w http.ResponseWriter, r *http.Request, s *snapshot) {
	uri := firstHeader(r.Header, s.uriHeader, "X-Forwarded-Uri")
	if uri == "" {
		d.metrics.invalid(adNginx)
		reply.Error(w, http.StatusBadRequest, "invalid_request",
			"the original URI is missing: send it in the "+s.uriHeaderName+" header (proxy_set_header "+s.uriHeaderName+" $request_uri)")
		return
	}
	c := d.getCall(s)
	defer d.putCall(c)
	req := &c.req
	fillForwarded(req, r, uri, firstHeader(r.Header, s.methodHeader, "X-Forwarded-Method"))
	o := &c.out
	d.decide(s.nginx, req, o, adNginx)
	h := w.Header()
	if o.Allow {
		setRequestMutations(h, o)
		w.WriteHeader(http.StatusOK)
		return
	}
	if o.Status == http.StatusUnauthorized {
		for _, f := range o.SetResponse {
			if strings.EqualFold(f.Name, "WWW-Authenticate") {
				h.Add("WWW-Authenticate", f.Value)
			}
		}
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	w.WriteHeader(http.StatusForbidden)
}

// serveForward answers Traefik's ForwardAuth and Caddy's forward_auth: the
// original request is in X-Forwarded-Method/-Proto/-Host/-Uri/-For. Allow
// is 200 with the upstream mutations as headers for authResponseHeaders or
// copy_headers; deny is the decision's status, headers and body, which the
// proxy passes to the client.
func (d *Door) serveForward(w http.ResponseWriter, r *http.Request, s *snapshot) {
	uri := r.Header.Get("X-Forwarded-Uri")
	if uri == "" {
		uri = strings.TrimPrefix(r.URL.RequestURI(), ForwardPath)
	}
	c := d.getCall(s)
	defer d.putCall(c)
	req := &c.req
	fillForwarded(req, r, uri, r.Header.Get("X-Forwarded-Method"))
	o := &c.out
	d.decide(s.forward, req, o, adForward)
	h := w.Header()
	if o.Allow {
		setRequestMutations(h, o)
		w.WriteHeader(http.StatusOK)
		return
	}
	st := o.Status
	if st < 300 || st >= 500 {
		st = http.StatusForbidden
	}
	writeDenial(w, o, st, true)
}

// setRequestMutations writes an allowing outcome's changes to the upstream
// request as headers of the answer, for the proxy to copy onto it.
func setRequestMutations(h http.Header, o *Outcome) {
	for _, f := range o.SetRequest {
		h.Set(f.Name, f.Value)
	}
	for _, f := range o.AppendRequest {
		h.Add(f.Name, f.Value)
	}
}

// fillForwarded rebuilds the original request of a proxy that reports it
// in headers.
func fillForwarded(req *Request, r *http.Request, uri, method string) {
	if method == "" {
		method = r.Method
	}
	req.Method = method
	req.Path, req.RawQuery = splitURI(uri)
	req.Host = r.Header.Get("X-Forwarded-Host")
	if req.Host == "" {
		req.Host = r.Host
	}
	req.Scheme = forwardedProto(r)
	req.Header = r.Header
	req.ClientIP = clientIP(r.Header, r.RemoteAddr)
}

func forwardedProto(r *http.Request) string {
	if p := r.Header.Get("X-Forwarded-Proto"); p != "" {
		return p
	}
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

func firstHeader(h http.Header, names ...string) string {
	for _, n := range names {
		if v := h.Get(n); v != "" {
			return v
		}
	}
	return ""
}

// writeDenial writes a denial: the response headers, Location for a
// redirect, and the body.
func writeDenial(w http.ResponseWriter, o *Outcome, st int, withBody bool) {
	h := w.Header()
	for _, f := range o.SetResponse {
		h.Set(f.Name, f.Value)
	}
	if o.Location != "" {
		h.Set("Location", o.Location)
	}
	if st == http.StatusNoContent || st == http.StatusNotModified {
		w.WriteHeader(st)
		return
	}
	if !withBody || o.Body == "" {
		h.Set("Content-Length", "0")
		w.WriteHeader(st)
		return
	}
	if h.Get("Content-Type") == "" {
		if o.JSONBody {
			h.Set("Content-Type", "application/json")
		} else {
			h.Set("Content-Type", "text/plain; charset=utf-8")
		}
	}
	h.Set("Content-Length", strconv.Itoa(len(o.Body)))
	w.WriteHeader(st)
	_, _ = io.WriteString(w, o.Body)
}
