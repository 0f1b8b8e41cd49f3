package tlspolicy_test

import (
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/internal/certs"
	"github.com/verdict-policy/verdict/internal/certs/certstest"
	tlspolicy "github.com/verdict-policy/verdict/policies/tls"
)

// served runs the ssl_certificate phase of ch for a client asking for
// sni and returns the common name of the certificate left for the
// listener, or "" for none.
func served(t *testing.T, ch *chain.Chain, sni string) string {
	t.Helper()
	r := httptest.NewRequest("GET", "https://"+sni+"/", nil)
	ctx := chain.NewContext(r, "127.0.0.1", nil, ch.Exports())
	ch.SSLCertificate(ctx)
	v, ok := ctx.Get(certs.ChainKey)
	if !ok {
		return ""
	}
	c, ok := v.(*tls.Certificate)
	if !ok {
		t.Fatalf("%s is a %T", certs.ChainKey, v)
	}
	return c.Leaf.Subject.CommonName
}

func build(t *testing.T, dir, config string) *chain.Chain {
	t.Helper()
	ch, err := chain.Build([]chain.Entry{{Name: tlspolicy.Name, Version: chain.BuiltinVersion, Configuration: json.RawMessage(config)}},
		chain.Env{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ch.Close() })
	return ch
}

func TestCertificateChoice(t *testing.T) {
	dir := t.TempDir()
	ca := certstest.NewCA(t, "CA")
	first := ca.Issue(t, certstest.Options{CommonName: "first", DNSNames: []string{"api.example.com"}})
	wild := ca.Issue(t, certstest.Options{CommonName: "wild", DNSNames: []string{"*.internal.example.com"}})
	inline := ca.Issue(t, certstest.Options{CommonName: "inline", DNSNames: []string{"inline.example.com"}})
	dataURL := ca.Issue(t, certstest.Options{CommonName: "data url", DNSNames: []string{"data.example.com"}})
	escaped := ca.Issue(t, certstest.Options{CommonName: "escaped", DNSNames: []string{"escaped.example.com"}})
	first.Write(t, dir, "first")
	wild.Write(t, dir, "wild")
	b64 := func(mime, name string, b []byte) string {
		return "data:" + mime + ";name=" + name + ";base64," + base64.StdEncoding.EncodeToString(b)
	}
	entries := []map[string]string{
		{"certificate_path": "first.crt", "certificate_key_path": "first.key"},                   // relative to the directory
		{"certificate_path": filepath.Join(dir, "wild.crt"), "certificate_key_path": "wild.key"}, // absolute and relative
		{"certificate": string(inline.CertPEM), "certificate_key": string(inline.KeyPEM)},
		{"certificate": b64("application/pkix-cert", "one.crt", dataURL.CertPEM), "certificate_key": b64("application/x-iwork-keynote-sffkey", "one.key", dataURL.KeyPEM)},
		{"certificate": "data:," + url.PathEscape(string(escaped.CertPEM)), "certificate_key": "data:text/plain," + url.PathEscape(string(escaped.KeyPEM))},
	}
	cfg, _ := json.Marshal(map[string]any{"certificates": entries})
	ch := build(t, dir, string(cfg))
	for sni, want := range map[string]string{
		"api.example.com":        "first",
		"a.internal.example.com": "wild",
		"inline.example.com":     "inline",
		"data.example.com":       "data url",
		"escaped.example.com":    "escaped",
		"elsewhere.test":         "first",
		"API.Example.com":        "first",
	} {
		if got := served(t, ch, sni); got != want {
			t.Errorf("SNI %s: served %q, want %q", sni, got, want)
		}
	}
}

func TestReloadWhileServing(t *testing.T) {
	dir := t.TempDir()
	ca := certstest.NewCA(t, "CA")
	ca.Issue(t, certstest.Options{CommonName: "old", DNSNames: []string{"svc.test"}}).Write(t, dir, "svc")
	p, err := tlspolicy.New(json.RawMessage(`{"certificates": [{"certificate_path": "svc.crt", "certificate_key_path": "svc.key"}]}`), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.InitWorker(); err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ca.Issue(t, certstest.Options{CommonName: "new", DNSNames: []string{"svc.test"}}).Write(t, dir, "svc")
	if !p.Check() {
		t.Fatal("the changed files were not reloaded")
	}
	if got := p.Certificate("svc.test").Leaf.Subject.CommonName; got != "new" {
		t.Errorf("served %q after the change", got)
	}
	certstest.WriteFile(t, filepath.Join(dir, "svc.crt"), []byte("broken"))
	if p.Check() {
		t.Error("a broken file was loaded")
	}
	if got := p.Certificate("svc.test").Leaf.Subject.CommonName; got != "new" {
		t.Errorf("served %q after a broken change", got)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	ca := certstest.NewCA(t, "CA")
	ca.Issue(t, certstest.Options{DNSNames: []string{"a.test"}}).Write(t, dir, "a")
	ca.Issue(t, certstest.Options{CommonName: "nameless"}).Write(t, dir, "nameless")
	tests := []struct{ config, want string }{
		{`{"certificates": [{"certificate_path": "absent.crt", "certificate_key_path": "a.key"}]}`,
			"certificates[0].certificate_path: open " + filepath.Join(dir, "absent.crt") + ": no such file or directory"},
		{`{"certificates": [{"certificate_path": "a.crt"}]}`,
			"certificates[0]: certificate_key_path or certificate_key is required"},
		{`{"certificates": [{"certificate_path": "a.crt", "certificate_key_path": "a.key"}, {"certificate_path": "nameless.crt", "certificate_key_path": "nameless.key"}]}`,
			"certificates[1]: the certificate (CN=nameless) names no DNS host; only the first certificate serves names its certificate does not hold"},
		{`{"certificates": [{"certificate": "data:application/pkix-cert;base64,!!!", "certificate_key_path": "a.key"}]}`,
			"certificates[0].certificate: the data: URL's base64: illegal base64 data"},
		{`{"certificates": [{"certificate": "data:nocomma", "certificate_key_path": "a.key"}]}`,
			"certificates[0].certificate: a data: URL without a comma before its data"},
		{`{"certificates": []}`, "certificates"},
		{`{}`, "certificates"},
	}
	for _, tt := range tests {
		_, err := chain.Build([]chain.Entry{{Name: tlspolicy.Name, Version: chain.BuiltinVersion, Configuration: json.RawMessage(tt.config)}},
			chain.Env{Dir: dir})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s:\nerror %v\nwant %q", tt.config, err, tt.want)
		}
	}
}
