package gatewaytest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// RawUpstream is an upstream on raw sockets: every connection it accepts
// is handed to a function that reads requests and writes whatever bytes
// it likes, so that a test can make an upstream misbehave byte for byte
// (an answer too long for its framing, a header no server should send, a
// connection closed while idle).
//
//	up := gatewaytest.StartRawUpstream(t, gatewaytest.Answer(func(r *gatewaytest.RawRequest) string {
//		return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
//	}))
type RawUpstream struct {
	// URL is the upstream's base URL, to use as api_backend.
	URL string
	// Addr is its host:port.
	Addr string

	ln    net.Listener
	serve func(*RawConn)
	wg    sync.WaitGroup

	mu         sync.Mutex
	conns      []*RawConn
	open, peak int
	closed     bool
	requests   []*RawRequest
}

// RawConn is one connection accepted by a RawUpstream.
type RawConn struct {
	net.Conn
	// R reads the connection; requests are read through it.
	R *bufio.Reader
	// N numbers the connection: 1 for the first one accepted.
	N int

	up *RawUpstream
}

// RawRequest is a request as a RawUpstream read it.
type RawRequest struct {
	// Conn is the number of the connection it came on.
	Conn int
	// Method, Target and Proto are the parts of the request line.
	Method, Target, Proto string
	Header                http.Header
	// Chunked tells a chunked body from one with a Content-Length.
	Chunked bool
	// Body is the whole body (ReadRequest), or nil (ReadHead).
	Body []byte
}

// StartRawUpstream listens on a loopback port and runs serve on its own
// goroutine for every connection, closing the connection when serve
// returns. Everything is closed when the test ends; serve must return
// once its connection is closed.
func StartRawUpstream(t testing.TB, serve func(c *RawConn)) *RawUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("gatewaytest: raw upstream: %v", err)
	}
	u := &RawUpstream{URL: "http://" + ln.Addr().String(), Addr: ln.Addr().String(), ln: ln, serve: serve}
	u.wg.Add(1)
	go u.accept()
	t.Cleanup(u.Close)
	return u
}

func (u *RawUpstream) accept() {
	defer u.wg.Done()
	for {
		nc, err := u.ln.Accept()
		if err != nil {
			return
		}
		u.mu.Lock()
		if u.closed {
			u.mu.Unlock()
			nc.Close()
			return
		}
		c := &RawConn{Conn: nc, R: bufio.NewReader(nc), N: len(u.conns) + 1, up: u}
		u.conns = append(u.conns, c)
		u.open++
		u.peak = max(u.peak, u.open)
		u.wg.Add(1)
		u.mu.Unlock()
		go func() {
			defer u.wg.Done()
			defer func() {
				nc.Close()
				u.mu.Lock()
				u.open--
				u.mu.Unlock()
			}()
			u.serve(c)
		}()
	}
}

// Close stops the upstream: the listener and every connection close, and
// Close waits for every serve function to return.
func (u *RawUpstream) Close() {
	u.mu.Lock()
	u.closed = true
	conns := append([]*RawConn(nil), u.conns...)
	u.mu.Unlock()
	u.ln.Close()
	for _, c := range conns {
		c.Close()
	}
	u.wg.Wait()
}

// Conns returns how many connections the upstream has accepted.
func (u *RawUpstream) Conns() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.conns)
}

// Open returns how many connections are open now.
func (u *RawUpstream) Open() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.open
}

// Peak returns the most connections that were open at once.
func (u *RawUpstream) Peak() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.peak
}

// Requests returns every request read so far (by ReadRequest or
// ReadHead), in order.
func (u *RawUpstream) Requests() []*RawRequest {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]*RawRequest(nil), u.requests...)
}

// Send writes s to the connection as it is.
func (c *RawConn) Send(s string) error {
	_, err := io.WriteString(c.Conn, s)
	return err
}

// ReadHead reads a request line and header fields. The body, if any, is
// left on the connection for ReadBody or for the test to read its own way.
func (c *RawConn) ReadHead() (*RawRequest, error) {
	tp := textproto.NewReader(c.R)
	line, err := tp.ReadLine()
	if err != nil {
		return nil, err
	}
	parts := strings.SplitN(line, " ", 3)
	if len(parts) != 3 {
		return nil, fmt.Errorf("gatewaytest: malformed request line %q", line)
	}
	mh, err := tp.ReadMIMEHeader()
	if err != nil {
		return nil, fmt.Errorf("gatewaytest: request header: %w", err)
	}
	r := &RawRequest{Conn: c.N, Method: parts[0], Target: parts[1], Proto: parts[2], Header: http.Header(mh)}
	te := r.Header.Values("Transfer-Encoding")
	switch {
	case len(te) == 1 && strings.EqualFold(te[0], "chunked") && r.Header.Get("Content-Length") == "":
		r.Chunked = true
	case len(te) > 0:
		return nil, fmt.Errorf("gatewaytest: request with Transfer-Encoding %q and Content-Length %q", te, r.Header.Get("Content-Length"))
	}
	c.up.mu.Lock()
	c.up.requests = append(c.up.requests, r)
	c.up.mu.Unlock()
	return r, nil
}

// ReadBody reads the body of the request whose head ReadHead returned.
func (c *RawConn) ReadBody(r *RawRequest) error {
	var body []byte
	if r.Chunked {
		b, err := io.ReadAll(httputil.NewChunkedReader(c.R))
		if err != nil {
			return fmt.Errorf("gatewaytest: chunked request body: %w", err)
		}
		tp := textproto.NewReader(c.R)
		for { // the trailer section, up to its empty line
			line, err := tp.ReadLine()
			if err != nil {
				return fmt.Errorf("gatewaytest: request trailer: %w", err)
			}
			if line == "" {
				break
			}
		}
		body = b
	} else if cl := r.Header.Get("Content-Length"); cl != "" {
		n, err := strconv.ParseInt(cl, 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("gatewaytest: request Content-Length %q", cl)
		}
		body = make([]byte, n)
		if _, err := io.ReadFull(c.R, body); err != nil {
			return fmt.Errorf("gatewaytest: request body: %w", err)
		}
	}
	c.up.mu.Lock()
	r.Body = body
	c.up.mu.Unlock()
	return nil
}

// ReadRequest reads a whole request, head and body.
func (c *RawConn) ReadRequest() (*RawRequest, error) {
	r, err := c.ReadHead()
	if err != nil {
		return nil, err
	}
	return r, c.ReadBody(r)
}

// Answer returns a serve function that reads requests one after another
// and writes, for each, the bytes reply returns, until the connection
// ends or reply returns "" (which closes the connection).
func Answer(reply func(r *RawRequest) string) func(*RawConn) {
	return func(c *RawConn) {
		for {
			r, err := c.ReadRequest()
			if err != nil {
				return
			}
			out := reply(r)
			if out == "" || c.Send(out) != nil {
				return
			}
		}
	}
}

// OK is a well-formed answer naming the request it answers: status 200
// and the body "conn=N METHOD TARGET", with its Content-Length (a HEAD
// gets the header alone).
func OK(r *RawRequest) string {
	body := "conn=" + strconv.Itoa(r.Conn) + " " + r.Method + " " + r.Target
	head := "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n"
	if r.Method == http.MethodHead {
		return head
	}
	return head + body
}
