package h1

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// sendWhileReading sends head and then size bytes of body while it reads
// the answer, as curl and browsers do, and stops sending once the answer
// is in. It returns the answer's status, the error of a write that failed
// before the answer was read, and what reading on after the answer gave
// (io.EOF when the server closed cleanly).
func sendWhileReading(t *testing.T, addr, head string, size int) (status int, writeErr, after error) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(6 * testTimeout))
	answered := make(chan struct{})
	wrote := make(chan error, 1)
	go func() {
		chunk := []byte(strings.Repeat("b", 64<<10))
		_, err := io.WriteString(conn, head)
		for sent := 0; err == nil && sent < size; sent += len(chunk) {
			select {
			case <-answered:
				wrote <- nil
				return
			default:
			}
			_, err = conn.Write(chunk[:min(len(chunk), size-sent)])
		}
		select {
		case <-answered:
			err = nil // the answer was read first: a client has it
		default:
		}
		wrote <- err
	}()
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		close(answered)
		t.Fatalf("reading the answer: %v (sending: %v)", err, <-wrote)
	}
	if _, err := io.ReadAll(resp.Body); err != nil {
		t.Fatalf("reading the answer's body: %v", err)
	}
	close(answered)
	writeErr = <-wrote
	_, after = br.ReadByte()
	return resp.StatusCode, writeErr, after
}

func TestEarlyAnswerWhileClientSends(t *testing.T) {
	const size = 16 << 20
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/close":
			// Reads a little, then asks for the connection to close.
			_, _ = io.ReadFull(r.Body, make([]byte, 1000))
			w.Header().Set("Connection", "close")
			w.WriteHeader(http.StatusForbidden)
		case "/panic":
			panic("the handler failed")
		default:
			http.Error(w, "too large", http.StatusRequestEntityTooLarge)
		}
	}))
	tests := []struct {
		name, head string
		status     int
	}{
		{"body with a length, not read", fmt.Sprintf("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", size), 413},
		{"chunked body, not read", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1000000\r\n", 413},
		{"handler closes the connection", fmt.Sprintf("POST /close HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", size), 403},
		{"handler panics", fmt.Sprintf("POST /panic HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", size), 500},
		{"request the server refuses", fmt.Sprintf("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nContent-Length: 1\r\n\r\n", size), 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for try := range 20 {
				status, writeErr, after := sendWhileReading(t, ts.addr, tt.head, size)
				if status != tt.status {
					t.Fatalf("try %d: status %d, want %d", try, status, tt.status)
				}
				if writeErr != nil {
					t.Fatalf("try %d: sending failed before the answer was read: %v", try, writeErr)
				}
				if after != io.EOF {
					t.Fatalf("try %d: after the answer: %v, want the connection closed cleanly", try, after)
				}
			}
		})
	}
}

// TestCloseGentlyIsBounded holds the read-and-drop before a close to its
// bounds: a client that keeps sending is cut off, one that goes quiet is
// let go.
func TestCloseGentlyIsBounded(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusForbidden)
	}))
	t.Run("quiet client", func(t *testing.T) {
		c := dialRaw(t, ts.addr)
		c.send(fmt.Sprintf("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", maxDrain+1))
		c.read("POST")
		start := time.Now()
		c.expectClosed()
		if d := time.Since(start); d > lingerTime+testTimeout {
			t.Errorf("closed after %v", d)
		}
	})
	t.Run("client that never stops", func(t *testing.T) {
		c := dialRaw(t, ts.addr)
		c.send(fmt.Sprintf("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", int64(1)<<40))
		c.read("POST")
		_ = c.SetDeadline(time.Now().Add(lingerTime + testTimeout))
		chunk := make([]byte, 64<<10)
		start := time.Now()
		sent := 0
		var err error
		for err == nil {
			var n int
			n, err = c.Write(chunk)
			sent += n
		}
		if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
			t.Fatalf("sending ended with %v, want the server to close", err)
		}
		if d := time.Since(start); d < lingerTime/2 && sent < lingerBytes {
			t.Errorf("cut off after %v and %d bytes, before either bound (%v, %d bytes)", d, sent, lingerTime, lingerBytes)
		}
	})
}

// stall sends head and part of a body and then nothing.
func stall(t *testing.T, addr, head string) *rawConn {
	c := dialRaw(t, addr)
	c.send(head)
	return c
}

func TestBodyTimeout(t *testing.T) {
	const timeout = 500 * time.Millisecond
	readErr := make(chan error, 10)
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stream" {
			_, _ = io.WriteString(w, "early ")
			w.(http.Flusher).Flush()
		}
		body, err := io.ReadAll(r.Body)
		readErr <- err
		if err != nil {
			http.Error(w, "handler: "+err.Error(), http.StatusBadGateway)
			return
		}
		fmt.Fprintf(w, "got %d bytes", len(body))
	}), func(s *Server) {
		s.ReadTimeout, s.BodyTimeout = -1, timeout
	})
	wantTimeout := func(t *testing.T) {
		t.Helper()
		select {
		case err := <-readErr:
			if !errors.Is(err, ErrBodyTimeout) || !isTimeout(err) {
				t.Fatalf("the handler's read returned %v, want ErrBodyTimeout", err)
			}
		case <-time.After(testTimeout):
			t.Fatal("the body read did not time out")
		}
	}

	for _, tc := range []struct{ name, head string }{
		{"with a length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{\"a\":"},
		{"chunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":"},
		{"nothing of it sent", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := stall(t, ts.addr, tc.head)
			start := time.Now()
			wantTimeout(t)
			if d := time.Since(start); d < timeout/2 {
				t.Errorf("timed out after %v, want about %v", d, timeout)
			}
			resp, body := c.read("POST")
			if resp.StatusCode != http.StatusRequestTimeout || !resp.Close || !strings.Contains(body, "did not arrive in time") {
				t.Errorf("got %d %q (close %v), want 408 and Connection: close", resp.StatusCode, body, resp.Close)
			}
			c.expectClosed()
		})
	}

	t.Run("answer already begun", func(t *testing.T) {
		c := stall(t, ts.addr, "POST /stream HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab")
		wantTimeout(t)
		// The handler's answer stands, as it was under way; the
		// connection closes after it.
		resp, body := c.read("POST")
		if resp.StatusCode != 200 || body != "early handler: "+ErrBodyTimeout.Error()+"\n" {
			t.Fatalf("got %d %q, want the 200 begun, as the handler finished it", resp.StatusCode, body)
		}
		c.expectClosed()
	})

	t.Run("slow but steady", func(t *testing.T) {
		// Each piece comes within the timeout; the whole takes longer.
		c := dialRaw(t, ts.addr)
		_ = c.SetDeadline(time.Now().Add(3 * testTimeout))
		c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n\r\n")
		for range 8 {
			time.Sleep(timeout / 4)
			c.send("x")
		}
		if err := <-readErr; err != nil {
			t.Fatalf("the handler's read returned %v", err)
		}
		if resp, body := c.read("POST"); resp.StatusCode != 200 || body != "got 8 bytes" {
			t.Errorf("got %d %q", resp.StatusCode, body)
		}
	})
}

func TestNoBodyTimeout(t *testing.T) {
	// A negative BodyTimeout and ReadTimeout set no bound: a body resumed
	// after a pause longer than the default slack still arrives.
	ts := startServer(t, echo, func(s *Server) {
		s.ReadTimeout, s.BodyTimeout, s.ReadHeaderTimeout = -1, -1, 200*time.Millisecond
	})
	c := dialRaw(t, ts.addr)
	c.send("POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nab")
	time.Sleep(time.Second)
	c.send("cd")
	if resp, body := c.read("POST"); resp.StatusCode != 200 || body != "POST /p abcd" {
		t.Errorf("got %d %q", resp.StatusCode, body)
	}
}

func TestBodyMinRate(t *testing.T) {
	const grace = 500 * time.Millisecond
	readErr := make(chan error, 10)
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow-handler" {
			time.Sleep(3 * grace)
		}
		body, err := io.ReadAll(r.Body)
		readErr <- err
		if err == nil {
			fmt.Fprintf(w, "got %d bytes", len(body))
		}
	}), func(s *Server) {
		s.ReadTimeout, s.BodyTimeout, s.BodyMinRate = -1, grace, 10_000
	})

	t.Run("trickle", func(t *testing.T) {
		// A byte every tenth of the grace: never quiet for BodyTimeout,
		// far below the rate.
		c := dialRaw(t, ts.addr)
		c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(grace / 10):
					if _, err := c.Write([]byte("x")); err != nil {
						return
					}
				}
			}
		}()
		start := time.Now()
		select {
		case err := <-readErr:
			if !errors.Is(err, ErrBodyTimeout) {
				t.Fatalf("the handler's read returned %v, want ErrBodyTimeout", err)
			}
		case <-time.After(testTimeout):
			t.Fatal("a body sent far below the least rate did not time out")
		}
		if d := time.Since(start); d < grace/2 {
			t.Errorf("timed out after %v, before the grace of %v", d, grace)
		}
		if resp, _ := c.read("POST"); resp.StatusCode != http.StatusRequestTimeout {
			t.Errorf("status %d, want 408", resp.StatusCode)
		}
	})

	t.Run("fast enough", func(t *testing.T) {
		// 5,000 bytes every half grace: 10,000 bytes a grace, far above
		// the rate, over three graces.
		c := dialRaw(t, ts.addr)
		_ = c.SetDeadline(time.Now().Add(3 * testTimeout))
		c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 30000\r\n\r\n")
		for range 6 {
			time.Sleep(grace / 2)
			c.send(strings.Repeat("y", 5000))
		}
		if err := <-readErr; err != nil {
			t.Fatalf("the handler's read returned %v", err)
		}
		if resp, body := c.read("POST"); body != "got 30000 bytes" {
			t.Errorf("got %d %q", resp.StatusCode, body)
		}
	})

	t.Run("slow handler", func(t *testing.T) {
		// The handler waits longer than the grace before it reads a body
		// that is all there: its own time does not count against the
		// client.
		c := dialRaw(t, ts.addr)
		c.send("POST /slow-handler HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n" + strings.Repeat("z", 200000))
		if err := <-readErr; err != nil {
			t.Fatalf("the handler's read returned %v", err)
		}
		if _, body := c.read("POST"); body != "got 200000 bytes" {
			t.Errorf("got %q", body)
		}
	})
}

// blockingServer serves requests whose handler waits for release; entered
// counts the handlers waiting.
func blockingServer(t *testing.T, maxConns int) (ts *testServer, entered *atomic.Int32, release chan struct{}) {
	entered = new(atomic.Int32)
	release = make(chan struct{})
	ts = startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/block" {
			entered.Add(1)
			<-release
		}
		_, _ = io.WriteString(w, "served "+r.URL.Path)
	}), func(s *Server) { s.MaxConns = maxConns })
	return ts, entered, release
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestMaxConnsRefusesWhenBusy(t *testing.T) {
	const limit = 10
	ts, entered, release := blockingServer(t, limit)
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	busy := make([]*rawConn, limit)
	for i := range busy {
		busy[i] = dialRaw(t, ts.addr)
		busy[i].send("GET /block HTTP/1.1\r\nHost: x\r\n\r\n")
	}
	waitFor(t, "every connection's request in hand", func() bool { return entered.Load() == limit })

	for i := range 3 {
		extra := dialRaw(t, ts.addr)
		extra.send("GET /extra HTTP/1.1\r\nHost: x\r\n\r\n")
		start := time.Now()
		resp, body := extra.read("GET")
		if resp.StatusCode != http.StatusServiceUnavailable || !resp.Close || !strings.Contains(body, "too many open connections") {
			t.Fatalf("connection %d over the limit: %d %q (close %v), want 503 and Connection: close", limit+1+i, resp.StatusCode, body, resp.Close)
		}
		extra.expectClosed()
		if d := time.Since(start); d > testTimeout/2 {
			t.Errorf("refused after %v, want at once", d)
		}
	}
	if n := ts.OpenConns(); n != limit {
		t.Errorf("%d connections open, want %d", n, limit)
	}

	// The busy connections finish; their slots serve new ones.
	close(release)
	for _, c := range busy {
		if _, body := c.read("GET"); body != "served /block" {
			t.Fatalf("busy connection: %q", body)
		}
		c.Close()
	}
	waitFor(t, "the slots given back", func() bool { return ts.OpenConns() == 0 })
	c := dialRaw(t, ts.addr)
	c.send("GET /after HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, body := c.read("GET"); resp.StatusCode != 200 || body != "served /after" {
		t.Errorf("after: %d %q", resp.StatusCode, body)
	}
}

func TestMaxConnsClosesIdleFirst(t *testing.T) {
	const limit = 10
	ts, _, _ := blockingServer(t, limit)
	idle := make([]*rawConn, limit)
	for i := range idle {
		idle[i] = dialRaw(t, ts.addr)
		idle[i].send("GET /idle HTTP/1.1\r\nHost: x\r\n\r\n")
		idle[i].read("GET")
	}
	all := idle
	for i := range 3 {
		c := dialRaw(t, ts.addr)
		c.send("GET /new HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, body := c.read("GET"); resp.StatusCode != 200 || body != "served /new" {
			t.Fatalf("new connection %d: %d %q, want it served in place of an idle one", i, resp.StatusCode, body)
		}
		if n := ts.OpenConns(); n > limit {
			t.Fatalf("%d connections open, more than %d", n, limit)
		}
		all = append(all, c) // idle in turn
	}
	// Three idle connections were closed to make room, the others kept.
	closed := 0
	for _, c := range all {
		_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if _, err := c.br.Peek(1); !isTimeout(err) {
			closed++
		}
	}
	if closed != 3 {
		t.Errorf("%d idle connections closed, want 3", closed)
	}
}

func TestAcceptErrorsRetriedAndLogged(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fl := &failingListener{Listener: ln}
	fl.failures.Store(5)
	logs := &syncBuffer{}
	srv := &Server{Handler: echo, Logger: slog.New(slog.NewTextHandler(logs, nil))}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(fl) }()
	c := dialRaw(t, ln.Addr().String())
	c.send("GET /after HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, body := c.read("GET"); body != "GET /after " {
		t.Errorf("got %q", body)
	}
	if n := strings.Count(logs.String(), "accepting a connection failed"); n != 1 {
		t.Errorf("%d log lines for 5 failures in a row, want 1:\n%s", n, logs)
	}
	srv.Close()
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve returned %v", err)
	}
}

// failingListener fails its first accepts as a process out of file
// descriptors does.
type failingListener struct {
	net.Listener
	failures atomic.Int32
}

func (l *failingListener) Accept() (net.Conn, error) {
	if l.failures.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: syscall.EMFILE}
	}
	return l.Listener.Accept()
}

func TestLimitListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fl := &failingListener{Listener: ln}
	fl.failures.Store(3)
	logs := &syncBuffer{}
	entered, release := make(chan struct{}, 10), make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/block" {
			entered <- struct{}{}
			<-release
		}
		_, _ = io.WriteString(w, "net/http "+r.URL.Path)
	})}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(LimitListener(fl, 2, true, slog.New(slog.NewTextHandler(logs, nil)))) }()
	defer func() {
		srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve returned %v", err)
		}
	}()
	addr := ln.Addr().String()
	var busy []*rawConn
	for range 2 {
		c := dialRaw(t, addr)
		c.send("GET /block HTTP/1.1\r\nHost: x\r\n\r\n")
		busy = append(busy, c)
		<-entered
	}
	extra := dialRaw(t, addr)
	extra.send("GET /extra HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, _ := extra.read("GET"); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("third connection: %d, want 503", resp.StatusCode)
	}
	close(release)
	for _, c := range busy {
		c.read("GET")
		c.Close()
	}
	// Closed connections give their slots back.
	var body string
	waitFor(t, "a slot", func() bool {
		c := dialRaw(t, addr)
		c.send("GET /after HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, b := c.read("GET")
		body = b
		return resp.StatusCode == 200
	})
	if body != "net/http /after" {
		t.Errorf("got %q", body)
	}
	if n := strings.Count(logs.String(), "accepting a connection failed"); n != 1 {
		t.Errorf("%d log lines for 3 failures in a row, want 1:\n%s", n, logs)
	}
}
