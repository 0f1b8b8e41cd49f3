package gateway_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/verdict-policy/verdict/gateway/gatewaytest"
)

// countingUpstream is an upstream that counts the connections it accepts.
func countingUpstream(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

func TestUpstreamConnectionsAreKeptAlive(t *testing.T) {
	up, conns := countingUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "ok "+r.Method)
	})
	gw := gatewaytest.Start(t, "services:\n  - proxy:\n      api_backend: "+up.URL+"\n")
	for i := 0; i < 20; i++ {
		method, body := "GET", io.Reader(nil)
		if i%2 == 1 {
			method, body = "POST", strings.NewReader("payload")
		}
		if res := gw.Do(t, gw.NewRequest(method, "/", body)); res.Status != 200 || res.Body != "ok "+method {
			t.Fatalf("request %d: %d %q", i, res.Status, res.Body)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("20 sequential requests used %d upstream connections, want 1", n)
	}
}

func TestConnectionClosedByTheUpstreamIsRetried(t *testing.T) {
	// The upstream closes every connection after answering, without
	// saying so: the next request finds the kept connection dead.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				_ = req
				time.Sleep(10 * time.Millisecond)
			}()
		}
	}()
	gw := gatewaytest.Start(t, "services:\n  - proxy:\n      api_backend: http://"+ln.Addr().String()+"\n")
	for i := 0; i < 3; i++ {
		if res := gw.Do(t, gw.NewRequest("GET", "/", nil)); res.Status != 200 || res.Body != "ok" {
			t.Fatalf("request %d: %d %q", i, res.Status, res.Body)
		}
		time.Sleep(30 * time.Millisecond)
	}
}

func TestInterimResponsesAndHead(t *testing.T) {
	up := gatewaytest.StartUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "POST" {
			w.Header().Set("Link", "</style.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
		}
		w.Header().Set("X-Method", r.Method)
		_, _ = io.WriteString(w, "body")
	})
	gw := gatewaytest.Start(t, "services:\n  - proxy:\n      api_backend: "+up.URL+"\n")
	if res := gw.Do(t, gw.NewRequest("POST", "/", strings.NewReader("x"))); res.Status != 200 || res.Body != "body" {
		t.Errorf("after 103: %d %q", res.Status, res.Body)
	}
	res := gw.Do(t, gw.NewRequest("HEAD", "/", nil))
	if res.Status != 200 || res.Body != "" || res.Header.Get("X-Method") != "HEAD" {
		t.Errorf("HEAD: %d %q %v", res.Status, res.Body, res.Header)
	}
	if res := gw.Do(t, gw.NewRequest("GET", "/", nil)); res.Body != "body" {
		t.Errorf("after HEAD: %q", res.Body)
	}
}

func TestClientGoingAwayCancelsTheUpstreamRequest(t *testing.T) {
	canceled := make(chan struct{})
	up := gatewaytest.StartUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			close(canceled)
		case <-time.After(5 * time.Second):
		}
	})
	gw := gatewaytest.Start(t, "services:\n  - proxy:\n      api_backend: "+up.URL+"\n")
	c, err := net.Dial("tcp", strings.TrimPrefix(gw.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: localhost\r\n\r\n")
	time.Sleep(100 * time.Millisecond)
	c.Close()
	select {
	case <-canceled:
	case <-time.After(3 * time.Second):
		t.Fatal("the upstream request went on after the client left")
	}
}

// TestFramingKeepsTheConnectionInStep sends, over one kept-alive upstream
// connection, responses of every framing the client parses: each must come
// out whole, and the next one must still start where it should.
func TestFramingKeepsTheConnectionInStep(t *testing.T) {
	big := strings.Repeat("0123456789abcdef", 64<<10) // 1 MiB
	up, conns := countingUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/no-content":
			w.WriteHeader(http.StatusNoContent)
		case "/not-modified":
			w.Header().Set("Content-Length", "42")
			w.WriteHeader(http.StatusNotModified)
		case "/chunked":
			w.Header().Set("Trailer", "X-Sum")
			for _, part := range []string{"ab", "cd", "ef"} {
				_, _ = io.WriteString(w, part)
				w.(http.Flusher).Flush()
			}
			w.Header().Set("X-Sum", "6")
		case "/big":
			_, _ = io.WriteString(w, big)
		case "/head":
			w.Header().Set("Content-Length", "1234")
			if r.Method != http.MethodHead {
				_, _ = io.WriteString(w, strings.Repeat("h", 1234))
			}
		case "/echo":
			b, _ := io.ReadAll(r.Body)
			_, _ = w.Write(b)
		default:
			_, _ = io.WriteString(w, "plain")
		}
	})
	gw := gatewaytest.Start(t, "services:\n  - proxy:\n      api_backend: "+up.URL+"\n")
	for round := 0; round < 2; round++ {
		for _, tc := range []struct {
			method, path, body string
			status             int
			want               string
		}{
			{"GET", "/no-content", "", 204, ""},
			{"GET", "/plain", "", 200, "plain"},
			{"GET", "/not-modified", "", 304, ""},
			{"GET", "/chunked", "", 200, "abcdef"},
			{"HEAD", "/head", "", 200, ""},
			{"GET", "/big", "", 200, big},
			{"POST", "/echo", "sent through", 200, "sent through"},
			{"GET", "/head", "", 200, strings.Repeat("h", 1234)},
		} {
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			res := gw.Do(t, gw.NewRequest(tc.method, tc.path, body))
			if res.Status != tc.status || res.Body != tc.want {
				t.Fatalf("round %d, %s %s: %d, %d bytes, want %d, %d bytes", round, tc.method, tc.path, res.Status, len(res.Body), tc.status, len(tc.want))
			}
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("the exchanges used %d upstream connections, want 1", n)
	}
}
