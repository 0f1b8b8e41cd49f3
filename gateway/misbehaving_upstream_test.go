package gateway_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/verdict-policy/verdict/gateway/gatewaytest"
)

// These tests put the gateway, served by its own listener, in front of an
// upstream on raw sockets that misbehaves byte for byte, and check what
// every later client gets.

// sendRaw sends raw on a new connection to the gateway and reads one
// response to a request of the given method.
func sendRaw(t *testing.T, gw *gatewaytest.Gateway, method, raw string) (*http.Response, string) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(gw.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("reading the gateway's response: %v", err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("reading the gateway's response body: %v", err)
	}
	return res, string(body)
}

// canaries sends n GET requests, each on a new client connection, and
// checks that each gets its own answer from the upstream.
func canaries(t *testing.T, gw *gatewaytest.Gateway, n int) {
	t.Helper()
	for i := range n {
		path := "/canary-" + strconv.Itoa(i)
		res, body := sendRaw(t, gw, "GET", "GET "+path+" HTTP/1.1\r\nHost: localhost\r\n\r\n")
		if res.StatusCode != 200 || !strings.HasSuffix(body, " GET "+path) {
			t.Errorf("canary %d got %d %q, want 200 and its own answer", i, res.StatusCode, body)
		}
	}
}

// TestUpstreamHeaderValuesWithControlBytesAreRefused: a response whose
// header holds a control byte (other than a tab) or a Content-Length that
// is not plain digits never reaches the client, as with Go's client and
// nginx; its connection is not used again.
func TestUpstreamHeaderValuesWithControlBytesAreRefused(t *testing.T) {
	for _, tc := range []struct {
		name, header string
		status       int
	}{
		{"NUL", "X-Nul: a\x00b", 502},
		{"bare CR", "X-Cr: a\rb", 502},
		{"SOH", "X-Ctl: a\x01b", 502},
		{"ESC", "X-Ctl: \x1b[31mred", 502},
		{"DEL", "X-Del: a\x7fb", 502},
		{"Content-Length with a plus", "Content-Length: +%d", 502},
		{"Content-Length minus zero", "Content-Length: -0", 502},
		{"Content-Length with an underscore", "Content-Length: 1_0", 502},
		{"a tab is fine", "X-Tab: a\tb", 200},
		{"UTF-8 is fine", "X-Text: café", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := gatewaytest.StartRawUpstream(t, gatewaytest.Answer(func(r *gatewaytest.RawRequest) string {
				if r.Target != "/bad" {
					return gatewaytest.OK(r)
				}
				body := "conn=" + strconv.Itoa(r.Conn) + " " + r.Method + " " + r.Target
				h := tc.header
				if strings.HasPrefix(h, "Content-Length:") {
					if strings.Contains(h, "%d") {
						h = fmt.Sprintf(h, len(body))
					}
					return "HTTP/1.1 200 OK\r\n" + h + "\r\n\r\n" + body
				}
				return "HTTP/1.1 200 OK\r\n" + h + "\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
			}))
			gw := gatewaytest.StartListener(t, "services:\n  - proxy:\n      api_backend: "+up.URL+"\n")
			res, body := sendRaw(t, gw, "GET", "GET /bad HTTP/1.1\r\nHost: localhost\r\n\r\n")
			if res.StatusCode != tc.status {
				t.Fatalf("got %d %q with header %q, want %d", res.StatusCode, body, res.Header, tc.status)
			}
			if tc.status == 200 {
				name, value, _ := strings.Cut(tc.header, ": ")
				if got := res.Header.Get(name); got != value {
					t.Errorf("%s: %q reached the client, want %q", name, got, value)
				}
				return
			}
			if !strings.Contains(body, "upstream") {
				t.Errorf("502 body %q does not say what failed", body)
			}
			canaries(t, gw, 2)
			if n := up.Conns(); n != 2 {
				t.Errorf("the upstream saw %d connections, want 2: the refused answer's connection must not be used again", n)
			}
		})
	}
}
