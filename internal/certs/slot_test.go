package certs_test

import (
	"crypto/tls"
	"io"
	"testing"
	"time"

	"github.com/verdict-policy/verdict/internal/certs"
	"github.com/verdict-policy/verdict/internal/certs/certstest"
)

func TestSlotInstallKeepsSessions(t *testing.T) {
	p := newPKI(t)
	first := p.file(t, "first", certstest.Options{CommonName: "first", DNSNames: []string{"srv.test"}})
	second := p.ca.Issue(t, certstest.Options{CommonName: "second", DNSNames: []string{"srv.test"}})
	slot := certs.NewSlot(newSet(t, certs.Config{Certificates: []certs.Certificate{first}}))
	defer slot.Close()
	addr := serveConfig(t, slot.TLSConfig())

	cfg := p.client("srv.test")
	cfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
	dial := func() (cn string, resumed bool) {
		t.Helper()
		c, err := tls.Dial("tcp", addr, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		_, _ = io.ReadAll(c)
		st := c.ConnectionState()
		return st.PeerCertificates[0].Subject.CommonName, st.DidResume
	}
	if cn, _ := dial(); cn != "first" {
		t.Fatalf("served %q", cn)
	}
	slot.Install(newSet(t, certs.Config{ReloadInterval: 20 * time.Millisecond, Certificates: []certs.Certificate{
		{Certificate: string(second.CertPEM), CertificateKey: string(second.KeyPEM)}}}))
	if _, resumed := dial(); !resumed {
		t.Error("a session of the previous Set was not resumed")
	}
	cfg.ClientSessionCache = nil
	if cn, _ := dial(); cn != "second" {
		t.Errorf("after Install, served %q", cn)
	}
	if slot.Set().Certificate("srv.test").Leaf.Subject.CommonName != "second" {
		t.Error("Set() is not the installed Set")
	}
}

func TestSlotWatchesTheInstalledSet(t *testing.T) {
	p := newPKI(t)
	leaf := p.ca.Issue(t, certstest.Options{CommonName: "before", DNSNames: []string{"srv.test"}})
	certPath, keyPath := leaf.Write(t, p.dir, "srv")
	slot := certs.NewSlot(newSet(t, certs.Config{ReloadInterval: 20 * time.Millisecond,
		Certificates: []certs.Certificate{{CertificatePath: certPath, CertificateKeyPath: keyPath}}}))
	defer slot.Close()
	addr := serveConfig(t, slot.TLSConfig())
	p.ca.Issue(t, certstest.Options{CommonName: "after", DNSNames: []string{"srv.test"}}).Write(t, p.dir, "srv")
	waitServed(t, addr, "srv.test", "after")

	slot.SetChooser(func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
		c := p.ca.Issue(t, certstest.Options{CommonName: "chosen", DNSNames: []string{"srv.test"}}).TLS(t)
		return &c, nil
	})
	if got := servedCN(t, addr, "srv.test"); got != "chosen" {
		t.Errorf("with a chooser: %q", got)
	}
	slot.Install(newSet(t, certs.Config{Certificates: []certs.Certificate{{CertificatePath: certPath, CertificateKeyPath: keyPath}}}))
	if got := servedCN(t, addr, "srv.test"); got != "chosen" {
		t.Errorf("the chooser did not follow Install: %q", got)
	}
	slot.SetChooser(nil)
	if got := servedCN(t, addr, "srv.test"); got != "after" {
		t.Errorf("chooser removed: %q", got)
	}
}
