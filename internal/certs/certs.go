// Package certs holds the certificates a TLS listener serves and the TLS
// settings it serves them with. Certificates come from PEM files or
// inline PEM, are chosen by the name the client asks for by SNI (exact
// names, then one-label wildcards, then a default), and are read again
// when their files change, a bad new file leaving the old certificate in
// place. Client certificates can be requested without being required, so
// that policies decide what a request without one gets.
//
// What a listener does with the TLS connections is left to its server
// (internal/h1, internal/h2); this package only builds the tls.Config.
package certs

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// CipherSuites are the TLS 1.2 cipher suites served: ECDHE key exchange
// with AEAD ciphers only, ECDSA first, AES-GCM before ChaCha20. TLS 1.3
// has its own, fixed list (Go's).
var CipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// Chooser picks the certificate of a handshake before the listener's own
// certificates are looked at; the gateway's ssl_certificate phase is one.
// It returns nil and no error to leave the choice to the listener's
// certificates, and an error to fail the handshake.
type Chooser func(hello *tls.ClientHelloInfo) (*tls.Certificate, error)

// Set is the certificates of one listener and the TLS configuration that
// serves them. It is safe for concurrent use; the tls.Config of
// TLSConfig follows every reload.
type Set struct {
	logger  *slog.Logger
	cfg     Config
	base    *tls.Config
	chooser atomic.Pointer[Chooser]
	cur     atomic.Pointer[snapshot]

	mu      sync.Mutex // serialises Check
	entries []*entry
	ca      *source // nil without a client CA
	caPool  *x509.CertPool
}

// entry is one configured certificate and the state of its files.
type entry struct {
	field string // certificates[i], for messages
	conf  Certificate
	def   bool // the default certificate
	cert  *tls.Certificate
	names []string // the names it is served for, lower-cased
	files [2]*source
}

// source is a file, or inline text, and what was last read of it. A
// file's content, not its modification time, tells its versions apart:
// certificate files are small, and a time can stay the same across two
// writes within the clock's resolution.
type source struct {
	field   string // the configuration field naming it
	path    string // "" for inline text
	inline  string
	loaded  []byte // the content in service
	failed  []byte // the last content that did not load, to log it once
	missing bool   // the file could not be read last time
}

func (s *source) read() ([]byte, error) {
	if s.path == "" {
		return []byte(s.inline), nil
	}
	return os.ReadFile(s.path)
}

// snapshot is everything a handshake reads, replaced whole on reload.
type snapshot struct {
	config *tls.Config
	exact  map[string][]*tls.Certificate
	wild   map[string][]*tls.Certificate // by the suffix after "*", ".example.com"
	def    *tls.Certificate
}

// New checks cfg, reads every certificate, key and CA bundle it names,
// and returns the listener's Set. Errors are FieldErrors naming the
// field, joined. logger receives reloads; nil discards them.
func New(cfg Config, logger *slog.Logger) (*Set, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MinVersion == 0 {
		cfg.MinVersion = tls.VersionTLS12
	}
	if cfg.ReloadInterval == 0 {
		cfg.ReloadInterval = DefaultReloadInterval
	}
	s := &Set{logger: logger, cfg: cfg}
	explicit := slices.ContainsFunc(cfg.Certificates, func(c Certificate) bool { return c.Default })
	var errs []error
	for i, c := range cfg.Certificates {
		f := "certificates[" + strconv.Itoa(i) + "]"
		e := &entry{field: f, conf: c, def: c.Default || (!explicit && i == 0), files: [2]*source{
			{field: f + ".certificate_path", path: c.CertificatePath, inline: c.Certificate},
			{field: f + ".certificate_key_path", path: c.CertificateKeyPath, inline: c.CertificateKey},
		}}
		if c.CertificatePath == "" {
			e.files[0].field = f + ".certificate"
		}
		if c.CertificateKeyPath == "" {
			e.files[1].field = f + ".certificate_key"
		}
		if err := s.loadEntry(e); err != nil {
			errs = append(errs, err)
		}
		s.entries = append(s.entries, e)
	}
	if cfg.ClientCAPath != "" || cfg.ClientCA != "" {
		s.ca = &source{field: "client_ca_path", path: cfg.ClientCAPath, inline: cfg.ClientCA}
		if cfg.ClientCAPath == "" {
			s.ca.field = "client_ca"
		}
		if err := s.loadCA(); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	s.base = &tls.Config{
		MinVersion:         cfg.MinVersion,
		CipherSuites:       CipherSuites,
		NextProtos:         cfg.NextProtos,
		GetConfigForClient: s.configForClient,
	}
	s.publish()
	return s, nil
}

// loadEntry reads e's certificate and key and finds the names it serves.
func (s *Set) loadEntry(e *entry) error {
	var pems [2][]byte
	for i, src := range e.files {
		b, err := src.read()
		if err != nil {
			return &FieldError{Field: src.field, Err: err}
		}
		pems[i] = b
	}
	return s.useEntry(e, pems)
}

// useEntry makes the certificate and key in pems e's, once they load.
func (s *Set) useEntry(e *entry, pems [2][]byte) error {
	cert, err := tls.X509KeyPair(pems[0], pems[1])
	if err != nil {
		return &FieldError{Field: e.field, Err: fmt.Errorf("certificate and key: %w", err)}
	}
	names := e.conf.Hosts
	if len(names) == 0 {
		names = cert.Leaf.DNSNames
	}
	if len(names) == 0 && !e.def {
		return &FieldError{Field: e.field + ".hosts", Err: fmt.Errorf(
			"the certificate (%s) names no DNS host: list the hosts it is for", cert.Leaf.Subject)}
	}
	e.cert, e.names = &cert, lowerAll(names)
	e.files[0].loaded, e.files[1].loaded = pems[0], pems[1]
	return nil
}

// loadCA reads the client CA bundle.
func (s *Set) loadCA() error {
	b, err := s.ca.read()
	if err != nil {
		return &FieldError{Field: s.ca.field, Err: err}
	}
	return s.useCA(b)
}

// useCA makes the bundle b the client CAs, once it loads.
func (s *Set) useCA(b []byte) error {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return fieldErr(s.ca.field, "no PEM certificate found")
	}
	s.caPool, s.ca.loaded = pool, b
	return nil
}

func lowerAll(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = strings.ToLower(n)
	}
	return out
}

// publish builds the snapshot of the current entries and makes it the
// one handshakes read. The caller holds s.mu or owns s alone.
func (s *Set) publish() {
	snap := &snapshot{
		exact: make(map[string][]*tls.Certificate),
		wild:  make(map[string][]*tls.Certificate),
	}
	for _, e := range s.entries {
		if e.def {
			snap.def = e.cert
		}
		for _, n := range e.names {
			if suffix, ok := strings.CutPrefix(n, "*"); ok {
				snap.wild[suffix] = append(snap.wild[suffix], e.cert)
			} else {
				snap.exact[n] = append(snap.exact[n], e.cert)
			}
		}
	}
	snap.config = &tls.Config{
		MinVersion:     s.cfg.MinVersion,
		CipherSuites:   CipherSuites,
		NextProtos:     s.cfg.NextProtos,
		ClientAuth:     s.cfg.ClientCertificates.tls(),
		ClientCAs:      s.caPool,
		GetCertificate: snap.certificate(s),
	}
	s.cur.Store(snap)
}

// TLSConfig returns the configuration to serve with, for tls.NewListener
// or an http.Server. Do not change it: every handshake reads the Set's
// current certificates through it.
func (s *Set) TLSConfig() *tls.Config { return s.base }

// SetChooser makes c the first say in every handshake's certificate; nil
// leaves the choice to the Set's certificates alone.
func (s *Set) SetChooser(c Chooser) {
	if c == nil {
		s.chooser.Store(nil)
		return
	}
	s.chooser.Store(&c)
}

// configForClient returns the configuration of the current snapshot.
func (s *Set) configForClient(*tls.ClientHelloInfo) (*tls.Config, error) {
	return s.cur.Load().config, nil
}

// certificate returns the snapshot's GetCertificate.
func (snap *snapshot) certificate(s *Set) func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		if c := s.chooser.Load(); c != nil {
			cert, err := (*c)(hello)
			if err != nil || cert != nil {
				return cert, err
			}
		}
		return snap.choose(hello), nil
	}
}

// Certificate returns the certificate the Set serves for a client asking
// for the SNI name host ("" for none), without the Chooser.
func (s *Set) Certificate(host string) *tls.Certificate {
	return s.cur.Load().choose(&tls.ClientHelloInfo{ServerName: host})
}

// choose returns the certificate for the hello's SNI name: an exact name,
// else a wildcard for its first label, else the default. Among several
// for one name, the first the client supports wins.
func (snap *snapshot) choose(hello *tls.ClientHelloInfo) *tls.Certificate {
	name := hello.ServerName
	if name == "" {
		return snap.def
	}
	if hasUpper(name) {
		name = strings.ToLower(name)
	}
	name = strings.TrimSuffix(name, ".")
	if list, ok := snap.exact[name]; ok {
		return pick(hello, list)
	}
	if i := strings.IndexByte(name, '.'); i > 0 {
		if list, ok := snap.wild[name[i:]]; ok {
			return pick(hello, list)
		}
	}
	return snap.def
}

func pick(hello *tls.ClientHelloInfo, list []*tls.Certificate) *tls.Certificate {
	if len(list) > 1 && hello.CipherSuites != nil {
		for _, c := range list {
			if hello.SupportsCertificate(c) == nil {
				return c
			}
		}
	}
	return list[0]
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return true
		}
	}
	return false
}

// Watch looks at the Set's files every ReloadInterval until ctx is done,
// reloading those that changed (see Check). It returns at once when
// reloading is off or the Set has no files.
func (s *Set) Watch(ctx context.Context) {
	if s.cfg.ReloadInterval < 0 || !s.hasFiles() {
		return
	}
	t := time.NewTicker(s.cfg.ReloadInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.Check()
		}
	}
}

func (s *Set) hasFiles() bool {
	if s.ca != nil && s.ca.path != "" {
		return true
	}
	for _, e := range s.entries {
		if e.files[0].path != "" || e.files[1].path != "" {
			return true
		}
	}
	return false
}

// Check reads again the Set's files and serves from the next handshake on
// those that changed since they were loaded. A file that does not load
// (half written, a key that does not match its certificate, gone) is
// logged once and the old version stays in service; it is tried again
// when its content changes. Check reports whether anything was reloaded.
func (s *Set) Check() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := false
	for _, e := range s.entries {
		if s.checkEntry(e) {
			changed = true
		}
	}
	if s.ca != nil && s.checkCA() {
		changed = true
	}
	if changed {
		s.publish()
	}
	return changed
}

// checkEntry reloads e when one of its files changed.
func (s *Set) checkEntry(e *entry) bool {
	if e.files[0].path == "" && e.files[1].path == "" {
		return false
	}
	var pems [2][]byte
	for i, src := range e.files {
		b, ok := s.read(e.field, src)
		if !ok {
			return false
		}
		pems[i] = b
	}
	same := bytes.Equal(pems[0], e.files[0].loaded) && bytes.Equal(pems[1], e.files[1].loaded)
	tried := bytes.Equal(pems[0], e.files[0].failed) && bytes.Equal(pems[1], e.files[1].failed)
	if same || tried {
		return false
	}
	if err := s.useEntry(e, pems); err != nil {
		e.files[0].failed, e.files[1].failed = pems[0], pems[1]
		s.logger.Warn("a changed certificate did not load; the previous one is still served",
			"certificate", e.field, "certificate_path", e.files[0].path,
			"certificate_key_path", e.files[1].path, "error", err.Error())
		return false
	}
	e.files[0].failed, e.files[1].failed = nil, nil
	s.logger.Info("certificate reloaded", "certificate", e.field, "certificate_path", e.files[0].path,
		"subject", e.cert.Leaf.Subject.String(), "names", strings.Join(e.names, ","),
		"not_after", e.cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
	return true
}

// checkCA reloads the client CA bundle when its file changed.
func (s *Set) checkCA() bool {
	if s.ca.path == "" {
		return false
	}
	b, ok := s.read("client CA", s.ca)
	if !ok || bytes.Equal(b, s.ca.loaded) || bytes.Equal(b, s.ca.failed) {
		return false
	}
	if err := s.useCA(b); err != nil {
		s.ca.failed = b
		s.logger.Warn("a changed client CA bundle did not load; the previous one is still used",
			"client_ca_path", s.ca.path, "error", err.Error())
		return false
	}
	s.ca.failed = nil
	s.logger.Info("client CA bundle reloaded", "client_ca_path", s.ca.path)
	return true
}

// read returns the content of src. A file that cannot be read is
// logged, once until it can be again, and reported not ok.
func (s *Set) read(what string, src *source) ([]byte, bool) {
	b, err := src.read()
	if err != nil {
		if !src.missing {
			src.missing = true
			s.logger.Warn("a certificate file cannot be read; the loaded version is still served",
				"certificate", what, "path", src.path, "error", err.Error())
		}
		return nil, false
	}
	src.missing = false
	return b, true
}

// ChainKey is the key of the chain context value by which a policy of
// the gateway's ssl_certificate phase (such as tls) says which
// certificate to serve: a *tls.Certificate. The gateway's Chooser runs
// the phase for the service of the SNI name and serves that certificate,
// or the listener's own when the phase leaves none.
const ChainKey = "ssl_certificate"
