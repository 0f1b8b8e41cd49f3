package tlsvalidation_test

import (
	"crypto/tls"
	"crypto/x509"
	"net/http/httptest"
	"testing"

	"github.com/verdict-policy/verdict/internal/certs/certstest"
	"github.com/verdict-policy/verdict/policies/internal/policytest"
	tlsvalidation "github.com/verdict-policy/verdict/policies/tls_validation"
)

// BenchmarkTLSValidation measures a request whose chain has a kept
// verdict, the common case of a client on a kept-alive connection.
func BenchmarkTLSValidation(b *testing.B) {
	root := certstest.NewCA(b, "root")
	inter := root.Issue(b, certstest.Options{CommonName: "intermediate", Intermediate: true})
	leaf := inter.AsCA().Issue(b, certstest.Options{CommonName: "client", Client: true})
	for _, bc := range []struct {
		name string
		peer []*x509.Certificate
	}{
		{"one certificate", []*x509.Certificate{root.Issue(b, certstest.Options{CommonName: "c", Client: true}).Cert}},
		{"with an intermediate", []*x509.Certificate{leaf.Cert, inter.Cert}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ch := policytest.Build(b, policytest.Entry(tlsvalidation.Name, config([]string{string(root.PEM)}, nil, "")))
			r := httptest.NewRequest("GET", "https://api.example.com/", nil)
			r.TLS = &tls.ConnectionState{PeerCertificates: bc.peer}
			policytest.Benchmark(b, ch, r, 200, nil, nil)
		})
	}
}
