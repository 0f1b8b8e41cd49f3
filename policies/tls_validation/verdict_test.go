package tlsvalidation

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/internal/certs/certstest"
)

// TestKeptVerdicts checks that a kept verdict ends with the minute or
// with the certificate, whichever comes first.
func TestKeptVerdicts(t *testing.T) {
	root := certstest.NewCA(t, "root")
	t0 := time.Now()
	short := root.Issue(t, certstest.Options{CommonName: "short", Client: true, NotAfter: t0.Add(30 * time.Second)}).Cert
	long := root.Issue(t, certstest.Options{CommonName: "long", Client: true}).Cert
	cfg, _ := json.Marshal(Config{Whitelist: []PEM{{PEMCertificate: string(root.PEM)}}})
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	passes := func(at time.Time, c *x509.Certificate) bool {
		p.now = func() time.Time { return at }
		r := httptest.NewRequest("GET", "https://a/", nil)
		r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{c}}
		ctx := chain.NewContext(r, "127.0.0.1", nil, nil)
		if err := p.Access(ctx); err != nil {
			t.Fatal(err)
		}
		return !ctx.Exited()
	}
	steps := []struct {
		name string
		at   time.Time
		cert *x509.Certificate
		want bool
	}{
		{"valid", t0, short, true},
		{"kept", t0.Add(20 * time.Second), short, true},
		{"expired: the kept verdict ended with the certificate", t0.Add(31 * time.Second), short, false},
		{"long", t0, long, true},
	}
	for _, st := range steps {
		if got := passes(st.at, st.cert); got != st.want {
			t.Errorf("%s: passes %v, want %v", st.name, got, st.want)
		}
	}
	if n := len(p.verdicts); n != 2 {
		t.Errorf("%d verdicts kept, want 2", n)
	}
	for i := range maxVerdicts + 1 {
		p.verdicts[[32]byte{byte(i), byte(i >> 8)}] = verdict{}
	}
	if !passes(t0, root.Issue(t, certstest.Options{CommonName: "new", Client: true}).Cert) {
		t.Error("a new certificate was refused")
	}
	if n := len(p.verdicts); n > maxVerdicts {
		t.Errorf("%d verdicts kept, over the bound", n)
	}
}
