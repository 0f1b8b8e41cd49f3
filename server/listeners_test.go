package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// earlyAnswer is what a client uploading a large body saw of an answer
// the server gave before reading it.
type earlyAnswer struct {
	status   int
	readErr  error // reading the answer
	writeErr error // sending the body, before the answer was read
	after    error // reading on once the answer was in: io.EOF when closed cleanly
}

// uploadEarly sends head and then size bytes of body the way curl and
// browsers do: it keeps sending while it watches for an answer, and stops
// once one has arrived. The connection is raw TCP, so nothing between the
// client and the server hides a reset.
func uploadEarly(t *testing.T, addr, head string, size int) earlyAnswer {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	answered := make(chan struct{})
	wrote := make(chan error, 1)
	go func() {
		if _, err := io.WriteString(conn, head); err != nil {
			wrote <- err
			return
		}
		chunk := []byte(strings.Repeat("x", 64<<10))
		for sent := 0; sent < size; sent += len(chunk) {
			select {
			case <-answered:
				wrote <- nil
				return
			default:
			}
			if _, err := conn.Write(chunk[:min(len(chunk), size-sent)]); err != nil {
				select {
				case <-answered: // the answer was read first: a client has it
					wrote <- nil
				default:
					wrote <- err
				}
				return
			}
		}
		wrote <- nil
	}()
	var a earlyAnswer
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		a.readErr = err
	} else {
		_, a.readErr = io.ReadAll(resp.Body)
		a.status = resp.StatusCode
	}
	close(answered)
	a.writeErr = <-wrote
	if a.readErr == nil {
		_, a.after = br.ReadByte()
	}
	return a
}

// TestEarlyAnswerToLargeUpload holds every listener to answering a client
// that is still sending a large body without resetting the connection:
// the answer (413 for a body over the limit, 404 for an unknown host) is
// written, the sending side closed, and what the client still sends read
// and dropped, so that the client gets the answer every time.
func TestEarlyAnswerToLargeUpload(t *testing.T) {
	const size = 16 << 20
	s, _ := startGateway(t, "services:\n  - id: 1\n    proxy: {hosts: [api.test], policy_chain: [{name: echo}]}\n")
	tests := []struct {
		name, addr, head string
		status           int
	}{
		{"decision API, body over the limit", s.PolicyAddr(),
			fmt.Sprintf("POST /v1/decide HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", size), 413},
		{"gateway, unknown host", s.GatewayAddr(),
			fmt.Sprintf("POST /upload HTTP/1.1\r\nHost: nosuch.test\r\nContent-Length: %d\r\n\r\n", size), 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for try := range 20 {
				a := uploadEarly(t, tt.addr, tt.head, size)
				if a.readErr != nil || a.status != tt.status {
					t.Fatalf("try %d: status %d, error %v; want %d", try, a.status, a.readErr, tt.status)
				}
				if a.writeErr != nil {
					t.Fatalf("try %d: sending the body failed before the answer was read: %v", try, a.writeErr)
				}
				if a.after != io.EOF {
					t.Fatalf("try %d: after the answer: %v, want the connection closed cleanly", try, a.after)
				}
			}
		})
	}
}

// rawRequest is a client connection that speaks HTTP by hand.
type rawRequest struct {
	net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawRequest {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	return &rawRequest{Conn: c, br: bufio.NewReader(c)}
}

func (c *rawRequest) send(t *testing.T, s string) {
	t.Helper()
	if _, err := io.WriteString(c, s); err != nil {
		t.Fatalf("sending: %v", err)
	}
}

// answer reads one answer and its body.
func (c *rawRequest) answer(t *testing.T) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the answer's body: %v", err)
	}
	return resp, string(body)
}

// TestBodyTimeoutOnListeners stalls a request body on the gateway
// listener, which sets no bound on a whole body, and on the policy
// listener: each answers 408 once limits.<listener>.body_timeout passes
// without a byte, and no upstream connection stays held.
func TestBodyTimeoutOnListeners(t *testing.T) {
	var opened, closed atomic.Int32
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
	}))
	up.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			opened.Add(1)
		case http.StateClosed, http.StateHijacked:
			closed.Add(1)
		}
	}
	up.Start()
	defer up.Close()
	s, _ := startGateway(t, "limits:\n  policy: {body_timeout: 1s}\n  gateway: {body_timeout: 1s}\n"+
		"services:\n  - id: 1\n    proxy: {hosts: [api.test], api_backend: "+up.URL+"}\n")
	tests := []struct{ name, addr, head string }{
		{"gateway", s.GatewayAddr(), "POST /upload HTTP/1.1\r\nHost: api.test\r\nContent-Length: 100000\r\n\r\n{\"a\":"},
		{"gateway, chunked", s.GatewayAddr(), "POST /upload HTTP/1.1\r\nHost: api.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":"},
		{"policy", s.PolicyAddr(), "POST /v1/decide HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100000\r\n\r\n{\"a\":"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dialRaw(t, tt.addr)
			c.send(t, tt.head)
			start := time.Now()
			resp, body := c.answer(t)
			if resp.StatusCode != http.StatusRequestTimeout || !resp.Close {
				t.Fatalf("got %d %q (close %v), want 408 and Connection: close", resp.StatusCode, body, resp.Close)
			}
			if d := time.Since(start); d < 500*time.Millisecond {
				t.Errorf("answered after %v, before the body timeout", d)
			}
			// No upstream connection stays held by the stalled body.
			deadline := time.Now().Add(10 * time.Second)
			for closed.Load() != opened.Load() {
				if time.Now().After(deadline) {
					t.Fatalf("%d upstream connections opened, %d closed", opened.Load(), closed.Load())
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

// TestConnectionLimits fills the gateway listener, limited to ten
// connections, with requests its upstream holds: an eleventh connection
// is refused at once with 503, while the admin and policy listeners
// still answer; once the requests end the gateway serves again.
func TestConnectionLimits(t *testing.T) {
	const limit = 10
	var arrived atomic.Int32
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			arrived.Add(1)
			<-release
		}
		_, _ = io.WriteString(w, "upstream "+r.URL.Path)
	}))
	defer up.Close()
	released := false
	defer func() {
		if !released {
			close(release)
		}
	}()
	s, _ := startGateway(t, fmt.Sprintf("limits:\n  gateway: {max_connections: %d}\n  policy: {max_connections: 3}\n", limit)+
		"services:\n  - id: 1\n    proxy: {hosts: [api.test], api_backend: "+up.URL+"}\n")

	held := make([]*rawRequest, limit)
	for i := range held {
		held[i] = dialRaw(t, s.GatewayAddr())
		held[i].send(t, "GET /hold HTTP/1.1\r\nHost: api.test\r\n\r\n")
	}
	deadline := time.Now().Add(10 * time.Second)
	for arrived.Load() < limit {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d requests reached the upstream", arrived.Load(), limit)
		}
		time.Sleep(5 * time.Millisecond)
	}

	extra := dialRaw(t, s.GatewayAddr())
	extra.send(t, "GET /extra HTTP/1.1\r\nHost: api.test\r\n\r\n")
	start := time.Now()
	resp, body := extra.answer(t)
	if resp.StatusCode != http.StatusServiceUnavailable || !resp.Close {
		t.Fatalf("connection %d: %d %q, want 503 and Connection: close", limit+1, resp.StatusCode, body)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("refused after %v, want at once", d)
	}

	if code, _, _ := get(t, "http://"+s.AdminAddr()+"/healthz", ""); code != 200 {
		t.Errorf("admin listener: %d with the gateway full", code)
	}
	if code, _, _ := get(t, "http://"+s.PolicyAddr()+"/v1/policies", ""); code != 200 {
		t.Errorf("policy listener: %d with the gateway full", code)
	}
	_, metrics, _ := get(t, "http://"+s.AdminAddr()+"/metrics", "")
	for _, want := range []string{
		fmt.Sprintf(`verdict_connections_open{listener="gateway"} %d`, limit),
		`verdict_connections_refused_total{listener="gateway"} 1`,
		`verdict_connections_refused_total{listener="policy"} 0`,
	} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("metrics lack %s", want)
		}
	}

	close(release)
	released = true
	for _, c := range held {
		if _, body := c.answer(t); body != "upstream /hold" {
			t.Errorf("held request: %q", body)
		}
		c.Close()
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		c := dialRaw(t, s.GatewayAddr())
		c.send(t, "GET /after HTTP/1.1\r\nHost: api.test\r\n\r\n")
		resp, body := c.answer(t)
		if resp.StatusCode == 200 && body == "upstream /after" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the held requests: %d %q", resp.StatusCode, body)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
