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

func hasLog(gw *gatewaytest.Gateway, parts ...string) bool {
	for _, l := range gw.Logs() {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(l, p)
		}
		if all {
			return true
		}
	}
	return false
}

const poison = "HTTP/1.1 200 OK\r\nX-Poison: 1\r\nContent-Length: 7\r\n\r\nPOISON\n"

// TestBytesPastAnAnswerReachNoOtherClient: an upstream connection holding
// bytes past the end of the answer it framed is never used again, so an
// upstream (or whoever controls what it sends) cannot answer the next
// client's request in advance.
func TestBytesPastAnAnswerReachNoOtherClient(t *testing.T) {
	for _, tc := range []struct {
		name, method string
		status       int
		// reply answers the misbehaving request; sent, when set, is
		// closed once every byte of it was written.
		reply func(c *gatewaytest.RawConn, r *gatewaytest.RawRequest, sent chan struct{})
	}{
		{"a second answer in the same write", "GET", 200, func(c *gatewaytest.RawConn, r *gatewaytest.RawRequest, _ chan struct{}) {
			_ = c.Send(gatewaytest.OK(r) + poison)
		}},
		{"a second answer after the first", "GET", 200, func(c *gatewaytest.RawConn, r *gatewaytest.RawRequest, sent chan struct{}) {
			_ = c.Send(gatewaytest.OK(r))
			time.Sleep(50 * time.Millisecond)
			_ = c.Send(poison)
			close(sent)
		}},
		{"HEAD answered with a body", "HEAD", 200, func(c *gatewaytest.RawConn, r *gatewaytest.RawRequest, _ chan struct{}) {
			_ = c.Send("HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nPOISON\n")
		}},
		{"204 with a body", "GET", 204, func(c *gatewaytest.RawConn, r *gatewaytest.RawRequest, _ chan struct{}) {
			_ = c.Send("HTTP/1.1 204 No Content\r\nContent-Length: 6\r\n\r\nHELLO\n")
		}},
		{"304 with a body", "GET", 304, func(c *gatewaytest.RawConn, r *gatewaytest.RawRequest, _ chan struct{}) {
			_ = c.Send("HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n" + poison)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sent := make(chan struct{})
			up := gatewaytest.StartRawUpstream(t, func(c *gatewaytest.RawConn) {
				for {
					r, err := c.ReadRequest()
					if err != nil {
						return
					}
					if r.Target == "/bad" {
						tc.reply(c, r, sent)
						continue
					}
					if c.Send(gatewaytest.OK(r)) != nil {
						return
					}
				}
			})
			gw := gatewaytest.StartListener(t, "services:\n  - proxy:\n      api_backend: "+up.URL+"\n")
			res, _ := sendRaw(t, gw, tc.method, tc.method+" /bad HTTP/1.1\r\nHost: localhost\r\n\r\n")
			if res.StatusCode != tc.status {
				t.Fatalf("the misbehaving answer came out as %d, want %d", res.StatusCode, tc.status)
			}
			if tc.name == "a second answer after the first" {
				<-sent
				time.Sleep(50 * time.Millisecond) // the bytes are in the gateway's socket by now
			}
			canaries(t, gw, 3)
			if !hasLog(gw, "level=WARN", "upstream sent", up.Addr) {
				t.Errorf("no warning about the upstream's extra bytes in the log:\n%s", strings.Join(gw.Logs(), "\n"))
			}
		})
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

// TestUpstreamSwitchingProtocolsIsRefused: the gateway relays no protocol
// switch yet, so a 101 from the upstream (which the gateway did not ask
// for: it never forwards Upgrade) is a 502, and the switched connection
// is closed.
func TestUpstreamSwitchingProtocolsIsRefused(t *testing.T) {
	closed := make(chan error, 1)
	up := gatewaytest.StartRawUpstream(t, func(c *gatewaytest.RawConn) {
		for {
			r, err := c.ReadRequest()
			if err != nil {
				return
			}
			if r.Target != "/switch" {
				if c.Send(gatewaytest.OK(r)) != nil {
					return
				}
				continue
			}
			_ = c.Send("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\nRAW-BYTES-AFTER-101")
			_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
			_, err = c.R.ReadByte()
			closed <- err
			return
		}
	})
	gw := gatewaytest.StartListener(t, "services:\n  - proxy:\n      api_backend: "+up.URL+"\n")
	for _, req := range []string{
		"GET /switch HTTP/1.1\r\nHost: localhost\r\n\r\n",
		"GET /switch HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
	} {
		res, body := sendRaw(t, gw, "GET", req)
		if res.StatusCode != 502 || !strings.Contains(body, "switch") {
			t.Errorf("got %d %q, want 502 saying the upstream switched protocols", res.StatusCode, body)
		}
		if err := <-closed; err != io.EOF {
			t.Errorf("the switched upstream connection: read %v, want it closed (EOF)", err)
		}
	}
	canaries(t, gw, 2)
	if !hasLog(gw, "level=WARN", "101", up.Addr) {
		t.Errorf("no warning about the 101:\n%s", strings.Join(gw.Logs(), "\n"))
	}
}
