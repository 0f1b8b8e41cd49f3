package pexip

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/verdict-policy/verdict/config"
)

const vmrPolicy = `
- id: vmr
  target: {request_type: {equals: service_configuration}}
  condition: {vmr: {exists: true}}
  effect: permit
  obligations:
    result: {service_type: conference, service_tag: t, name: "{{ vmr.name }}", pin: "{{ vmr.pin }}"}
`

func prepare(t *testing.T, d *Door, file string) error {
	t.Helper()
	cfg, err := config.Load(file)
	if err != nil {
		return err
	}
	docs, err := cfg.Compile()
	if err != nil {
		return err
	}
	install, err := d.Prepare(cfg, docs)
	if err != nil {
		return err
	}
	install()
	return nil
}

func TestBasicAuth(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "p.yaml", vmrPolicy)
	writeFile(t, dir, "vmrs.csv", "alias,name,pin\nroom,room,1234\n")
	writeFile(t, dir, "secret", "from-a-file\n")
	t.Setenv("VERDICT_TEST_PEXIP_PASSWORD", "from-the-env")
	for _, source := range []string{"password_env: VERDICT_TEST_PEXIP_PASSWORD", "password_file: secret"} {
		writeFile(t, dir, "verdict.yaml", `
policies: {p: p.yaml}
pexip:
  policy: p
  tables: {vmr: {path: vmrs.csv}}
  basic_auth: {username: infinity, `+source+`}
`)
		d := loadDoor(t, filepath.Join(dir, "verdict.yaml"))
		good := "from-the-env"
		if strings.HasPrefix(source, "password_file") {
			good = "from-a-file"
		}
		tests := []struct {
			name, user, pass string
			set              bool
			status           int
		}{
			{"right", "infinity", good, true, 200},
			{"wrong password", "infinity", good + "x", true, 401},
			{"wrong user", "Infinity", good, true, 401},
			{"empty password", "infinity", "", true, 401},
			{"none", "", "", false, 401},
		}
		for _, tt := range tests {
			r, _ := http.NewRequest(http.MethodGet, "/policy/v1/service/configuration?local_alias=room", nil)
			if tt.set {
				r.SetBasicAuth(tt.user, tt.pass)
			}
			w := &responseRecorder{header: http.Header{}}
			d.ServeHTTP(w, r)
			if w.status != tt.status {
				t.Errorf("%s, %s: status %d, want %d: %s", source, tt.name, w.status, tt.status, w.body.String())
			}
			if tt.status == 401 && !strings.Contains(w.header.Get("WWW-Authenticate"), "Basic") {
				t.Errorf("%s, %s: no WWW-Authenticate", source, tt.name)
			}
		}
	}
}

// responseRecorder is a minimal http.ResponseWriter for table tests.
type responseRecorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *responseRecorder) Header() http.Header { return w.header }
func (w *responseRecorder) WriteHeader(s int)   { w.status = s }
func (w *responseRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = 200
	}
	return w.body.Write(b)
}

func TestReloadWithBrokenTableKeepsTheOldOne(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "p.yaml", vmrPolicy)
	tbl := writeFile(t, dir, "vmrs.csv", "alias,name,pin\nroom,room,1234\n")
	cfgFile := writeFile(t, dir, "verdict.yaml", `
policies: {p: p.yaml}
pexip:
  policy: p
  tables: {vmr: {path: vmrs.csv}}
`)
	d := New(nil, prometheus.NewRegistry())
	if err := prepare(t, d, cfgFile); err != nil {
		t.Fatal(err)
	}
	const target = "/policy/v1/service/configuration?local_alias=sip%3Aroom%40example.com"
	const want = `{"status":"success","action":"continue","result":{"service_type":"conference","name":"room","service_tag":"t","pin":"1234"}}`
	if w := serve(d, "GET", target); w.Body.String() != want {
		t.Fatalf("before: %s", w.Body)
	}
	writeFile(t, dir, "vmrs.csv", "alias,name,pin\nroom,room,1234\nroom,again,1\n")
	err := prepare(t, d, cfgFile)
	if err == nil || !strings.Contains(err.Error(), `vmrs.csv: row 2: key "room" is given twice`) || !strings.Contains(err.Error(), "pexip.tables.vmr") {
		t.Fatalf("reload error = %v", err)
	}
	if w := serve(d, "GET", target); w.Body.String() != want {
		t.Fatalf("after a failed reload: %s", w.Body)
	}
	writeFile(t, dir, "vmrs.csv", "alias,name,pin\nroom,room,9999\n")
	if err := prepare(t, d, cfgFile); err != nil {
		t.Fatal(err)
	}
	if w := serve(d, "GET", target); !strings.Contains(w.Body.String(), `"pin":"9999"`) {
		t.Fatalf("after a good reload: %s", w.Body)
	}
	_ = tbl
}

func TestPrepareErrors(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "p.yaml", vmrPolicy)
	writeFile(t, dir, "vmrs.csv", "alias,name\nroom,room\n")
	tests := []struct{ name, section, want string }{
		{"unknown document", "policy: nope", `pexip.policy: no policy document is named "nope"`},
		{"unknown document per type", "policy: p\n  policies: {registration: other}", `pexip.policies.registration: no policy document is named "other"`},
		{"missing table file", "policy: p\n  tables: {vmr: {path: missing.csv}}", "pexip.tables.vmr: open"},
		{"table keyed by itself", "policy: p\n  tables: {vmr: {path: vmrs.csv, lookup: vmr.name}}", "cannot be keyed by its own row"},
		{"missing avatar dir", "policy: p\n  avatars: {dir: nowhere}", "pexip.avatars: dir:"},
		{"missing certificate", "policy: p\n  tls: {listen: '127.0.0.1:0', cert_file: a.pem, key_file: b.pem}", "pexip.tls: cert_file:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := writeFile(t, dir, "verdict.yaml", "policies: {p: p.yaml}\npexip:\n  "+tt.section+"\n")
			err := prepare(t, New(nil, nil), f)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestFallbacksAndFailures(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "p.yaml", `
- id: broken-template
  target: {request_type: {equals: participant_properties}}
  effect: permit
  obligations: {result: {call_tag: "{{ remote_alias | divided_by: 0 }}"}}
- id: no-fields
  target: {request_type: {equals: service_configuration}, local_alias: {equals: empty}}
  effect: permit
- id: refuse-location
  target: {request_type: {equals: media_location}}
  effect: deny
`)
	f := writeFile(t, dir, "verdict.yaml", `
policies: {p: p.yaml}
pexip:
  base_path: /example.com/
  policy: p
  fallback: {service_configuration: continue, directory: continue}
  overflow: list
`)
	var logs bytes.Buffer
	reg := prometheus.NewRegistry()
	d := New(slog.New(slog.NewJSONHandler(&logs, nil)), reg)
	if err := prepare(t, d, f); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, target string
		status       int
		body         string
	}{
		{"not applicable, continue configured", "/example.com/policy/v1/service/configuration?local_alias=x", 200, `{"status":"success","action":"continue"}`},
		{"permit with nothing to say", "/example.com/policy/v1/service/configuration?local_alias=empty", 200, `{"status":"success","action":"continue"}`},
		{"indeterminate falls back", "/example.com/policy/v1/participant/properties?remote_alias=a", 404, `{"status":"fail","action":"continue","result":{}}`},
		{"deny has no meaning for a location", "/example.com/policy/v1/participant/location?remote_address=10.0.0.1", 404, `{"status":"fail","action":"continue","result":{}}`},
		{"no phonebook, continue configured", "/example.com/policy/v1/registrations?q=a", 200, `{"status":"success","result":[]}`},
		{"no avatars", "/example.com/policy/v1/participant/avatar/a?width=1&height=1", 404, `{"status":"fail","action":"continue","result":{}}`},
		{"without the base path", "/policy/v1/service/configuration?local_alias=x", 404, `"not_found"`},
	}
	for _, tt := range tests {
		w := serve(d, "GET", tt.target)
		if w.Code != tt.status || !strings.Contains(w.Body.String(), tt.body) {
			t.Errorf("%s: got %d %s, want %d %s", tt.name, w.Code, w.Body, tt.status, tt.body)
		}
	}
	if got := d.Patterns(); len(got) != 1 || got[0] != "/example.com/policy/v1/" {
		t.Errorf("Patterns() = %q", got)
	}
	if n := testutil.ToFloat64(d.metrics.requests[outError][participantProperties]); n != 1 {
		t.Errorf("error count %v, want 1", n)
	}
	if n := testutil.ToFloat64(d.metrics.requests[outFallback][serviceConfiguration]); n != 2 {
		t.Errorf("service fallback count %v, want 2", n)
	}
	if !strings.Contains(logs.String(), `"level":"ERROR","msg":"pexip request","request_type":"participant_properties","outcome":"error","status":404`) {
		t.Errorf("no error log line:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), `"local_alias":"x","document":"p","decision":"not_applicable"`) {
		t.Errorf("no decision log line:\n%s", logs.String())
	}
	if _, err := reg.Gather(); err != nil {
		t.Fatal(err)
	}
}

func TestOverflowForms(t *testing.T) {
	for _, tt := range []struct{ form, want string }{
		{"list", `{"location":"A","overflow_locations":["B","C"]}`},
		{"fields", `{"location":"A","primary_overflow_location":"B","secondary_overflow_location":"C"}`},
	} {
		for _, in := range []result{
			{"location": "A", "overflow_locations": []any{"B", "C"}},
			{"location": "A", "primary_overflow_location": "B", "secondary_overflow_location": "C"},
		} {
			shapeOverflow(in, tt.form)
			if got := string(in.appendJSON(nil)); got != tt.want {
				t.Errorf("%s: %s, want %s", tt.form, got, tt.want)
			}
		}
	}
}

// selfSigned writes a certificate and key for 127.0.0.1 and returns the
// certificate's pool.
func selfSigned(t *testing.T, dir, name string) *x509.CertPool {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	writeFile(t, dir, "cert.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	writeFile(t, dir, "key.pem", string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})))
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}

func TestTLSListenerAndCertificateReload(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "p.yaml", vmrPolicy)
	writeFile(t, dir, "vmrs.csv", "alias,name,pin\nroom,room,1234\n")
	f := writeFile(t, dir, "verdict.yaml", `
policies: {p: p.yaml}
pexip:
  policy: p
  tables: {vmr: {path: vmrs.csv}}
  tls: {listen: "127.0.0.1:0", cert_file: cert.pem, key_file: key.pem}
`)
	d := New(nil, nil)
	defer d.Close()
	get := func(pool *x509.CertPool) (string, error) {
		c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		resp, err := c.Get("https://" + d.TLSAddr() + "/policy/v1/service/configuration?local_alias=room")
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b), nil
	}
	first := selfSigned(t, dir, "first")
	if err := prepare(t, d, f); err != nil {
		t.Fatal(err)
	}
	addr := d.TLSAddr()
	body, err := get(first)
	if err != nil || !strings.Contains(body, `"pin":"1234"`) {
		t.Fatalf("over TLS: %v %s", err, body)
	}
	second := selfSigned(t, dir, "second")
	if err := prepare(t, d, f); err != nil {
		t.Fatal(err)
	}
	if d.TLSAddr() != addr {
		t.Errorf("the listener moved from %s to %s", addr, d.TLSAddr())
	}
	if _, err := get(second); err != nil {
		t.Fatalf("with the new certificate: %v", err)
	}
	if _, err := get(first); err == nil {
		t.Fatal("the old certificate is still served")
	}
}

// An HTTPS address that cannot be bound fails the start or the reload,
// which keeps the running listener; a dry run binds nothing.
func TestTLSListenAddressInUse(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "p.yaml", vmrPolicy)
	selfSigned(t, dir, "only")
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	conf := func(addr string) string {
		return writeFile(t, dir, "verdict.yaml", "policies: {p: p.yaml}\npexip:\n  policy: p\n  tls: {listen: \""+addr+"\", cert_file: cert.pem, key_file: key.pem}\n")
	}
	d := New(nil, nil)
	defer d.Close()
	if err := prepare(t, d, conf(busy.Addr().String())); err == nil || !strings.Contains(err.Error(), "pexip.tls.listen") {
		t.Fatalf("start on a busy address: %v, want a pexip.tls.listen error", err)
	}
	if err := prepare(t, d, conf("127.0.0.1:0")); err != nil {
		t.Fatal(err)
	}
	running := d.TLSAddr()
	if err := prepare(t, d, conf(busy.Addr().String())); err == nil {
		t.Fatal("a reload onto a busy address succeeded")
	}
	if d.TLSAddr() != running {
		t.Errorf("after the failed reload the listener is %q, was %q", d.TLSAddr(), running)
	}
	dry := New(nil, nil)
	defer dry.Close()
	dry.SetDryRun()
	if err := prepare(t, dry, conf(busy.Addr().String())); err != nil {
		t.Errorf("a dry run tried to bind: %v", err)
	}
}

// Without any document every request type falls back as configured.
func TestNoPolicyFallsBack(t *testing.T) {
	dir := t.TempDir()
	f := writeFile(t, dir, "verdict.yaml", "pexip:\n  fallback: {directory: continue, service_configuration: continue}\n")
	d := loadDoor(t, f)
	for target, want := range map[string]string{
		"/policy/v1/registrations?q=a":                           `200 {"status":"success","result":[]}`,
		"/policy/v1/service/configuration?local_alias=a":         `200 {"status":"success","action":"continue"}`,
		"/policy/v1/participant/properties?local_alias=a":        `404 {"status":"fail","action":"continue","result":{}}`,
		"/policy/v1/registrations/a?protocol=sip":                `404 {"status":"fail","action":"continue","result":{}}`,
		"/policy/v1/participant/avatar/a?width=10&height=10":     `404 {"status":"fail","action":"continue","result":{}}`,
		"/policy/v1/participant/location?remote_address=1.2.3.4": `404 {"status":"fail","action":"continue","result":{}}`,
	} {
		w := serve(d, "GET", target)
		if got := fmt.Sprintf("%d %s", w.Code, w.Body); got != want {
			t.Errorf("%s: %s, want %s", target, got, want)
		}
	}
}
