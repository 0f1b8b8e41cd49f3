// Package h1 serves HTTP/1.1 and HTTP/1.0 to an http.Handler.
//
// It is built for answers that are small and many: each connection has one
// goroutine that reads a request head into its buffer, parses it in place
// into a request, URL and header map that the connection reuses from one
// request to the next, and writes the response head and body with one
// write. A keep-alive connection reaches a steady state with one allocation
// per request, the head as a string that the request's fields share;
// net/http allocates each request anew and is about twice as expensive
// per request on a single core.
//
// Handlers see an ordinary *http.Request and http.ResponseWriter with these
// differences from net/http:
//   - the request and its header map belong to the connection: a handler
//     must not keep them, or anything reached from them, after it returns;
//   - r.Context() is done when the connection closes or the server shuts
//     down, not when the handler returns;
//   - responses are buffered up to 32 KiB and then streamed (chunked on
//     HTTP/1.1); http.Flusher is supported, hijacking is not;
//   - a chunked request body is read, and the connection closes after its
//     response;
//   - a request body that times out (see ErrBodyTimeout) is answered 408
//     in place of the handler's answer, unless that has begun to go out.
//
// A connection closed while the client may still be sending a body the
// handler did not read is first half-closed, and what arrives is read and
// dropped for a moment: closing a socket with unread input resets the
// connection, which could destroy the answer before the client reads it.
//
// MaxConns bounds the connections served at once. A connection beyond it
// takes the place of one waiting idle for its next request, if there is
// one; otherwise it is answered 503 and closed at once.
//
// HTTP/2 is served by another server that h1 hands connections to (see
// Server.HTTP2): those that negotiate "h2" by TLS ALPN and, when asked,
// cleartext ones that open with HTTP/2's connection preface. They stay
// counted among the server's connections and close with it.
//
// Requests are parsed strictly: a malformed request line or header, an
// unsupported transfer coding, conflicting lengths or a missing Host answer
// 400 (or 431, 501, 505, 417) with the reason in the body, and the
// connection closes.
package h1

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults used for the zero values of Server's fields.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 30 * time.Second
	DefaultWriteTimeout      = 30 * time.Second
	DefaultIdleTimeout       = 2 * time.Minute
	DefaultBodyTimeout       = 60 * time.Second
	DefaultMaxHeaderBytes    = 1 << 20
)

// Server serves HTTP/1.x on the listeners given to Serve.
type Server struct {
	// Handler answers every request.
	Handler http.Handler
	// ReadHeaderTimeout bounds reading a request head once its first byte
	// has arrived (and the first head of a connection).
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a request body, from the end of its head;
	// a negative one sets no bound (a proxy streaming uploads).
	ReadTimeout time.Duration
	// BodyTimeout bounds each wait for more of a request body: a client
	// that sends nothing of it for this long gets 408 (ErrBodyTimeout).
	// Zero means DefaultBodyTimeout; a negative one sets no bound.
	BodyTimeout time.Duration
	// BodyMinRate, when above zero, is the least average rate, in bytes a
	// second, at which a request body must arrive once BodyTimeout of
	// grace is spent: a client gets 408 when the time it kept the server
	// waiting for the body exceeds BodyTimeout plus one second for every
	// BodyMinRate bytes it sent. Time the handler spends between reads
	// does not count. It needs a positive BodyTimeout.
	BodyMinRate int64
	// WriteTimeout bounds each write of a response; a negative one sets no
	// bound.
	WriteTimeout time.Duration
	// IdleTimeout bounds the wait for the next request on a keep-alive
	// connection.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds the size of a request head, the request line
	// included; a larger head is answered 431.
	MaxHeaderBytes int
	// MaxConns bounds the connections served at once; zero or less sets
	// no bound. A connection beyond it closes one that waits idle for its
	// next request, or else is answered 503 and closed.
	MaxConns int
	// Logger receives handler panics and accept errors; nil discards them.
	Logger *slog.Logger
	// HTTP2, when set, takes over the connections that speak HTTP/2: TLS
	// connections that negotiate "h2" by ALPN (the listener's tls.Config
	// offers it in NextProtos), and, with H2C, cleartext connections that
	// open with HTTP/2's connection preface. Without it a TLS connection
	// that negotiated "h2" is closed.
	HTTP2 ConnServer
	// H2C hands cleartext connections that open with the HTTP/2 preface
	// ("PRI * HTTP/2.0", HTTP/2 with prior knowledge) to HTTP2; without
	// it such a request is answered 505.
	H2C bool

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	closing   atomic.Bool
	open      atomic.Int64  // connections served, for MaxConns
	refused   atomic.Int64  // connections refused for MaxConns
	refusing  atomic.Int32  // refused connections being answered
	slack     time.Duration // see deadlineSlack
	nsPerByte float64       // BodyMinRate as nanoseconds a byte
	date      atomic.Pointer[dateLine]
	base      context.Context
	cancel    context.CancelFunc
	initOnce  sync.Once
	h2Once    sync.Once // HTTP2.Shutdown is called once
}

// ConnServer serves connections in a protocol other than HTTP/1.x that a
// Server hands over.
type ConnServer interface {
	// ServeConn serves nc until the connection ends. What the Server read
	// of it before handing it over is read again from nc. ctx is done
	// when the Server is closed.
	ServeConn(ctx context.Context, nc net.Conn)
	// Shutdown asks every connection served to finish the requests in
	// hand and close, without waiting for them; the Server waits.
	Shutdown()
}

func (s *Server) init() {
	s.initOnce.Do(func() {
		if s.ReadHeaderTimeout <= 0 {
			s.ReadHeaderTimeout = DefaultReadHeaderTimeout
		}
		if s.ReadTimeout == 0 {
			s.ReadTimeout = DefaultReadTimeout
		}
		if s.WriteTimeout == 0 {
			s.WriteTimeout = DefaultWriteTimeout
		}
		if s.IdleTimeout <= 0 {
			s.IdleTimeout = DefaultIdleTimeout
		}
		if s.BodyTimeout == 0 {
			s.BodyTimeout = DefaultBodyTimeout
		}
		if s.BodyMinRate > 0 && s.BodyTimeout > 0 {
			s.nsPerByte = float64(time.Second) / float64(s.BodyMinRate)
		} else {
			s.BodyMinRate = 0
		}
		if s.MaxHeaderBytes <= 0 {
			s.MaxHeaderBytes = DefaultMaxHeaderBytes
		}
		s.slack = min(deadlineSlack, s.ReadHeaderTimeout/2, s.IdleTimeout/2)
		for _, t := range []time.Duration{s.ReadTimeout, s.WriteTimeout, s.BodyTimeout} {
			if t > 0 {
				s.slack = min(s.slack, t/2)
			}
		}
		if s.Logger == nil {
			s.Logger = slog.New(slog.DiscardHandler)
		}
		s.listeners = make(map[net.Listener]struct{})
		s.conns = make(map[*conn]struct{})
		s.base, s.cancel = context.WithCancel(context.Background())
	})
}

// Serve accepts connections on ln and serves each on its own goroutine
// until Shutdown or Close, when it returns http.ErrServerClosed; it
// returns any other error that stops accepting. Connections from a
// tls.Listener are served over TLS; its tls.Config chooses the protocols
// ALPN offers, and a connection that negotiates "h2" goes to HTTP2.
func (s *Server) Serve(ln net.Listener) error {
	s.init()
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		_ = ln.Close()
		return http.ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
	}()
	var retry acceptRetry
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return http.ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("accept: %w", err)
			}
			retry.wait(s.Logger, ln.Addr(), err)
			continue
		}
		retry.reset()
		if !s.admit() {
			s.refused.Add(1)
			refuse(nc, &s.refusing)
			continue
		}
		c := s.newConn(nc)
		if c == nil {
			s.open.Add(-1)
			_ = nc.Close()
			return http.ErrServerClosed
		}
		go c.serve()
	}
}

// admit takes a connection slot for a new connection, closing an idle
// connection to free one when all are taken. It reports false when none
// is free.
func (s *Server) admit() bool {
	if s.MaxConns <= 0 {
		s.open.Add(1)
		return true
	}
	for evicted := 0; ; {
		n := s.open.Load()
		if n < int64(s.MaxConns) {
			if s.open.CompareAndSwap(n, n+1) {
				return true
			}
			continue
		}
		// Another listener of the server may take a freed slot first.
		if evicted == 3 || !s.evictIdle() {
			return false
		}
		evicted++
	}
}

// evictScan bounds how many connections evictIdle looks at: when most
// are busy, refusing is cheaper than a search of them all.
const evictScan = 256

// evictIdle closes a connection that waits for its next request, if it
// finds one, and gives back its slot.
func (s *Server) evictIdle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := 0
	for c := range s.conns {
		if c.state.CompareAndSwap(stateIdle, stateClosed) {
			_ = c.nc.Close()
			c.release()
			return true
		}
		if seen++; seen >= evictScan {
			break
		}
	}
	return false
}

// Shutdown stops accepting, closes idle connections and waits for the
// others to finish the request in hand; when ctx ends first it closes
// them and returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.init()
	s.closing.Store(true)
	s.mu.Lock()
	for ln := range s.listeners {
		_ = ln.Close()
	}
	s.mu.Unlock()
	if s.HTTP2 != nil {
		s.h2Once.Do(s.HTTP2.Shutdown)
	}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		s.mu.Lock()
		for c := range s.conns {
			if c.state.CompareAndSwap(stateIdle, stateClosed) {
				_ = c.nc.Close()
			}
		}
		n := len(s.conns)
		s.mu.Unlock()
		if n == 0 {
			s.cancel()
			return nil
		}
		select {
		case <-ctx.Done():
			s.Close()
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// Close stops accepting and closes every connection at once.
func (s *Server) Close() error {
	s.init()
	s.closing.Store(true)
	s.mu.Lock()
	for ln := range s.listeners {
		_ = ln.Close()
	}
	for c := range s.conns {
		c.state.Store(stateClosed)
		_ = c.nc.Close()
	}
	s.mu.Unlock()
	s.cancel()
	return nil
}

func (s *Server) newConn(nc net.Conn) *conn {
	c := &conn{srv: s, nc: nc}
	c.state.Store(stateActive)
	c.slot.Store(true)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return nil
	}
	s.conns[c] = struct{}{}
	return c
}

func (s *Server) forget(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	c.release()
}

// release gives back the connection's slot, once.
func (c *conn) release() {
	if c.slot.CompareAndSwap(true, false) {
		c.srv.open.Add(-1)
	}
}

// OpenConns returns how many connections the server is serving.
func (s *Server) OpenConns() int { return int(s.open.Load()) }

// RefusedConns returns how many connections the server refused for being
// over MaxConns.
func (s *Server) RefusedConns() int64 { return s.refused.Load() }

// dateLine is the Date header of one second, ready to write.
type dateLine struct {
	sec  int64
	line []byte
}

// dateHeader returns the Date header line for now, formatted once a
// second.
func (s *Server) dateHeader(now time.Time) []byte {
	sec := now.Unix()
	if d := s.date.Load(); d != nil && d.sec == sec {
		return d.line
	}
	line := make([]byte, 0, 40)
	line = append(line, "Date: "...)
	line = now.UTC().AppendFormat(line, http.TimeFormat)
	line = append(line, "\r\n"...)
	s.date.Store(&dateLine{sec: sec, line: line})
	return line
}

// logPanic records a handler panic with its stack.
func (s *Server) logPanic(c *conn, p any) {
	s.Logger.Error("handler panic", "remote", c.remote, "method", c.req.Method,
		"path", c.req.URL.Path, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
}

// handshake completes a TLS handshake within the head timeout and returns
// the connection state for requests.
func (c *conn) handshake(tc *tls.Conn) bool {
	_ = tc.SetDeadline(time.Now().Add(c.srv.ReadHeaderTimeout))
	if err := tc.HandshakeContext(c.ctx()); err != nil {
		c.srv.Logger.Debug("TLS handshake failed", "remote", c.remote, "error", err.Error())
		return false
	}
	_ = tc.SetDeadline(time.Time{})
	st := tc.ConnectionState()
	c.tls = &st
	return true
}

// after returns the deadline d after now, or no deadline for a negative d.
func after(now time.Time, d time.Duration) time.Time {
	if d < 0 {
		return time.Time{}
	}
	return now.Add(d)
}
