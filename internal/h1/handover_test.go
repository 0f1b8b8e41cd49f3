package h1

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/verdict-policy/verdict/internal/certs/certstest"
)

// otherProtocol is a ConnServer that answers "other: " and the first
// line it reads (the preface's, for HTTP/2), then waits to be shut down
// or for the client to close.
type otherProtocol struct {
	mu       sync.Mutex
	conns    []net.Conn
	tlsProto string // the negotiated protocol of the last TLS conn
	shutdown chan struct{}
	once     sync.Once
}

func newOtherProtocol() *otherProtocol { return &otherProtocol{shutdown: make(chan struct{})} }

func (o *otherProtocol) ServeConn(ctx context.Context, nc net.Conn) {
	o.mu.Lock()
	o.conns = append(o.conns, nc)
	if tc, ok := nc.(*tls.Conn); ok {
		o.tlsProto = tc.ConnectionState().NegotiatedProtocol
	}
	o.mu.Unlock()
	buf := make([]byte, len(h2Preface)+16)
	n, err := io.ReadAtLeast(nc, buf, 3)
	if err != nil {
		return
	}
	line, _, _ := strings.Cut(string(buf[:n]), "\r\n")
	if _, err := io.WriteString(nc, "other: "+line+"\n"); err != nil {
		return
	}
	closed := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, nc); close(closed) }()
	select {
	case <-o.shutdown:
		_, _ = io.WriteString(nc, "goodbye\n")
	case <-closed:
	case <-ctx.Done():
	}
	_ = nc.Close()
}

func (o *otherProtocol) Shutdown() { o.once.Do(func() { close(o.shutdown) }) }

func (o *otherProtocol) served() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.conns)
}

func TestH2CPriorKnowledgeHandedOver(t *testing.T) {
	other := newOtherProtocol()
	ts := startServer(t, echo, func(s *Server) { s.HTTP2, s.H2C = other, true })

	tests := []struct {
		name   string
		pieces []string // sent one by one
		want   string   // the first line read back
	}{
		{"the preface at once", []string{h2Preface + "frames"}, "other: PRI * HTTP/2.0"},
		{"the preface a few bytes at a time", []string{"PR", "I * HTTP", "/2.0\r\n\r\nS", "M\r\n\r\n"}, "other: PRI * HTTP/2.0"},
		{"HTTP/1.1 meanwhile", []string{"GET /x HTTP/1.1\r\nHost: a\r\n\r\n"}, "HTTP/1.1 200 OK"},
		{"a method starting like the preface", []string{"PRIX / HTTP/1.1\r\nHost: a\r\n\r\n"}, "HTTP/1.1 200 OK"},
		{"PRI over HTTP/1.1", []string{"PRI / HTTP/1.1\r\nHost: a\r\n\r\n"}, "HTTP/1.1 200 OK"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dialRaw(t, ts.addr)
			for _, p := range tt.pieces {
				c.send(p)
				time.Sleep(5 * time.Millisecond)
			}
			line, err := c.br.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if line = strings.TrimRight(line, "\r\n"); line != tt.want {
				t.Errorf("read %q, want %q", line, tt.want)
			}
		})
	}
	if n := other.served(); n != 2 {
		t.Errorf("%d connections handed over, want 2", n)
	}
}

func TestH2CNeedsTheSwitch(t *testing.T) {
	other := newOtherProtocol()
	ts := startServer(t, echo, func(s *Server) { s.HTTP2 = other })
	c := dialRaw(t, ts.addr)
	c.send(h2Preface)
	res, body := c.read("PRI")
	if res.StatusCode != http.StatusHTTPVersionNotSupported || !strings.Contains(body, "only HTTP/1.0 and HTTP/1.1") {
		t.Errorf("got %d %q, want 505", res.StatusCode, body)
	}
	if other.served() != 0 {
		t.Error("handed over without H2C")
	}
}

// startTLS starts a server that also serves a TLS listener offering
// protos by ALPN, and returns that listener's address.
func startTLS(t *testing.T, configure func(*Server), protos ...string) (addr string, ca *certstest.CA, ts *testServer) {
	t.Helper()
	ca = certstest.NewCA(t, "h1 test CA")
	leaf := ca.Issue(t, certstest.Options{DNSNames: []string{"h1.test"}})
	cfg := &tls.Config{Certificates: []tls.Certificate{leaf.TLS(t)}, NextProtos: protos}
	if configure == nil {
		configure = func(*Server) {}
	}
	ts = startServer(t, echo, configure)
	// startServer serves a plain listener; serve a TLS one beside it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = ts.Serve(tls.NewListener(ln, cfg)) }()
	return ln.Addr().String(), ca, ts
}

func TestALPNHandsOverH2(t *testing.T) {
	other := newOtherProtocol()
	addr, ca, ts := startTLS(t, func(s *Server) { s.HTTP2 = other }, "h2", "http/1.1")

	for _, tt := range []struct {
		offer []string
		want  string
	}{
		{[]string{"h2", "http/1.1"}, "other: hello"},
		{[]string{"http/1.1"}, "HTTP/1.1 200 OK"},
		{nil, "HTTP/1.1 200 OK"},
	} {
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool(), ServerName: "h1.test", NextProtos: tt.offer})
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(testTimeout))
		if tt.want == "other: hello" {
			_, _ = io.WriteString(c, "hello\r\n")
		} else {
			_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: h1.test\r\n\r\n")
		}
		buf := make([]byte, 64)
		n, _ := io.ReadAtLeast(c, buf, len(tt.want))
		if got := string(buf[:n]); !strings.HasPrefix(got, tt.want) {
			t.Errorf("offering %v: read %q, want %q", tt.offer, got, tt.want)
		}
		c.Close()
	}
	other.mu.Lock()
	proto := other.tlsProto
	other.mu.Unlock()
	if proto != "h2" {
		t.Errorf("the handed-over connection negotiated %q", proto)
	}
	_ = ts
}

func TestALPNH2WithoutHTTP2Closes(t *testing.T) {
	addr, ca, _ := startTLS(t, nil, "h2", "http/1.1")
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool(), ServerName: "h1.test", NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(testTimeout))
	if n, err := c.Read(make([]byte, 1)); err == nil {
		t.Errorf("read %d bytes from a connection that should have closed", n)
	}
}

func TestShutdownWaitsForHandedOverConnections(t *testing.T) {
	other := newOtherProtocol()
	ts := startServer(t, echo, func(s *Server) { s.HTTP2, s.H2C = other, true })
	c := dialRaw(t, ts.addr)
	c.send(h2Preface)
	if line, _ := c.br.ReadString('\n'); !strings.HasPrefix(line, "other:") {
		t.Fatalf("read %q", line)
	}
	if n := ts.OpenConns(); n != 1 {
		t.Errorf("OpenConns() = %d with a handed-over connection, want 1", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := ts.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	// Shutdown told the other protocol, which said goodbye and closed.
	if line, _ := c.br.ReadString('\n'); line != "goodbye\n" {
		t.Errorf("read %q, want goodbye", line)
	}
	if n := ts.OpenConns(); n != 0 {
		t.Errorf("OpenConns() = %d after Shutdown", n)
	}
}

func TestCloseEndsHandedOverConnections(t *testing.T) {
	other := &otherProtocol{shutdown: make(chan struct{})} // never says goodbye
	ts := startServer(t, echo, func(s *Server) { s.HTTP2, s.H2C = other, true })
	c := dialRaw(t, ts.addr)
	c.send(h2Preface)
	if line, _ := c.br.ReadString('\n'); !strings.HasPrefix(line, "other:") {
		t.Fatalf("read %q", line)
	}
	_ = ts.Close()
	if _, err := c.br.ReadString('\n'); err == nil {
		t.Error("the connection is still open after Close")
	}
}
