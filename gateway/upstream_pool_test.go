package gateway_test

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/verdict-policy/verdict/gateway/gatewaytest"
)

// idleClosing is an upstream that answers every request and closes a
// kept-alive connection once it has been idle for idle, as gunicorn does
// after two seconds.
func idleClosing(idle time.Duration) func(*gatewaytest.RawConn) {
	return func(c *gatewaytest.RawConn) {
		for {
			_ = c.SetReadDeadline(time.Now().Add(idle))
			r, err := c.ReadRequest()
			if err != nil {
				return
			}
			if c.Send(gatewaytest.OK(r)) != nil {
				return
			}
		}
	}
}

// TestIdleCloseByTheUpstreamIsNoticed: a pooled connection the upstream
// closed while it sat idle is not used for the next request, with a body
// or without.
func TestIdleCloseByTheUpstreamIsNoticed(t *testing.T) {
	up := gatewaytest.StartRawUpstream(t, idleClosing(300*time.Millisecond))
	gw := gatewaytest.StartListener(t, "services:\n  - proxy:\n      api_backend: "+up.URL+"\n")
	for i, method := range []string{"POST", "PUT", "PATCH", "GET"} {
		res, body := sendRaw(t, gw, "GET", "GET /warm HTTP/1.1\r\nHost: localhost\r\n\r\n")
		if res.StatusCode != 200 {
			t.Fatalf("warm-up: %d %q", res.StatusCode, body)
		}
		time.Sleep(time.Second) // the upstream closes the connection meanwhile
		req := method + " /after HTTP/1.1\r\nHost: localhost\r\n\r\n"
		if method != "GET" {
			req = method + " /after HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello"
		}
		res, body = sendRaw(t, gw, method, req)
		if res.StatusCode != 200 || !strings.HasSuffix(body, method+" /after") {
			t.Fatalf("round %d: %s after the upstream's idle close: %d %q\n%s", i, method, res.StatusCode, body, strings.Join(gw.Logs(), "\n"))
		}
	}
}

// TestIdleConnectionsExpire: a connection idle for the keep-alive timeout
// is closed, without waiting for a request to find it stale.
func TestIdleConnectionsExpire(t *testing.T) {
	up := gatewaytest.StartRawUpstream(t, gatewaytest.Answer(gatewaytest.OK))
	gw := gatewaytest.StartListener(t, "gateway: {upstream_keepalive_timeout: 200ms}\nservices:\n  - proxy:\n      api_backend: "+up.URL+"\n")
	if res, body := sendRaw(t, gw, "GET", "GET /a HTTP/1.1\r\nHost: localhost\r\n\r\n"); body != "conn=1 GET /a" {
		t.Fatalf("got %d %q", res.StatusCode, body)
	}
	waitFor(t, "the idle connection to be closed", func() bool { return up.Open() == 0 })
	if res, body := sendRaw(t, gw, "GET", "GET /b HTTP/1.1\r\nHost: localhost\r\n\r\n"); body != "conn=2 GET /b" {
		t.Fatalf("got %d %q", res.StatusCode, body)
	}
}

// waitFor polls cond for up to 20 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
	}
}

// getPath sends a GET for path to the gateway on a new connection; it is
// safe to call from any goroutine.
func getPath(gw *gatewaytest.Gateway, path string) (int, string, error) {
	req, err := http.NewRequest("GET", gw.URL+path, nil)
	if err != nil {
		return 0, "", err
	}
	req.Host = "localhost"
	req.Close = true
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, string(b), err
}

// TestUpstreamConnectionLimit: with upstream_max_conns, a request that
// finds every allowed connection busy waits its turn up to the queue
// timeout, then gets 503; the upstream never sees more connections.
func TestUpstreamConnectionLimit(t *testing.T) {
	holding := func(t *testing.T) (*gatewaytest.RawUpstream, chan struct{}) {
		release := make(chan struct{})
		done := make(chan struct{})
		up := gatewaytest.StartRawUpstream(t, func(c *gatewaytest.RawConn) {
			for {
				r, err := c.ReadRequest()
				if err != nil {
					return
				}
				if strings.HasPrefix(r.Target, "/hold") {
					select {
					case <-release:
					case <-done:
						return
					}
				}
				if c.Send(gatewaytest.OK(r)) != nil {
					return
				}
			}
		})
		t.Cleanup(func() { close(done) }) // before the upstream closes
		return up, release
	}
	type result struct {
		status int
		body   string
		err    error
	}
	hold := func(gw *gatewaytest.Gateway, up *gatewaytest.RawUpstream, n int) chan result {
		out := make(chan result, n)
		for i := range n {
			go func() {
				status, body, err := getPath(gw, "/hold-"+strconv.Itoa(i))
				out <- result{status, body, err}
			}()
		}
		return out
	}

	t.Run("refused after the queue timeout", func(t *testing.T) {
		up, release := holding(t)
		gw := gatewaytest.StartListener(t, "gateway: {upstream_max_conns: 2, upstream_queue_timeout: 300ms}\nservices:\n  - proxy:\n      api_backend: "+up.URL+"\n")
		held := hold(gw, up, 2)
		waitFor(t, "two requests at the upstream", func() bool { return len(up.Requests()) == 2 })
		start := time.Now()
		status, body, err := getPath(gw, "/third")
		if err != nil || status != 503 || !strings.Contains(body, "connection limit") {
			t.Fatalf("third request: %d %q %v, want 503 naming the connection limit", status, body, err)
		}
		if waited := time.Since(start); waited < 250*time.Millisecond {
			t.Errorf("refused after %s, before the queue timeout", waited)
		}
		release <- struct{}{}
		release <- struct{}{}
		for range 2 {
			if r := <-held; r.status != 200 {
				t.Errorf("held request: %d %q %v", r.status, r.body, r.err)
			}
		}
		if p := up.Peak(); p > 2 {
			t.Errorf("the upstream had %d connections at once, want at most 2", p)
		}
		if !hasLog(gw, "level=WARN", "connection limit", up.Addr) {
			t.Errorf("no warning about the limit:\n%s", strings.Join(gw.Logs(), "\n"))
		}
	})

	t.Run("served in turn", func(t *testing.T) {
		up, release := holding(t)
		gw := gatewaytest.StartListener(t, "gateway: {upstream_max_conns: 2, upstream_queue_timeout: 30s}\nservices:\n  - proxy:\n      api_backend: "+up.URL+"\n")
		held := hold(gw, up, 2)
		waitFor(t, "two requests at the upstream", func() bool { return len(up.Requests()) == 2 })
		third := make(chan result, 1)
		go func() {
			status, body, err := getPath(gw, "/third")
			third <- result{status, body, err}
		}()
		time.Sleep(300 * time.Millisecond)
		if n := len(up.Requests()); n != 2 {
			t.Fatalf("the upstream got %d requests with two connections busy, want 2", n)
		}
		release <- struct{}{} // one held request ends; the third takes its connection
		r := <-third
		if r.status != 200 || !strings.HasSuffix(r.body, "GET /third") {
			t.Errorf("queued request: %d %q %v", r.status, r.body, r.err)
		}
		release <- struct{}{}
		for range 2 {
			if r := <-held; r.status != 200 {
				t.Errorf("held request: %d %q %v", r.status, r.body, r.err)
			}
		}
		if p := up.Peak(); p > 2 {
			t.Errorf("the upstream had %d connections at once, want at most 2", p)
		}
	})
}
