package certs_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/verdict-policy/verdict/internal/certs"
	"github.com/verdict-policy/verdict/internal/certs/certstest"
	"github.com/verdict-policy/verdict/internal/h1"
)

// serve starts an HTTPS listener on loopback with set's TLS configuration;
// its answers describe what the handler saw of the connection's TLS.
func serve(t *testing.T, set *certs.Set) string {
	t.Helper()
	return serveConfig(t, set.TLSConfig())
}

// serveConfig starts an HTTPS listener on loopback with cfg.
func serveConfig(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &h1.Server{Handler: http.HandlerFunc(describeTLS)}
	go func() { _ = srv.Serve(tls.NewListener(ln, cfg)) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// describeTLS answers with the server name, the client certificate's
// common name, and whether its chain was verified.
func describeTLS(w http.ResponseWriter, r *http.Request) {
	if r.TLS == nil {
		http.Error(w, "no TLS", http.StatusInternalServerError)
		return
	}
	peer := "-"
	if len(r.TLS.PeerCertificates) > 0 {
		peer = r.TLS.PeerCertificates[0].Subject.CommonName
	}
	fmt.Fprintf(w, "sni=%s peer=%s verified=%d", r.TLS.ServerName, peer, len(r.TLS.VerifiedChains))
}

// handshake dials addr with cfg and returns the certificate the server
// presented; any handshake error is returned.
func handshake(t *testing.T, addr string, cfg *tls.Config) (*x509.Certificate, error) {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0], nil
}

// get sends one request over a new TLS connection and returns the body.
// Failures of the handshake that TLS 1.3 reports only on the first read
// (a refused client certificate) come back as errors too.
func get(t *testing.T, addr string, cfg *tls.Config) (string, error) {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); err != nil {
		return "", err
	}
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return string(b), err
}

// pki is a CA with server certificates in files.
type pki struct {
	dir string
	ca  *certstest.CA
}

func newPKI(t *testing.T) *pki {
	return &pki{dir: t.TempDir(), ca: certstest.NewCA(t, "test CA")}
}

// file issues a certificate for names and writes it as name.crt/.key.
func (p *pki) file(t *testing.T, name string, o certstest.Options) certs.Certificate {
	t.Helper()
	leaf := p.ca.Issue(t, o)
	c, k := leaf.Write(t, p.dir, name)
	return certs.Certificate{CertificatePath: c, CertificateKeyPath: k}
}

func (p *pki) client(sni string) *tls.Config {
	return &tls.Config{RootCAs: p.ca.Pool(), ServerName: sni}
}

func newSet(t *testing.T, cfg certs.Config) *certs.Set {
	t.Helper()
	set, err := certs.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func TestSNISelection(t *testing.T) {
	p := newPKI(t)
	def := p.file(t, "default", certstest.Options{CommonName: "default cert", DNSNames: []string{"default.test"}})
	api := p.file(t, "api", certstest.Options{DNSNames: []string{"api.example.com"}})
	wild := p.file(t, "wild", certstest.Options{DNSNames: []string{"*.example.com", "example.com"}})
	listed := p.file(t, "listed", certstest.Options{CommonName: "listed cert", DNSNames: []string{"listed.test", "other.test"}})
	listed.Hosts = []string{"other.test"}
	set := newSet(t, certs.Config{Certificates: []certs.Certificate{api, wild, def, listed}})
	addr := serve(t, set)

	tests := []struct {
		name, sni, wantCN string
	}{
		{"exact name", "api.example.com", "api.example.com"},
		{"exact name in upper case", "API.Example.COM", "api.example.com"},
		{"wildcard", "www.example.com", "*.example.com"},
		{"bare domain of the wildcard certificate", "example.com", "*.example.com"},
		{"wildcard covers one label only", "a.b.example.com", "api.example.com"},
		{"unknown name gets the default (the first)", "nowhere.test", "api.example.com"},
		{"hosts replace the certificate's names", "other.test", "listed cert"},
		{"a name of the certificate not in hosts", "listed.test", "api.example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := p.client(tt.sni)
			cfg.InsecureSkipVerify = true // the default does not match every name asked for
			cert, err := handshake(t, addr, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if cert.Subject.CommonName != tt.wantCN {
				t.Errorf("SNI %q: served %q, want %q", tt.sni, cert.Subject.CommonName, tt.wantCN)
			}
		})
	}
	t.Run("no SNI gets the default", func(t *testing.T) {
		cert, err := handshake(t, addr, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		if cert.Subject.CommonName != "api.example.com" {
			t.Errorf("served %q", cert.Subject.CommonName)
		}
	})
	t.Run("a verifying client accepts the chosen certificates", func(t *testing.T) {
		for _, sni := range []string{"api.example.com", "www.example.com", "other.test"} {
			if _, err := handshake(t, addr, p.client(sni)); err != nil {
				t.Errorf("%s: %v", sni, err)
			}
		}
	})
}

func TestExplicitDefault(t *testing.T) {
	p := newPKI(t)
	a := p.file(t, "a", certstest.Options{DNSNames: []string{"a.test"}})
	b := p.file(t, "b", certstest.Options{CommonName: "fallback"})
	b.Default = true // b names no host: only a default may
	set := newSet(t, certs.Config{Certificates: []certs.Certificate{a, b}})
	for sni, want := range map[string]string{"": "fallback", "zzz.test": "fallback", "a.test": "a.test"} {
		if got := set.Certificate(sni).Leaf.Subject.CommonName; got != want {
			t.Errorf("Certificate(%q) = %q, want %q", sni, got, want)
		}
	}
}

func TestKeyTypeByClientSupport(t *testing.T) {
	p := newPKI(t)
	ec := p.file(t, "ec", certstest.Options{CommonName: "ecdsa", DNSNames: []string{"both.test"}})
	rsa := p.file(t, "rsa", certstest.Options{CommonName: "rsa", DNSNames: []string{"both.test"}, RSA: true})
	addr := serve(t, newSet(t, certs.Config{Certificates: []certs.Certificate{ec, rsa}}))

	cfg := p.client("both.test")
	cert, err := handshake(t, addr, cfg)
	if err != nil || cert.Subject.CommonName != "ecdsa" {
		t.Fatalf("a modern client: %v, %v; want the ECDSA certificate", cert, err)
	}
	cfg = p.client("both.test")
	cfg.MaxVersion = tls.VersionTLS12
	cfg.CipherSuites = []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}
	cert, err = handshake(t, addr, cfg)
	if err != nil || cert.Subject.CommonName != "rsa" {
		t.Fatalf("an RSA-only client: %v, %v; want the RSA certificate", cert, err)
	}
}

func TestProtocolVersionsAndCiphers(t *testing.T) {
	p := newPKI(t)
	cert := p.file(t, "srv", certstest.Options{DNSNames: []string{"srv.test"}})
	addr12 := serve(t, newSet(t, certs.Config{Certificates: []certs.Certificate{cert}}))
	addr13 := serve(t, newSet(t, certs.Config{Certificates: []certs.Certificate{cert}, MinVersion: tls.VersionTLS13}))

	tests := []struct {
		name    string
		addr    string
		min     uint16
		max     uint16
		ciphers []uint16
		want    uint16 // 0: refused
	}{
		{"TLS 1.3", addr12, 0, 0, nil, tls.VersionTLS13},
		{"TLS 1.2", addr12, 0, tls.VersionTLS12, nil, tls.VersionTLS12},
		{"TLS 1.1 refused", addr12, tls.VersionTLS10, tls.VersionTLS11, nil, 0},
		{"TLS 1.0 refused", addr12, tls.VersionTLS10, tls.VersionTLS10, nil, 0},
		{"TLS 1.2 with a CBC suite refused", addr12, 0, tls.VersionTLS12,
			[]uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA}, 0},
		{"TLS 1.2 with ChaCha20", addr12, 0, tls.VersionTLS12,
			[]uint16{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}, tls.VersionTLS12},
		{"min_version 1.3 refuses 1.2", addr13, 0, tls.VersionTLS12, nil, 0},
		{"min_version 1.3 serves 1.3", addr13, 0, 0, nil, tls.VersionTLS13},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := p.client("srv.test")
			cfg.MinVersion, cfg.MaxVersion, cfg.CipherSuites = tt.min, tt.max, tt.ciphers
			c, err := tls.Dial("tcp", tt.addr, cfg)
			if tt.want == 0 {
				if err == nil {
					v := c.ConnectionState().Version
					c.Close()
					t.Fatalf("handshake succeeded with %s; want it refused", tls.VersionName(v))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if v := c.ConnectionState().Version; v != tt.want {
				t.Errorf("negotiated %s, want %s", tls.VersionName(v), tls.VersionName(tt.want))
			}
		})
	}
}

func TestSessionResumption(t *testing.T) {
	p := newPKI(t)
	cert := p.file(t, "srv", certstest.Options{DNSNames: []string{"srv.test"}})
	addr := serve(t, newSet(t, certs.Config{Certificates: []certs.Certificate{cert}}))
	for _, max := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(max), func(t *testing.T) {
			cfg := p.client("srv.test")
			cfg.MaxVersion = max
			cfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
			for i, want := range []bool{false, true} {
				c, err := tls.Dial("tcp", addr, cfg)
				if err != nil {
					t.Fatal(err)
				}
				// A TLS 1.3 ticket arrives after the handshake: read an answer.
				_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
				_, _ = io.ReadAll(c)
				if got := c.ConnectionState().DidResume; got != want {
					t.Errorf("connection %d: resumed %v, want %v", i+1, got, want)
				}
				c.Close()
			}
		})
	}
}

func TestClientCertificates(t *testing.T) {
	p := newPKI(t)
	srv := p.file(t, "srv", certstest.Options{DNSNames: []string{"srv.test"}})
	clientCA := certstest.NewCA(t, "client CA")
	caPath := filepath.Join(p.dir, "clients.pem")
	certstest.WriteFile(t, caPath, clientCA.PEM)
	trusted := clientCA.Issue(t, certstest.Options{CommonName: "trusted client", Client: true}).TLS(t)
	untrusted := certstest.SelfSigned(t, certstest.Options{CommonName: "stranger", Client: true}).TLS(t)

	type result struct {
		ok   bool
		body string
	}
	tests := []struct {
		mode                        certs.ClientAuth
		none, withTrusted, stranger result
	}{
		{certs.ClientNone,
			result{true, "peer=- verified=0"}, result{true, "peer=- verified=0"}, result{true, "peer=- verified=0"}},
		{certs.ClientRequest,
			result{true, "peer=- verified=0"}, result{true, "peer=trusted client verified=0"}, result{true, "peer=stranger verified=0"}},
		{certs.ClientVerifyIfGiven,
			result{true, "peer=- verified=0"}, result{true, "peer=trusted client verified=1"}, result{false, ""}},
		{certs.ClientRequire,
			result{false, ""}, result{true, "peer=trusted client verified=1"}, result{false, ""}},
	}
	for _, tt := range tests {
		t.Run(tt.mode.String(), func(t *testing.T) {
			addr := serve(t, newSet(t, certs.Config{
				Certificates:       []certs.Certificate{srv},
				ClientCertificates: tt.mode,
				ClientCAPath:       caPath,
			}))
			for _, c := range []struct {
				name string
				cert *tls.Certificate
				want result
			}{{"no certificate", nil, tt.none}, {"trusted", &trusted, tt.withTrusted}, {"untrusted", &untrusted, tt.stranger}} {
				for _, max := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
					cfg := p.client("srv.test")
					cfg.MaxVersion = max
					if c.cert != nil {
						// Sent whatever the server says it accepts, as curl
						// does; Go's client would hold back a certificate
						// of an authority not in the server's list.
						cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
							return c.cert, nil
						}
					}
					body, err := get(t, addr, cfg)
					if ok := err == nil; ok != c.want.ok {
						t.Errorf("%s, %s: error %v, want success %v", c.name, tls.VersionName(max), err, c.want.ok)
						continue
					}
					if want := "sni=srv.test " + c.want.body; c.want.ok && body != want {
						t.Errorf("%s, %s: handler saw %q, want %q", c.name, tls.VersionName(max), body, want)
					}
				}
			}
		})
	}
}

func TestChooser(t *testing.T) {
	p := newPKI(t)
	def := p.file(t, "def", certstest.Options{DNSNames: []string{"def.test"}})
	set := newSet(t, certs.Config{Certificates: []certs.Certificate{def}})
	addr := serve(t, set)
	svc := p.ca.Issue(t, certstest.Options{DNSNames: []string{"svc.test"}}).TLS(t)
	set.SetChooser(func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		switch hello.ServerName {
		case "svc.test":
			return &svc, nil
		case "refused.test":
			return nil, errors.New("no certificate for this service")
		}
		return nil, nil
	})
	for sni, want := range map[string]string{"svc.test": "svc.test", "other.test": "def.test"} {
		cfg := p.client(sni)
		cfg.InsecureSkipVerify = true
		cert, err := handshake(t, addr, cfg)
		if err != nil || cert.Subject.CommonName != want {
			t.Errorf("SNI %s: %v %v, want %s", sni, cert, err, want)
		}
	}
	cfg := p.client("refused.test")
	cfg.InsecureSkipVerify = true
	if _, err := handshake(t, addr, cfg); err == nil {
		t.Error("a chooser's error did not fail the handshake")
	}
	set.SetChooser(nil)
	cfg = p.client("svc.test")
	cfg.InsecureSkipVerify = true
	if cert, err := handshake(t, addr, cfg); err != nil || cert.Subject.CommonName != "def.test" {
		t.Errorf("chooser removed: %v %v, want def.test", cert, err)
	}
}

// logs is a logger that keeps what it writes.
type logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logs) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

// servedCN returns the common name addr serves for sni.
func servedCN(t *testing.T, addr, sni string) string {
	t.Helper()
	cert, err := handshake(t, addr, &tls.Config{ServerName: sni, InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	return cert.Subject.CommonName
}

// waitServed waits, for several seconds at most, until addr serves the
// common name want for sni.
func waitServed(t *testing.T, addr, sni, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := servedCN(t, addr, sni)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still served %q, want %q", got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestReloadOnChange(t *testing.T) {
	p := newPKI(t)
	first := p.ca.Issue(t, certstest.Options{CommonName: "first", DNSNames: []string{"srv.test"}})
	certPath, keyPath := first.Write(t, p.dir, "srv")
	var log logs
	set, err := certs.New(certs.Config{
		Certificates:   []certs.Certificate{{CertificatePath: certPath, CertificateKeyPath: keyPath}},
		ReloadInterval: 20 * time.Millisecond,
	}, log.logger())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go set.Watch(ctx)
	addr := serve(t, set)
	if got := servedCN(t, addr, "srv.test"); got != "first" {
		t.Fatalf("served %q", got)
	}

	second := p.ca.Issue(t, certstest.Options{CommonName: "second", DNSNames: []string{"srv.test", "new.test"}})
	second.Write(t, p.dir, "srv")
	waitServed(t, addr, "srv.test", "second")
	if got := servedCN(t, addr, "new.test"); got != "second" {
		t.Errorf("a name the new certificate added: served %q", got)
	}
	if !strings.Contains(log.String(), "certificate reloaded") {
		t.Errorf("no reload logged:\n%s", log.String())
	}
}

func TestBadChangeKeepsTheOldCertificate(t *testing.T) {
	p := newPKI(t)
	first := p.ca.Issue(t, certstest.Options{CommonName: "first", DNSNames: []string{"srv.test"}})
	certPath, keyPath := first.Write(t, p.dir, "srv")
	def := p.file(t, "default", certstest.Options{CommonName: "default"})
	def.Default = true
	var log logs
	set, err := certs.New(certs.Config{
		Certificates: []certs.Certificate{def, {CertificatePath: certPath, CertificateKeyPath: keyPath}},
	}, log.logger())
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, set)
	other := p.ca.Issue(t, certstest.Options{CommonName: "other", DNSNames: []string{"srv.test"}})

	steps := []struct {
		name     string
		change   func()
		reloaded bool
		want     string // served afterwards
		logged   string // in the log, once
	}{
		{"a certificate cut short", func() { certstest.WriteFile(t, certPath, other.CertPEM[:len(other.CertPEM)/2]) },
			false, "first", "a changed certificate did not load"},
		{"nothing changed since: not tried again", func() {}, false, "first", ""},
		{"the new certificate without its key", func() { certstest.WriteFile(t, certPath, other.CertPEM) },
			false, "first", "private key does not match public key"},
		{"the key follows", func() { certstest.WriteFile(t, keyPath, other.KeyPEM) },
			true, "other", "certificate reloaded"},
		{"the key removed", func() { _ = os.Remove(keyPath) },
			false, "other", "a certificate file cannot be read"},
		{"still gone: logged once", func() {}, false, "other", ""},
		{"a certificate with no name, not the default", func() {
			nameless := p.ca.Issue(t, certstest.Options{CommonName: "nameless"})
			certstest.WriteFile(t, keyPath, nameless.KeyPEM)
			certstest.WriteFile(t, certPath, nameless.CertPEM)
		}, false, "other", "names no DNS host"},
	}
	for _, st := range steps {
		before := log.String()
		st.change()
		if got := set.Check(); got != st.reloaded {
			t.Errorf("%s: Check() = %v, want %v", st.name, got, st.reloaded)
		}
		if got := servedCN(t, addr, "srv.test"); got != st.want {
			t.Errorf("%s: served %q, want %q", st.name, got, st.want)
		}
		added := strings.TrimPrefix(log.String(), before)
		if st.logged == "" && added != "" {
			t.Errorf("%s: logged again:\n%s", st.name, added)
		}
		if st.logged != "" && strings.Count(added, st.logged) != 1 {
			t.Errorf("%s: log does not hold %q once:\n%s", st.name, st.logged, added)
		}
	}
}

func TestClientCAReload(t *testing.T) {
	p := newPKI(t)
	srv := p.file(t, "srv", certstest.Options{DNSNames: []string{"srv.test"}})
	oldCA, newCA := certstest.NewCA(t, "old clients"), certstest.NewCA(t, "new clients")
	caPath := filepath.Join(p.dir, "clients.pem")
	certstest.WriteFile(t, caPath, oldCA.PEM)
	set := newSet(t, certs.Config{
		Certificates:       []certs.Certificate{srv},
		ClientCertificates: certs.ClientVerifyIfGiven,
		ClientCAPath:       caPath,
	})
	addr := serve(t, set)
	client := newCA.Issue(t, certstest.Options{CommonName: "new client", Client: true}).TLS(t)
	cfg := p.client("srv.test")
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &client, nil }
	if _, err := get(t, addr, cfg); err == nil {
		t.Fatal("a client of an authority not yet trusted was accepted")
	}
	certstest.WriteFile(t, caPath, []byte("not PEM at all, and longer than the old file was, to change its size"+strings.Repeat(".", 1000)))
	if set.Check() {
		t.Fatal("a CA bundle without a certificate was loaded")
	}
	certstest.WriteFile(t, caPath, append(append([]byte{}, oldCA.PEM...), newCA.PEM...))
	if !set.Check() {
		t.Fatal("the new CA bundle was not loaded")
	}
	body, err := get(t, addr, cfg)
	if err != nil || !strings.Contains(body, "peer=new client verified=1") {
		t.Fatalf("after the reload: %q, %v", body, err)
	}
}

func TestLoadErrorsNameTheField(t *testing.T) {
	p := newPKI(t)
	good := p.file(t, "good", certstest.Options{DNSNames: []string{"good.test"}})
	other := p.file(t, "other", certstest.Options{DNSNames: []string{"other.test"}})
	garbage := filepath.Join(p.dir, "garbage.pem")
	certstest.WriteFile(t, garbage, []byte("hello"))
	nameless := p.file(t, "nameless", certstest.Options{CommonName: "nameless"})

	tests := []struct {
		name string
		cfg  certs.Config
		want []string
	}{
		{"no certificate", certs.Config{}, []string{"certificates: at least one certificate is needed"}},
		{"missing file", certs.Config{Certificates: []certs.Certificate{good,
			{CertificatePath: filepath.Join(p.dir, "absent.crt"), CertificateKeyPath: good.CertificateKeyPath}}},
			[]string{"certificates[1].certificate_path: open ", "absent.crt: no such file"}},
		{"key of another certificate", certs.Config{Certificates: []certs.Certificate{
			{CertificatePath: good.CertificatePath, CertificateKeyPath: other.CertificateKeyPath}}},
			[]string{"certificates[0]: certificate and key: tls: private key does not match public key"}},
		{"not PEM", certs.Config{Certificates: []certs.Certificate{{CertificatePath: garbage, CertificateKeyPath: garbage}}},
			[]string{"certificates[0]: certificate and key: tls: failed to find any PEM data in certificate input"}},
		{"inline and path", certs.Config{Certificates: []certs.Certificate{{CertificatePath: "a", Certificate: "b", CertificateKey: "c"}}},
			[]string{"certificates[0].certificate_path: give certificate_path or certificate, not both"}},
		{"no key", certs.Config{Certificates: []certs.Certificate{{CertificatePath: "a"}}},
			[]string{"certificates[0]: certificate_key_path or certificate_key is required"}},
		{"two defaults", certs.Config{Certificates: []certs.Certificate{withDefault(good), withDefault(other)}},
			[]string{"certificates[1].default: only one certificate can be the default"}},
		{"bad wildcard", certs.Config{Certificates: []certs.Certificate{withHosts(good, "a.*.test", "*.com", "ok.test", "bad host")}},
			[]string{`certificates[0].hosts[0]: host "a.*.test": a wildcard is allowed only as the whole first label`,
				`certificates[0].hosts[1]: host "*.com": a wildcard needs at least two labels after it`,
				`certificates[0].hosts[3]: host "bad host": ' ' is not allowed in a host name`}},
		{"a nameless certificate that is not the default", certs.Config{Certificates: []certs.Certificate{good, nameless}},
			[]string{"certificates[1].hosts: the certificate (CN=nameless) names no DNS host: list the hosts it is for"}},
		{"verification without authorities", certs.Config{Certificates: []certs.Certificate{good}, ClientCertificates: certs.ClientRequire},
			[]string{"client_certificates: require needs the authorities to verify against: set client_ca_path or client_ca"}},
		{"a CA bundle that is not PEM", certs.Config{Certificates: []certs.Certificate{good}, ClientCertificates: certs.ClientVerifyIfGiven, ClientCAPath: garbage},
			[]string{"client_ca_path: no PEM certificate found"}},
		{"inline CA that is not PEM", certs.Config{Certificates: []certs.Certificate{good}, ClientCA: "nope"},
			[]string{"client_ca: no PEM certificate found"}},
		{"TLS 1.1", certs.Config{Certificates: []certs.Certificate{good}, MinVersion: tls.VersionTLS11},
			[]string{"min_version: only TLS 1.2 and 1.3 are served"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := certs.New(tt.cfg, nil)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not hold %q", err, w)
				}
			}
			var fe *certs.FieldError
			if !errors.As(err, &fe) {
				t.Errorf("error %T is not a FieldError", err)
			}
		})
	}
}

func withDefault(c certs.Certificate) certs.Certificate { c.Default = true; return c }

func withHosts(c certs.Certificate, hosts ...string) certs.Certificate { c.Hosts = hosts; return c }

func TestInlinePEM(t *testing.T) {
	ca := certstest.NewCA(t, "inline CA")
	leaf := ca.Issue(t, certstest.Options{DNSNames: []string{"inline.test"}})
	set := newSet(t, certs.Config{
		Certificates: []certs.Certificate{{Certificate: string(leaf.CertPEM), CertificateKey: string(leaf.KeyPEM)}},
	})
	addr := serve(t, set)
	if _, err := handshake(t, addr, &tls.Config{RootCAs: ca.Pool(), ServerName: "inline.test"}); err != nil {
		t.Fatal(err)
	}
	if set.Check() {
		t.Error("inline certificates reloaded")
	}
}

func TestParsers(t *testing.T) {
	for _, s := range []string{"", "none", "request", "verify_if_given", "require"} {
		a, err := certs.ParseClientAuth(s)
		if err != nil || (s != "" && a.String() != s) {
			t.Errorf("ParseClientAuth(%q) = %v, %v", s, a, err)
		}
	}
	if _, err := certs.ParseClientAuth("optional"); err == nil ||
		err.Error() != `"optional" is not one of none, request, verify_if_given, require` {
		t.Errorf("ParseClientAuth(optional): %v", err)
	}
	for s, want := range map[string]uint16{"": tls.VersionTLS12, "1.2": tls.VersionTLS12, "1.3": tls.VersionTLS13, "TLSv1.3": tls.VersionTLS13} {
		if v, err := certs.ParseVersion(s); err != nil || v != want {
			t.Errorf("ParseVersion(%q) = %v, %v", s, v, err)
		}
	}
	for _, s := range []string{"1.1", "1.0", "TLSv1", "3"} {
		if _, err := certs.ParseVersion(s); err == nil {
			t.Errorf("ParseVersion(%q) succeeded", s)
		}
	}
}
