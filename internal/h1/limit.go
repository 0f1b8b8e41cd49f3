package h1

import (
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// LimitListener returns a listener that hands out at most max of ln's
// connections at a time, for a server other than h1's (the admin
// listener's net/http, gRPC); a connection counts until it is closed.
// A connection beyond max is answered 503 and closed when answer is set,
// and closed at once otherwise (for a protocol other than HTTP/1.x). A
// max of zero or less sets no bound.
//
// Accept errors other than the listener's closing (out of file
// descriptors, say) are retried within Accept after a pause that grows
// to a second, and logged to logger at most once every ten seconds, so
// that the server never sees them.
func LimitListener(ln net.Listener, max int, answer bool, logger *slog.Logger) *LimitedListener {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &LimitedListener{Listener: ln, max: int64(max), answer: answer, logger: logger}
}

// LimitedListener is a listener with a connection limit; see
// LimitListener.
type LimitedListener struct {
	net.Listener
	max      int64
	answer   bool
	logger   *slog.Logger
	open     atomic.Int64
	refused  atomic.Int64
	refusing atomic.Int32
	mu       sync.Mutex // guards retry
	retry    acceptRetry
}

// OpenConns returns how many of the listener's connections are open (0
// when it has no limit).
func (l *LimitedListener) OpenConns() int { return int(l.open.Load()) }

// RefusedConns returns how many connections the listener refused for
// being over its limit.
func (l *LimitedListener) RefusedConns() int64 { return l.refused.Load() }

// Accept returns the next connection within the limit.
func (l *LimitedListener) Accept() (net.Conn, error) {
	for {
		nc, err := l.Listener.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil, err
			}
			l.mu.Lock()
			l.retry.wait(l.logger, l.Addr(), err)
			l.mu.Unlock()
			continue
		}
		l.mu.Lock()
		l.retry.reset()
		l.mu.Unlock()
		if l.max > 0 && l.open.Add(1) > l.max {
			l.open.Add(-1)
			l.refused.Add(1)
			if l.answer {
				refuse(nc, &l.refusing)
			} else {
				_ = nc.Close()
			}
			continue
		}
		lc := &limitConn{Conn: nc}
		if l.max > 0 {
			lc.l = l
		}
		return lc, nil
	}
}

// limitConn gives back its slot when it is closed.
type limitConn struct {
	net.Conn
	l      *LimitedListener // nil when not counted
	closed atomic.Bool
}

func (c *limitConn) Close() error {
	if c.closed.CompareAndSwap(false, true) && c.l != nil {
		c.l.open.Add(-1)
	}
	return c.Conn.Close()
}

// CloseWrite half-closes the connection when the connection can, as
// net/http does before it closes a connection with unread input.
func (c *limitConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

// maxRefusing bounds the refused connections answered at once; past it,
// refused connections are closed without an answer.
const maxRefusing = 64

// refusal is the answer to a connection over MaxConns.
var refusal = func() []byte {
	const text = "503 Service Unavailable: the server has too many open connections\n"
	return []byte("HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n" +
		"Connection: close\r\nRetry-After: 1\r\nContent-Length: " + strconv.Itoa(len(text)) + "\r\n\r\n" + text)
}()

// refuse answers a connection over a connection limit with 503 and
// closes it; refusing counts the refusals being answered. The answer
// goes out before the request is read, and what the client sends is read
// for a moment so that closing does not reset the connection before the
// client reads the answer. Over TLS it just closes: an answer would need
// a handshake first.
func refuse(nc net.Conn, refusing *atomic.Int32) {
	if _, tls := nc.(*tls.Conn); tls || refusing.Add(1) > maxRefusing {
		if !tls {
			refusing.Add(-1)
		}
		_ = nc.Close()
		return
	}
	go func() {
		defer refusing.Add(-1)
		defer nc.Close()
		_ = nc.SetDeadline(time.Now().Add(refuseLinger))
		if _, err := nc.Write(refusal); err != nil {
			return
		}
		if cw, ok := nc.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
			_, _ = io.CopyN(io.Discard, nc, refuseDrain)
		}
	}()
}

// How long, and how much, a refused connection is read before it closes.
const (
	refuseLinger = 250 * time.Millisecond
	refuseDrain  = 64 << 10
)

// acceptRetry paces the retries of an accept that failed for want of
// file descriptors or the like, and logs them at most once every
// acceptLogEvery, with how many it did not log.
type acceptRetry struct {
	backoff    time.Duration
	lastLog    time.Time
	suppressed int
}

const acceptLogEvery = 10 * time.Second

func (r *acceptRetry) wait(logger *slog.Logger, addr net.Addr, err error) {
	r.backoff = min(max(2*r.backoff, 5*time.Millisecond), time.Second)
	if now := time.Now(); now.Sub(r.lastLog) >= acceptLogEvery {
		logger.Warn("accepting a connection failed; retrying", "listener", addr.String(),
			"error", err.Error(), "retry_in", r.backoff.String(), "failures_not_logged", r.suppressed)
		r.lastLog, r.suppressed = now, 0
	} else {
		r.suppressed++
	}
	time.Sleep(r.backoff)
}

func (r *acceptRetry) reset() { r.backoff = 0 }
