package gateway_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/verdict-policy/verdict/config"
	"github.com/verdict-policy/verdict/gateway"
	"github.com/verdict-policy/verdict/internal/h1"
	_ "github.com/verdict-policy/verdict/policies/headers"
)

// rawRequest is a request as a raw upstream read it off the wire: the
// header lines keep the names and order the gateway wrote.
type rawRequest struct {
	line   string
	fields [][2]string
	body   string
}

// values returns the values of the header fields named name, compared
// byte for byte.
func (r rawRequest) values(name string) []string {
	var out []string
	for _, f := range r.fields {
		if f[0] == name {
			out = append(out, f[1])
		}
	}
	return out
}

// valuesFold returns the values of the fields whose name equals name
// ignoring case.
func (r rawRequest) valuesFold(name string) []string {
	var out []string
	for _, f := range r.fields {
		if strings.EqualFold(f[0], name) {
			out = append(out, f[1])
		}
	}
	return out
}

// rawUpstream is an upstream on a loopback port that parses requests by
// hand and records each one as it came over the wire.
type rawUpstream struct {
	addr string
	mu   sync.Mutex
	got  []rawRequest
}

func startRawUpstream(t *testing.T) *rawUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &rawUpstream{addr: ln.Addr().String()}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				u.serve(t, c)
			}()
		}
	}()
	return u
}

func (u *rawUpstream) serve(t *testing.T, c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		req := rawRequest{line: strings.TrimRight(line, "\r\n")}
		length, chunked := 0, false
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				return
			}
			l = strings.TrimRight(l, "\r\n")
			if l == "" {
				break
			}
			name, value, _ := strings.Cut(l, ":")
			value = strings.TrimSpace(value)
			req.fields = append(req.fields, [2]string{name, value})
			switch strings.ToLower(name) {
			case "content-length":
				length, _ = strconv.Atoi(value)
			case "transfer-encoding":
				chunked = strings.EqualFold(value, "chunked")
			}
		}
		var body []byte
		if chunked {
			body, err = io.ReadAll(httputil.NewChunkedReader(br))
		} else if length > 0 {
			body = make([]byte, length)
			_, err = io.ReadFull(br, body)
		}
		if err != nil {
			t.Errorf("raw upstream: reading the body: %v", err)
			return
		}
		req.body = string(body)
		u.mu.Lock()
		u.got = append(u.got, req)
		u.mu.Unlock()
		if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"); err != nil {
			return
		}
	}
}

func (u *rawUpstream) last(t *testing.T) rawRequest {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.got) == 0 {
		t.Fatal("the upstream received no request")
	}
	return u.got[len(u.got)-1]
}

func (u *rawUpstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.got)
}

// startH1Gateway serves cfgYAML on a loopback port through the HTTP/1.1
// server the gateway listener uses in production, and returns its address.
func startH1Gateway(t *testing.T, cfgYAML string) string {
	t.Helper()
	gw, err := gateway.New(gateway.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("gw.yaml", []byte(cfgYAML))
	if err != nil {
		t.Fatal(err)
	}
	install, err := gw.Prepare(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	install()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &h1.Server{Handler: gw, ReadTimeout: -1, WriteTimeout: -1}
	done := make(chan struct{})
	go func() { _ = srv.Serve(ln); close(done) }()
	t.Cleanup(func() { srv.Close(); <-done; _ = gw.Close() })
	return ln.Addr().String()
}

// rawExchange sends raw bytes to addr and reads one response.
func rawExchange(t *testing.T, addr, raw string) (*http.Response, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the answer to %q: %v", raw, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(body)
}

// headerService is a service whose chain sets a request header for the
// upstream, with a secret token, in front of up.
func headerService(up *rawUpstream, gatewaySection string) string {
	return gatewaySection + `services:
  - id: 1
    proxy:
      hosts: [localhost]
      api_backend: http://` + up.addr + `
      secret_token: s3cr3t
      policy_chain:
        - name: headers
          configuration:
            request: [{op: set, header: X-Gateway, value: verdict}]
        - name: apicast
`
}

// TestUpstreamRequestHeaders sends raw requests through the gateway
// listener and checks the header fields the upstream receives: the
// client's Connection header may not strip what the chain set, hop-by-hop
// fields never go upstream, and names with '_' are dropped unless allowed.
func TestUpstreamRequestHeaders(t *testing.T) {
	up := startRawUpstream(t)
	strict := startH1Gateway(t, headerService(up, ""))
	allowing := startH1Gateway(t, headerService(up, "gateway: {underscores_in_headers: true}\n"))

	const head = "GET /a HTTP/1.1\r\nHost: localhost\r\n"
	tests := []struct {
		name    string
		gateway string
		raw     string
		has     map[string]string // name as written → the one value wanted
		lacks   []string          // names that must not arrive, in any case
		body    string
	}{
		{
			name: "Connection naming a header the headers policy sets",
			raw:  head + "Connection: X-Gateway\r\n\r\n",
			has:  map[string]string{"X-Gateway": "verdict", "X-3scale-Proxy-Secret-Token": "s3cr3t"},
		},
		{
			name: "Connection naming the secret token header",
			raw:  head + "Connection: X-3scale-Proxy-Secret-Token\r\n\r\n",
			has:  map[string]string{"X-Gateway": "verdict", "X-3scale-Proxy-Secret-Token": "s3cr3t"},
		},
		{
			name:  "Connection naming a header of the client's, in lower case",
			raw:   head + "X-Drop-Me: 1\r\nX-Keep: 2\r\nConnection: keep-alive, x-drop-me\r\n\r\n",
			has:   map[string]string{"X-Keep": "2", "X-Gateway": "verdict"},
			lacks: []string{"X-Drop-Me", "Connection", "Keep-Alive"},
		},
		{
			name: "the standard hop-by-hop fields",
			raw: head + "Keep-Alive: timeout=5\r\nTE: trailers\r\nUpgrade: h2c\r\nProxy-Authorization: Basic eDp5\r\n" +
				"Proxy-Connection: keep-alive\r\nTrailer: X-T\r\n\r\n",
			has:   map[string]string{"X-Gateway": "verdict"},
			lacks: []string{"Keep-Alive", "Te", "Upgrade", "Proxy-Authorization", "Proxy-Connection", "Trailer"},
		},
		{
			name:  "X-3scale-Debug stays at the gateway",
			raw:   head + "X-3scale-Debug: service-token\r\n\r\n",
			has:   map[string]string{"X-Gateway": "verdict"},
			lacks: []string{"X-3scale-Debug"},
		},
		{
			name:  "X_Real_IP does not travel beside X-Real-IP",
			raw:   head + "X_Real_IP: 6.6.6.6\r\n\r\n",
			has:   map[string]string{"X-Real-Ip": "127.0.0.1"},
			lacks: []string{"X_Real_IP"},
		},
		{
			name:  "Transfer_Encoding beside a Content-Length",
			raw:   "POST /a HTTP/1.1\r\nHost: localhost\r\nTransfer_Encoding: chunked\r\nContent-Length: 5\r\n\r\nhello",
			has:   map[string]string{"Content-Length": "5"},
			lacks: []string{"Transfer_Encoding", "Transfer-Encoding"},
			body:  "hello",
		},
		{
			name:  "Content_Length on a GET",
			raw:   head + "Content_Length: 44\r\n\r\n",
			lacks: []string{"Content_Length", "Content-Length"},
		},
		{
			name:    "underscores_in_headers: true forwards such names",
			gateway: allowing,
			raw:     head + "X_Custom: 1\r\n\r\n",
			has:     map[string]string{"X_custom": "1", "X-Gateway": "verdict"},
		},
		{
			name:    "underscores_in_headers: true still sets X-Real-IP itself",
			gateway: allowing,
			raw:     head + "X-Real-IP: 6.6.6.6\r\n\r\n",
			has:     map[string]string{"X-Real-Ip": "127.0.0.1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := tt.gateway
			if addr == "" {
				addr = strict
			}
			before := up.count()
			res, body := rawExchange(t, addr, tt.raw)
			if res.StatusCode != 200 || body != "ok" {
				t.Fatalf("answer %d %q, want the upstream's 200 ok", res.StatusCode, body)
			}
			if up.count() != before+1 {
				t.Fatalf("the upstream got %d requests, want 1", up.count()-before)
			}
			got := up.last(t)
			for name, want := range tt.has {
				if v := got.values(name); len(v) != 1 || v[0] != want {
					t.Errorf("%s: got %q, want exactly %q; upstream saw %v", name, v, want, got.fields)
				}
			}
			for _, name := range tt.lacks {
				if v := got.valuesFold(name); len(v) > 0 {
					t.Errorf("%s reached the upstream: %q", name, v)
				}
			}
			if got.body != tt.body {
				t.Errorf("body %q, want %q", got.body, tt.body)
			}
		})
	}
}

// TestUnderscoreHeadersHiddenFromPolicies checks that a dropped name is
// not seen by the chain either, as nginx ignores such fields entirely: a
// policy copying X_Role into a header finds nothing.
func TestUnderscoreHeadersHiddenFromPolicies(t *testing.T) {
	up := startRawUpstream(t)
	for _, tc := range []struct {
		name, section, want string
	}{
		{"dropped by default", "", ""},
		{"kept when allowed", "gateway: {underscores_in_headers: true}\n", "admin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := startH1Gateway(t, tc.section+`services:
  - proxy:
      api_backend: http://`+up.addr+`
      policy_chain:
        - name: headers
          configuration:
            request: [{op: set, header: X-Copied, value: "{{ headers['X_role'] }}", value_type: liquid}]
        - name: apicast
`)
			res, _ := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: localhost\r\nX_Role: admin\r\n\r\n")
			if res.StatusCode != 200 {
				t.Fatalf("status %d", res.StatusCode)
			}
			got := fmt.Sprint(up.last(t).values("X-Copied"))
			want := fmt.Sprint([]string{tc.want})
			if tc.want == "" {
				want = "[]"
			}
			if got != want {
				t.Errorf("X-Copied = %s, want %s", got, want)
			}
		})
	}
}
