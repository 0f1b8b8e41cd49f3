package tlsvalidation_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/internal/certs/certstest"
	"github.com/verdict-policy/verdict/policies/internal/policytest"
	tlsvalidation "github.com/verdict-policy/verdict/policies/tls_validation"
)

// config writes a configuration with whitelist and revoke_list entries
// from PEM texts; extra holds more fields, as JSON members.
func config(whitelist, revoke []string, extra string) string {
	entries := func(list []string) string {
		var out []string
		for _, p := range list {
			b, _ := json.Marshal(map[string]string{"pem_certificate": p})
			out = append(out, string(b))
		}
		return "[" + strings.Join(out, ",") + "]"
	}
	s := `{"whitelist": ` + entries(whitelist)
	if revoke != nil {
		s += `, "revoke_list": ` + entries(revoke)
	}
	if extra != "" {
		s += ", " + extra
	}
	return s + "}"
}

func pemOf(c *x509.Certificate) string {
	return string(certstest.PEM(c))
}

func TestTLSValidation(t *testing.T) {
	root := certstest.NewCA(t, "root")
	inter := root.Issue(t, certstest.Options{CommonName: "intermediate", Intermediate: true})
	interCA := inter.AsCA()
	viaRoot := root.Issue(t, certstest.Options{CommonName: "via root", Client: true})
	viaInter := interCA.Issue(t, certstest.Options{CommonName: "via intermediate", Client: true})
	self := certstest.SelfSigned(t, certstest.Options{CommonName: "self", Client: true})
	stranger := certstest.NewCA(t, "stranger CA").Issue(t, certstest.Options{CommonName: "stranger", Client: true})
	serverPurpose := root.Issue(t, certstest.Options{DNSNames: []string{"made.for.servers"}})
	expired := root.Issue(t, certstest.Options{CommonName: "expired", Client: true,
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
	revokedLeaf := root.Issue(t, certstest.Options{CommonName: "revoked", Client: true})
	rootCRL := string(root.CRL(t, revokedLeaf.Cert))
	// A CRL of another authority that lists a serial a certificate of
	// root also has must not revoke it.
	otherCA := certstest.NewCA(t, "other")
	otherCRL := string(otherCA.CRL(t, viaRoot.Cert))

	rootPEM, interPEM := string(root.PEM), pemOf(inter.Cert)
	noCert := tlsvalidation.NoCertificateMessage + "\n"
	failed := tlsvalidation.FailedMessage + "\n"
	tests := []struct {
		name   string
		config string
		peer   []*x509.Certificate // nil with noTLS: a request in clear
		noTLS  bool
		status int // 0: passes
		body   string
	}{
		{"request in clear", config([]string{rootPEM}, nil, ""), nil, true, 400, noCert},
		{"no certificate sent", config([]string{rootPEM}, nil, ""), nil, false, 400, noCert},
		{"issued by a whitelisted root", config([]string{rootPEM}, nil, ""), []*x509.Certificate{viaRoot.Cert}, false, 0, ""},
		{"whitelisted self-signed leaf", config([]string{string(self.CertPEM)}, nil, ""), []*x509.Certificate{self.Cert}, false, 0, ""},
		{"whitelisted leaf issued by a CA not listed", config([]string{pemOf(viaRoot.Cert)}, nil, ""), []*x509.Certificate{viaRoot.Cert}, false, 0, ""},
		{"the same, allow_partial_chain false", config([]string{pemOf(viaRoot.Cert)}, nil, `"allow_partial_chain": false`), []*x509.Certificate{viaRoot.Cert}, false, 400, failed},
		{"whitelisted intermediate, partial chain", config([]string{interPEM}, nil, ""), []*x509.Certificate{viaInter.Cert}, false, 0, ""},
		{"whitelisted intermediate, allow_partial_chain false", config([]string{interPEM}, nil, `"allow_partial_chain": false`), []*x509.Certificate{viaInter.Cert}, false, 400, failed},
		{"root listed, client sends its intermediate", config([]string{rootPEM}, nil, `"allow_partial_chain": false`), []*x509.Certificate{viaInter.Cert, inter.Cert}, false, 0, ""},
		{"root listed, client leaves its intermediate out", config([]string{rootPEM}, nil, ""), []*x509.Certificate{viaInter.Cert}, false, 400, failed},
		{"not whitelisted", config([]string{rootPEM}, nil, ""), []*x509.Certificate{stranger.Cert}, false, 400, failed},
		{"a self-signed stranger", config([]string{rootPEM}, nil, ""), []*x509.Certificate{self.Cert}, false, 400, failed},
		{"empty whitelist", config(nil, nil, ""), []*x509.Certificate{viaRoot.Cert}, false, 400, failed},
		{"a server certificate presented by a client", config([]string{rootPEM}, nil, ""), []*x509.Certificate{serverPurpose.Cert}, false, 0, ""},
		{"expired", config([]string{rootPEM}, nil, ""), []*x509.Certificate{expired.Cert}, false, 400, failed},
		{"error_status", config([]string{rootPEM}, nil, `"error_status": 403`), []*x509.Certificate{stranger.Cert}, false, 403, failed},
		{"crl: revoked", config([]string{rootPEM}, []string{rootCRL}, `"revocation_check_type": "crl"`), []*x509.Certificate{revokedLeaf.Cert}, false, 400, failed},
		{"crl: not revoked", config([]string{rootPEM}, []string{rootCRL}, `"revocation_check_type": "crl"`), []*x509.Certificate{viaRoot.Cert}, false, 0, ""},
		{"crl of another issuer", config([]string{rootPEM}, []string{otherCRL}, `"revocation_check_type": "crl"`), []*x509.Certificate{viaRoot.Cert}, false, 0, ""},
		{"crl ignored without revocation_check_type", config([]string{rootPEM}, []string{rootCRL}, ""), []*x509.Certificate{revokedLeaf.Cert}, false, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := policytest.Build(t, policytest.Entry(tlsvalidation.Name, tt.config))
			for round := range 2 { // the second answer comes from the kept verdict
				r := httptest.NewRequest("GET", "https://api.example.com/x", nil)
				r.TLS = &tls.ConnectionState{HandshakeComplete: true, PeerCertificates: tt.peer}
				if tt.noTLS {
					r.TLS = nil
				}
				res := policytest.Run(ch, r, "127.0.0.1", nil, 0)
				if tt.status == 0 {
					if !res.Proxied {
						t.Fatalf("round %d: refused with %d %q", round, res.Status, res.Body)
					}
					continue
				}
				if res.Proxied || res.Status != tt.status || string(res.Body) != tt.body {
					t.Fatalf("round %d: proxied %v, %d %q; want %d %q", round, res.Proxied, res.Status, res.Body, tt.status, tt.body)
				}
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	root := certstest.NewCA(t, "root")
	crl := string(root.CRL(t))
	tests := []struct{ config, want string }{
		{config([]string{"not PEM"}, nil, ""), "whitelist[0].pem_certificate: no PEM certificate found"},
		{config([]string{string(root.PEM), crl}, nil, ""), `whitelist[1].pem_certificate: a "X509 CRL" block where a CERTIFICATE was expected`},
		{config(nil, []string{string(root.PEM)}, `"revocation_check_type": "crl"`), `revoke_list[0].pem_certificate: a "CERTIFICATE" block where an X509 CRL was expected`},
		{config(nil, []string{"nothing"}, `"revocation_check_type": "crl"`), "revoke_list[0].pem_certificate: no PEM CRL found"},
		{config(nil, nil, `"revocation_check_type": "ocsp"`), "revocation_check_type"},
		{config(nil, nil, `"error_status": 200`), "error_status"},
	}
	for _, tt := range tests {
		_, err := chain.Build([]chain.Entry{policytest.Entry(tlsvalidation.Name, tt.config)}, chain.Env{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.config, err, tt.want)
		}
	}
}
