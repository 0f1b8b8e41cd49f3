package gateway

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"
)

// parse reads one response to req (GET unless method says otherwise)
// from raw, with its body, and what is left on the connection after it.
func parse(t testing.TB, method, raw string) (resp *http.Response, body string, rest string, err error) {
	t.Helper()
	br := bufio.NewReaderSize(strings.NewReader(raw), 4096)
	req := httptest.NewRequest(method, "http://up/", nil)
	var sc headScratch
	var fb framedBody
	resp, err = readResponseHead(br, req, http.Header{"Stale": {"x"}}, &sc, &fb)
	if err != nil {
		return nil, "", "", err
	}
	if resp.Body != nil {
		b, rerr := io.ReadAll(resp.Body)
		if rerr != nil {
			return resp, string(b), "", rerr
		}
		body = string(b)
	}
	left, _ := io.ReadAll(br)
	return resp, body, string(left), nil
}

func TestReadResponseHead(t *testing.T) {
	for _, tc := range []struct {
		name, method, raw string
		status            int
		header            http.Header
		length            int64
		close             bool
		body, rest        string
	}{
		{"content length", "GET", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhelloNEXT",
			200, http.Header{"Content-Type": {"text/plain"}, "Content-Length": {"5"}}, 5, false, "hello", "NEXT"},
		{"bare LF and odd case", "GET", "HTTP/1.1 201 Created\ncontent-length: 2\nx-custom-thing:  a b \n\nok",
			201, http.Header{"Content-Length": {"2"}, "X-Custom-Thing": {"a b"}}, 2, false, "ok", ""},
		{"repeated header keeps order", "GET", "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 0\r\n\r\n",
			200, http.Header{"Set-Cookie": {"a=1", "b=2"}, "Content-Length": {"0"}}, 0, false, "", ""},
		{"chunked with trailer", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nX-Sum: 1\r\n\r\nNEXT",
			200, http.Header{}, -1, false, "abcde", "NEXT"},
		{"chunked wins over length", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: Chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
			200, http.Header{}, -1, false, "x", ""},
		{"until close", "GET", "HTTP/1.1 200 OK\r\n\r\nall of it",
			200, http.Header{}, -1, true, "all of it", ""},
		{"connection close", "GET", "HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 1\r\n\r\nx",
			200, http.Header{"Connection": {"keep-alive, Close"}, "Content-Length": {"1"}}, 1, true, "x", ""},
		{"HTTP/1.0 closes", "GET", "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx",
			200, http.Header{"Content-Length": {"1"}}, 1, true, "x", ""},
		{"HTTP/1.0 keep-alive", "GET", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx",
			200, http.Header{"Connection": {"keep-alive"}, "Content-Length": {"1"}}, 1, false, "x", ""},
		{"HEAD has no body", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\nNEXT",
			200, http.Header{"Content-Length": {"1234"}}, 1234, false, "", "NEXT"},
		{"204 has no body", "GET", "HTTP/1.1 204 No Content\r\n\r\nNEXT",
			204, http.Header{}, 0, false, "", "NEXT"},
		{"304 has no body", "GET", "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\nNEXT",
			304, http.Header{"Content-Length": {"10"}}, 0, false, "", "NEXT"},
		{"interim", "GET", "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\n",
			103, http.Header{"Link": {"</a>"}}, 0, false, "", "HTTP/1.1 200 OK\r\n"},
		{"no reason", "GET", "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",
			200, http.Header{"Content-Length": {"0"}}, 0, false, "", ""},
		{"same lengths twice", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
			200, http.Header{"Content-Length": {"1"}}, 1, false, "x", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body, rest, err := parse(t, tc.method, tc.raw)
			if err != nil {
				t.Fatal(err)
			}
			if want := fmt.Sprint(tc.status); !strings.HasPrefix(resp.Status, want) {
				t.Errorf("Status %q, want it to start with %s", resp.Status, want)
			}
			if resp.StatusCode != tc.status || resp.ContentLength != tc.length || resp.Close != tc.close {
				t.Errorf("status %d length %d close %v, want %d %d %v", resp.StatusCode, resp.ContentLength, resp.Close, tc.status, tc.length, tc.close)
			}
			if !equalHeader(resp.Header, tc.header) {
				t.Errorf("header %v, want %v", resp.Header, tc.header)
			}
			if body != tc.body || rest != tc.rest {
				t.Errorf("body %q rest %q, want %q %q", body, rest, tc.body, tc.rest)
			}
		})
	}
}

func equalHeader(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, va := range a {
		vb, ok := b[k]
		if !ok || strings.Join(va, "\x00") != strings.Join(vb, "\x00") {
			return false
		}
	}
	return true
}

func TestReadResponseHeadRefuses(t *testing.T) {
	for _, tc := range []struct{ name, raw, want string }{
		{"empty", "", "EOF"},
		{"not http", "SSH-2.0-OpenSSH\r\n\r\n", "status line"},
		{"http/2 line", "HTTP/2 200 OK\r\n\r\n", "status line"},
		{"bad code", "HTTP/1.1 2x0 OK\r\n\r\n", "status line"},
		{"code too small", "HTTP/1.1 099 Odd\r\n\r\n", "status 99"},
		{"folded", "HTTP/1.1 200 OK\r\nX-A: 1\r\n  more\r\n\r\n", "folded"},
		{"space before colon", "HTTP/1.1 200 OK\r\nX-A : 1\r\n\r\n", "header line"},
		{"no colon", "HTTP/1.1 200 OK\r\nnonsense\r\n\r\n", "header line"},
		{"bad length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "Content-Length"},
		{"length with a sign", "HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\nx", "Content-Length"},
		{"length minus zero", "HTTP/1.1 200 OK\r\nContent-Length: -0\r\n\r\n", "Content-Length"},
		{"length of 19 digits", "HTTP/1.1 200 OK\r\nContent-Length: 1000000000000000000\r\n\r\n", "Content-Length"},
		{"NUL in a value", "HTTP/1.1 200 OK\r\nX-A: a\x00b\r\n\r\n", "control byte"},
		{"bare CR in a value", "HTTP/1.1 200 OK\r\nX-A: a\rb\r\n\r\n", "control byte"},
		{"DEL in a value", "HTTP/1.1 200 OK\r\nX-A: a\x7f\r\n\r\n", "control byte"},
		{"conflicting lengths", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx", "Content-Length"},
		{"gzip coding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "Transfer-Encoding"},
		{"cut in the head", "HTTP/1.1 200 OK\r\nX-A: 1", "unexpected EOF"},
		{"line too long", "HTTP/1.1 200 OK\r\nX-A: " + strings.Repeat("a", 5000) + "\r\n\r\n", "too large"},
		{"too many lines", "HTTP/1.1 200 OK\r\n" + strings.Repeat("X-A: 1\r\n", maxHeaderLines+1) + "\r\n", "too large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, _, err := parse(t, "GET", tc.raw)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestResponseBodyCutShort(t *testing.T) {
	for _, raw := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n",
	} {
		if _, _, _, err := parse(t, "GET", raw); err == nil {
			t.Errorf("%q: no error for a body cut short", raw)
		}
	}
}

func TestHeaderKeysCanonical(t *testing.T) {
	resp, _, _, err := parse(t, "GET", "HTTP/1.1 200 OK\r\netag: \"x\"\r\nWWW-AUTHENTICATE: Basic\r\nx-weird_name: 1\r\ncontent-length: 0\r\n\r\n")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"Etag", "Www-Authenticate", "X-Weird_name", "Content-Length"} {
		if _, ok := resp.Header[k]; !ok {
			t.Errorf("no %s in %v", k, resp.Header)
		}
	}
	for k := range commonKeys {
		if want := http.CanonicalHeaderKey(k); commonKeys[k] != want {
			t.Errorf("commonKeys[%q] = %q, want %q", k, commonKeys[k], want)
		}
	}
}

func TestWriteRequest(t *testing.T) {
	for _, tc := range []struct {
		name   string
		req    func() *http.Request
		want   []string // lines of the head, in any order after the first two
		body   string
		errMsg string
	}{
		{"get", func() *http.Request {
			r := httptest.NewRequest("GET", "http://up.example/a%20b/c?x=1&y", nil)
			r.Header.Set("Accept", "*/*")
			r.Header.Set("Content-Length", "7") // framing is ours
			return r
		}, []string{"GET /a%20b/c?x=1&y HTTP/1.1", "Host: up.example", "Accept: */*"}, "", ""},
		{"host override and empty path", func() *http.Request {
			r := httptest.NewRequest("GET", "http://up.example", nil)
			r.URL.Path = ""
			r.Host = "api.example.com:8080"
			return r
		}, []string{"GET / HTTP/1.1", "Host: api.example.com:8080"}, "", ""},
		{"post without body", func() *http.Request {
			return httptest.NewRequest("POST", "http://up/", nil)
		}, []string{"POST / HTTP/1.1", "Host: up", "Content-Length: 0"}, "", ""},
		{"post with length", func() *http.Request {
			return httptest.NewRequest("POST", "http://up/", strings.NewReader("hello"))
		}, []string{"POST / HTTP/1.1", "Host: up", "Content-Length: 5"}, "hello", ""},
		{"unknown length longer than the first read is chunked", func() *http.Request {
			r := httptest.NewRequest("PUT", "http://up/", io.NopCloser(strings.NewReader("hello")))
			r.ContentLength = -1
			return r
		}, []string{"PUT / HTTP/1.1", "Host: up", "Transfer-Encoding: chunked"}, "4\r\nhell\r\n1\r\no\r\n0\r\n\r\n", ""},
		{"unknown length within the first read goes with its length", func() *http.Request {
			r := httptest.NewRequest("PUT", "http://up/", io.NopCloser(iotest.DataErrReader(strings.NewReader("hey"))))
			r.ContentLength = -1
			return r
		}, []string{"PUT / HTTP/1.1", "Host: up", "Content-Length: 3"}, "hey", ""},
		{"length longer than the first read", func() *http.Request {
			return httptest.NewRequest("POST", "http://up/", strings.NewReader("hello, world"))
		}, []string{"POST / HTTP/1.1", "Host: up", "Content-Length: 12"}, "hello, world", ""},
		{"line breaks in values become spaces", func() *http.Request {
			r := httptest.NewRequest("GET", "http://up/", nil)
			r.Header["X-Evil"] = []string{"a\r\nInjected: yes"}
			return r
		}, []string{"GET / HTTP/1.1", "Host: up", "X-Evil: a  Injected: yes"}, "", ""},
		{"bad field name", func() *http.Request {
			r := httptest.NewRequest("GET", "http://up/", nil)
			r.Header["Bad Name"] = []string{"1"}
			return r
		}, nil, "", "invalid header field name"},
		{"bad host", func() *http.Request {
			r := httptest.NewRequest("GET", "http://up/", nil)
			r.Host = "up\r\nX: 1"
			return r
		}, nil, "", "invalid Host"},
		{"short body", func() *http.Request {
			r := httptest.NewRequest("POST", "http://up/", strings.NewReader("abc"))
			r.ContentLength = 10
			return r
		}, nil, "", "3 of 10 bytes"},
		{"short body in the first read", func() *http.Request {
			r := httptest.NewRequest("POST", "http://up/", strings.NewReader("ab"))
			r.ContentLength = 3
			return r
		}, nil, "", "2 of 3 bytes"},
		{"body read error", func() *http.Request {
			r := httptest.NewRequest("POST", "http://up/", io.MultiReader(strings.NewReader("hello"), iotest.ErrReader(errors.New("bad chunk"))))
			r.ContentLength = -1
			return r
		}, nil, "", "bad chunk"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			bw := bufio.NewWriter(&buf)
			// As RoundTrip does, with a first read of 4 bytes at most.
			req := tc.req()
			rb, n := requestBody(req)
			ob := outBody{r: rb, n: n, eof: rb == nil}
			var err error
			if rb != nil {
				ob.first, ob.eof, err = readFirst(rb, n, make([]byte, 4))
				if ob.eof {
					ob.n = int64(len(ob.first))
				}
			}
			if err == nil {
				err = writeRequest(bw, req, &ob)
			}
			if tc.errMsg != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errMsg) {
					t.Fatalf("error %v, want %q", err, tc.errMsg)
				}
				// The cases named for the body are the client's fault.
				var be *bodyError
				if clients := strings.Contains(tc.name, "body"); errors.As(err, &be) != clients {
					t.Errorf("error %v: client's fault %v, want %v", err, !clients, clients)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			head, body, ok := strings.Cut(buf.String(), "\r\n\r\n")
			if !ok {
				t.Fatalf("no end of head in %q", buf.String())
			}
			lines := strings.Split(head, "\r\n")
			if lines[0] != tc.want[0] || lines[1] != tc.want[1] || len(lines) != len(tc.want) {
				t.Fatalf("head %q, want %q", lines, tc.want)
			}
			for _, w := range tc.want[2:] {
				found := false
				for _, l := range lines[2:] {
					found = found || l == w
				}
				if !found {
					t.Errorf("no line %q in %q", w, lines)
				}
			}
			if body != tc.body {
				t.Errorf("body %q, want %q", body, tc.body)
			}
			// What we wrote is a request net/http reads back.
			if r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(buf.String()))); err != nil {
				t.Errorf("net/http cannot read it: %v", err)
			} else if b, _ := io.ReadAll(r.Body); string(b) != bodyOf(tc.body) {
				t.Errorf("net/http read body %q, want %q", b, bodyOf(tc.body))
			}
		})
	}
}

// bodyOf is the body carried by the framed bytes of a test case (the
// chunked case frames "hello").
func bodyOf(framed string) string {
	if strings.HasSuffix(framed, "0\r\n\r\n") {
		return "hello"
	}
	return framed
}

// FuzzReadResponseHead holds the parser to net/http's on whatever both
// accept: status, header and body must agree, and nothing may panic.
func FuzzReadResponseHead(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"HTTP/1.0 404 Not Found\r\nX-A: 1\r\nx-a: 2\r\n\r\nbody",
		"HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		ours, obody, _, oerr := parse(t, "GET", raw)
		theirs, terr := http.ReadResponse(bufio.NewReaderSize(strings.NewReader(raw), 4096), nil)
		if oerr != nil || terr != nil {
			return // refusing more, or less, than net/http is allowed
		}
		tbody, berr := io.ReadAll(theirs.Body)
		if berr != nil {
			return
		}
		if ours.StatusCode != theirs.StatusCode {
			t.Fatalf("status %d, net/http %d", ours.StatusCode, theirs.StatusCode)
		}
		if obody != string(tbody) {
			t.Fatalf("body %q, net/http %q", obody, tbody)
		}
		for k, v := range ours.Header {
			if k == "Content-Length" || k == "Transfer-Encoding" {
				continue
			}
			if strings.Join(theirs.Header[k], "\x00") != strings.Join(v, "\x00") {
				t.Fatalf("header %s = %q, net/http %q", k, v, theirs.Header[k])
			}
		}
	})
}
