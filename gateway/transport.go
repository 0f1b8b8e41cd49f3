package gateway

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/verdict-policy/verdict/chain"
)

// transports keeps one client per upstream (the gateway's own connPool
// for http, a tuned http.Transport per set of timeouts for https), shared
// across reloads so that kept-alive connections survive a configuration
// change.
type transports struct {
	logger *slog.Logger

	mu     sync.RWMutex
	m      map[transportKey]roundTripper
	limits map[limitKey]*connLimit
}

// roundTripper is the gateway's own connPool, or http.Transport for TLS.
// RoundTrip may read the response header into hdr, which must be empty
// and not shared; the response's Header is the map to use. The timeouts
// bound this exchange (an http.Transport has its own, fixed when it was
// made).
type roundTripper interface {
	RoundTrip(req *http.Request, hdr http.Header, t chain.Timeouts) (*http.Response, error)
	CloseIdleConnections()
}

// stdTransport is an http.Transport as a roundTripper, with the
// upstream's connection limit, if any.
type stdTransport struct {
	*http.Transport
	limit *connLimit
}

func (t stdTransport) RoundTrip(req *http.Request, _ http.Header, _ chain.Timeouts) (*http.Response, error) {
	if req.Body != nil && req.Body != http.NoBody {
		// Errors reading the client's body are told apart from the
		// upstream's.
		req.Body = &clientBody{r: req.Body}
	}
	if t.limit == nil {
		return t.Transport.RoundTrip(req)
	}
	if err := t.limit.acquire(req.Context()); err != nil {
		return nil, err
	}
	resp, err := t.Transport.RoundTrip(req)
	if err != nil {
		t.limit.release()
		return nil, err
	}
	resp.Body = &limitedBody{ReadCloser: resp.Body, limit: t.limit}
	return resp, nil
}

// upstreamPool holds the settings of the connections to an upstream.
type upstreamPool struct {
	keepalive time.Duration // idle connections are closed after this long
	maxConns  int           // connections in use at once; 0: no limit
	queue     time.Duration // how long a request waits for one of maxConns
}

func upstreamPoolOf(s *Config) upstreamPool {
	return upstreamPool{keepalive: s.UpstreamKeepalive, maxConns: s.UpstreamMaxConns, queue: s.UpstreamQueueTimeout}
}

type transportKey struct {
	scheme, host string
	timeouts     chain.Timeouts // https only: the own client takes them per exchange
	pool         upstreamPool
}

type limitKey struct {
	scheme, host string
	maxConns     int
	queue        time.Duration
}

func newTransports(logger *slog.Logger) *transports {
	return &transports{logger: logger, m: map[transportKey]roundTripper{}, limits: map[limitKey]*connLimit{}}
}

// maxIdlePerUpstream is how many idle connections to one upstream are kept
// for reuse: enough for a busy gateway to keep every connection alive.
const maxIdlePerUpstream = 1024

func (ts *transports) get(scheme, host string, t chain.Timeouts, pool upstreamPool) roundTripper {
	k := transportKey{scheme: scheme, host: host, pool: pool}
	if scheme != "http" {
		k.timeouts = t
	}
	ts.mu.RLock()
	tr := ts.m[k]
	ts.mu.RUnlock()
	if tr != nil {
		return tr
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if tr = ts.m[k]; tr != nil {
		return tr
	}
	var limit *connLimit
	if pool.maxConns > 0 {
		// One limit for the upstream, whatever the timeouts of its
		// transports.
		lk := limitKey{scheme, host, pool.maxConns, pool.queue}
		if limit = ts.limits[lk]; limit == nil {
			limit = newConnLimit(pool.maxConns, pool.queue)
			ts.limits[lk] = limit
		}
	}
	if scheme == "http" {
		addr := host
		if _, _, err := net.SplitHostPort(host); err != nil {
			addr = net.JoinHostPort(strings.Trim(host, "[]"), "80")
		}
		tr = &connPool{
			addr: addr,
			dial: func(ctx context.Context, timeout time.Duration) (net.Conn, error) {
				d := net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
				return d.DialContext(ctx, "tcp", addr)
			},
			maxIdle: maxIdlePerUpstream,
			idleFor: pool.keepalive,
			limit:   limit,
			logger:  ts.logger,
		}
		ts.m[k] = tr
		return tr
	}
	dialer := &net.Dialer{Timeout: t.Connect, KeepAlive: 30 * time.Second}
	idle := pool.keepalive
	if t.Read > 0 && t.Read < idle {
		idle = t.Read
	}
	tr = stdTransport{Transport: &http.Transport{
		Proxy: nil, // the gateway talks to its upstreams directly
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &deadlineConn{Conn: c, read: t.Read, send: t.Send}, nil
		},
		MaxIdleConns:        0, // no overall limit
		MaxIdleConnsPerHost: maxIdlePerUpstream,
		IdleConnTimeout:     idle,
		// No ResponseHeaderTimeout: deadlineConn bounds the wait for the
		// header from the last write of the request, without a timer per
		// request.
		ExpectContinueTimeout: time.Second,
		TLSHandshakeTimeout:   t.Connect,
		DisableCompression:    true, // pass the client's Accept-Encoding through
		WriteBufferSize:       16 << 10,
		ReadBufferSize:        16 << 10,
	}, limit: limit}
	ts.m[k] = tr
	return tr
}

// closeIdle closes the idle connections of every transport.
func (ts *transports) closeIdle() {
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	for _, tr := range ts.m {
		tr.CloseIdleConnections()
	}
}

// errConnLimit is the answer to a request that waited its upstream's
// queue timeout for a connection.
var errConnLimit = errors.New("every connection the upstream may have is in use")

// connLimit bounds the connections in use to one upstream, as nginx's
// max_conns does: a request that finds them all busy waits, in turn, up
// to the queue timeout for one to be released. Idle kept-alive
// connections do not count.
type connLimit struct {
	slots chan struct{}
	queue time.Duration
}

func newConnLimit(n int, queue time.Duration) *connLimit {
	return &connLimit{slots: make(chan struct{}, n), queue: queue}
}

// acquire takes a slot, waiting up to the queue timeout; it returns
// errConnLimit when none was released in time, or ctx's error.
func (l *connLimit) acquire(ctx context.Context) error {
	select {
	case l.slots <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(l.queue)
	defer t.Stop()
	select {
	case l.slots <- struct{}{}:
		return nil
	case <-t.C:
		return errConnLimit
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *connLimit) release() { <-l.slots }

// limitedBody releases its connection's slot when closed.
type limitedBody struct {
	io.ReadCloser
	limit *connLimit
	done  bool
}

func (b *limitedBody) Close() error {
	err := b.ReadCloser.Close()
	if !b.done {
		b.done = true
		b.limit.release()
	}
	return err
}

// deadlineConn gives every read and write on an upstream connection its
// own deadline, as nginx's proxy_read_timeout and proxy_send_timeout do:
// the time allowed between two successive operations, not for the whole
// response, so long streams are fine while they keep moving. A deadline is
// moved only once it has fallen a sixteenth of its timeout behind, since
// moving one costs more than the read or write it guards; so an operation
// gets between fifteen sixteenths of its timeout and all of it.
type deadlineConn struct {
	net.Conn
	read, send time.Duration
	// The deadlines set, in Unix nanoseconds: http.Transport reads and
	// writes a connection from two goroutines.
	readAt, sendAt atomic.Int64
}

func (c *deadlineConn) Read(p []byte) (int, error) {
	if c.read > 0 {
		if err := c.moveRead(time.Now()); err != nil {
			return 0, err
		}
	}
	return c.Conn.Read(p)
}

// Write also moves the read deadline: the transport reads an idle
// connection all along, so the read in progress when a request goes out
// started long ago; the answer gets the full read timeout from now.
func (c *deadlineConn) Write(p []byte) (int, error) {
	if c.send > 0 || c.read > 0 {
		now := time.Now()
		if c.send > 0 {
			if want := now.Add(c.send); want.UnixNano()-c.sendAt.Load() > int64(c.send/16) {
				if err := c.Conn.SetWriteDeadline(want); err != nil {
					return 0, err
				}
				c.sendAt.Store(want.UnixNano())
			}
		}
		if c.read > 0 {
			if err := c.moveRead(now); err != nil {
				return 0, err
			}
		}
	}
	return c.Conn.Write(p)
}

func (c *deadlineConn) moveRead(now time.Time) error {
	want := now.Add(c.read)
	if want.UnixNano()-c.readAt.Load() <= int64(c.read/16) {
		return nil
	}
	if err := c.Conn.SetReadDeadline(want); err != nil {
		return err
	}
	c.readAt.Store(want.UnixNano())
	return nil
}
