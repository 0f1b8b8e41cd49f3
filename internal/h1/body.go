package h1

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http/httputil"
	"os"
	"time"
)

// body is a request body: the bytes of a Content-Length, or a chunked
// stream. It reads what the head's read already buffered first.
type body struct {
	c         *conn
	active    bool
	remaining int64 // bytes left of a Content-Length body
	chunked   io.Reader
	done      bool          // a chunked body was read to its end
	expect    bool          // 100 Continue is owed before the first read
	timedOut  bool          // a read of the connection for the body timed out
	deadline  time.Time     // ReadTimeout's bound on the whole body
	received  int64         // bytes read from the connection for the body
	waited    time.Duration // time spent waiting for them, with BodyMinRate
}

var errBodyDone = errors.New("h1: request body read after the handler returned")

// ErrBodyTimeout is the error a request body's Read returns when the
// client sent nothing for the server's BodyTimeout, sent more slowly than
// its BodyMinRate, or did not finish within its ReadTimeout. The server
// then answers 408 Request Timeout in place of the handler's answer,
// unless that answer has begun to go out, and closes the connection.
// It is a net.Error whose Timeout method reports true, and it matches
// os.ErrDeadlineExceeded.
var ErrBodyTimeout error = bodyTimeout{}

type bodyTimeout struct{}

func (bodyTimeout) Error() string        { return "h1: the request body timed out" }
func (bodyTimeout) Timeout() bool        { return true }
func (bodyTimeout) Temporary() bool      { return true }
func (bodyTimeout) Is(target error) bool { return target == os.ErrDeadlineExceeded }

var _ net.Error = bodyTimeout{}

func (b *body) reset() {
	*b = body{c: b.c}
}

func (b *body) start(n int64, expectContinue bool) {
	b.active, b.remaining, b.expect = true, n, expectContinue
	b.deadline = after(time.Now(), b.c.srv.ReadTimeout)
}

func (b *body) startChunked(expectContinue bool) {
	b.active, b.expect = true, expectContinue
	b.deadline = after(time.Now(), b.c.srv.ReadTimeout)
	// The bufio.Reader may read past the body; the connection closes
	// after this request, so nothing is lost that was meant to be kept.
	b.chunked = httputil.NewChunkedReader(bufio.NewReader(rawReader{b}))
}

// Read implements io.Reader.
func (b *body) Read(p []byte) (int, error) {
	if !b.active {
		return 0, errBodyDone
	}
	if b.expect {
		b.expect = false
		// The client is waiting for the go-ahead, unless the final
		// response has begun: a 100 after it would corrupt it.
		if b.c.r == b.c.w && !b.c.resp.streaming {
			b.c.setWriteDeadline(after(time.Now(), b.c.srv.WriteTimeout))
			if _, err := io.WriteString(b.c.nc, "HTTP/1.1 100 Continue\r\n\r\n"); err != nil {
				return 0, err
			}
		}
	}
	if b.chunked != nil {
		if b.done {
			return 0, io.EOF
		}
		n, err := b.chunked.Read(p)
		if err == io.EOF {
			b.done = true
		}
		return n, err
	}
	if b.remaining <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.remaining {
		p = p[:b.remaining]
	}
	n, err := b.raw(p)
	b.remaining -= int64(n)
	if err == io.EOF && b.remaining > 0 {
		err = io.ErrUnexpectedEOF
	}
	if err == nil && b.remaining == 0 {
		err = io.EOF
	}
	return n, err
}

// raw reads connection bytes, buffered ones first.
func (b *body) raw(p []byte) (int, error) {
	c := b.c
	if c.r < c.w {
		n := copy(p, c.buf[c.r:c.w])
		c.r += n
		b.received += int64(n)
		return n, nil
	}
	return b.read(p)
}

// read reads the connection within the body's time bounds; a timeout
// becomes ErrBodyTimeout.
func (b *body) read(p []byte) (int, error) {
	if b.timedOut {
		return 0, ErrBodyTimeout
	}
	c := b.c
	now := time.Now()
	b.setDeadline(now)
	n, err := c.nc.Read(p)
	b.received += int64(n)
	if c.srv.BodyMinRate > 0 {
		b.waited += time.Since(now)
	}
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		b.timedOut = true
		err = ErrBodyTimeout
	}
	return n, err
}

// setDeadline sets the read deadline of the body's next read at now: the
// earliest of ReadTimeout's bound on the whole body, BodyTimeout from now,
// and, with BodyMinRate, when the time the client has taken so far runs
// past what its bytes allow (BodyTimeout of grace, plus a second for each
// BodyMinRate bytes received). Only the time spent waiting for the client
// counts against the rate, not the time the handler took between reads.
func (b *body) setDeadline(now time.Time) {
	s := b.c.srv
	dl := b.deadline
	if s.BodyTimeout > 0 {
		if t := now.Add(s.BodyTimeout); dl.IsZero() || t.Before(dl) {
			dl = t
		}
	}
	if s.BodyMinRate > 0 {
		allowed := s.BodyTimeout + time.Duration(float64(b.received)*s.nsPerByte)
		if t := now.Add(allowed - b.waited); dl.IsZero() || t.Before(dl) {
			// Too near to be left to the slack of setReadDeadline.
			b.c.forceReadDeadline(t)
			return
		}
	}
	b.c.setReadDeadline(dl)
}

// Close implements io.Closer; what is left unread is dropped after the
// response.
func (b *body) Close() error { return nil }

// discard drops what the handler left of the body and reports whether the
// connection can read the next request.
func (b *body) discard() bool {
	if !b.active {
		return true
	}
	if !b.reusable() {
		return false
	}
	// What is buffered is skipped; the rest is read into the emptied
	// read buffer, which nothing else holds now.
	c := b.c
	for b.remaining > 0 {
		if c.r < c.w {
			n := int(min(int64(c.w-c.r), b.remaining))
			c.r += n
			b.remaining -= int64(n)
			continue
		}
		c.r, c.w = 0, 0
		n, err := b.read(c.buf[:min(int64(len(c.buf)), b.remaining)])
		b.remaining -= int64(n)
		if err != nil {
			b.active = false // nothing more to read from a broken or stalled client
			return false
		}
	}
	b.active = false
	return true
}

// unread reports whether the client may still be sending a body the
// handler did not read and the server did not drop: closing the
// connection now would reset it.
func (b *body) unread() bool {
	return b.active && (b.remaining > 0 || b.chunked != nil && !b.done)
}

// reusable reports whether the connection can read another request after
// this body: a chunked body may have been read past its end, a client
// still waiting for 100 Continue may send the body or not, and a long
// rest is not worth reading.
func (b *body) reusable() bool {
	return !b.active || b.chunked == nil && !b.expect && !b.timedOut && b.remaining <= maxDrain
}

// rawReader reads the connection for a chunked body.
type rawReader struct{ b *body }

func (r rawReader) Read(p []byte) (int, error) { return r.b.raw(p) }
