package gateway

import (
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/verdict-policy/verdict/chain"
)

// transports keeps one client per upstream and set of timeouts (the
// gateway's own connPool for http, a tuned http.Transport for https),
// shared across reloads so that kept-alive connections survive a
// configuration change.
type transports struct {
	mu sync.RWMutex
	m  map[transportKey]roundTripper
}

// roundTripper is the gateway's own connPool, or http.Transport for TLS.
// RoundTrip may read the response header into hdr, which must be empty
// and not shared; the response's Header is the map to use.
type roundTripper interface {
	RoundTrip(req *http.Request, hdr http.Header) (*http.Response, error)
	CloseIdleConnections()
}

// stdTransport is an http.Transport as a roundTripper.
type stdTransport struct{ *http.Transport }

func (t stdTransport) RoundTrip(req *http.Request, _ http.Header) (*http.Response, error) {
	return t.Transport.RoundTrip(req)
}

type transportKey struct {
	scheme, host string
	timeouts     chain.Timeouts
}

func newTransports() *transports { return &transports{m: map[transportKey]roundTripper{}} }

// maxIdlePerUpstream is how many idle connections to one upstream are kept
// for reuse: enough for a busy gateway to keep every connection alive.
const maxIdlePerUpstream = 1024

// idleReuse bounds how long the gateway's own client keeps a connection
// idle: under the five seconds after which Node.js and Apache close theirs,
// so that a request never goes out on a connection the upstream dropped.
const idleReuse = 4 * time.Second

func (ts *transports) get(scheme, host string, t chain.Timeouts) roundTripper {
	k := transportKey{scheme, host, t}
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
	dialer := &net.Dialer{Timeout: t.Connect, KeepAlive: 30 * time.Second}
	if scheme == "http" {
		addr := host
		if _, _, err := net.SplitHostPort(host); err != nil {
			addr = net.JoinHostPort(strings.Trim(host, "[]"), "80")
		}
		tr = &connPool{
			addr: addr,
			dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
				c, err := dialer.DialContext(ctx, network, addr)
				if err != nil {
					return nil, err
				}
				return &watchedConn{Conn: c, read: t.Read, send: t.Send}, nil
			},
			maxIdle: maxIdlePerUpstream,
			idleFor: idleReuse,
		}
		ts.m[k] = tr
		return tr
	}
	idle := 90 * time.Second
	if t.Read > 0 && t.Read < idle {
		idle = t.Read
	}
	tr = stdTransport{&http.Transport{
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
	}}
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
