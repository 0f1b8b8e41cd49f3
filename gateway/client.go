package gateway

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"syscall"
	"time"
)

// connPool is the gateway's own HTTP/1.1 client for one plain-http
// upstream: a LIFO pool of kept-alive connections, each with its buffered
// reader and writer. A request is written and its response read on the
// handler's goroutine, which spares the two goroutine hand-offs, the
// per-request context and the timers of http.Transport; TLS upstreams use
// http.Transport.
type connPool struct {
	addr    string // host:port to dial
	dial    func(ctx context.Context, network, addr string) (net.Conn, error)
	maxIdle int
	idleFor time.Duration // idle connections older than this are dropped

	mu   sync.Mutex
	idle []*pconn
}

type pconn struct {
	conn  net.Conn
	br    *bufio.Reader
	bw    *bufio.Writer
	since time.Time // when it went idle

	// Reused by every exchange on the connection.
	head headScratch
	body framedBody
}

const connBufferSize = 16 << 10

func (p *connPool) get(ctx context.Context) (pc *pconn, reused bool, err error) {
	now := time.Now()
	p.mu.Lock()
	for len(p.idle) > 0 {
		pc = p.idle[len(p.idle)-1]
		p.idle[len(p.idle)-1] = nil
		p.idle = p.idle[:len(p.idle)-1]
		if now.Sub(pc.since) < p.idleFor {
			p.mu.Unlock()
			return pc, true, nil
		}
		pc.conn.Close()
	}
	p.mu.Unlock()
	c, err := p.dial(ctx, "tcp", p.addr)
	if err != nil {
		return nil, false, err
	}
	return &pconn{conn: c, br: bufio.NewReaderSize(c, connBufferSize), bw: bufio.NewWriterSize(c, connBufferSize)}, false, nil
}

func (p *connPool) put(pc *pconn) {
	pc.since = time.Now()
	p.mu.Lock()
	if len(p.idle) < p.maxIdle {
		p.idle = append(p.idle, pc)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	pc.conn.Close()
}

// closeIdle closes every idle connection.
func (p *connPool) closeIdle() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, pc := range idle {
		pc.conn.Close()
	}
}

// CloseIdleConnections closes every idle connection, as http.Transport's does.
func (p *connPool) CloseIdleConnections() { p.closeIdle() }

// RoundTrip sends req on a pooled connection and reads the response
// header into hdr; the response body reads from the connection, which
// goes back to the pool when the body has been read to its end. A request
// without a body that fails on a reused connection (the upstream closed
// it while it sat idle) is tried once more on a new one.
func (p *connPool) RoundTrip(req *http.Request, hdr http.Header) (*http.Response, error) {
	ctx := req.Context()
	for attempt := 0; ; attempt++ {
		pc, reused, err := p.get(ctx)
		if err != nil {
			return nil, err
		}
		// The client going away interrupts the exchange, as with
		// http.Transport.
		pc.watch(ctx)
		resp, err := p.exchange(pc, req, hdr)
		if err != nil {
			pc.unwatch()
			pc.conn.Close()
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if reused && attempt == 0 && req.Body == nil && retryable(err) {
				continue
			}
			return nil, err
		}
		resp.Body = &pooledBody{rc: resp.Body, pc: pc, pool: p, keep: !resp.Close && !req.Close}
		return resp, nil
	}
}

// watch ties the connection to the context of the exchange starting, so
// that the client going away interrupts a read or write that waits. The
// pool dials watchedConns only.
func (pc *pconn) watch(ctx context.Context) {
	if wc, ok := pc.conn.(*watchedConn); ok {
		wc.watch = ctx
	}
}

// unwatch ends the exchange.
func (pc *pconn) unwatch() {
	if wc, ok := pc.conn.(*watchedConn); ok {
		wc.watch = nil
	}
}

func (p *connPool) exchange(pc *pconn, req *http.Request, hdr http.Header) (*http.Response, error) {
	if err := writeRequest(pc.bw, req); err != nil {
		return nil, err
	}
	for {
		resp, err := readResponseHead(pc.br, req, hdr, &pc.head, &pc.body)
		if err != nil {
			return nil, err
		}
		// Interim answers (100 Continue, 103 Early Hints) are skipped.
		if resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
			continue
		}
		return resp, nil
	}
}

// retryable reports whether err looks like a kept-alive connection the
// upstream had closed.
func retryable(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// pooledBody is a response body that hands its connection back to the
// pool once read to the end, and closes it otherwise.
type pooledBody struct {
	rc   io.ReadCloser // nil for a response without a body
	pc   *pconn
	pool *connPool
	keep bool
	done bool
}

func (b *pooledBody) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	if b.rc == nil { // a response without a body
		b.finish(true)
		return 0, io.EOF
	}
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.finish(true)
	} else if err != nil {
		b.finish(false)
	}
	return n, err
}

func (b *pooledBody) Close() error {
	if !b.done {
		b.finish(false)
	}
	return nil
}

// finish releases the connection: back to the pool after a whole body on
// a connection both sides keep alive, closed otherwise.
func (b *pooledBody) finish(whole bool) {
	b.done = true
	b.pc.unwatch()
	if whole && b.keep {
		b.pool.put(b.pc)
		return
	}
	b.pc.conn.Close()
}

// heartbeat is how often a read or write of the gateway's own client that
// waits on its upstream wakes to see whether the client is still there.
const heartbeat = 200 * time.Millisecond

// watchedConn is a connection of the gateway's own client. Each read and
// write gets its own timeout, as deadlineConn gives (a deadline is moved
// once it falls a sixteenth of its window behind): the read timeout is
// the longest wait for a byte, the send timeout the longest a write may
// make no progress. While an exchange runs, a read or write that waits
// wakes every heartbeat and gives up when the exchange's context has
// ended: the client going away interrupts it within a heartbeat, for the
// price of nothing per request, where tying each request's context to
// the connection (context.AfterFunc) allocates and locks every time. Only
// the exchange's goroutine uses it.
type watchedConn struct {
	net.Conn
	read, send     time.Duration
	readAt, sendAt int64           // the deadlines set, in Unix nanoseconds
	watch          context.Context // the running exchange's, or nil
}

// window is how far ahead a deadline is set for an operation with the
// given timeout (zero: none).
func (c *watchedConn) window(timeout time.Duration) time.Duration {
	if c.watch == nil || (timeout > 0 && timeout < heartbeat) {
		return timeout
	}
	return heartbeat
}

// wait runs op (a read or write) under the timeout, waking every window to
// check the watched context. It returns as soon as op made progress, with
// op's error, which is a deadline's when op was cut short by a heartbeat.
func (c *watchedConn) wait(timeout time.Duration, at *int64, set func(time.Time) error, op func() (int, error)) (int, error) {
	w := c.window(timeout)
	if w == 0 {
		return op()
	}
	start := time.Now()
	now := start
	for {
		want := now.Add(w).UnixNano()
		if timeout > 0 {
			want = min(want, start.Add(timeout).UnixNano())
		}
		if d := want - *at; d > int64(w/16) || d < 0 {
			if err := set(time.Unix(0, want)); err != nil {
				return 0, err
			}
			*at = want
		}
		n, err := op()
		if n > 0 || err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
			return n, err
		}
		now = time.Now()
		if c.watch != nil {
			if cerr := c.watch.Err(); cerr != nil {
				return 0, cerr
			}
		}
		if timeout > 0 && now.Sub(start) >= timeout {
			return 0, err
		}
	}
}

func (c *watchedConn) Read(p []byte) (int, error) {
	return c.wait(c.read, &c.readAt, c.Conn.SetReadDeadline, func() (int, error) { return c.Conn.Read(p) })
}

// Write writes all of p. A write that a deadline cut short after it wrote
// something made progress: the send timeout starts again from there, as
// nginx's proxy_send_timeout does, so an upstream that reads slowly but
// steadily gets a large body whole.
func (c *watchedConn) Write(p []byte) (int, error) {
	written := 0
	for written < len(p) {
		n, err := c.wait(c.send, &c.sendAt, c.Conn.SetWriteDeadline, func() (int, error) { return c.Conn.Write(p[written:]) })
		written += n
		if err != nil {
			if n > 0 && errors.Is(err, os.ErrDeadlineExceeded) {
				if c.watch != nil && c.watch.Err() != nil {
					return written, c.watch.Err()
				}
				continue
			}
			return written, err
		}
	}
	return written, nil
}
