package gateway

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/config"
)

// ServeHTTP runs one request through its chain: rewrite, access and
// content, then either the proxied or the local response through the
// header and body filters, then post_action and log.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	st := g.acquire()
	defer st.release()

	if !st.settings.UnderscoresInHeaders {
		dropUnderscoreNames(r.Header)
	}
	svc := st.lookup(requestHost(r.Host))
	ch, logger, sm := st.global, g.logger, st.unknown
	if svc != nil {
		ch, logger, sm = svc.chain, svc.logger, svc.metrics
	}
	ctx := chain.AcquireContext(r, clientIP(r.RemoteAddr), logger, ch.Exports())
	dropConnectionNamed(ctx.Request.Header)
	if svc != nil {
		ctx.ServiceID = svc.id
		ctx.Service = svc.cfg
	} else {
		// APIcast's answer: 404, an empty body, nginx's default type. The
		// global chain still sees the request (its filters and log run),
		// but nothing may answer it but this.
		ctx.Response.Header.Set("Content-Type", "text/plain")
		ctx.Exit(http.StatusNotFound, "")
		if logger.Enabled(r.Context(), slog.LevelDebug) {
			logger.Debug("no service for host", "host", ctx.Original.Host)
		}
	}
	if r.Method == http.MethodConnect {
		// A tunnel is not an API request; nothing upstream expects one.
		ctx.Response.Header.Set("Allow", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS")
		ctx.Exit(http.StatusMethodNotAllowed, "CONNECT is not supported by the gateway\n")
	}

	// The request phases follow one another: each ends where the next
	// starts, the first where the request did.
	mark := ctx.Start
	if ch.Has(chain.PhaseRewrite) {
		ch.Rewrite(ctx)
		mark = sm.lap(chain.PhaseRewrite, mark)
	}
	if ch.Has(chain.PhaseAccess) {
		ch.Access(ctx)
		mark = sm.lap(chain.PhaseAccess, mark)
	}
	if ch.Has(chain.PhaseContent) {
		ch.Content(ctx)
		sm.lap(chain.PhaseContent, mark)
	}
	abort := false
	if ctx.Proxying() {
		if u := ctx.Upstream; u == nil || u.URL == nil || u.URL.Host == "" || (u.URL.Scheme != "http" && u.URL.Scheme != "https") {
			// A content policy chose no usable upstream: a policy bug,
			// so the request fails closed like any other.
			logger.Error("a content policy chose no usable upstream; failing the request closed",
				"service", ctx.ServiceID, "policy", ctx.Producer())
			ctx.Response.Header = make(http.Header)
			ctx.Exit(ch.FailStatus(), "")
		} else if ch.Has(chain.PhaseBalancer) {
			t := time.Now()
			ch.Balance(ctx)
			sm.observe(chain.PhaseBalancer, t)
		}
	}
	reuse := true
	if ctx.Proxying() {
		abort, reuse = g.proxy(w, ctx, ch, st, sm)
	} else {
		g.writeLocal(w, ctx, ch, sm)
	}
	if ch.Has(chain.PhasePostAction) {
		t := time.Now()
		ch.PostAction(ctx)
		sm.observe(chain.PhasePostAction, t)
	}
	if ch.Has(chain.PhaseLog) {
		t := time.Now()
		ch.Log(ctx)
		sm.observe(chain.PhaseLog, t)
	}
	sm.request(ctx.Response.Status)
	if reuse {
		ctx.Release()
	}
	if abort {
		// The response was cut short after its header went out: closing
		// the connection is the only way left to tell the client.
		panic(http.ErrAbortHandler)
	}
}

// writeLocal sends a response produced by a policy (or by no policy: 200
// with an empty body) through the header and body filters.
func (g *Gateway) writeLocal(w http.ResponseWriter, ctx *chain.Context, ch *chain.Chain, sm *serviceMetrics) {
	if ctx.Response.Status == 0 {
		ctx.Response.Status = http.StatusOK
	}
	if ch.Has(chain.PhaseHeaderFilter) {
		t := time.Now()
		ch.HeaderFilter(ctx)
		sm.observe(chain.PhaseHeaderFilter, t)
	}
	body := ctx.Response.Body
	if ch.HasBodyFilters() {
		t := time.Now()
		out, err := ch.BodyFilter(ctx, body, true)
		sm.observe(chain.PhaseBodyFilter, t)
		if err == nil {
			body = out
		} else {
			body = nil // the chain replaced the response with its fail status
		}
	}
	h := w.Header()
	for k, v := range ctx.Response.Header {
		h[k] = v
	}
	h.Del("Transfer-Encoding")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(ctx.Response.Status)
	if len(body) > 0 && ctx.Request.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// hopHeaders are the headers of one connection, never forwarded.
var hopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

func removeHopHeaders(h http.Header) {
	if c := h["Connection"]; len(c) > 0 {
		for _, v := range c {
			for _, name := range strings.Split(v, ",") {
				if name = strings.TrimSpace(name); name != "" {
					h.Del(name)
				}
			}
		}
	}
	for _, k := range hopHeaders {
		if _, ok := h[k]; ok {
			delete(h, k)
		}
	}
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// proxy sends the request to ctx.Upstream and streams the answer back
// through the filters. It reports whether the response had to be cut
// short after its header was sent, and whether the request may be reused:
// not after a failed exchange, as the transport may still be finishing
// with it.
func (g *Gateway) proxy(w http.ResponseWriter, ctx *chain.Context, ch *chain.Chain, st *state, sm *serviceMetrics) (abort, reuse bool) {
	up := ctx.Upstream
	out := ctx.Request
	timeouts := effectiveTimeouts(ctx, up, &st.settings)

	target := up.URL
	out.URL.Scheme = target.Scheme
	out.URL.Host = target.Host
	out.URL.Path, out.URL.RawPath = joinPath(target, out.URL)
	if target.RawQuery != "" {
		out.URL.RawQuery = target.RawQuery
	}
	out.Host = target.Host
	if up.Host != "" {
		out.Host = up.Host
	}
	out.RequestURI = ""
	out.Close = false
	if out.ContentLength == 0 {
		out.Body = nil
	}
	stripForUpstream(out.Header)
	out.Header["X-Real-Ip"] = []string{ctx.ClientIP}

	pool := upstreamPoolOf(&st.settings)
	tr := g.transports.get(target.Scheme, target.Host, timeouts, pool)
	hdr := ctx.EmptyResponseHeader()
	start := time.Now()
	resp, err := tr.RoundTrip(out, hdr, timeouts)
	sm.wait.Observe(time.Since(start).Seconds())
	for attempt := 1; g.retryable(ctx, out, resp, err, attempt); attempt++ {
		if resp != nil {
			_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
			resp.Body.Close()
		}
		ctx.Set(chain.RetriesKey, attempt)
		ctx.Logger.Debug("retrying the upstream", "upstream", target.Host, "attempt", attempt)
		if ch.Has(chain.PhaseBalancer) {
			t := time.Now()
			ch.Balance(ctx)
			sm.observe(chain.PhaseBalancer, t)
			if ctx.Failed() != nil {
				g.writeLocal(w, ctx, ch, sm)
				return false, false
			}
		}
		if ctx.Upstream != nil && ctx.Upstream.URL != nil && ctx.Upstream.URL.Host != "" && ctx.Upstream.URL.Host != target.Host {
			target = ctx.Upstream.URL
			out.URL.Scheme, out.URL.Host, out.Host = target.Scheme, target.Host, target.Host
			if ctx.Upstream.Host != "" {
				out.Host = ctx.Upstream.Host
			}
			tr = g.transports.get(target.Scheme, target.Host, timeouts, pool)
		}
		start = time.Now()
		resp, err = tr.RoundTrip(out, hdr, timeouts)
		sm.wait.Observe(time.Since(start).Seconds())
	}
	if err == nil && resp.StatusCode == http.StatusSwitchingProtocols {
		// Where a relay of upgraded connections (WebSocket) will hook
		// in. Until then: the gateway never forwards Upgrade, so an
		// upstream switching protocols answers a request it was not
		// sent; its connection is closed, not reused.
		resp.Body.Close()
		resp, err = nil, errSwitchedProtocols
	}
	if err != nil {
		g.upstreamFailed(w, ctx, ch, sm, target.Host, err)
		return false, false
	}
	defer resp.Body.Close()

	removeHopHeaders(resp.Header)
	// As nginx does by default, and so APIcast: the client gets the
	// gateway's own Date and no upstream Server (proxy_hide_header). A
	// policy may still set either.
	delete(resp.Header, "Date")
	delete(resp.Header, "Server")
	ctx.Response.Status = resp.StatusCode
	ctx.Response.Header = resp.Header
	ctx.Response.Body = nil
	if ch.Has(chain.PhaseHeaderFilter) {
		t := time.Now()
		ch.HeaderFilter(ctx)
		sm.observe(chain.PhaseHeaderFilter, t)
	}
	if ctx.Failed() != nil {
		g.writeLocal(w, ctx, ch, sm)
		return false, true
	}
	filters := ch.HasBodyFilters()
	h := w.Header()
	for k, v := range ctx.Response.Header {
		h[k] = v
	}
	if filters {
		// The filters may change the body's length.
		delete(h, "Content-Length")
	}
	w.WriteHeader(ctx.Response.Status)

	flusher, _ := w.(http.Flusher)
	flush := resp.ContentLength < 0 && flusher != nil
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	var filtering time.Duration // time in the body filters, over every chunk
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			chunk := buf[:n]
			if filters {
				t := time.Now()
				chunk, err = ch.BodyFilter(ctx, chunk, false)
				filtering += time.Since(t)
				if err != nil {
					return true, false
				}
			}
			if len(chunk) > 0 {
				if _, werr := w.Write(chunk); werr != nil {
					return false, false // the client went away
				}
				if flush {
					flusher.Flush()
				}
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			ctx.Logger.Warn("upstream response cut short", "upstream", target.Host, "error", rerr.Error())
			return true, false
		}
	}
	if filters {
		t := time.Now()
		last, err := ch.BodyFilter(ctx, nil, true)
		filtering += time.Since(t)
		sm.phase[chain.PhaseBodyFilter].Observe(filtering.Seconds())
		if err != nil {
			return true, false
		}
		if len(last) > 0 {
			_, _ = w.Write(last)
		}
	}
	return false, true
}

// errSwitchedProtocols is an upstream's 101 Switching Protocols, which
// the gateway does not relay.
var errSwitchedProtocols = errors.New("the upstream switched protocols (101), which the gateway does not relay")

// upstreamFailed answers a request whose upstream exchange failed before
// a response came: the status and the log line say whose fault it was.
func (g *Gateway) upstreamFailed(w http.ResponseWriter, ctx *chain.Context, ch *chain.Chain, sm *serviceMetrics, upstream string, err error) {
	status, msg := http.StatusBadGateway, "the upstream could not be reached"
	var ne net.Error
	var be *bodyError
	switch {
	case errors.Is(err, context.Canceled):
		// Nobody is left to answer; 499 is nginx's status for this.
		status, msg = 499, "the client went away"
		ctx.Logger.Debug("client went away before the upstream answered", "upstream", upstream)
	case errors.As(err, &be):
		// The client's fault, not the upstream's: a chunked body that
		// does not parse, one cut short, or one too slow to come.
		status, msg = http.StatusBadRequest, "the request body could not be read: "+be.err.Error()
		if errors.Is(be.err, os.ErrDeadlineExceeded) || (errors.As(be.err, &ne) && ne.Timeout()) {
			status, msg = http.StatusRequestTimeout, "the request body did not arrive in time"
		}
		ctx.Logger.Debug("request body could not be read", "upstream", upstream, "error", be.err.Error())
	case errors.Is(err, errConnLimit):
		status, msg = http.StatusServiceUnavailable, "the upstream is at its connection limit; try again later"
		ctx.Logger.Warn("upstream connection limit reached: request refused after waiting its queue timeout", "upstream", upstream)
	default:
		switch {
		case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
			status, msg = http.StatusGatewayTimeout, "the upstream did not answer in time"
		case errors.Is(err, errSwitchedProtocols):
			msg = "the upstream switched protocols, which the gateway does not relay"
		case errors.Is(err, errMalformed) || errors.Is(err, errHeaderTooLarge):
			msg = "the upstream sent a response the gateway cannot relay"
		}
		ctx.Logger.Warn("upstream request failed", "upstream", upstream, "error", err.Error())
	}
	ctx.Response = chain.Response{Status: status, Header: make(http.Header), Body: []byte(msg + "\n")}
	ctx.Response.Header.Set("Content-Type", "text/plain; charset=utf-8")
	g.writeLocal(w, ctx, ch, sm)
}

// retryable reports whether attempt number attempt may follow a failed
// one, by the *chain.Retry a policy left in the context. The client going
// away is never retried, nor a request whose body cannot be sent again.
func (g *Gateway) retryable(ctx *chain.Context, out *http.Request, resp *http.Response, err error, attempt int) bool {
	v, ok := ctx.Get(chain.RetryKey)
	if !ok {
		return false
	}
	r, ok := v.(*chain.Retry)
	if !ok || r == nil || attempt > r.Attempts || !r.Allows(out.Method) {
		return false
	}
	if out.Body != nil && out.Body != http.NoBody {
		return false
	}
	if err != nil {
		return !errors.Is(err, context.Canceled) && out.Context().Err() == nil
	}
	return r.Statuses[resp.StatusCode]
}

// joinPath puts the upstream URL's path before the request's: base /foo
// and request /bar give /foo/bar, request / gives /foo exactly.
func joinPath(bu, ru *url.URL) (path, rawPath string) {
	bp := bu.Path
	if bp == "" || bp == "/" {
		return ru.Path, ru.RawPath
	}
	if ru.Path == "" || ru.Path == "/" {
		return bp, bu.RawPath
	}
	bp = strings.TrimSuffix(bp, "/")
	if bu.RawPath == "" && ru.RawPath == "" {
		return bp + ru.Path, ""
	}
	return bp + ru.Path, strings.TrimSuffix(bu.EscapedPath(), "/") + ru.EscapedPath()
}

// effectiveTimeouts picks each timeout from the request (a policy's
// choice), else the upstream, else the gateway's setting.
func effectiveTimeouts(ctx *chain.Context, up *chain.Upstream, s *config.Gateway) chain.Timeouts {
	t := chain.Timeouts{Connect: s.ConnectTimeout, Send: s.SendTimeout, Read: s.ReadTimeout}
	if up.ConnectTimeout > 0 {
		t.Connect = up.ConnectTimeout
	}
	if up.SendTimeout > 0 {
		t.Send = up.SendTimeout
	}
	if up.ReadTimeout > 0 {
		t.Read = up.ReadTimeout
	}
	if o := ctx.UpstreamTimeouts; o != (chain.Timeouts{}) {
		if o.Connect > 0 {
			t.Connect = o.Connect
		}
		if o.Send > 0 {
			t.Send = o.Send
		}
		if o.Read > 0 {
			t.Read = o.Read
		}
	}
	return t
}
