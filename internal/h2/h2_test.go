package h2_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/verdict-policy/verdict/internal/certs"
	"github.com/verdict-policy/verdict/internal/certs/certstest"
	"github.com/verdict-policy/verdict/internal/h1"
	"github.com/verdict-policy/verdict/internal/h2"
)

// testTimeout bounds every wait of these tests.
const testTimeout = 10 * time.Second

// seen is what a handler saw of a request, for comparing versions.
type seen struct {
	Proto      string
	Method     string
	Host       string
	Path       string
	RawQuery   string
	RequestURI string
	RemoteIP   string
	Header     map[string][]string
	Length     int64
	Body       string
	TLS        bool
	ServerName string
	PeerCN     string
}

// record answers with a JSON description of the request.
var record = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		status := http.StatusBadRequest
		if errors.Is(err, os.ErrDeadlineExceeded) {
			status = http.StatusRequestTimeout
		}
		http.Error(w, err.Error(), status)
		return
	}
	s := seen{
		Proto: r.Proto, Method: r.Method, Host: r.Host, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
		RequestURI: r.RequestURI, Header: r.Header, Length: r.ContentLength, Body: string(body),
	}
	s.RemoteIP, _, _ = net.SplitHostPort(r.RemoteAddr)
	if r.TLS != nil {
		s.TLS, s.ServerName = true, r.TLS.ServerName
		if len(r.TLS.PeerCertificates) > 0 {
			s.PeerCN = r.TLS.PeerCertificates[0].Subject.CommonName
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Answer", "yes")
	_ = json.NewEncoder(w).Encode(s)
})

// env is a CA with a server certificate for h2.test.
type env struct {
	ca   *certstest.CA
	set  *certs.Set
	dir  string
	conf certs.Config
}

func newEnv(t *testing.T, mode certs.ClientAuth) *env {
	t.Helper()
	e := &env{ca: certstest.NewCA(t, "h2 test CA"), dir: t.TempDir()}
	c, k := e.ca.Issue(t, certstest.Options{DNSNames: []string{"h2.test"}}).Write(t, e.dir, "srv")
	e.conf = certs.Config{
		Certificates:       []certs.Certificate{{CertificatePath: c, CertificateKeyPath: k}},
		ClientCertificates: mode,
		NextProtos:         h2.Protos,
	}
	if mode != certs.ClientNone {
		e.conf.ClientCAPath = filepath.Join(e.dir, "clients.pem")
		certstest.WriteFile(t, e.conf.ClientCAPath, e.ca.PEM)
	}
	set, err := certs.New(e.conf, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.set = set
	return e
}

func (e *env) clientTLS() *tls.Config {
	return &tls.Config{RootCAs: e.ca.Pool(), ServerName: "h2.test"}
}

// listen returns a loopback listener closed at the end of the test.
func listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return ln
}

// server is a listener served by h1 with HTTP/2 attached, or by net/http.
type server struct {
	addr string
	h1   *h1.Server
	std  *h2.Std
	done chan error
}

func (s *server) shutdown(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	var err error
	if s.h1 != nil {
		err = s.h1.Shutdown(ctx)
	} else {
		err = s.std.Shutdown(ctx)
	}
	if err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	select {
	case err := <-s.done:
		if !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve returned %v", err)
		}
	case <-time.After(testTimeout):
		t.Error("Serve did not return")
	}
}

// startH1 serves h over TLS (tlsCfg set) or in clear, with h1 and
// HTTP/2 attached with st.
func startH1(t *testing.T, h http.Handler, st h2.Settings, tlsCfg *tls.Config, configure ...func(*h1.Server)) *server {
	t.Helper()
	srv := &h1.Server{Handler: h}
	for _, f := range configure {
		f(srv)
	}
	h2.Attach(srv, st, nil)
	ln := listen(t)
	s := &server{addr: ln.Addr().String(), h1: srv, done: make(chan error, 1)}
	var serveLn net.Listener = ln
	if tlsCfg != nil {
		serveLn = tls.NewListener(ln, tlsCfg)
	}
	go func() { s.done <- srv.Serve(serveLn) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

// startStd serves h with net/http, as listen_server: std does.
func startStd(t *testing.T, h http.Handler, st h2.Settings, tlsCfg *tls.Config, configure ...func(*h1.Server)) *server {
	t.Helper()
	srv := &h1.Server{Handler: h}
	for _, f := range configure {
		f(srv)
	}
	std := h2.NewStd(srv, st, tlsCfg, nil)
	ln := listen(t)
	s := &server{addr: ln.Addr().String(), std: std, done: make(chan error, 1)}
	go func() { s.done <- std.Serve(ln) }()
	t.Cleanup(func() { _ = std.Close() })
	return s
}

// Clients of every kind the tests use.

func h2Transport(cfg *tls.Config) *http2.Transport {
	return &http2.Transport{TLSClientConfig: cfg}
}

func h2cTransport() *http2.Transport {
	return &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
}

func stdTransport(cfg *tls.Config, forceH2 bool) *http.Transport {
	return &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: forceH2, DisableCompression: true}
}

func stdH2CTransport() *http.Transport {
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	return &http.Transport{Protocols: p, DisableCompression: true}
}

// do sends a request through rt and returns the status and what the
// record handler saw.
func do(t *testing.T, rt http.RoundTripper, method, url string, body string) (int, seen, *http.Response) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Test", "one")
	req.Header.Add("X-Test", "two")
	req.Header.Set("User-Agent", "h2-test")
	c := &http.Client{Transport: rt, Timeout: testTimeout}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	var s seen
	if res.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatalf("%s: %q", err, b)
		}
	}
	return res.StatusCode, s, res
}

func TestVersionsOverTLS(t *testing.T) {
	e := newEnv(t, certs.ClientNone)
	for _, kind := range []string{"h1", "std"} {
		t.Run(kind, func(t *testing.T) {
			start := startH1
			if kind == "std" {
				start = startStd
			}
			s := start(t, record, h2.Settings{}, e.set.TLSConfig())
			url := "https://" + s.addr + "/v1/items?id=7"
			h11 := e.clientTLS()
			h11.NextProtos = []string{"http/1.1"}
			clients := []struct {
				name  string
				rt    http.RoundTripper
				proto string
			}{
				{"x/net http2.Transport", h2Transport(e.clientTLS()), "HTTP/2.0"},
				{"net/http with ForceAttemptHTTP2", stdTransport(e.clientTLS(), true), "HTTP/2.0"},
				{"net/http, HTTP/1.1 only", stdTransport(h11, false), "HTTP/1.1"},
			}
			for _, c := range clients {
				status, got, res := do(t, c.rt, "POST", url, "payload")
				if status != 200 || got.Proto != c.proto || res.Proto != c.proto {
					t.Errorf("%s: %d, handler saw %q, client got %q; want %s", c.name, status, got.Proto, res.Proto, c.proto)
				}
				if res.Header.Get("X-Answer") != "yes" {
					t.Errorf("%s: response header lost: %v", c.name, res.Header)
				}
			}
			s.shutdown(t)
		})
	}
}

// TestSameRequestFields sends one request over HTTP/1.1 and over HTTP/2
// and compares what the one handler saw: only the protocol differs.
func TestSameRequestFields(t *testing.T) {
	e := newEnv(t, certs.ClientNone)
	s := startH1(t, record, h2.Settings{}, e.set.TLSConfig())
	url := "https://" + s.addr + "/a%20b/c?q=1&r=%2F"
	h11 := e.clientTLS()
	h11.NextProtos = []string{"http/1.1"}
	_, one, _ := do(t, stdTransport(h11, false), "PUT", url, "the body")
	_, two, _ := do(t, h2Transport(e.clientTLS()), "PUT", url, "the body")
	if one.Proto != "HTTP/1.1" || two.Proto != "HTTP/2.0" {
		t.Fatalf("protocols %q and %q", one.Proto, two.Proto)
	}
	one.Proto, two.Proto = "", ""
	// HTTP/1.1's client says how it frames the body and that it accepts
	// gzip (net/http's transport adds it); fields of the request
	// proper must match.
	for _, h := range []string{"Accept-Encoding"} {
		delete(one.Header, h)
		delete(two.Header, h)
	}
	a, _ := json.Marshal(one)
	b, _ := json.Marshal(two)
	if !bytes.Equal(a, b) {
		t.Errorf("HTTP/1.1 and HTTP/2 requests differ:\n%s\n%s", a, b)
	}
	want := seen{Method: "PUT", Host: s.addr, Path: "/a b/c", RawQuery: "q=1&r=%2F", RequestURI: "/a%20b/c?q=1&r=%2F",
		RemoteIP: "127.0.0.1", Length: 8, Body: "the body", TLS: true, ServerName: "h2.test"}
	if one.Method != want.Method || one.Host != want.Host || one.Path != want.Path || one.RawQuery != want.RawQuery ||
		one.RequestURI != want.RequestURI || one.RemoteIP != want.RemoteIP || one.Length != want.Length ||
		one.Body != want.Body || one.TLS != want.TLS || one.ServerName != want.ServerName {
		t.Errorf("handler saw %+v, want %+v", one, want)
	}
	if got := one.Header["X-Test"]; len(got) != 2 || got[0] != "one" || got[1] != "two" {
		t.Errorf("X-Test: %q", got)
	}
}

func TestH2C(t *testing.T) {
	for _, kind := range []string{"h1", "std"} {
		t.Run(kind, func(t *testing.T) {
			start := startH1
			if kind == "std" {
				start = startStd
			}
			on := start(t, record, h2.Settings{H2C: true}, nil)
			url := "http://" + on.addr + "/x"
			for name, rt := range map[string]http.RoundTripper{
				"x/net prior knowledge":    h2cTransport(),
				"net/http prior knowledge": stdH2CTransport(),
				"HTTP/1.1":                 stdTransport(nil, false),
			} {
				status, got, _ := do(t, rt, "POST", url, "b")
				want := "HTTP/2.0"
				if name == "HTTP/1.1" {
					want = "HTTP/1.1"
				}
				if status != 200 || got.Proto != want || got.TLS || got.Body != "b" {
					t.Errorf("%s: %d %+v, want %s", name, status, got, want)
				}
			}
			off := start(t, record, h2.Settings{}, nil)
			req, _ := http.NewRequest("GET", "http://"+off.addr+"/x", nil)
			res, err := (&http.Client{Transport: h2cTransport(), Timeout: testTimeout}).Do(req)
			if err == nil {
				res.Body.Close()
				t.Errorf("h2c off: prior knowledge got %s", res.Status)
			}
			on.shutdown(t)
		})
	}
}

func TestClientCertificateOverHTTP2(t *testing.T) {
	e := newEnv(t, certs.ClientRequest)
	s := startH1(t, record, h2.Settings{}, e.set.TLSConfig())
	cert := e.ca.Issue(t, certstest.Options{CommonName: "client one", Client: true}).TLS(t)
	cfg := e.clientTLS()
	cfg.Certificates = []tls.Certificate{cert}
	_, got, _ := do(t, h2Transport(cfg), "GET", "https://"+s.addr+"/", "")
	if got.Proto != "HTTP/2.0" || got.PeerCN != "client one" {
		t.Errorf("handler saw %q from %q, want the client certificate over HTTP/2", got.PeerCN, got.Proto)
	}
	_, got, _ = do(t, h2Transport(e.clientTLS()), "GET", "https://"+s.addr+"/", "")
	if got.PeerCN != "" {
		t.Errorf("no certificate sent, handler saw %q", got.PeerCN)
	}
}

// serverSettings opens an HTTP/2 connection by hand and returns the
// server's SETTINGS.
func serverSettings(t *testing.T, addr string, cfg *tls.Config) map[http2.SettingID]uint32 {
	t.Helper()
	cfg = cfg.Clone()
	cfg.NextProtos = []string{"h2"}
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(testTimeout))
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(c, c)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	f, err := fr.ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	sf, ok := f.(*http2.SettingsFrame)
	if !ok {
		t.Fatalf("first frame %v", f)
	}
	out := map[http2.SettingID]uint32{}
	_ = sf.ForeachSetting(func(s http2.Setting) error { out[s.ID] = s.Val; return nil })
	return out
}

func TestLimits(t *testing.T) {
	e := newEnv(t, certs.ClientNone)
	t.Run("defaults", func(t *testing.T) {
		s := startH1(t, record, h2.Settings{}, e.set.TLSConfig())
		got := serverSettings(t, s.addr, e.clientTLS())
		if got[http2.SettingMaxConcurrentStreams] != h2.DefaultMaxConcurrentStreams {
			t.Errorf("max concurrent streams %d", got[http2.SettingMaxConcurrentStreams])
		}
		if got[http2.SettingMaxHeaderListSize] < h1.DefaultMaxHeaderBytes {
			t.Errorf("max header list size %d", got[http2.SettingMaxHeaderListSize])
		}
	})
	t.Run("configured", func(t *testing.T) {
		s := startH1(t, record, h2.Settings{MaxConcurrentStreams: 7, MaxHeaderBytes: 2048}, e.set.TLSConfig())
		got := serverSettings(t, s.addr, e.clientTLS())
		if got[http2.SettingMaxConcurrentStreams] != 7 {
			t.Errorf("max concurrent streams %d, want 7", got[http2.SettingMaxConcurrentStreams])
		}
		req, _ := http.NewRequest("GET", "https://"+s.addr+"/", nil)
		req.Header.Set("X-Big", strings.Repeat("x", 8192))
		// A single field longer than the limit ends the connection
		// (COMPRESSION_ERROR, http2's choice); the request is refused
		// either way.
		res, err := (&http.Client{Transport: h2Transport(e.clientTLS()), Timeout: testTimeout}).Do(req)
		if err == nil {
			res.Body.Close()
			if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
				t.Errorf("an 8 KiB header over a 2 KiB limit: %s", res.Status)
			}
		}
		// Many fields, each short, over the limit in all (and less than twice
		// over, past which http2 ends the connection): 431.
		if status := rawHeaderTooLarge(t, s.addr, e.clientTLS()); status != "431" {
			t.Errorf("8 KiB of headers: status %q, want 431", status)
		}
	})
	t.Run("the h1 server's max header bytes by default", func(t *testing.T) {
		s := startH1(t, record, h2.Settings{}, e.set.TLSConfig(), func(s *h1.Server) { s.MaxHeaderBytes = 4096 })
		got := serverSettings(t, s.addr, e.clientTLS())
		if v := got[http2.SettingMaxHeaderListSize]; v < 4096 || v > 16384 {
			t.Errorf("max header list size %d, want about 4096", v)
		}
	})
	t.Run("idle timeout", func(t *testing.T) {
		s := startH1(t, record, h2.Settings{IdleTimeout: 200 * time.Millisecond}, e.set.TLSConfig())
		cfg := e.clientTLS()
		cfg.NextProtos = []string{"h2"}
		c, err := tls.Dial("tcp", s.addr, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(testTimeout))
		_, _ = io.WriteString(c, http2.ClientPreface)
		fr := http2.NewFramer(c, c)
		_ = fr.WriteSettings()
		sawGoAway := false
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				if errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatal("the idle connection stayed open")
				}
				break
			}
			if _, ok := f.(*http2.GoAwayFrame); ok {
				sawGoAway = true
			}
			if sf, ok := f.(*http2.SettingsFrame); ok && !sf.IsAck() {
				_ = fr.WriteSettingsAck()
			}
		}
		if !sawGoAway {
			t.Error("closed without GOAWAY")
		}
	})
}

func TestConcurrentStreamsOneConnection(t *testing.T) {
	e := newEnv(t, certs.ClientNone)
	s := startH1(t, record, h2.Settings{}, e.set.TLSConfig())
	rt := h2Transport(e.clientTLS())
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("POST", fmt.Sprintf("https://%s/n/%d", s.addr, i), strings.NewReader(fmt.Sprint(i)))
			res, err := rt.RoundTrip(req)
			if err != nil {
				errs <- err
				return
			}
			defer res.Body.Close()
			var got seen
			if err := json.NewDecoder(res.Body).Decode(&got); err != nil || got.Body != fmt.Sprint(i) || got.Path != fmt.Sprintf("/n/%d", i) {
				errs <- fmt.Errorf("request %d: %v %+v", i, err, got)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := s.h1.OpenConns(); n != 1 {
		t.Errorf("%d connections open, want the one HTTP/2 connection", n)
	}
}

func TestGracefulShutdown(t *testing.T) {
	e := newEnv(t, certs.ClientNone)
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
		_, _ = io.WriteString(w, "finished")
	})
	for _, kind := range []string{"h1", "std"} {
		t.Run(kind, func(t *testing.T) {
			start := startH1
			if kind == "std" {
				start = startStd
			}
			s := start(t, slow, h2.Settings{}, e.set.TLSConfig())
			rt := h2Transport(e.clientTLS())
			type result struct {
				body string
				err  error
			}
			got := make(chan result, 1)
			go func() {
				res, err := (&http.Client{Transport: rt, Timeout: testTimeout}).Get("https://" + s.addr + "/slow")
				if err != nil {
					got <- result{err: err}
					return
				}
				defer res.Body.Close()
				b, err := io.ReadAll(res.Body)
				got <- result{string(b), err}
			}()
			<-entered
			shut := make(chan struct{})
			go func() { s.shutdown(t); close(shut) }()
			select {
			case <-shut:
				t.Fatal("Shutdown returned with a request in flight")
			case <-time.After(100 * time.Millisecond):
			}
			release <- struct{}{}
			if r := <-got; r.err != nil || r.body != "finished" {
				t.Errorf("the request in flight got %q, %v", r.body, r.err)
			}
			select {
			case <-shut:
			case <-time.After(testTimeout):
				t.Fatal("Shutdown did not return")
			}
		})
	}
}

// stalling is a request body that sends part and then nothing until
// closed (the client closes it once the answer came), the test ends, or
// it has stalled for half the test timeout.
type stalling struct {
	first  []byte
	stop   chan struct{}
	closed chan struct{}
	once   sync.Once
}

func newStalling(first string, stop chan struct{}) *stalling {
	return &stalling{first: []byte(first), stop: stop, closed: make(chan struct{})}
}

func (s *stalling) Read(p []byte) (int, error) {
	if len(s.first) > 0 {
		n := copy(p, s.first)
		s.first = s.first[n:]
		return n, nil
	}
	select {
	case <-s.stop:
	case <-s.closed:
	case <-time.After(testTimeout / 2): // a client that would wait for ever gives up
	}
	return 0, io.ErrUnexpectedEOF
}

func (s *stalling) Close() error {
	s.once.Do(func() { close(s.closed) })
	return nil
}

func TestBodyTimeout(t *testing.T) {
	e := newEnv(t, certs.ClientNone)
	busy := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Busy for longer than the body timeout before reading: time
		// outside Read does not count.
		time.Sleep(700 * time.Millisecond)
		record(w, r)
	})
	for _, kind := range []string{"h1", "std"} {
		for _, proto := range []string{"HTTP/2.0", "HTTP/1.1"} {
			t.Run(kind+" "+proto, func(t *testing.T) {
				start := startH1
				if kind == "std" {
					start = startStd
				}
				st := h2.Settings{BodyTimeout: 300 * time.Millisecond}
				rt := http.RoundTripper(h2Transport(e.clientTLS()))
				if proto == "HTTP/1.1" {
					cfg := e.clientTLS()
					cfg.NextProtos = []string{"http/1.1"}
					rt = stdTransport(cfg, false)
				}
				stop := make(chan struct{})
				defer close(stop)
				s := start(t, record, st, e.set.TLSConfig(), func(s *h1.Server) { s.BodyTimeout = st.BodyTimeout })
				req, _ := http.NewRequest("POST", "https://"+s.addr+"/up", newStalling("part", stop))
				req.ContentLength = 100
				begin := time.Now()
				res, err := (&http.Client{Transport: rt, Timeout: testTimeout}).Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusRequestTimeout {
					t.Errorf("a stalled body: %s %q, want 408", res.Status, b)
				}
				if d := time.Since(begin); d > 5*time.Second {
					t.Errorf("the timeout took %v", d)
				}

				s2 := start(t, busy, st, e.set.TLSConfig(), func(s *h1.Server) { s.BodyTimeout = st.BodyTimeout })
				status, got, _ := do(t, rt, "POST", "https://"+s2.addr+"/up", "all of it")
				if status != 200 || got.Body != "all of it" {
					t.Errorf("a busy handler: %d %+v", status, got)
				}
			})
		}
	}
}

func TestStdConnectionLimit(t *testing.T) {
	s := startStd(t, record, h2.Settings{}, nil, func(s *h1.Server) { s.MaxConns = 1 })
	first, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	_, _ = io.WriteString(first, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	buf := make([]byte, 12)
	_ = first.SetDeadline(time.Now().Add(testTimeout))
	if _, err := io.ReadFull(first, buf); err != nil || string(buf) != "HTTP/1.1 200" {
		t.Fatalf("first connection: %q %v", buf, err)
	}
	second, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	_ = second.SetDeadline(time.Now().Add(testTimeout))
	b, _ := io.ReadAll(second)
	if !strings.HasPrefix(string(b), "HTTP/1.1 503") {
		t.Errorf("second connection got %q, want 503", b)
	}
	if s.std.RefusedConns() != 1 || s.std.OpenConns() != 1 {
		t.Errorf("open %d, refused %d", s.std.OpenConns(), s.std.RefusedConns())
	}
}

// TestStdKeepsH1Settings checks that NewStd takes the h1 server's
// timeouts and limits.
func TestStdKeepsH1Settings(t *testing.T) {
	srv := &h1.Server{Handler: record, ReadHeaderTimeout: 3 * time.Second, ReadTimeout: -1, WriteTimeout: 9 * time.Second,
		IdleTimeout: 11 * time.Second, MaxHeaderBytes: 5000}
	std := h2.NewStd(srv, h2.Settings{MaxConcurrentStreams: 9}, nil, nil)
	got := []string{std.ReadHeaderTimeout.String(), std.ReadTimeout.String(), std.WriteTimeout.String(),
		std.IdleTimeout.String(), fmt.Sprint(std.MaxHeaderBytes), fmt.Sprint(std.HTTP2.MaxConcurrentStreams)}
	want := []string{"3s", "0s", "9s", "11s", "5000", "9"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("got %v, want %v", got, want)
	}
	if !std.Protocols.HTTP1() || !std.Protocols.HTTP2() || std.Protocols.UnencryptedHTTP2() {
		t.Errorf("protocols %v", std.Protocols)
	}
}

// rawHeaderTooLarge sends a request with eight 1 KiB headers over a raw
// HTTP/2 connection and returns the status of the answer.
func rawHeaderTooLarge(t *testing.T, addr string, cfg *tls.Config) string {
	t.Helper()
	cfg = cfg.Clone()
	cfg.NextProtos = []string{"h2"}
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(testTimeout))
	_, _ = io.WriteString(c, http2.ClientPreface)
	fr := http2.NewFramer(c, c)
	_ = fr.WriteSettings()
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for _, f := range []hpack.HeaderField{
		{Name: ":method", Value: "GET"}, {Name: ":scheme", Value: "https"},
		{Name: ":authority", Value: "h2.test"}, {Name: ":path", Value: "/"},
	} {
		_ = enc.WriteField(f)
	}
	for i := range 8 {
		_ = enc.WriteField(hpack.HeaderField{Name: fmt.Sprintf("x-big-%d", i), Value: strings.Repeat("x", 1024)})
	}
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block.Bytes(), EndStream: true, EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	dec := hpack.NewDecoder(4096, nil)
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("no answer: %v", err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				_ = fr.WriteSettingsAck()
			}
		case *http2.HeadersFrame:
			fields, err := dec.DecodeFull(f.HeaderBlockFragment())
			if err != nil {
				t.Fatal(err)
			}
			for _, hf := range fields {
				if hf.Name == ":status" {
					return hf.Value
				}
			}
		case *http2.RSTStreamFrame:
			return "reset " + f.ErrCode.String()
		case *http2.GoAwayFrame:
			return "goaway " + f.ErrCode.String() + " " + string(f.DebugData())
		}
	}
}
