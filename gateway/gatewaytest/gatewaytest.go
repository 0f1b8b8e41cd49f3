// Package gatewaytest runs a real gateway and a recording upstream on
// loopback ports for tests, so that a chain policy is tested the way it
// runs: a client request through the gateway's chains to an upstream.
//
// A typical test:
//
//	up := gatewaytest.StartUpstream(t, nil)
//	gw := gatewaytest.Start(t, `
//	services:
//	  - id: 1
//	    proxy:
//	      api_backend: `+up.URL+`
//	      policy_chain: [{name: headers, configuration: {...}}, {name: apicast}]
//	`)
//	res := gw.Do(t, gw.NewRequest("GET", "/path?a=1", nil))
//	// res.Status, res.Header, res.Body: what the client got;
//	// up.Last(t): what the upstream received.
//
// Services without proxy.hosts answer the host "localhost", which is the
// Host NewRequest sets. The apicast and echo policies are always
// registered; a test blank-imports the package of any other policy it uses.
package gatewaytest

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/verdict-policy/verdict/config"
	"github.com/verdict-policy/verdict/gateway"
	_ "github.com/verdict-policy/verdict/policies/apicast" // the default chain
	_ "github.com/verdict-policy/verdict/policies/echo"
)

// Gateway is a gateway serving a configuration on a loopback port.
type Gateway struct {
	// URL is the gateway's base URL, such as http://127.0.0.1:38123.
	URL string
	// Gateway is the gateway itself.
	Gateway *gateway.Gateway
	// Registry holds the gateway's metrics.
	Registry *prometheus.Registry

	dir    string
	server *httptest.Server
	logs   *logBuffer
}

// Start loads cfgYAML (a Verdict configuration in YAML or JSON; relative
// paths in it resolve against a fresh temporary directory, see Dir) and
// serves it until the test ends. A configuration that does not load fails
// the test.
func Start(t testing.TB, cfgYAML string) *Gateway {
	t.Helper()
	g := load(t, cfgYAML)
	g.server = httptest.NewServer(g.Gateway)
	g.URL = g.server.URL
	t.Cleanup(g.server.Close)
	return g
}

// load builds a gateway for cfgYAML without serving it.
func load(t testing.TB, cfgYAML string) *Gateway {
	t.Helper()
	reg := prometheus.NewRegistry()
	logs := &logBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	gw, err := gateway.New(gateway.Options{Registerer: reg, Logger: logger})
	if err != nil {
		t.Fatalf("gatewaytest: %v", err)
	}
	g := &Gateway{Gateway: gw, Registry: reg, dir: t.TempDir(), logs: logs}
	if err := g.Reload(cfgYAML); err != nil {
		t.Fatalf("gatewaytest: load the configuration: %v", err)
	}
	return g
}

// Logs returns the gateway's log lines so far, in slog's text format
// (time=... level=INFO msg="..." service=1 ...), debug level included.
func (g *Gateway) Logs() []string {
	g.logs.mu.Lock()
	defer g.logs.mu.Unlock()
	text := strings.TrimSuffix(g.logs.buf.String(), "\n")
	if text == "" {
		return nil
	}
	return strings.Split(text, "\n")
}

type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// Dir is the directory the configuration's relative paths resolve against;
// write policy documents there before naming them in a configuration.
func (g *Gateway) Dir() string { return g.dir }

// Reload replaces the configuration as the server's reload does: on an
// error (returned as config.Problems when the file is at fault) the
// running configuration stays.
func (g *Gateway) Reload(cfgYAML string) error {
	file := filepath.Join(g.dir, "verdict.yaml")
	if err := os.WriteFile(file, []byte(cfgYAML), 0o644); err != nil {
		return err
	}
	cfg, err := config.Load(file)
	if err != nil {
		return err
	}
	docs, err := cfg.Compile()
	if err != nil {
		return err
	}
	install, err := g.Gateway.Prepare(cfg, docs)
	if err != nil {
		return err
	}
	install()
	return nil
}

// NewRequest returns a request for path (with its query) on the gateway,
// with Host set to localhost.
func (g *Gateway) NewRequest(method, path string, body io.Reader) *http.Request {
	r, err := http.NewRequest(method, g.URL+path, body)
	if err != nil {
		panic("gatewaytest: bad request: " + err.Error())
	}
	r.Host = "localhost"
	return r
}

// Result is a response as the client got it.
type Result struct {
	Status int
	Header http.Header
	Body   string
}

// Do sends r and reads the whole response.
func (g *Gateway) Do(t testing.TB, r *http.Request) Result {
	t.Helper()
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatalf("gatewaytest: %s %s: %v", r.Method, r.URL, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("gatewaytest: read the response of %s %s: %v", r.Method, r.URL, err)
	}
	return Result{Status: res.StatusCode, Header: res.Header, Body: string(body)}
}

// Received is a request as the upstream got it.
type Received struct {
	Method   string
	Host     string
	Path     string // decoded
	RawPath  string // as sent, escaped
	RawQuery string
	Header   http.Header
	Body     string
}

// Upstream is a recording HTTP server standing in for an API.
type Upstream struct {
	// URL is the upstream's base URL, to use as api_backend.
	URL string

	mu       sync.Mutex
	received []Received
	server   *httptest.Server
}

// StartUpstream starts an upstream that records every request and then
// answers it with reply; a nil reply answers 200 with the body
// "upstream: METHOD URI" and Content-Type text/plain.
func StartUpstream(t testing.TB, reply http.HandlerFunc) *Upstream {
	t.Helper()
	u := &Upstream{}
	if reply == nil {
		reply = func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, "upstream: "+r.Method+" "+r.RequestURI)
		}
	}
	u.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.received = append(u.received, Received{
			Method: r.Method, Host: r.Host, Path: r.URL.Path, RawPath: r.URL.EscapedPath(),
			RawQuery: r.URL.RawQuery, Header: r.Header.Clone(), Body: string(body),
		})
		u.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		reply(w, r)
	}))
	u.URL = u.server.URL
	t.Cleanup(u.server.Close)
	return u
}

// Requests returns every request received so far, in order.
func (u *Upstream) Requests() []Received {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]Received(nil), u.received...)
}

// Last returns the latest request received; it fails the test when none was.
func (u *Upstream) Last(t testing.TB) Received {
	t.Helper()
	rs := u.Requests()
	if len(rs) == 0 {
		t.Fatal("gatewaytest: the upstream received no request")
	}
	return rs[len(rs)-1]
}
