package gateway_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/verdict-policy/verdict/gateway/gatewaytest"
)

// slowReader is an upstream that reads a request body 64 KiB at a time,
// waiting pause before each read, through a small receive buffer, and
// answers "got N bytes" once the whole body is in.
func slowReader(pause time.Duration) func(*gatewaytest.RawConn) {
	return func(c *gatewaytest.RawConn) {
		_ = c.Conn.(*net.TCPConn).SetReadBuffer(64 << 10)
		r, err := c.ReadHead()
		if err != nil {
			return
		}
		slow := bufio.NewReaderSize(readerFunc(func(p []byte) (int, error) {
			time.Sleep(pause)
			return c.R.Read(p[:min(len(p), 64<<10)])
		}), 64<<10)
		var body io.Reader = slow
		if r.Chunked {
			body = httputil.NewChunkedReader(slow)
		} else {
			n, _ := strconv.ParseInt(r.Header.Get("Content-Length"), 10, 64)
			body = io.LimitReader(slow, n)
		}
		got, err := io.Copy(io.Discard, body)
		if err != nil {
			return
		}
		msg := "got " + strconv.FormatInt(got, 10) + " bytes"
		_ = c.Send("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: " + strconv.Itoa(len(msg)) + "\r\n\r\n" + msg)
	}
}

type readerFunc func(p []byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// upload sends size bytes to the gateway as the body of a POST, with a
// Content-Length or chunked, and returns the gateway's response. The body
// is written while the response is read, so that an early answer is seen.
func upload(t *testing.T, gw *gatewaytest.Gateway, size int, chunked bool) (*http.Response, string) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(gw.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	framing := "Content-Length: " + strconv.Itoa(size)
	if chunked {
		framing = "Transfer-Encoding: chunked"
	}
	go func() {
		if _, err := io.WriteString(c, "POST /upload HTTP/1.1\r\nHost: localhost\r\n"+framing+"\r\n\r\n"); err != nil {
			return
		}
		block := []byte(strings.Repeat("z", 64<<10))
		for sent := 0; sent < size; sent += len(block) {
			b := block[:min(len(block), size-sent)]
			if chunked {
				if _, err := io.WriteString(c, strconv.FormatInt(int64(len(b)), 16)+"\r\n"); err != nil {
					return
				}
			}
			if _, err := c.Write(b); err != nil {
				return
			}
			if chunked {
				if _, err := io.WriteString(c, "\r\n"); err != nil {
					return
				}
			}
		}
		if chunked {
			_, _ = io.WriteString(c, "0\r\n\r\n")
		}
	}()
	res, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: "POST"})
	if err != nil {
		t.Fatalf("reading the gateway's response: %v", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res, string(body)
}

// TestSlowReadingUpstreamGetsTheWholeUpload: the send timeout bounds a
// time without progress, as nginx's proxy_send_timeout, not each write
// of the gateway's buffer: an upstream reading steadily at ~1.3 MB/s
// gets a 4 MiB upload whole.
func TestSlowReadingUpstreamGetsTheWholeUpload(t *testing.T) {
	const size = 4 << 20
	for _, chunked := range []bool{false, true} {
		t.Run("chunked="+strconv.FormatBool(chunked), func(t *testing.T) {
			up := gatewaytest.StartRawUpstream(t, slowReader(50*time.Millisecond))
			gw := gatewaytest.StartListener(t, "services:\n  - proxy:\n      api_backend: "+up.URL+"\n")
			res, body := upload(t, gw, size, chunked)
			if res.StatusCode != 200 || body != "got "+strconv.Itoa(size)+" bytes" {
				t.Fatalf("got %d %q, want 200 and the whole body upstream\n%s", res.StatusCode, body, strings.Join(gw.Logs(), "\n"))
			}
		})
	}
}

// TestStalledUpstreamTimesOutTheUpload: an upstream that stops reading
// gets no more than the send timeout without progress.
func TestStalledUpstreamTimesOutTheUpload(t *testing.T) {
	done := make(chan struct{})
	up := gatewaytest.StartRawUpstream(t, func(c *gatewaytest.RawConn) {
		_ = c.Conn.(*net.TCPConn).SetReadBuffer(64 << 10)
		if _, err := c.ReadHead(); err != nil {
			return
		}
		<-done // read nothing more, until the test ends
	})
	t.Cleanup(func() { close(done) }) // before the upstream closes
	gw := gatewaytest.StartListener(t, "gateway: {send_timeout: 1s}\nservices:\n  - proxy:\n      api_backend: "+up.URL+"\n")
	res, body := upload(t, gw, 16<<20, false)
	if res.StatusCode != 504 {
		t.Fatalf("got %d %q, want 504", res.StatusCode, body)
	}
}

// TestMalformedChunkedRequestBodyIsTheClientsFault: a chunked request body
// that does not parse is the client's error (400, saying what is wrong),
// not an upstream failure; the upstream connection that carried part of
// it is not used again.
func TestMalformedChunkedRequestBodyIsTheClientsFault(t *testing.T) {
	up := gatewaytest.StartRawUpstream(t, gatewaytest.Answer(gatewaytest.OK))
	gw := gatewaytest.StartListener(t, "services:\n  - proxy:\n      api_backend: "+up.URL+"\n")
	for _, tc := range []struct{ name, body string }{
		{"hex prefix", "0x5\r\nhello\r\n0\r\n\r\n"},
		{"negative size", "-5\r\nhello\r\n0\r\n\r\n"},
		{"space before the size", " 5\r\nhello\r\n0\r\n\r\n"},
		{"seventeen hex digits", "10000000000000000\r\nhello\r\n0\r\n\r\n"},
		{"bare LF after the size", "5\nhello\r\n0\r\n\r\n"},
		{"data longer than its size", "5\r\nhelloEXTRA\r\n0\r\n\r\n"},
		{"data shorter than its size", "5\r\nhel\r\n0\r\n\r\n"},
		{"good chunk then a bad one", "5\r\nhello\r\nzz\r\nhello\r\n0\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, body := sendRaw(t, gw, "POST", "POST /a HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"+tc.body)
			if res.StatusCode != 400 || !strings.Contains(body, "request body") {
				t.Errorf("got %d %q, want 400 naming the request body", res.StatusCode, body)
			}
			canaries(t, gw, 1)
		})
	}
	if hasLog(gw, "upstream request failed") {
		t.Errorf("a client's bad body was logged as an upstream failure:\n%s", strings.Join(gw.Logs(), "\n"))
	}
}

// TestNoUpstreamConnectionBeforeTheBody: a request whose body has not
// started to arrive holds no upstream connection.
func TestNoUpstreamConnectionBeforeTheBody(t *testing.T) {
	up := gatewaytest.StartRawUpstream(t, gatewaytest.Answer(gatewaytest.OK))
	gw := gatewaytest.StartListener(t, "services:\n  - proxy:\n      api_backend: "+up.URL+"\n")
	c, err := net.Dial("tcp", strings.TrimPrefix(gw.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c, "POST /late HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if n := up.Conns(); n != 0 {
		t.Errorf("the upstream had %d connections before the body began, want none", n)
	}
	if _, err := io.WriteString(c, "hello"); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: "POST"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || string(b) != "conn=1 POST /late" {
		t.Fatalf("got %d %q", res.StatusCode, b)
	}
	if rs := up.Requests(); len(rs) != 1 || string(rs[0].Body) != "hello" {
		t.Errorf("the upstream received %v", rs)
	}
}

// TestTrickledBodyReachesTheUpstreamAsItComes: the part of a body the
// client has sent reaches the upstream before the rest arrives, with a
// Content-Length and chunked: the gateway does not hold it back until its
// buffer fills or the body ends.
func TestTrickledBodyReachesTheUpstreamAsItComes(t *testing.T) {
	for _, chunked := range []bool{false, true} {
		t.Run("chunked="+strconv.FormatBool(chunked), func(t *testing.T) {
			first := make(chan string, 1)
			up := gatewaytest.StartRawUpstream(t, func(c *gatewaytest.RawConn) {
				r, err := c.ReadHead()
				if err != nil {
					return
				}
				var body io.Reader = c.R
				if r.Chunked {
					body = httputil.NewChunkedReader(c.R)
				}
				part := make([]byte, 10)
				if _, err := io.ReadFull(body, part); err != nil {
					return
				}
				first <- string(part)
				rest := make([]byte, 10)
				if _, err := io.ReadFull(body, rest); err != nil {
					return
				}
				msg := string(part) + string(rest)
				_ = c.Send("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: " + strconv.Itoa(len(msg)) + "\r\n\r\n" + msg)
			})
			gw := gatewaytest.StartListener(t, "services:\n  - proxy:\n      api_backend: "+up.URL+"\n")
			c, err := net.Dial("tcp", strings.TrimPrefix(gw.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(30 * time.Second))
			head, part, rest := "POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 20\r\n\r\n", "0123456789", "abcdefghij"
			if chunked {
				head = "POST /upload HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
				part, rest = "a\r\n0123456789\r\n", "a\r\nabcdefghij\r\n0\r\n\r\n"
			}
			if _, err := io.WriteString(c, head+part); err != nil {
				t.Fatal(err)
			}
			select {
			case got := <-first:
				if got != "0123456789" {
					t.Fatalf("the upstream got %q first", got)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the first part of the body did not reach the upstream before the rest was sent")
			}
			if _, err := io.WriteString(c, rest); err != nil {
				t.Fatal(err)
			}
			res, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: "POST"})
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != 200 || string(body) != "0123456789abcdefghij" {
				t.Fatalf("got %d %q", res.StatusCode, body)
			}
		})
	}
}
