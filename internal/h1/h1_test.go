package h1

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// testTimeout bounds every wait in these tests: a server that hangs fails
// the test instead of stalling it.
const testTimeout = 5 * time.Second

// countingListener counts the connections it accepts.
type countingListener struct {
	net.Listener
	accepted atomic.Int32
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
	}
	return c, err
}

// syncBuffer is a bytes.Buffer safe for concurrent use, for logs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type testServer struct {
	*Server
	ln   *countingListener
	addr string
	log  *syncBuffer

	served   chan struct{}
	serveErr error
}

// startServer serves h on a fresh 127.0.0.1 listener until the test ends.
func startServer(t testing.TB, h http.Handler, configure ...func(*Server)) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	srv := &Server{Handler: h, Logger: slog.New(slog.NewTextHandler(logs, nil))}
	for _, f := range configure {
		f(srv)
	}
	ts := &testServer{
		Server: srv,
		ln:     &countingListener{Listener: ln},
		addr:   ln.Addr().String(),
		log:    logs,
		served: make(chan struct{}),
	}
	go func() {
		ts.serveErr = srv.Serve(ts.ln)
		close(ts.served)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := ts.waitServe(); !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve returned %v, want http.ErrServerClosed", err)
		}
		_ = ln.Close()
	})
	return ts
}

// waitServe waits for Serve to return and returns its error.
func (ts *testServer) waitServe() error {
	select {
	case <-ts.served:
		return ts.serveErr
	case <-time.After(testTimeout):
		return errors.New("Serve did not return")
	}
}

func (ts *testServer) url(path string) string { return "http://" + ts.addr + path }

func newClient(t testing.TB) *http.Client {
	tr := &http.Transport{DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: testTimeout}
}

// rawConn is a client connection speaking the protocol by hand.
type rawConn struct {
	net.Conn
	br *bufio.Reader
	t  testing.TB
}

func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(testTimeout))
	t.Cleanup(func() { _ = c.Close() })
	return &rawConn{Conn: c, br: bufio.NewReader(c), t: t}
}

func (c *rawConn) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.Conn, s); err != nil {
		c.t.Fatalf("writing the request: %v", err)
	}
}

// read reads one response to a request of the given method, body and all.
func (c *rawConn) read(method string) (*http.Response, string) {
	c.t.Helper()
	resp, err := http.ReadResponse(c.br, &http.Request{Method: method})
	if err != nil {
		c.t.Fatalf("reading the response: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("reading the response body: %v (read %q)", err, body)
	}
	return resp, string(body)
}

// expectClosed reads what is left and fails unless the server closed the
// connection without sending anything more.
func (c *rawConn) expectClosed() {
	c.t.Helper()
	rest, err := io.ReadAll(c.br)
	if len(rest) > 0 {
		c.t.Fatalf("read %q where the connection should have closed", rest)
	}
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		c.t.Fatalf("the connection did not close: %v", err)
	}
}

// expectSilent fails if the server sends anything within d.
func (c *rawConn) expectSilent(d time.Duration) {
	c.t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(d))
	if b, err := c.br.Peek(1); !isTimeout(err) {
		c.t.Fatalf("got %q, %v; want nothing yet", b, err)
	}
	_ = c.SetReadDeadline(time.Now().Add(testTimeout))
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// echo answers "METHOD PATH BODY".
var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.RequestURI(), body)
})

func TestRequestFields(t *testing.T) {
	type seen struct {
		method, path, rawQuery, host, remote, requestURI, proto string
		ctxOK                                                   bool
	}
	got := make(chan seen, 1)
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		got <- seen{r.Method, r.URL.Path, r.URL.RawQuery, r.Host, r.RemoteAddr, r.RequestURI, r.Proto,
			ctx != nil && ctx.Err() == nil}
	}))
	var local string
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { local = i.Conn.LocalAddr().String() }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace),
		http.MethodGet, ts.url("/a/b?x=1&y=two"), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := newClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	s := <-got
	want := seen{"GET", "/a/b", "x=1&y=two", ts.addr, local, "/a/b?x=1&y=two", "HTTP/1.1", true}
	if s != want {
		t.Errorf("handler saw %+v\nwant %+v", s, want)
	}
}

func TestOptionsStar(t *testing.T) {
	got := make(chan string, 1)
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Method + " " + r.URL.Path + " " + r.RequestURI
	}))
	c := dialRaw(t, ts.addr)
	c.send("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, _ := c.read("OPTIONS"); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if s := <-got; s != "OPTIONS * *" {
		t.Errorf("handler saw %q", s)
	}
}

func TestEscapedPaths(t *testing.T) {
	type seen struct{ path, rawPath, escaped, rawQuery string }
	got := make(chan seen, 1)
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- seen{r.URL.Path, r.URL.RawPath, r.URL.EscapedPath(), r.URL.RawQuery}
	}))
	c := dialRaw(t, ts.addr)
	for _, target := range []string{
		"/plain/path",
		"/a%2Fb",
		"/a%40b",
		"/%7Euser/x",
		"/caf%C3%A9",
		"/café",
		"/wiki/Foo_(bar)",
		"/a+b;c=d,e:f@g$h&i=j",
		"/q%20s?x=%2F&y",
		"/a%2fb?",
		"//double//slash",
		"/a!b*c'd",
	} {
		c.send("GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, _ := c.read("GET")
		if resp.StatusCode != 200 {
			t.Fatalf("%s: status %d", target, resp.StatusCode)
		}
		// net/http parses the request target with url.ParseRequestURI.
		u, err := url.ParseRequestURI(target)
		if err != nil {
			t.Fatal(err)
		}
		want := seen{u.Path, u.RawPath, u.EscapedPath(), u.RawQuery}
		if s := <-got; s != want {
			t.Errorf("%s: handler saw %+v, want %+v", target, s, want)
		}
	}
}

func TestHead(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/declared":
			w.Header().Set("Content-Length", "1234")
		case "/empty":
		default:
			io.WriteString(w, "hello, world")
		}
	}))
	for path, want := range map[string]int64{"/written": 12, "/declared": 1234, "/empty": -1} {
		resp, err := newClient(t).Head(ts.url(path))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.ContentLength != want {
			t.Errorf("HEAD %s: status %d, ContentLength %d, want 200, %d", path, resp.StatusCode, resp.ContentLength, want)
		}
	}

	// No body bytes follow the head: the next response on the connection
	// parses.
	c := dialRaw(t, ts.addr)
	c.send("HEAD /written HTTP/1.1\r\nHost: x\r\n\r\nGET /written HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, body := c.read("HEAD")
	if resp.Header.Get("Content-Length") != "12" || body != "" {
		t.Errorf("HEAD: Content-Length %q, body %q", resp.Header.Get("Content-Length"), body)
	}
	// The Content-Type is sniffed from the bytes written, as for GET.
	if ct := resp.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Errorf("HEAD: Content-Type %q, want the sniffed text/plain", ct)
	}
	if _, body = c.read("GET"); body != "hello, world" {
		t.Errorf("GET after HEAD: body %q", body)
	}
}

// unsizedReader hides its length, so the client sends it chunked.
type unsizedReader struct{ r io.Reader }

func (u unsizedReader) Read(p []byte) (int, error) { return u.r.Read(p) }

func TestPostBody(t *testing.T) {
	type seen struct {
		length int64
		te     string
	}
	got := make(chan seen, 1)
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- seen{r.ContentLength, strings.Join(r.TransferEncoding, ",")}
		io.Copy(w, r.Body)
	}))
	big := strings.Repeat("0123456789abcdef", 10000)
	pr, pw := io.Pipe()
	go func() {
		for i := 0; i < 3; i++ {
			io.WriteString(pw, "piece ")
		}
		pw.Close()
	}()
	for _, tc := range []struct {
		name      string
		body      io.Reader
		want      string
		length    int64
		te        string
		closeConn bool
	}{
		{"content-length", strings.NewReader("hello"), "hello", 5, "", false},
		{"large content-length", strings.NewReader(big), big, int64(len(big)), "", false},
		{"chunked", unsizedReader{strings.NewReader(big)}, big, -1, "chunked", true},
		{"chunked from a pipe", pr, "piece piece piece ", -1, "chunked", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := newClient(t).Post(ts.url("/echo"), "text/plain", tc.body)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if string(body) != tc.want {
				t.Errorf("echoed %d bytes, want %d", len(body), len(tc.want))
			}
			if s := <-got; s != (seen{tc.length, tc.te}) {
				t.Errorf("handler saw ContentLength %d, TransferEncoding %q; want %d, %q", s.length, s.te, tc.length, tc.te)
			}
			// A chunked request body ends the connection, and the
			// response says so.
			if resp.Close != tc.closeConn {
				t.Errorf("response Close = %v, want %v", resp.Close, tc.closeConn)
			}
		})
	}
}

func TestLargeResponse(t *testing.T) {
	const size = 100 << 10
	want := make([]byte, size)
	for i := range want {
		want[i] = byte('a' + i%26)
	}
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("declared") {
			w.Header().Set("Content-Length", strconv.Itoa(size))
		}
		for p := want; len(p) > 0; p = p[1000:] {
			if len(p) < 1000 {
				w.Write(p)
				break
			}
			w.Write(p[:1000])
		}
	}))
	for _, tc := range []struct {
		query  string
		te     []string
		length int64
	}{
		{"", []string{"chunked"}, -1},
		{"?declared", nil, size},
	} {
		resp, err := newClient(t).Get(ts.url("/big" + tc.query))
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(body, want) {
			t.Errorf("%q: body of %d bytes differs from the %d written", tc.query, len(body), size)
		}
		if !reflect.DeepEqual(resp.TransferEncoding, tc.te) || resp.ContentLength != tc.length {
			t.Errorf("%q: TransferEncoding %q, ContentLength %d; want %q, %d", tc.query, resp.TransferEncoding, resp.ContentLength, tc.te, tc.length)
		}
	}

	// HTTP/1.0 has no chunks: the body ends with the connection.
	c := dialRaw(t, ts.addr)
	c.send("GET /big HTTP/1.0\r\n\r\n")
	resp, body := c.read("GET")
	if body != string(want) || resp.ContentLength != -1 || !resp.Close {
		t.Errorf("HTTP/1.0: %d bytes, ContentLength %d, Close %v", len(body), resp.ContentLength, resp.Close)
	}
}

func TestFlush(t *testing.T) {
	step := make(chan struct{})
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first;")
		w.(http.Flusher).Flush()
		select {
		case <-step:
		case <-time.After(testTimeout):
		}
		io.WriteString(w, "second")
	}))
	resp, err := newClient(t).Get(ts.url("/"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	first := make([]byte, len("first;"))
	if _, err := io.ReadFull(resp.Body, first); err != nil || string(first) != "first;" {
		t.Fatalf("before the handler returned: %q, %v", first, err)
	}
	close(step)
	rest, err := io.ReadAll(resp.Body)
	if err != nil || string(rest) != "second" {
		t.Fatalf("after: %q, %v", rest, err)
	}
	if !reflect.DeepEqual(resp.TransferEncoding, []string{"chunked"}) {
		t.Errorf("TransferEncoding %q, want chunked", resp.TransferEncoding)
	}
}

func TestHandlerContentLength(t *testing.T) {
	writeErr := make(chan error, 1)
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		declared, _ := strconv.Atoi(q.Get("declared"))
		written, _ := strconv.Atoi(q.Get("written"))
		w.Header().Set("Content-Length", strconv.Itoa(declared))
		_, err := w.Write(bytes.Repeat([]byte("x"), written))
		writeErr <- err
	}))
	for _, tc := range []struct {
		declared, written int
		wantErr           error // from the handler's Write
		received          int   // body bytes the client gets
		closes            bool  // the body is short and the connection ends
	}{
		{5, 5, nil, 5, false},
		{40000, 40000, nil, 40000, false},
		{5, 6, http.ErrContentLength, 0, true},
		{10, 5, nil, 5, true},
		{40000, 33000, nil, 33000, true},
	} {
		name := fmt.Sprintf("declared %d, written %d", tc.declared, tc.written)
		c := dialRaw(t, ts.addr)
		c.send(fmt.Sprintf("GET /?declared=%d&written=%d HTTP/1.1\r\nHost: x\r\n\r\n", tc.declared, tc.written))
		resp, err := http.ReadResponse(c.br, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := <-writeErr; err != tc.wantErr {
			t.Errorf("%s: Write returned %v, want %v", name, err, tc.wantErr)
		}
		if resp.ContentLength != int64(tc.declared) || resp.TransferEncoding != nil {
			t.Errorf("%s: ContentLength %d, TransferEncoding %q", name, resp.ContentLength, resp.TransferEncoding)
		}
		body, err := io.ReadAll(resp.Body)
		if len(body) != tc.received {
			t.Errorf("%s: read %d bytes, want %d", name, len(body), tc.received)
		}
		if tc.closes {
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("%s: body read ended with %v, want an unexpected EOF", name, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
		// The connection is still in step.
		c.send("GET /?declared=2&written=2 HTTP/1.1\r\nHost: x\r\n\r\n")
		<-writeErr
		if _, body := c.read("GET"); body != "xx" {
			t.Errorf("%s: next response body %q", name, body)
		}
	}
}

func TestNoBodyStatus(t *testing.T) {
	writeErr := make(chan error, 1)
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.URL.Path[1:])
		w.Header().Set("Etag", `"v1"`)
		w.WriteHeader(code)
		_, err := io.WriteString(w, "not allowed")
		writeErr <- err
	}))
	c := dialRaw(t, ts.addr)
	for _, code := range []int{http.StatusNoContent, http.StatusNotModified} {
		c.send(fmt.Sprintf("GET /%d HTTP/1.1\r\nHost: x\r\n\r\n", code))
		resp, body := c.read("GET")
		if err := <-writeErr; err != http.ErrBodyNotAllowed {
			t.Errorf("%d: Write returned %v, want http.ErrBodyNotAllowed", code, err)
		}
		if resp.StatusCode != code || body != "" || resp.Header.Get("Etag") != `"v1"` {
			t.Errorf("%d: got status %d, body %q, header %v", code, resp.StatusCode, body, resp.Header)
		}
		if _, ok := resp.Header["Content-Length"]; ok {
			t.Errorf("%d: Content-Length %q sent", code, resp.Header.Get("Content-Length"))
		}
		if resp.Close {
			t.Errorf("%d: the connection closes", code)
		}
	}
	// Nothing followed the heads: the connection still works.
	c.send("GET /200 HTTP/1.1\r\nHost: x\r\n\r\n")
	<-writeErr
	if resp, body := c.read("GET"); resp.StatusCode != 200 || body != "not allowed" {
		t.Errorf("after: status %d, body %q", resp.StatusCode, body)
	}
}

func TestStatusLine(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.URL.Path[1:])
		w.WriteHeader(code)
	}))
	c := dialRaw(t, ts.addr)
	for code, want := range map[int]string{
		200: "HTTP/1.1 200 OK\r\n",
		418: "HTTP/1.1 418 I'm a teapot\r\n",
		299: "HTTP/1.1 299 status code 299\r\n",
		799: "HTTP/1.1 799 status code 799\r\n",
	} {
		c.send(fmt.Sprintf("GET /%d HTTP/1.1\r\nHost: x\r\n\r\n", code))
		line, err := c.br.ReadString('\n')
		if err != nil || line != want {
			t.Errorf("status line %q, %v; want %q", line, err, want)
		}
		if _, err := http.ReadResponse(bufio.NewReader(io.MultiReader(strings.NewReader(line), c.br)), nil); err != nil {
			t.Fatal(err)
		}
	}
}

func TestInterimResponse(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		io.WriteString(w, "done")
	}))
	c := dialRaw(t, ts.addr)
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, _ := c.read("GET")
	if resp.StatusCode != http.StatusEarlyHints || resp.Header.Get("Link") == "" {
		t.Fatalf("first response: %d %v", resp.StatusCode, resp.Header)
	}
	resp, body := c.read("GET")
	if resp.StatusCode != 200 || body != "done" || resp.Header.Get("Link") != "" {
		t.Fatalf("final response: %d %v %q", resp.StatusCode, resp.Header, body)
	}
}

func TestContentType(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/html":
			io.WriteString(w, "<!DOCTYPE html><html><body>hi</body></html>")
		case "/binary":
			w.Write([]byte{0, 1, 2, 3, 0xff})
		case "/text":
			io.WriteString(w, "just text")
		case "/set":
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, "<html>")
		case "/none":
			w.Header()["Content-Type"] = nil
			io.WriteString(w, "<html>")
		case "/empty":
		}
	}))
	client := newClient(t)
	for path, want := range map[string]string{
		"/html":   "text/html; charset=utf-8",
		"/binary": "application/octet-stream",
		"/text":   "text/plain; charset=utf-8",
		"/set":    "application/json",
		"/none":   "",
		"/empty":  "",
	} {
		resp, err := client.Get(ts.url(path))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Values("Content-Type"); strings.Join(got, ",") != want {
			t.Errorf("%s: Content-Type %q, want %q", path, got, want)
		}
	}
}

func TestDateHeader(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/own" {
			w.Header().Set("Date", "Mon, 02 Jan 2006 15:04:05 GMT")
		}
	}))
	client := newClient(t)
	resp, err := client.Get(ts.url("/"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	date, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		t.Fatalf("Date %q: %v", resp.Header.Get("Date"), err)
	}
	if d := time.Since(date); d < -2*time.Second || d > 2*time.Second {
		t.Errorf("Date %v is %v from now", date, d)
	}
	resp, err = client.Get(ts.url("/own"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Values("Date"); len(got) != 1 || got[0] != "Mon, 02 Jan 2006 15:04:05 GMT" {
		t.Errorf("handler's Date came out as %q", got)
	}
}

func TestKeepAlive(t *testing.T) {
	ts := startServer(t, echo)
	client := newClient(t)
	reused := 0
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) {
		if i.Reused {
			reused++
		}
	}}
	ctx := httptrace.WithClientTrace(context.Background(), trace)
	for i := range 5 {
		method, body := http.MethodGet, io.Reader(nil)
		if i%2 == 1 {
			method, body = http.MethodPost, strings.NewReader("body"+strconv.Itoa(i))
		}
		req, err := http.NewRequestWithContext(ctx, method, ts.url("/n/"+strconv.Itoa(i)), body)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := fmt.Sprintf("%s /n/%d ", method, i)
		if i%2 == 1 {
			want += "body" + strconv.Itoa(i)
		}
		if err != nil || string(got) != want {
			t.Fatalf("request %d: %q, %v; want %q", i, got, err, want)
		}
	}
	if n := ts.ln.accepted.Load(); n != 1 || reused != 4 {
		t.Errorf("%d connections accepted and %d reused for 5 requests, want 1 and 4", n, reused)
	}
}

func TestPipelining(t *testing.T) {
	ts := startServer(t, echo)
	c := dialRaw(t, ts.addr)
	c.send("GET /1 HTTP/1.1\r\nHost: x\r\n\r\n" +
		"POST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello" +
		"HEAD /3 HTTP/1.1\r\nHost: x\r\n\r\n" +
		"POST /4 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc" +
		"\r\n" + // tolerated between requests
		"GET /5?q=1 HTTP/1.1\r\nHost: x\r\n\r\n")
	for _, want := range []struct{ method, body string }{
		{"GET", "GET /1 "},
		{"POST", "POST /2 hello"},
		{"HEAD", ""},
		{"POST", "POST /4 abc"},
		{"GET", "GET /5?q=1 "},
	} {
		resp, body := c.read(want.method)
		if resp.StatusCode != 200 || body != want.body || resp.Close {
			t.Errorf("got %d %q (close %v), want 200 %q", resp.StatusCode, body, resp.Close, want.body)
		}
	}
	if n := ts.ln.accepted.Load(); n != 1 {
		t.Errorf("%d connections accepted", n)
	}
}

func TestConnectionHeader(t *testing.T) {
	ts := startServer(t, echo)
	for _, tc := range []struct {
		name, request string
		keep          bool   // the server keeps the connection, or says close
		connection    string // the response's Connection header but for close
	}{
		{"1.0", "GET /a HTTP/1.0\r\n\r\n", false, ""},
		{"1.0 keep-alive", "GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true, "keep-alive"},
		{"1.0 Keep-Alive, other", "GET /a HTTP/1.0\r\nConnection: foo, Keep-Alive\r\n\r\n", true, "keep-alive"},
		{"1.1", "GET /a HTTP/1.1\r\nHost: x\r\n\r\n", true, ""},
		{"1.1 close", "GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", false, ""},
		{"1.1 keep-alive, Close", "GET /a HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Close\r\n\r\n", false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, ts.addr)
			for range 2 {
				c.send(tc.request)
				resp, body := c.read("GET")
				// http.ReadResponse turns Connection: close into Close.
				if body != "GET /a " || resp.Close == tc.keep || resp.Header.Get("Connection") != tc.connection {
					t.Fatalf("body %q, Close %v, Connection %q; want Close %v, Connection %q",
						body, resp.Close, resp.Header.Get("Connection"), !tc.keep, tc.connection)
				}
				if !tc.keep {
					c.expectClosed()
					return
				}
			}
		})
	}
}

func TestExpectContinue(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/flush" {
			w.WriteHeader(http.StatusAccepted)
			w.(http.Flusher).Flush()
		}
		if r.URL.Path != "/ignore" {
			body, err := io.ReadAll(r.Body)
			fmt.Fprintf(w, "%q %v", body, err)
		}
	}))
	const head = "POST %s HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"

	t.Run("waiting client", func(t *testing.T) {
		c := dialRaw(t, ts.addr)
		c.send(fmt.Sprintf(head, "/"))
		resp, _ := c.read("POST")
		if resp.StatusCode != http.StatusContinue || resp.Proto != "HTTP/1.1" {
			t.Fatalf("got %s before the body was sent, want 100 Continue", resp.Status)
		}
		c.send("hello")
		if resp, body := c.read("POST"); resp.StatusCode != 200 || body != `"hello" <nil>` {
			t.Fatalf("final response %d %q", resp.StatusCode, body)
		}
		// Still in step.
		c.send(fmt.Sprintf(head, "/") + "again")
		if resp, body := c.read("POST"); resp.StatusCode != 200 || body != `"again" <nil>` {
			t.Fatalf("body sent with the head: %d %q", resp.StatusCode, body)
		}
	})
	t.Run("client using the net/http transport", func(t *testing.T) {
		tr := &http.Transport{ExpectContinueTimeout: testTimeout}
		defer tr.CloseIdleConnections()
		req, _ := http.NewRequest(http.MethodPost, ts.url("/"), strings.NewReader("hello"))
		req.Header.Set("Expect", "100-continue")
		start := time.Now()
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != `"hello" <nil>` || time.Since(start) > testTimeout/2 {
			t.Fatalf("body %q after %v", body, time.Since(start))
		}
	})
	t.Run("body never read", func(t *testing.T) {
		c := dialRaw(t, ts.addr)
		c.send(fmt.Sprintf(head, "/ignore"))
		resp, _ := c.read("POST")
		if resp.StatusCode != 200 || !resp.Close {
			t.Fatalf("status %d, Close %v; want 200 and Connection: close", resp.StatusCode, resp.Close)
		}
		c.expectClosed()
	})
	t.Run("head already sent", func(t *testing.T) {
		c := dialRaw(t, ts.addr)
		c.send(fmt.Sprintf(head, "/flush"))
		resp, err := http.ReadResponse(c.br, nil)
		if err != nil || resp.StatusCode != http.StatusAccepted {
			t.Fatalf("first response %v, %v; want the handler's 202", resp, err)
		}
		c.send("hello")
		body, err := io.ReadAll(resp.Body)
		if err != nil || string(body) != `"hello" <nil>` {
			t.Fatalf("body %q, %v", body, err)
		}
	})
	t.Run("HTTP/1.0", func(t *testing.T) {
		// An HTTP/1.0 client does not know 100 Continue: the
		// expectation is ignored.
		c := dialRaw(t, ts.addr)
		c.send("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
		c.expectSilent(200 * time.Millisecond)
		c.send("hello")
		if resp, body := c.read("POST"); resp.StatusCode != 200 || body != `"hello" <nil>` {
			t.Fatalf("got %d %q", resp.StatusCode, body)
		}
	})
}

func TestUnreadBody(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.URL.Path)
	}))
	t.Run("buffered", func(t *testing.T) {
		c := dialRaw(t, ts.addr)
		c.send("POST /ignore HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789" +
			"GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
		for _, want := range []string{"/ignore", "/next"} {
			if resp, body := c.read("GET"); body != want || resp.Close {
				t.Fatalf("got %q (close %v), want %q", body, resp.Close, want)
			}
		}
	})
	t.Run("sent after the response", func(t *testing.T) {
		c := dialRaw(t, ts.addr)
		c.send("POST /ignore HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
		if resp, body := c.read("POST"); body != "/ignore" || resp.Close {
			t.Fatalf("got %q (close %v)", body, resp.Close)
		}
		c.send(strings.Repeat("z", 100000) + "GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
		if _, body := c.read("GET"); body != "/next" {
			t.Fatalf("got %q", body)
		}
	})
	t.Run("too large to drain", func(t *testing.T) {
		c := dialRaw(t, ts.addr)
		c.send(fmt.Sprintf("POST /ignore HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", maxDrain+1))
		if resp, body := c.read("POST"); body != "/ignore" || !resp.Close {
			t.Fatalf("got %q (close %v), want Connection: close", body, resp.Close)
		}
		c.expectClosed()
	})
}

func TestHeadFraming(t *testing.T) {
	got := make(chan http.Header, 1)
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Clone()
		io.WriteString(w, r.URL.Path)
	}))
	long := strings.Repeat("v", 100<<10) // larger than the buffer kept between requests
	for _, tc := range []struct {
		name   string
		pieces []string
		header http.Header
	}{
		{"leading empty lines", []string{"\r\n\n\r\nGET /a HTTP/1.1\r\nHost: x\r\n\r\n"}, http.Header{}},
		{"bare LF", []string{"GET /a HTTP/1.1\nHost: x\nX-One: 1\nX-Two:  2 \n\n"}, http.Header{"X-One": {"1"}, "X-Two": {"2"}}},
		{"mixed endings", []string{"GET /a HTTP/1.1\r\nHost: x\nX-One: 1\r\n\n"}, http.Header{"X-One": {"1"}}},
		{"split in the final CRLF", []string{"GET /a HTTP/1.1\r\nHost: x\r\nX-A: b\r\n\r", "\n"}, http.Header{"X-A": {"b"}}},
		{"split between the CRLFs", []string{"GET /a HTTP/1.1\r\nHost: x\r\n", "\r\n"}, http.Header{}},
		{"split after a CR", []string{"GET /a HTTP/1.1\r", "\nHost: x\r\nX-A: b\r\n", "\r", "\n"}, http.Header{"X-A": {"b"}}},
		{"split after LF", []string{"GET /a HTTP/1.1\n", "Host: x\n", "\n"}, http.Header{}},
		{"byte by byte", strings.Split("GET /a HTTP/1.1\r\nHost: x\r\nX-A: b\r\n\r\n", ""), http.Header{"X-A": {"b"}}},
		{"long header", []string{"GET /a HTTP/1.1\r\nHost: x\r\nX-Long: " + long[:50000], long[50000:] + "\r\n\r\n"}, http.Header{"X-Long": {long}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, ts.addr)
			for i, p := range tc.pieces {
				if i > 0 {
					time.Sleep(2 * time.Millisecond)
				}
				c.send(p)
			}
			if resp, body := c.read("GET"); resp.StatusCode != 200 || body != "/a" {
				t.Fatalf("got %d %q", resp.StatusCode, body)
			}
			if h := <-got; !reflect.DeepEqual(h, tc.header) {
				t.Errorf("header %v, want %v", h, tc.header)
			}
			// The connection is still in step.
			c.send("GET /b HTTP/1.1\r\nHost: x\r\n\r\n")
			if _, body := c.read("GET"); body != "/b" {
				t.Fatalf("next request: %q", body)
			}
			<-got
		})
	}
}

func TestBadRequests(t *testing.T) {
	called := make(chan string, 100)
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		called <- r.RequestURI
	}), func(s *Server) { s.MaxHeaderBytes = 1024 })
	for _, tc := range []struct {
		name, request string
		status        int
		reason        string // in the body
	}{
		{"no version", "GET /\r\nHost: x\r\n\r\n", 400, "malformed request line"},
		{"only a method", "GET\r\nHost: x\r\n\r\n", 400, "malformed request line"},
		{"bad method token", "G(T / HTTP/1.1\r\nHost: x\r\n\r\n", 400, "invalid method"},
		{"empty method", " / HTTP/1.1\r\nHost: x\r\n\r\n", 400, "invalid method"},
		{"HTTP/2.0", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505, "only HTTP/1.0 and HTTP/1.1"},
		{"HTTP/0.9", "GET / HTTP/0.9\r\nHost: x\r\n\r\n", 505, "only HTTP/1.0 and HTTP/1.1"},
		{"garbage version", "GET / HTTQ/1.1\r\nHost: x\r\n\r\n", 400, "malformed HTTP version"},
		{"two-digit version", "GET / HTTP/1.10\r\nHost: x\r\n\r\n", 400, "malformed HTTP version"},
		{"lowercase version", "GET / http/1.1\r\nHost: x\r\n\r\n", 400, "malformed HTTP version"},
		{"extra field in request line", "GET / HTTP/1.1 x\r\nHost: x\r\n\r\n", 400, "more than three parts"},
		{"space in target", "GET /a b HTTP/1.1\r\nHost: x\r\n\r\n", 400, "more than three parts"},
		{"double space", "GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400, ""},
		{"missing Host", "GET / HTTP/1.1\r\n\r\n", 400, "missing required Host header"},
		{"two Host headers", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "more than one Host header"},
		{"two Host headers, absolute target", "GET http://a/ HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "more than one Host header"},
		{"absolute target without Host", "GET http://a/ HTTP/1.1\r\n\r\n", 400, "missing required Host header"},
		{"header without colon", "GET / HTTP/1.1\r\nHost: x\r\nX-A b\r\n\r\n", 400, "malformed header line"},
		{"space before colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400, "malformed header line"},
		{"empty header name", "GET / HTTP/1.1\r\nHost: x\r\n: b\r\n\r\n", 400, "malformed header line"},
		{"bad header name", "GET / HTTP/1.1\r\nHost: x\r\nX(A): b\r\n\r\n", 400, "malformed header line"},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX-A: b\r\n c\r\n\r\n", 400, "obsolete line folding"},
		{"obs-fold with tab", "GET / HTTP/1.1\r\nHost: x\r\nX-A: b\r\n\tc\r\n\r\n", 400, "obsolete line folding"},
		{"control byte in value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: b\x01c\r\n\r\n", 400, "invalid value of header X-A"},
		{"NUL in value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: b\x00c\r\n\r\n", 400, "invalid value of header X-A"},
		{"DEL in value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: b\x7fc\r\n\r\n", 400, "invalid value of header X-A"},
		{"CR in value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: b\rc\r\n\r\n", 400, "invalid value of header X-A"},
		{"control byte in Host", "GET / HTTP/1.1\r\nHost: x\x01\r\n\r\n", 400, "invalid value of header Host"},
		{"control byte in target", "GET /a\x01b HTTP/1.1\r\nHost: x\r\n\r\n", 400, "invalid request target"},
		{"tab in target", "GET /a\tb HTTP/1.1\r\nHost: x\r\n\r\n", 400, "invalid request target"},
		{"DEL in target", "GET /a\x7f HTTP/1.1\r\nHost: x\r\n\r\n", 400, "invalid request target"},
		{"relative target", "GET a/b HTTP/1.1\r\nHost: x\r\n\r\n", 400, "invalid request target"},
		{"absolute target without host", "GET http:///a HTTP/1.1\r\nHost: x\r\n\r\n", 400, "invalid request target"},
		{"bad percent-encoding", "GET /a%zzb HTTP/1.1\r\nHost: x\r\n\r\n", 400, "invalid request target"},
		{"truncated percent-encoding", "GET /a% HTTP/1.1\r\nHost: x\r\n\r\n", 400, "invalid request target"},
		{"* for GET", "GET * HTTP/1.1\r\nHost: x\r\n\r\n", 400, "the request target * is for OPTIONS only"},
		{"gzip", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "unsupported transfer encoding"},
		{"gzip, chunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501, "unsupported transfer encoding"},
		{"chunked twice", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 501, "unsupported transfer encoding"},
		{"Transfer-Encoding and Content-Length", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400, "both Transfer-Encoding and Content-Length"},
		{"Transfer-Encoding on 1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "Transfer-Encoding on an HTTP/1.0 request"},
		{"Content-Length not a number", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400, "invalid Content-Length"},
		{"Content-Length empty", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: \r\n\r\n", 400, "invalid Content-Length"},
		{"Content-Length negative", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400, "invalid Content-Length"},
		{"Content-Length -0", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -0\r\n\r\n", 400, "invalid Content-Length"},
		{"Content-Length with plus", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\n", 400, "invalid Content-Length"},
		{"Content-Length list", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\n", 400, "invalid Content-Length"},
		{"Content-Length overflow", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n", 400, "invalid Content-Length"},
		{"conflicting Content-Lengths", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 400, "conflicting Content-Length values"},
		{"unsupported Expect", "POST / HTTP/1.1\r\nHost: x\r\nExpect: something\r\n\r\n", 417, "unsupported expectation"},
		{"two Expects", "POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nExpect: 100-continue\r\n\r\n", 417, "unsupported expectation"},
		{"head too large", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("b", 8000) + "\r\n\r\n", 431, "larger than 1024 bytes"},
		{"too many header lines", "GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-A: b\r\n", 1000) + "\r\n", 431, "larger than 1024 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, ts.addr)
			c.send(tc.request)
			resp, body := c.read("GET")
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d (body %q)", resp.StatusCode, tc.status, body)
			}
			prefix := fmt.Sprintf("%d %s: ", tc.status, http.StatusText(tc.status))
			if !strings.HasPrefix(body, prefix) || !strings.Contains(body, tc.reason) {
				t.Errorf("body %q, want %q and %q", body, prefix, tc.reason)
			}
			if !resp.Close { // http.ReadResponse takes Connection: close out of the header
				t.Errorf("no Connection: close in %v", resp.Header)
			}
			c.expectClosed()
		})
	}
	select {
	case uri := <-called:
		t.Errorf("the handler was called for %q", uri)
	default:
	}
}

func TestHandlerPanic(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/panic":
			panic("boom")
		case "/panic-after-write":
			w.Header().Set("X-Partial", "yes")
			io.WriteString(w, "partial")
			panic("boom after write")
		case "/panic-after-flush":
			io.WriteString(w, "partial")
			w.(http.Flusher).Flush()
			panic("boom after flush")
		case "/abort":
			io.WriteString(w, "partial")
			panic(http.ErrAbortHandler)
		case "/bad-code":
			w.WriteHeader(1000)
		}
		io.WriteString(w, "ok")
	}))

	for _, tc := range []struct{ path, logged string }{
		{"/panic", "boom"},
		{"/panic-after-write", "boom after write"},
		{"/bad-code", "invalid WriteHeader code 1000"},
	} {
		c := dialRaw(t, ts.addr)
		c.send("GET " + tc.path + " HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, body := c.read("GET")
		if resp.StatusCode != 500 || !resp.Close || body != "500 Internal Server Error\n" || resp.Header.Get("X-Partial") != "" {
			t.Errorf("%s: got %d %q, close %v, header %v", tc.path, resp.StatusCode, body, resp.Close, resp.Header)
		}
		c.expectClosed()
		if log := ts.log.String(); !strings.Contains(log, "handler panic") || !strings.Contains(log, tc.logged) {
			t.Errorf("%s: panic not logged: %s", tc.path, log)
		}
	}

	// After the head went out, the response is cut short.
	c := dialRaw(t, ts.addr)
	c.send("GET /panic-after-flush HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("got %v, %v", resp, err)
	}
	if body, err := io.ReadAll(resp.Body); err == nil {
		t.Errorf("response completed with %q", body)
	}

	// ErrAbortHandler aborts the response without a log entry.
	before := ts.log.String()
	c = dialRaw(t, ts.addr)
	c.send("GET /abort HTTP/1.1\r\nHost: x\r\n\r\n")
	c.expectClosed()
	if after := ts.log.String(); after != before {
		t.Errorf("ErrAbortHandler logged: %s", after[len(before):])
	}

	// The server keeps serving.
	c = dialRaw(t, ts.addr)
	c.send("GET /fine HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, body := c.read("GET"); resp.StatusCode != 200 || body != "ok" {
		t.Errorf("after the panics: %d %q", resp.StatusCode, body)
	}
}

func TestReadHeaderTimeout(t *testing.T) {
	ts := startServer(t, echo, func(s *Server) { s.ReadHeaderTimeout = 100 * time.Millisecond })
	for _, tc := range []struct{ name, before, partial string }{
		{"first request", "", "GET / HTTP/1.1\r\nHost:"},
		{"nothing sent", "", ""},
		{"second request", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "GET / HTTP/1.1\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, ts.addr)
			if tc.before != "" {
				c.send(tc.before)
				c.read("GET")
			}
			start := time.Now()
			if tc.partial != "" {
				c.send(tc.partial)
			}
			c.expectClosed()
			if d := time.Since(start); d < 50*time.Millisecond || d > time.Second {
				t.Errorf("closed after %v, want about 100ms", d)
			}
		})
	}
}

func TestIdleTimeout(t *testing.T) {
	ts := startServer(t, echo, func(s *Server) { s.IdleTimeout = 100 * time.Millisecond })
	c := dialRaw(t, ts.addr)
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	c.read("GET")
	start := time.Now()
	c.expectClosed()
	if d := time.Since(start); d < 50*time.Millisecond || d > time.Second {
		t.Errorf("closed after %v idle, want about 100ms", d)
	}
}

func TestShortTimeoutsSlowHandler(t *testing.T) {
	// Timeouts shorter than a slow handler run from when each wait starts,
	// not from a deadline set before the handler ran.
	const timeout = 150 * time.Millisecond
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(2 * timeout)
		io.ReadAll(r.Body)
		io.WriteString(w, "slow")
	}), func(s *Server) {
		s.ReadHeaderTimeout, s.IdleTimeout, s.ReadTimeout = timeout, timeout, timeout
	})
	c := dialRaw(t, ts.addr)
	for i := range 3 {
		c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if _, body := c.read("GET"); body != "slow" {
			t.Fatalf("request %d: %q", i, body)
		}
		time.Sleep(timeout / 5)
	}
}

func TestReadTimeout(t *testing.T) {
	readErr := make(chan error, 1)
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		readErr <- err
	}), func(s *Server) { s.ReadTimeout = 100 * time.Millisecond })
	c := dialRaw(t, ts.addr)
	c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
	start := time.Now()
	select {
	case err := <-readErr:
		if !isTimeout(err) {
			t.Errorf("body read returned %v, want a timeout", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("body read timed out after %v", d)
		}
	case <-time.After(testTimeout):
		t.Fatal("the body read did not time out")
	}
	if resp, _ := c.read("POST"); resp.StatusCode != http.StatusRequestTimeout || !resp.Close {
		t.Errorf("status %d (close %v), want 408 and Connection: close", resp.StatusCode, resp.Close)
	}
	c.expectClosed()
}

func TestShutdownIdle(t *testing.T) {
	ts := startServer(t, echo)
	c := dialRaw(t, ts.addr)
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	c.read("GET")
	quiet := dialRaw(t, ts.addr) // connected, nothing sent

	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	start := time.Now()
	if err := ts.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Shutdown took %v with only idle connections", d)
	}
	c.expectClosed()
	quiet.expectClosed()
	if err := ts.waitServe(); !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve returned %v", err)
	}
	if _, err := net.DialTimeout("tcp", ts.addr, time.Second); err == nil {
		t.Error("the listener still accepts")
	}
	if err := ts.Serve(ts.ln); !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve after Shutdown returned %v", err)
	}
}

func TestShutdownWaitsForRequest(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/block" {
			close(started)
			<-release
		}
		io.WriteString(w, "done "+r.URL.Path)
	}))
	idle := dialRaw(t, ts.addr)
	idle.send("GET /idle HTTP/1.1\r\nHost: x\r\n\r\n")
	idle.read("GET")

	c := dialRaw(t, ts.addr)
	c.send("GET /block HTTP/1.1\r\nHost: x\r\n\r\n")
	<-started
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		shut <- ts.Shutdown(ctx)
	}()
	idle.expectClosed()
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with a request in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	resp, body := c.read("GET")
	if body != "done /block" || !resp.Close {
		t.Errorf("in-flight response %q, Close %v; want it whole and Connection: close", body, resp.Close)
	}
	c.expectClosed()
	select {
	case err := <-shut:
		if err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("Shutdown did not return")
	}
	if err := ts.waitServe(); !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve returned %v", err)
	}
}

func TestShutdownExpiredContext(t *testing.T) {
	started, returned := make(chan struct{}), make(chan struct{})
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(returned)
		close(started)
		select {
		case <-r.Context().Done():
		case <-time.After(testTimeout):
		}
		io.WriteString(w, "late")
	}))
	c := dialRaw(t, ts.addr)
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := ts.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Shutdown returned %v, want context.Canceled", err)
	}
	select {
	case <-returned:
	case <-time.After(time.Second):
		t.Error("the request context was not done after Shutdown gave up")
	}
	c.expectClosed()
	if err := ts.waitServe(); !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve returned %v", err)
	}
}

func TestServeReturnsAcceptError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &Server{Handler: echo}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	ln.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Serve returned %v, want net.ErrClosed", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("Serve did not return when its listener closed")
	}
	srv.Close()
}

// record is what a handler sees of a request, for comparing servers.
type record struct {
	Method, URL, Path, RawPath, RawQuery, RequestURI string
	Host, Proto                                      string
	Header                                           http.Header
	ContentLength                                    int64
	TransferEncoding                                 []string
	Close                                            bool
	Body                                             string
	BodyErr                                          string
}

func recordRequest(r *http.Request) record {
	body, err := io.ReadAll(r.Body)
	rec := record{
		Method: r.Method, URL: r.URL.String(), Path: r.URL.Path, RawPath: r.URL.RawPath,
		RawQuery: r.URL.RawQuery, RequestURI: r.RequestURI, Host: r.Host, Proto: r.Proto,
		Header: r.Header.Clone(), ContentLength: r.ContentLength,
		TransferEncoding: r.TransferEncoding, Close: r.Close, Body: string(body),
	}
	if err != nil {
		rec.BodyErr = err.Error()
	}
	return rec
}

func TestDifferential(t *testing.T) {
	records := make(chan record, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		records <- recordRequest(r)
		io.WriteString(w, "ok")
	})
	ref := httptest.NewServer(h)
	defer ref.Close()
	ours := startServer(t, h)

	// known describes where h1 differs from net/http on purpose or
	// harmlessly; expect turns net/http's record into h1's.
	type known struct {
		why    string
		expect func(*record)
	}
	for _, tc := range []struct {
		raw   string
		known *known
	}{
		{raw: "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"},
		{raw: "GET /a/b?x=1&y=%20z&x=2 HTTP/1.1\r\nHost: example.com:8080\r\nUser-Agent: test\r\nAccept: */*\r\n\r\n"},
		{raw: "GET /a? HTTP/1.1\r\nHost: h\r\n\r\n"},
		{raw: "GET /a?? HTTP/1.1\r\nHost: h\r\n\r\n"},
		{raw: "GET /a?b#frag HTTP/1.1\r\nHost: h\r\n\r\n"},
		{raw: "GET /a%2Fb/c%40d HTTP/1.1\r\nHost: h\r\n\r\n"},
		{raw: "GET /%7e/caf%C3%A9?q=%2F HTTP/1.1\r\nHost: h\r\n\r\n"},
		{raw: "GET /café HTTP/1.1\r\nHost: h\r\n\r\n"},
		{raw: "GET /wiki/Foo_(bar)!*' HTTP/1.1\r\nHost: h\r\n\r\n"},
		{raw: "GET /a+b;c,d:e@f$g&h=i HTTP/1.1\r\nHost: h\r\n\r\n"},
		{raw: "GET /a\"b<c>{d}|e^f`g\\h HTTP/1.1\r\nHost: h\r\n\r\n"},
		{raw: "GET //two//slashes HTTP/1.1\r\nHost: h\r\n\r\n"},
		{raw: "GET http://example.com/abs?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\n"},
		{raw: "GET https://user@example.com:8443/p%2Fq HTTP/1.1\r\nHost: other\r\n\r\n"},
		{raw: "PURGE /cache HTTP/1.1\r\nHost: h\r\n\r\n"},
		{raw: "get /lower HTTP/1.1\r\nHost: h\r\n\r\n"},
		{raw: "GET / HTTP/1.1\r\nhost: h\r\nx-lower: 1\r\nX-DUP: a\r\nx-dup: b\r\nX_Under_Score: u\r\ncontent-type: text/plain\r\n\r\n"},
		{raw: "GET / HTTP/1.1\r\nHost: h\r\nX-Space:   padded value \t \r\nX-Empty:\r\nX-Tab:\tt\tu\t\r\nX-Utf8: caf\xc3\xa9\r\nX-Latin1: \xe9\r\n\r\n"},
		{raw: "GET / HTTP/1.1\r\nHost: h\r\nX-Colon: a:b:c\r\nCookie: a=1; b=2\r\nCookie: c=3\r\n\r\n"},
		{raw: "GET /lf HTTP/1.1\nHost: h\nX-A: 1\n\n"},
		{raw: "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"},
		{raw: "GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n"},
		{raw: "GET / HTTP/1.0\r\n\r\n"},
		{raw: "GET / HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\n\r\n"},
		{raw: "GET / HTTP/1.2\r\nHost: h\r\n\r\n"},
		{raw: "POST /form HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 7\r\n\r\na=1&b=2"},
		{raw: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 005\r\n\r\nhello"},
		{raw: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"},
		{raw: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", known: &known{
			why:    "net/http keeps one of several equal Content-Length values in r.Header; h1 passes them all",
			expect: func(r *record) { r.Header["Content-Length"] = []string{"3", "3"} },
		}},
		{raw: "PUT / HTTP/1.0\r\nContent-Length: 4\r\n\r\nbody"},
		{raw: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n"},
		{raw: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"},
		{raw: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n"},
		{raw: "POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello"},
		{raw: "POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 5\r\n\r\nhello"},
	} {
		want := roundTripRecord(t, ref.Listener.Addr().String(), tc.raw, records)
		got := roundTripRecord(t, ours.addr, tc.raw, records)
		if tc.known != nil {
			if reflect.DeepEqual(got, want) {
				t.Errorf("request %q: no longer differs from net/http (%s)", tc.raw, tc.known.why)
			}
			tc.known.expect(&want)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("request %q:\n h1:      %+v\n expected: %+v", tc.raw, got, want)
		}
	}
}

// roundTripRecord sends raw on a new connection and returns what the
// handler recorded.
func roundTripRecord(t *testing.T, addr, raw string, records <-chan record) record {
	t.Helper()
	c := dialRaw(t, addr)
	c.send(raw)
	resp, body := c.read(strings.ToUpper(strings.Fields(raw)[0]))
	if resp.StatusCode == http.StatusContinue {
		resp, body = c.read("POST")
	}
	if resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("%s answered %q with %d %q", addr, raw, resp.StatusCode, body)
	}
	_ = c.Close()
	select {
	case rec := <-records:
		return rec
	case <-time.After(testTimeout):
		t.Fatal("no record")
		return record{}
	}
}

// Benchmarks: one keep-alive connection, a raw GET per iteration. After
// the first response has given the (constant) response length, responses
// are read as bytes, so the client parses nothing and allocates nothing.

const benchGet = "GET /bench?x=1 HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n"

func benchmarkKeepAlive(b *testing.B, addr, raw string) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	req := []byte(raw)
	if _, err := conn.Write(req); err != nil {
		b.Fatal(err)
	}
	cr := &countingReader{r: conn}
	br := bufio.NewReader(cr)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		b.Fatal(err)
	}
	if body, err := io.ReadAll(resp.Body); err != nil || string(body) != "hello" {
		b.Fatalf("body %q, %v", body, err)
	}
	size := cr.n - br.Buffered()
	buf := make([]byte, size)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := conn.Write(req); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(conn, buf); err != nil {
			b.Fatal(err)
		}
		if !bytes.HasPrefix(buf, []byte("HTTP/1.1 200 OK\r\n")) || !bytes.HasSuffix(buf, []byte("\r\n\r\nhello")) {
			b.Fatalf("response %q", buf)
		}
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

var benchHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	io.WriteString(w, "hello")
})

func BenchmarkServeKeepAlive(b *testing.B) {
	ts := startServer(b, benchHandler)
	benchmarkKeepAlive(b, ts.addr, benchGet)
}

// BenchmarkServeKeepAlivePost sends a body the handler leaves unread: the
// server drops it without allocating.
func BenchmarkServeKeepAlivePost(b *testing.B) {
	ts := startServer(b, benchHandler)
	benchmarkKeepAlive(b, ts.addr, "POST /bench HTTP/1.1\r\nHost: bench\r\nContent-Length: 100\r\n\r\n"+strings.Repeat("x", 100))
}

func BenchmarkNetHTTPKeepAlive(b *testing.B) {
	ts := httptest.NewServer(benchHandler)
	defer ts.Close()
	benchmarkKeepAlive(b, ts.Listener.Addr().String(), benchGet)
}

func TestHandlerConnectionHeader(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", r.URL.Query().Get("set"))
		_, _ = io.WriteString(w, "ok")
	}))
	for _, tc := range []struct {
		name, request string
		keep          bool
	}{
		{"handler keep-alive cannot keep a closing connection",
			"GET /?set=keep-alive HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", false},
		{"handler close closes", "GET /?set=close HTTP/1.1\r\nHost: x\r\n\r\n", false},
		{"handler keep-alive on a kept connection", "GET /?set=keep-alive HTTP/1.1\r\nHost: x\r\n\r\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, ts.addr)
			c.send(tc.request)
			resp, body := c.read("GET")
			if body != "ok" || resp.Close == tc.keep {
				t.Fatalf("body %q, Close %v; want Close %v", body, resp.Close, !tc.keep)
			}
			if got := resp.Header.Values("Connection"); len(got) > 1 {
				t.Fatalf("Connection sent twice: %q", got)
			}
			if !tc.keep {
				c.expectClosed()
			}
		})
	}
}

func TestSmallMaxHeaderBytesInOneRead(t *testing.T) {
	ts := startServer(t, echo, func(s *Server) { s.MaxHeaderBytes = 64 })
	c := dialRaw(t, ts.addr)
	c.send("GET /" + strings.Repeat("a", 100) + " HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, body := c.read("GET")
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge || !strings.Contains(body, "larger than 64 bytes") {
		t.Fatalf("got %d %q, want 431 naming the limit", resp.StatusCode, body)
	}
	c.expectClosed()
	ok := dialRaw(t, ts.addr)
	ok.send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, _ := ok.read("GET"); resp.StatusCode != http.StatusOK {
		t.Fatalf("a head within the limit got %d", resp.StatusCode)
	}
}

func TestValidTarget(t *testing.T) {
	slow := func(s string) bool {
		for i := 0; i < len(s); i++ {
			if b := s[i]; b <= ' ' || b == 0x7f {
				return false
			}
		}
		return true
	}
	// Every byte value at every position of a few lengths, among bytes
	// that pass, and the ones beside the edges of the bad ranges.
	for _, n := range []int{1, 7, 8, 9, 16, 17, 33} {
		for pos := 0; pos < n; pos++ {
			for b := 0; b < 256; b++ {
				buf := []byte(strings.Repeat("a\x80~!", n)[:n])
				buf[pos] = byte(b)
				s := string(buf)
				if got, want := validTarget(s), slow(s); got != want {
					t.Fatalf("validTarget(%q) = %v, want %v", s, got, want)
				}
			}
		}
	}
}

func FuzzValidTarget(f *testing.F) {
	f.Add("/policy/v1/service/configuration?local_alias=sip%3Aa%40b")
	f.Add("/a b")
	f.Add("/\x7f\x80\xff\x21\x20")
	f.Fuzz(func(t *testing.T, s string) {
		want := true
		for i := 0; i < len(s); i++ {
			if b := s[i]; b <= ' ' || b == 0x7f {
				want = false
			}
		}
		if got := validTarget(s); got != want {
			t.Fatalf("validTarget(%q) = %v, want %v", s, got, want)
		}
	})
}

func TestNegativeTimeoutsSetNoBound(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%q %v", body, err)
	}), func(s *Server) {
		s.ReadHeaderTimeout = 100 * time.Millisecond
		s.ReadTimeout, s.WriteTimeout = -1, -1
	})
	c := dialRaw(t, ts.addr)
	// The body comes well after the head timeout would have struck.
	c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nabc")
	time.Sleep(400 * time.Millisecond)
	c.send("def")
	if resp, body := c.read("POST"); resp.StatusCode != 200 || body != `"abcdef" <nil>` {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	// The next head is bounded again.
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, _ := c.read("GET"); resp.StatusCode != 200 {
		t.Fatalf("next request got %d", resp.StatusCode)
	}
}

func TestHostValidated(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Host)
	}))
	for _, tc := range []struct {
		host string
		ok   bool
	}{
		{"example.com", true},
		{"example.com:8080", true},
		{"[::1]:80", true},
		{"[fe80::1%25eth0]", true},
		{"", true},
		{"a b", false},
		{"a/b", false},
		{"user@host", false},
		{"h\"", false},
		{"é.example", false},
	} {
		t.Run(tc.host, func(t *testing.T) {
			c := dialRaw(t, ts.addr)
			c.send("GET / HTTP/1.1\r\nHost: " + tc.host + "\r\n\r\n")
			resp, body := c.read("GET")
			if tc.ok {
				if resp.StatusCode != 200 || body != tc.host {
					t.Fatalf("got %d %q, want 200 %q", resp.StatusCode, body, tc.host)
				}
				return
			}
			if resp.StatusCode != 400 || !strings.Contains(body, "malformed Host header") {
				t.Fatalf("got %d %q, want 400 naming the Host header", resp.StatusCode, body)
			}
			c.expectClosed()
		})
	}
}
