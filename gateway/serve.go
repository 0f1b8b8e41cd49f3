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
	"github.com/verdict-policy/verdict/internal/httpx"
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
		ctx.Service = svc.view
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

	// The phases run in chain's order (see chain.Chain.Begin); the
	// proxying in between is the gateway's.
	ch.Begin(ctx, sm)
	abort, reuse := false, true
	if ch.Route(ctx, sm) {
		abort, reuse = g.proxy(w, ctx, ch, st, sm)
	} else {
		g.writeLocal(w, ctx, ch, sm)
	}
	ch.Finish(ctx, sm)
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
	body := ch.AnswerLocal(ctx, sm)
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

// removeHopHeaders removes from an upstream's response the fields of its
// connection: those its Connection header names and the standard ones.
func removeHopHeaders(h http.Header) {
	httpx.RemoveConnectionNamed(h)
	httpx.RemoveHopByHop(h)
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
			ch.RunBalancer(ctx, sm)
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
	ch.FilterHeader(ctx, sm)
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
func effectiveTimeouts(ctx *chain.Context, up *chain.Upstream, s *Config) chain.Timeouts {
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
