package gateway_test

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/verdict-policy/verdict/gateway/gatewaytest"
	_ "github.com/verdict-policy/verdict/policies/upstream_connection"
)

// TestStreamsRequestBodies sends a chunked body of unknown length that is
// larger than any buffer: the upstream must receive every byte, as a stream.
func TestStreamsRequestBodies(t *testing.T) {
	up := gatewaytest.StartUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		sum := sha256.Sum256(body)
		_, _ = io.WriteString(w, hex.EncodeToString(sum[:]))
	})
	gw := gatewaytest.Start(t, "services:\n  - proxy:\n      api_backend: "+up.URL+"\n")
	pr, pw := io.Pipe()
	payload := strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB
	go func() {
		for i := 0; i < len(payload); i += 4096 {
			_, _ = pw.Write([]byte(payload[i : i+4096]))
		}
		pw.Close()
	}()
	req := gw.NewRequest("POST", "/upload", pr)
	res := gw.Do(t, req)
	sum := sha256.Sum256([]byte(payload))
	if res.Status != 200 || res.Body != hex.EncodeToString(sum[:]) {
		t.Fatalf("got %d %q", res.Status, res.Body)
	}
	if got := up.Last(t); len(got.Body) != len(payload) {
		t.Errorf("upstream got %d bytes", len(got.Body))
	}
}

// TestStreamsResponseBodies checks that the client reads the first part of
// a response before the upstream has written the rest: nothing buffers
// the whole body.
func TestStreamsResponseBodies(t *testing.T) {
	release := make(chan struct{})
	up := gatewaytest.StartUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "first\n")
		w.(http.Flusher).Flush()
		<-release
		_, _ = io.WriteString(w, "second\n")
	})
	defer close(release)
	for _, chainYAML := range []string{"[{name: apicast}]", "[" + st("u", "upper: true") + ", {name: apicast}]"} {
		t.Run(chainYAML, func(t *testing.T) {
			gw := gatewaytest.Start(t, "services:\n  - proxy:\n      api_backend: "+up.URL+"\n      policy_chain: "+chainYAML+"\n")
			res, err := http.DefaultClient.Do(gw.NewRequest("GET", "/", nil))
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			line, err := bufio.NewReader(res.Body).ReadString('\n')
			if err != nil || strings.ToLower(line) != "first\n" {
				t.Fatalf("first line %q, %v", line, err)
			}
			release <- struct{}{}
		})
	}
}

func TestUpstreamFailures(t *testing.T) {
	// A port with nothing listening: connection refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()

	slow := gatewaytest.StartUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	})
	tests := []struct {
		name, backend, chain string
		status               int
	}{
		{"refused", closed, "[{name: apicast}]", 502},
		{"read timeout", slow.URL, "[{name: upstream_connection, configuration: {read_timeout: 0.2}}, {name: apicast}]", 504},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw := gatewaytest.Start(t, "services:\n  - proxy:\n      api_backend: "+tt.backend+"\n      policy_chain: "+tt.chain+"\n")
			start := time.Now()
			res := gw.Do(t, gw.NewRequest("GET", "/", nil))
			if res.Status != tt.status || !strings.Contains(res.Body, "upstream") {
				t.Fatalf("got %d %q, want %d", res.Status, res.Body, tt.status)
			}
			if time.Since(start) > 1500*time.Millisecond {
				t.Errorf("took %s", time.Since(start))
			}
		})
	}
}

func TestOversizedHeadersAreRefused(t *testing.T) {
	gw := gatewaytest.Start(t, "services:\n  - proxy:\n      policy_chain: [{name: echo}]\n")
	r := gw.NewRequest("GET", "/", nil)
	r.Header.Set("X-Big", strings.Repeat("a", 2<<20))
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("status %d", res.StatusCode)
	}
}

// TestReadTimeoutCountsFromTheRequest reuses an idle kept-alive
// connection: the wait for the answer gets the whole read timeout from
// when the request went out, not from when the connection fell idle.
func TestReadTimeoutCountsFromTheRequest(t *testing.T) {
	up := gatewaytest.StartUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(250 * time.Millisecond)
		}
		_, _ = io.WriteString(w, "ok")
	})
	gw := gatewaytest.Start(t, "services:\n  - proxy:\n      api_backend: "+up.URL+
		"\n      policy_chain: [{name: upstream_connection, configuration: {read_timeout: 0.4}}, {name: apicast}]\n")
	if res := gw.Do(t, gw.NewRequest("GET", "/fast", nil)); res.Status != 200 {
		t.Fatalf("first request: %d", res.Status)
	}
	time.Sleep(300 * time.Millisecond) // the upstream connection sits idle
	if res := gw.Do(t, gw.NewRequest("GET", "/slow", nil)); res.Status != 200 || res.Body != "ok" {
		t.Fatalf("second request: %d %q", res.Status, res.Body)
	}
	if n := len(up.Requests()); n != 2 {
		t.Fatalf("upstream saw %d requests", n)
	}
}

func TestConnectIsRefused(t *testing.T) {
	up := gatewaytest.StartUpstream(t, nil)
	gw := gatewaytest.Start(t, "services:\n  - proxy:\n      api_backend: "+up.URL+"\n")
	conn, err := net.Dial("tcp", strings.TrimPrefix(gw.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = io.WriteString(conn, "CONNECT localhost:443 HTTP/1.1\r\nHost: localhost\r\n\r\n")
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 405 || len(up.Requests()) != 0 {
		t.Errorf("CONNECT got %d, upstream saw %d requests", res.StatusCode, len(up.Requests()))
	}
}

// TestBodyFilterPerChunk checks that a body filter sees the upstream's
// chunks as they come, not one buffered body.
func TestBodyFilterPerChunk(t *testing.T) {
	up := gatewaytest.StartUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		for _, part := range []string{"one", "two", "three"} {
			_, _ = io.WriteString(w, part)
			w.(http.Flusher).Flush()
			time.Sleep(30 * time.Millisecond)
		}
	})
	gw := gatewaytest.Start(t, "services:\n  - proxy:\n      api_backend: "+up.URL+
		"\n      policy_chain: ["+st("f", "chunks: true")+", {name: apicast}]\n")
	resetSteps()
	res := gw.Do(t, gw.NewRequest("GET", "/", nil))
	if res.Status != 200 || res.Body != "onetwothree" {
		t.Fatalf("got %d %q", res.Status, res.Body)
	}
	var chunks []string
	for _, s := range strings.Fields(takeSteps()) {
		if strings.HasPrefix(s, "f.chunk(") {
			chunks = append(chunks, s)
		}
	}
	if strings.Join(chunks, " ") != "f.chunk(one) f.chunk(two) f.chunk(three)" {
		t.Errorf("chunks %v", chunks)
	}
}

func TestUnusableUpstreamFailsClosed(t *testing.T) {
	gw := gatewaytest.Start(t, "services:\n  - proxy:\n      policy_chain: [{name: test_bad_upstream}]\n")
	if res := gw.Do(t, gw.NewRequest("GET", "/", nil)); res.Status != 503 {
		t.Errorf("status %d", res.Status)
	}
}

// TestUpstreamDateAndServerHidden holds the gateway to nginx's defaults:
// the client gets the gateway's own Date and no upstream Server, unless a
// policy sets one.
func TestUpstreamDateAndServerHidden(t *testing.T) {
	const upstreamDate = "Mon, 01 Jan 2001 00:00:00 GMT"
	up := gatewaytest.StartUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", upstreamDate)
		w.Header().Set("Server", "backend/1.2.3")
		_, _ = io.WriteString(w, "ok")
	})
	for _, tc := range []struct {
		name, chain, wantServer string
	}{
		{"hidden", "[{name: apicast}]", ""},
		{"set by a policy", `[{name: headers, configuration: {response: [{op: set, header: Server, value: gateway}]}}, {name: apicast}]`, "gateway"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gw := gatewaytest.Start(t, "services:\n  - proxy:\n      api_backend: "+up.URL+"\n      policy_chain: "+tc.chain+"\n")
			res := gw.Do(t, gw.NewRequest("GET", "/", nil))
			if res.Status != 200 || res.Body != "ok" {
				t.Fatalf("%d %q", res.Status, res.Body)
			}
			if d := res.Header.Get("Date"); d == "" || d == upstreamDate {
				t.Errorf("Date %q, want the gateway's own", d)
			}
			if s := res.Header.Get("Server"); s != tc.wantServer {
				t.Errorf("Server %q, want %q", s, tc.wantServer)
			}
		})
	}
}
