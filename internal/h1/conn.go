package h1

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"
)

// Connection states, for Shutdown.
const (
	stateActive int32 = iota // reading or answering a request
	stateIdle                // waiting for a request, nothing buffered
	stateClosed              // closed by Shutdown or Close
)

const (
	initialBuffer = 4 << 10
	// keepBuffer is the largest read buffer kept between requests; a
	// connection that needed more for one head gives it back.
	keepBuffer = 64 << 10
	// maxDrain is how much of a body the handler left unread is read and
	// dropped to keep the connection; past it the connection closes.
	maxDrain = 256 << 10
	// A connection closed with a body still coming reads and drops what
	// the client sends, after its answer, for up to lingerTime in all,
	// until the client is quiet for lingerQuiet, or up to lingerBytes.
	lingerTime  = 2 * time.Second
	lingerQuiet = 500 * time.Millisecond
	lingerBytes = 64 << 20
	// deadlineSlack is how far a deadline already set may be from the one
	// wanted before it is set again: setting one costs a timer update, and
	// a timeout a second late is still a timeout. Timeouts shorter than
	// two seconds get half the shortest as their slack (Server.slack), so
	// that a deadline kept is never already past.
	deadlineSlack = time.Second
)

// conn is one client connection and everything reused across its
// requests.
type conn struct {
	srv    *Server
	nc     net.Conn
	state  atomic.Int32
	slot   atomic.Bool // holds one of the server's open count
	remote string
	tls    *tls.ConnectionState
	cctx   context.Context
	cancel context.CancelFunc

	buf  []byte // read buffer; buf[r:w] is read and not yet consumed
	r, w int

	readDL, writeDL   time.Time // deadlines currently set
	readSet, writeSet bool      // whether they were ever set

	req  http.Request
	tmpl http.Request // empty but for the connection's context
	url  url.URL
	hdr  http.Header
	body body
	resp response
	out  []byte // response head and buffered body
}

func (c *conn) ctx() context.Context {
	if c.cctx == nil {
		c.cctx, c.cancel = context.WithCancel(c.srv.base)
	}
	return c.cctx
}

// errBadRequest is a request the server answers itself and then closes.
type errBadRequest struct {
	status int
	reason string
}

func (e *errBadRequest) Error() string { return e.reason }

func badRequest(status int, reason string) error {
	return &errBadRequest{status: status, reason: reason}
}

func (c *conn) serve() {
	defer func() {
		_ = c.nc.Close()
		if c.cancel != nil {
			c.cancel()
		}
		c.srv.forget(c)
	}()
	c.remote = c.nc.RemoteAddr().String()
	if tc, ok := c.nc.(*tls.Conn); ok {
		if !c.handshake(tc) {
			return
		}
		if c.tls.NegotiatedProtocol == "h2" {
			if c.srv.HTTP2 != nil {
				c.srv.HTTP2.ServeConn(c.ctx(), c.nc)
			}
			return
		}
	}
	c.tmpl = *(&http.Request{}).WithContext(c.ctx())
	c.buf = make([]byte, initialBuffer)
	c.hdr = make(http.Header, 8)
	c.resp.hdr = make(http.Header, 8)
	c.resp.c = c
	c.body.c = c
	first := true
	for {
		start, ok := c.waitRequest(first)
		if !ok {
			return
		}
		if first && c.srv.H2C && c.srv.HTTP2 != nil && c.tls == nil && c.prefaced() {
			c.handOver()
			return
		}
		first = false
		end, err := c.readHead(start)
		if err == nil && end-c.r > c.srv.MaxHeaderBytes {
			err = badRequest(http.StatusRequestHeaderFieldsTooLarge,
				"the request head is larger than "+strconv.Itoa(c.srv.MaxHeaderBytes)+" bytes")
		}
		if err == nil {
			err = c.parse(end)
		}
		if err != nil {
			var bad *errBadRequest
			if errors.As(err, &bad) {
				c.answerBad(bad)
			}
			return
		}
		if !c.serveRequest() {
			if !c.resp.failed && c.body.unread() {
				c.closeGently()
			}
			return
		}
		if len(c.buf) > keepBuffer {
			rest := make([]byte, max(initialBuffer, c.w-c.r))
			c.w = copy(rest, c.buf[c.r:c.w])
			c.r, c.buf = 0, rest
		}
	}
}

// h2Preface opens every HTTP/2 connection.
const h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// prefaced reports whether the connection opens with HTTP/2's preface,
// reading until it can tell: a client that sends only part of it within
// the head timeout is not.
func (c *conn) prefaced() bool {
	deadline := time.Now().Add(c.srv.ReadHeaderTimeout)
	for {
		n := min(c.w-c.r, len(h2Preface))
		if string(c.buf[c.r:c.r+n]) != h2Preface[:n] {
			return false
		}
		if n == len(h2Preface) {
			return true
		}
		if c.w == len(c.buf) {
			return false // cannot be: the buffer is longer than the preface
		}
		c.setReadDeadline(deadline)
		k, err := c.nc.Read(c.buf[c.w:])
		c.w += k
		if err != nil && k == 0 {
			return false
		}
	}
}

// handOver gives the connection, with what was read of it, to the
// HTTP/2 server, and returns when that is done with it.
func (c *conn) handOver() {
	_ = c.nc.SetDeadline(time.Time{})
	read := append([]byte(nil), c.buf[c.r:c.w]...)
	c.buf = nil
	c.srv.HTTP2.ServeConn(c.ctx(), &replayConn{Conn: c.nc, read: read})
}

// replayConn is a connection whose first reads return bytes already read
// from it.
type replayConn struct {
	net.Conn
	read []byte
}

func (r *replayConn) Read(p []byte) (int, error) {
	if len(r.read) > 0 {
		n := copy(p, r.read)
		r.read = r.read[n:]
		return n, nil
	}
	return r.Conn.Read(p)
}

// CloseWrite half-closes the connection when it can.
func (r *replayConn) CloseWrite() error {
	if cw, ok := r.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

// waitRequest waits for the first byte of the next request. It reports
// when that arrived if it had to wait, and the zero time if the byte was
// buffered already; readHead reads the clock when it needs to. An idle
// connection can be closed by Shutdown.
func (c *conn) waitRequest(first bool) (time.Time, bool) {
	if c.r < c.w {
		return time.Time{}, true
	}
	now := time.Now()
	c.r, c.w = 0, 0
	timeout := c.srv.IdleTimeout
	if first {
		timeout = c.srv.ReadHeaderTimeout
	}
	if !c.state.CompareAndSwap(stateActive, stateIdle) {
		return now, false
	}
	c.setReadDeadline(now.Add(timeout))
	// An error that comes with bytes comes again on the next read.
	n, _ := c.nc.Read(c.buf)
	if !c.state.CompareAndSwap(stateIdle, stateActive) {
		return now, false // closed by Shutdown while waiting
	}
	if n == 0 {
		return now, false // closed, failed or timed out
	}
	c.w = n
	return time.Time{}, true
}

// readHead reads until the buffer holds a whole request head and returns
// the offset just past it. Empty lines before a request line are skipped.
func (c *conn) readHead(start time.Time) (int, error) {
	scan := c.r
	for {
		for c.r < c.w && (c.buf[c.r] == '\r' || c.buf[c.r] == '\n') {
			c.r++
			scan = max(scan, c.r)
		}
		for scan < c.w {
			i := bytes.IndexByte(c.buf[scan:c.w], '\n')
			if i < 0 {
				scan = c.w
				break
			}
			nl := scan + i
			if nl+1 < c.w && c.buf[nl+1] == '\n' {
				return nl + 2, nil
			}
			if nl+2 < c.w && c.buf[nl+1] == '\r' && c.buf[nl+2] == '\n' {
				return nl + 3, nil
			}
			if nl+2 >= c.w {
				scan = nl // the next line's start is not all here yet
				break
			}
			scan = nl + 1
		}
		limit := c.srv.MaxHeaderBytes
		if c.w-c.r > limit {
			return 0, badRequest(http.StatusRequestHeaderFieldsTooLarge,
				"the request head is larger than "+strconv.Itoa(limit)+" bytes")
		}
		if c.w == len(c.buf) {
			if c.r > 0 {
				n := copy(c.buf, c.buf[c.r:c.w])
				scan -= c.r
				c.r, c.w = 0, n
			} else {
				grown := make([]byte, min(2*len(c.buf), limit+initialBuffer))
				copy(grown, c.buf[:c.w])
				c.buf = grown
			}
		}
		if start.IsZero() {
			start = time.Now()
		}
		c.setReadDeadline(start.Add(c.srv.ReadHeaderTimeout))
		n, err := c.nc.Read(c.buf[c.w:])
		c.w += n
		if err != nil && n == 0 {
			return 0, err
		}
	}
}

// setReadDeadline sets the read deadline unless the one set is within
// the server's slack of it. The zero time is no deadline.
func (c *conn) setReadDeadline(t time.Time) {
	if !c.readSet || !near(t, c.readDL, c.srv.slack) {
		c.readDL, c.readSet = t, true
		_ = c.nc.SetReadDeadline(t)
	}
}

// forceReadDeadline sets the read deadline to t, slack or not.
func (c *conn) forceReadDeadline(t time.Time) {
	c.readDL, c.readSet = t, true
	_ = c.nc.SetReadDeadline(t)
}

func (c *conn) setWriteDeadline(t time.Time) {
	if !c.writeSet || !near(t, c.writeDL, c.srv.slack) {
		c.writeDL, c.writeSet = t, true
		_ = c.nc.SetWriteDeadline(t)
	}
}

// near reports whether two deadlines are within slack of each other; no
// deadline is near only to no deadline.
func near(a, b time.Time, slack time.Duration) bool {
	if a.IsZero() || b.IsZero() {
		return a.IsZero() == b.IsZero()
	}
	d := a.Sub(b)
	return -slack <= d && d <= slack
}

// serveRequest runs the handler on the parsed request and finishes its
// response. It reports whether the connection stays open.
func (c *conn) serveRequest() (keep bool) {
	w := &c.resp
	defer func() {
		if p := recover(); p != nil {
			keep = false
			if p == http.ErrAbortHandler {
				return // the response is cut short, as the handler asked
			}
			c.srv.logPanic(c, p)
			if !w.wrote || (!w.streaming && !w.failed) {
				w.reset(&c.req)
				w.WriteHeader(http.StatusInternalServerError)
				w.closeAfter = true
				_, _ = w.WriteString("500 Internal Server Error\n")
				w.finish()
			}
		}
	}()
	w.reset(&c.req)
	c.srv.Handler.ServeHTTP(w, &c.req)
	if c.body.timedOut && !w.streaming && !w.failed {
		// The handler's answer to a body that never came is not sent.
		w.reset(&c.req)
		w.closeAfter = true
		w.hdr["Content-Type"] = plainText
		w.WriteHeader(http.StatusRequestTimeout)
		_, _ = w.WriteString("408 Request Timeout: the request body did not arrive in time\n")
	}
	w.finish()
	if w.failed || w.closeAfter || c.srv.closing.Load() {
		return false
	}
	return c.body.discard()
}

var plainText = []string{"text/plain; charset=utf-8"}

// answerBad answers a request the server refused and closes.
func (c *conn) answerBad(bad *errBadRequest) {
	text := strconv.Itoa(bad.status) + " " + http.StatusText(bad.status) + ": " + bad.reason + "\n"
	out := c.out[:0]
	out = append(out, "HTTP/1.1 "...)
	out = strconv.AppendInt(out, int64(bad.status), 10)
	out = append(out, ' ')
	out = append(out, http.StatusText(bad.status)...)
	out = append(out, "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: "...)
	out = strconv.AppendInt(out, int64(len(text)), 10)
	out = append(out, "\r\n\r\n"...)
	out = append(out, text...)
	c.setWriteDeadline(after(time.Now(), c.srv.WriteTimeout))
	if _, err := c.nc.Write(out); err == nil {
		c.closeGently()
	}
	c.out = out[:0]
}

// closeGently stops sending and reads and drops what the client still
// sends before the connection closes. Closing with unread input would
// reset the connection, and the reset can destroy the answer before the
// client reads it; a client that is still sending a body sees the answer
// meanwhile and stops, or finishes. It ends when the client closes or is
// quiet for lingerQuiet, after lingerTime, or after lingerBytes.
func (c *conn) closeGently() {
	cw, ok := c.nc.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return
	}
	buf := c.buf[:cap(c.buf)]
	end := time.Now().Add(lingerTime)
	for n := 0; n < lingerBytes; {
		now := time.Now()
		if !now.Before(end) {
			return
		}
		dl := now.Add(lingerQuiet)
		if dl.After(end) {
			dl = end
		}
		c.forceReadDeadline(dl)
		k, err := c.nc.Read(buf)
		n += k
		if err != nil {
			return
		}
	}
}
