// Package h2 serves HTTP/2 on the listeners that internal/h1 serves: h1
// hands over the connections that negotiate "h2" by TLS ALPN, and the
// cleartext ones that open with HTTP/2's preface when h2c is on, and the
// same http.Handler answers both versions. It also builds the net/http
// server a listener can use in place of h1 (NewStd), with the same
// handler, limits and HTTP/2 settings.
//
// HTTP/2 itself is golang.org/x/net/http2's server.
package h2

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"

	"github.com/verdict-policy/verdict/internal/h1"
)

// DefaultMaxConcurrentStreams is how many requests a client may have in
// flight on one connection when Settings leave it zero (nginx's default).
const DefaultMaxConcurrentStreams = 128

// Settings are the HTTP/2 limits of a listener. Zero fields take the
// defaults, most of them from the listener's h1 server (see Attach).
type Settings struct {
	// MaxConcurrentStreams bounds the requests in flight on one
	// connection; default DefaultMaxConcurrentStreams.
	MaxConcurrentStreams uint32
	// MaxHeaderBytes bounds a request's header list as HTTP/2 counts it
	// (names and values, plus 32 bytes a field); a larger one is refused.
	// Default: the h1 server's MaxHeaderBytes.
	MaxHeaderBytes int
	// IdleTimeout closes a connection that has had no stream open for
	// this long. Default: the h1 server's IdleTimeout.
	IdleTimeout time.Duration
	// BodyTimeout bounds each wait for more of a request body, as the h1
	// server's BodyTimeout does (the default); a read that waits longer
	// fails with h1.ErrBodyTimeout. A negative one sets no bound.
	BodyTimeout time.Duration
	// H2C serves HTTP/2 to cleartext connections that open with its
	// preface (prior knowledge). The Upgrade: h2c dance of HTTP/1.1 is
	// not served: RFC 9113 deprecates it and few clients use it.
	H2C bool
}

// Server serves HTTP/2 connections that an h1 server hands over. Make
// one with Attach.
type Server struct {
	srv     http2.Server
	base    *http.Server // limits and logs for http2, and its shutdown hook
	handler http.Handler
	closing atomic.Bool
}

// Attach makes srv serve HTTP/2 with its own handler: it sets srv.HTTP2
// and srv.H2C, and fills the zero fields of s from srv's. Call it before
// srv serves. A TLS listener must also offer "h2" by ALPN (see Protos).
func Attach(srv *h1.Server, s Settings, logger *slog.Logger) *Server {
	s = s.withDefaults(srv.MaxHeaderBytes, srv.IdleTimeout, srv.BodyTimeout)
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	h := &Server{handler: BodyTimeout(srv.Handler, s.BodyTimeout)}
	h.base = &http.Server{
		MaxHeaderBytes: s.MaxHeaderBytes,
		// http2 logs a client's protocol errors here, one line each.
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	}
	h.srv = http2.Server{
		MaxConcurrentStreams: s.MaxConcurrentStreams,
		IdleTimeout:          s.IdleTimeout,
	}
	if err := http2.ConfigureServer(h.base, &h.srv); err != nil {
		// Only a TLS configuration with bad cipher suites fails, and
		// base has none.
		panic("h2: " + err.Error())
	}
	srv.HTTP2, srv.H2C = h, s.H2C
	return h
}

// Protos are the protocols a TLS listener serving HTTP/2 and HTTP/1.1
// offers by ALPN, HTTP/2 first.
var Protos = []string{http2.NextProtoTLS, "http/1.1"}

func (s Settings) withDefaults(maxHeader int, idle, body time.Duration) Settings {
	if s.MaxConcurrentStreams == 0 {
		s.MaxConcurrentStreams = DefaultMaxConcurrentStreams
	}
	if s.MaxHeaderBytes <= 0 {
		s.MaxHeaderBytes = maxHeader
	}
	if s.MaxHeaderBytes <= 0 {
		s.MaxHeaderBytes = h1.DefaultMaxHeaderBytes
	}
	if s.IdleTimeout <= 0 {
		s.IdleTimeout = idle
	}
	if s.IdleTimeout <= 0 {
		s.IdleTimeout = h1.DefaultIdleTimeout
	}
	if s.BodyTimeout == 0 {
		s.BodyTimeout = body
	}
	if s.BodyTimeout == 0 {
		s.BodyTimeout = h1.DefaultBodyTimeout
	}
	return s
}

// ServeConn serves one HTTP/2 connection until it ends; it implements
// h1.ConnServer. A connection that arrives once Shutdown has begun is
// closed.
func (s *Server) ServeConn(ctx context.Context, nc net.Conn) {
	if s.closing.Load() {
		_ = nc.Close()
		return
	}
	s.srv.ServeConn(nc, &http2.ServeConnOpts{Context: ctx, BaseConfig: s.base, Handler: s.handler})
}

// Shutdown sends every connection a GOAWAY: each finishes the streams it
// has and closes. It does not wait; the h1 server does.
func (s *Server) Shutdown() {
	s.closing.Store(true)
	_ = s.base.Shutdown(context.Background())
}

// NewStd returns a net/http server for a listener that asks for Go's own
// server instead of h1: it has srv's handler, timeouts and limits, and
// serves HTTP/2 with s over TLS (and h2c with prior knowledge when s.H2C
// is set). tlsConfig, when set, is the listener's: Serve then serves TLS.
func NewStd(srv *h1.Server, s Settings, tlsConfig *tls.Config, logger *slog.Logger) *Std {
	s = s.withDefaults(srv.MaxHeaderBytes, srv.IdleTimeout, srv.BodyTimeout)
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	hs := &http.Server{
		Handler:           BodyTimeout(srv.Handler, s.BodyTimeout),
		ReadHeaderTimeout: or(srv.ReadHeaderTimeout, h1.DefaultReadHeaderTimeout),
		ReadTimeout:       noneIfNegative(or(srv.ReadTimeout, h1.DefaultReadTimeout)),
		WriteTimeout:      noneIfNegative(or(srv.WriteTimeout, h1.DefaultWriteTimeout)),
		IdleTimeout:       s.IdleTimeout,
		MaxHeaderBytes:    s.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
		HTTP2:             &http.HTTP2Config{MaxConcurrentStreams: int(s.MaxConcurrentStreams)},
		Protocols:         new(http.Protocols),
	}
	hs.Protocols.SetHTTP1(true)
	hs.Protocols.SetHTTP2(true)
	hs.Protocols.SetUnencryptedHTTP2(s.H2C)
	return &Std{Server: hs, tls: tlsConfig, maxConns: srv.MaxConns, logger: logger}
}

// Std is a listener's net/http server; see NewStd.
type Std struct {
	*http.Server
	tls      *tls.Config
	maxConns int
	logger   *slog.Logger
	limited  atomic.Pointer[h1.LimitedListener]
}

// Serve serves ln, over TLS when the Std has a TLS configuration, with
// at most the h1 server's MaxConns connections at once: one over the
// limit is closed (in clear text, answered 503 first).
func (s *Std) Serve(ln net.Listener) error {
	lim := h1.LimitListener(ln, s.maxConns, s.tls == nil, s.logger)
	s.limited.Store(lim)
	if s.tls != nil {
		return s.Server.Serve(tls.NewListener(lim, s.tls))
	}
	return s.Server.Serve(lim)
}

// OpenConns returns how many connections are open, while there is a
// limit (as h1.LimitedListener counts them).
func (s *Std) OpenConns() int {
	if l := s.limited.Load(); l != nil {
		return l.OpenConns()
	}
	return 0
}

// RefusedConns returns how many connections were refused for the limit.
func (s *Std) RefusedConns() int64 {
	if l := s.limited.Load(); l != nil {
		return l.RefusedConns()
	}
	return 0
}

func or(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

func noneIfNegative(d time.Duration) time.Duration {
	if d < 0 {
		return 0
	}
	return d
}
