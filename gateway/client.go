package gateway

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/verdict-policy/verdict/chain"
)

// connPool is the gateway's own HTTP/1.1 client for one plain-http
// upstream: a LIFO pool of kept-alive connections, each with its buffered
// reader and writer. A request is written and its response read on the
// handler's goroutine, which spares the two goroutine hand-offs, the
// per-request context and the timers of http.Transport; TLS upstreams use
// http.Transport.
//
// A connection goes back to the pool only when its answer ended exactly
// where its framing said and nothing more was buffered, and it leaves the
// pool only after one non-blocking look at its socket has found neither
// the upstream's close nor bytes nobody asked for: whatever an upstream
// sends past an answer never becomes the answer to another request.
type connPool struct {
	addr    string // host:port to dial
	dial    func(ctx context.Context, timeout time.Duration) (net.Conn, error)
	maxIdle int
	idleFor time.Duration // idle connections older than this are closed
	limit   *connLimit    // nil: no limit on the connections in use
	logger  *slog.Logger

	mu      sync.Mutex
	idle    []*pconn // oldest first
	reaper  *time.Timer
	reaping bool // the reaper is due
}

type pconn struct {
	conn  *watchedConn
	raw   syscall.RawConn // for the idle check; nil when the socket has none
	br    *bufio.Reader
	bw    *bufio.Writer
	since time.Time // when it went idle

	// Reused by every exchange on the connection.
	head headScratch
	body framedBody
	out  outBody

	peekFn   func(fd uintptr) // pc.peek, made once
	peekBuf  [1]byte
	peekSeen idleState
}

const connBufferSize = 16 << 10

// firstBytes holds the start of a request body, read before the request
// takes an upstream connection.
var firstBytes = sync.Pool{New: func() any { b := make([]byte, 4<<10); return &b }}

// get returns an idle connection fit for a request, or a new one.
func (p *connPool) get(ctx context.Context, connect time.Duration) (pc *pconn, reused bool, err error) {
	for {
		now := time.Now()
		p.mu.Lock()
		if len(p.idle) == 0 {
			p.mu.Unlock()
			break
		}
		pc = p.idle[len(p.idle)-1]
		p.idle[len(p.idle)-1] = nil
		p.idle = p.idle[:len(p.idle)-1]
		p.mu.Unlock()
		if now.Sub(pc.since) >= p.idleFor {
			pc.conn.Close()
			continue
		}
		switch pc.idleCheck() {
		case idleFine:
			return pc, true, nil
		case idleData:
			p.logger.Warn("the upstream sent data on an idle connection; closing it",
				"upstream", p.addr, "idle", now.Sub(pc.since).String())
		}
		pc.conn.Close()
	}
	c, err := p.dial(ctx, connect)
	if err != nil {
		return nil, false, err
	}
	wc := &watchedConn{Conn: c}
	pc = &pconn{conn: wc, br: bufio.NewReaderSize(wc, connBufferSize), bw: bufio.NewWriterSize(wc, connBufferSize)}
	if sc, ok := c.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			pc.raw = raw
			pc.peekFn = pc.peek
		}
	}
	return pc, false, nil
}

// put takes back a connection whose answer was read to its end. One that
// holds bytes past that end is closed: they are no answer to anything
// the gateway sent.
func (p *connPool) put(pc *pconn) {
	if n := pc.br.Buffered(); n > 0 {
		p.logger.Warn("the upstream sent more than its answer; closing the connection",
			"upstream", p.addr, "extra_bytes", n)
		pc.conn.Close()
		return
	}
	pc.since = time.Now()
	p.mu.Lock()
	if len(p.idle) >= p.maxIdle {
		p.mu.Unlock()
		pc.conn.Close()
		return
	}
	p.idle = append(p.idle, pc)
	if !p.reaping {
		p.reaping = true
		if p.reaper == nil {
			p.reaper = time.AfterFunc(p.idleFor, p.reap)
		} else {
			p.reaper.Reset(p.idleFor)
		}
	}
	p.mu.Unlock()
}

// reap closes the connections idle for idleFor or longer, and runs again
// when the next one is due, so that connections the upstream has closed
// are not held half-closed while no request comes.
func (p *connPool) reap() {
	now := time.Now()
	p.mu.Lock()
	n := 0
	for n < len(p.idle) && now.Sub(p.idle[n].since) >= p.idleFor {
		n++
	}
	expired := make([]*pconn, n)
	copy(expired, p.idle[:n])
	m := copy(p.idle, p.idle[n:])
	clear(p.idle[m:])
	p.idle = p.idle[:m]
	if len(p.idle) > 0 {
		p.reaper.Reset(p.idle[0].since.Add(p.idleFor).Sub(now))
	} else {
		p.reaping = false
	}
	p.mu.Unlock()
	for _, pc := range expired {
		pc.conn.Close()
	}
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

// idleState is what a look at an idle connection found.
type idleState uint8

const (
	idleFine   idleState = iota // nothing to read: ready for a request
	idleClosed                  // the upstream closed or reset it
	idleData                    // bytes nobody asked for
)

// idleCheck looks at an idle connection's socket without blocking.
func (pc *pconn) idleCheck() idleState {
	if pc.br.Buffered() > 0 {
		return idleData
	}
	if pc.raw == nil {
		return idleFine
	}
	pc.peekSeen = idleClosed
	if err := pc.raw.Control(pc.peekFn); err != nil {
		return idleClosed
	}
	return pc.peekSeen
}

// RoundTrip sends req on a pooled connection and reads the response
// header into hdr; the response body reads from the connection, which
// goes back to the pool when the body has been read to its end.
//
// A request with a body takes no connection before its first bytes have
// arrived: a client that sends a head and then nothing holds nothing of
// the upstream's. A request without a body that fails on a reused
// connection before any answer (the upstream closed it just as it was
// taken) is tried once more on a new one.
func (p *connPool) RoundTrip(req *http.Request, hdr http.Header, t chain.Timeouts) (*http.Response, error) {
	ctx := req.Context()
	body, n := requestBody(req)
	var first []byte
	eof := body == nil
	if body != nil {
		buf := firstBytes.Get().(*[]byte)
		defer firstBytes.Put(buf)
		var err error
		if first, eof, err = readFirst(body, n, *buf); err != nil {
			return nil, err
		}
		if eof {
			n = int64(len(first)) // all of it is here: send it with its length
		}
	}
	if p.limit != nil {
		if err := p.limit.acquire(ctx); err != nil {
			return nil, err
		}
	}
	for attempt := 0; ; attempt++ {
		pc, reused, err := p.get(ctx, t.Connect)
		if err != nil {
			p.releaseSlot()
			return nil, err
		}
		// The client going away interrupts the exchange, as with
		// http.Transport.
		pc.conn.watch, pc.conn.read, pc.conn.send = ctx, t.Read, t.Send
		pc.out = outBody{r: body, n: n, first: first, eof: eof}
		resp, err := p.exchange(pc, req, hdr)
		pc.out = outBody{}
		if err != nil {
			pc.conn.watch = nil
			pc.conn.Close()
			if ctx.Err() != nil {
				err = ctx.Err()
			} else if reused && attempt == 0 && body == nil && retryable(err) {
				continue
			}
			p.releaseSlot()
			return nil, err
		}
		keep := !resp.Close && !req.Close && resp.StatusCode != http.StatusSwitchingProtocols
		resp.Body = &pooledBody{rc: resp.Body, pc: pc, pool: p, keep: keep}
		return resp, nil
	}
}

func (p *connPool) releaseSlot() {
	if p.limit != nil {
		p.limit.release()
	}
}

// requestBody returns req's body and its length (-1: unknown), or nil
// when there is none to send.
func requestBody(req *http.Request) (io.Reader, int64) {
	if req.Body == nil || req.Body == http.NoBody {
		return nil, 0
	}
	n := req.ContentLength
	if n == 0 {
		n = -1 // a body of unknown length
	}
	return req.Body, n
}

// readFirst reads the first bytes of a body of length n (-1: unknown)
// into buf, waiting for them; eof reports that they are the whole body.
func readFirst(body io.Reader, n int64, buf []byte) (first []byte, eof bool, err error) {
	if n > 0 && int64(len(buf)) > n {
		buf = buf[:n]
	}
	for range 100 {
		m, err := body.Read(buf)
		first = buf[:m]
		switch {
		case err == io.EOF:
			if n > 0 && int64(m) < n {
				return nil, false, &bodyError{errShortBody(int64(m), n)}
			}
			return first, true, nil
		case err != nil:
			return nil, false, &bodyError{err}
		case m > 0:
			return first, n > 0 && int64(m) == n, nil
		}
	}
	return nil, false, &bodyError{io.ErrNoProgress}
}

func (p *connPool) exchange(pc *pconn, req *http.Request, hdr http.Header) (*http.Response, error) {
	if err := writeRequest(pc.bw, req, &pc.out); err != nil {
		return nil, err
	}
	for {
		resp, err := readResponseHead(pc.br, req, hdr, &pc.head, &pc.body)
		if err != nil {
			return nil, err
		}
		// Interim answers (100 Continue, 103 Early Hints) are skipped; a
		// 101 is the caller's to deal with.
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
	b.pc.conn.watch = nil
	if whole && b.keep {
		b.pool.put(b.pc)
	} else {
		b.pc.conn.Close()
	}
	b.pool.releaseSlot()
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
	read, send     time.Duration   // the running exchange's timeouts
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
