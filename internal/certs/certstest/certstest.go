// Package certstest makes certificate authorities, server and client
// certificates for tests, and writes them as PEM files: everything a test
// of a TLS listener needs, made fresh in each test with crypto/x509.
package certstest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// serial numbers certificates uniquely within a test binary.
var serial atomic.Int64

// CA is a certificate authority that issues certificates.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	// PEM is the CA's certificate in PEM.
	PEM []byte
}

// Pool returns a pool holding the CA's certificate alone.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// Leaf is an issued certificate with its key.
type Leaf struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte // the certificate, then the chain up to (not including) the root
	KeyPEM  []byte
}

// TLS returns the leaf as a tls.Certificate, chain included.
func (l *Leaf) TLS(t testing.TB) tls.Certificate {
	t.Helper()
	c, err := tls.X509KeyPair(l.CertPEM, l.KeyPEM)
	if err != nil {
		t.Fatalf("certstest: key pair: %v", err)
	}
	return c
}

// Write writes the leaf's certificate and key as name.crt and name.key in
// dir and returns their paths.
func (l *Leaf) Write(t testing.TB, dir, name string) (certPath, keyPath string) {
	t.Helper()
	certPath = filepath.Join(dir, name+".crt")
	keyPath = filepath.Join(dir, name+".key")
	WriteFile(t, certPath, l.CertPEM)
	WriteFile(t, keyPath, l.KeyPEM)
	return certPath, keyPath
}

// WriteFile writes data to path through a temporary file and a rename,
// so that a reader never sees half of it.
func WriteFile(t testing.TB, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatalf("certstest: %v", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatalf("certstest: %v", err)
	}
}

// NewCA makes a self-signed certificate authority named name.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	key := newKey(t, false)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial.Add(1)),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatalf("certstest: CA: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("certstest: CA: %v", err)
	}
	return &CA{Cert: cert, Key: key, PEM: pemBlock("CERTIFICATE", der)}
}

// Options shape an issued certificate.
type Options struct {
	// CommonName is the subject's common name; default the first DNS name.
	CommonName string
	// DNSNames and IPs are the names the certificate serves.
	DNSNames []string
	IPs      []net.IP
	// Client makes a client certificate (ExtKeyUsageClientAuth); the
	// default is a server certificate.
	Client bool
	// RSA uses an RSA key instead of ECDSA P-256.
	RSA bool
	// Intermediate makes a CA certificate that can issue others.
	Intermediate bool
	// NotBefore and NotAfter bound the validity; the zero times mean an
	// hour ago and a day from now.
	NotBefore, NotAfter time.Time
}

// Issue issues a certificate signed by ca.
func (ca *CA) Issue(t testing.TB, o Options) *Leaf {
	t.Helper()
	key := newKey(t, o.RSA)
	tmpl := template(o)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		t.Fatalf("certstest: issue %q: %v", tmpl.Subject.CommonName, err)
	}
	chain := pemBlock("CERTIFICATE", der)
	if !ca.selfSigned() {
		chain = append(chain, ca.PEM...) // an intermediate travels with its leaves
	}
	return newLeaf(t, der, key, chain)
}

// SelfSigned makes a certificate that signs itself.
func SelfSigned(t testing.TB, o Options) *Leaf {
	t.Helper()
	key := newKey(t, o.RSA)
	tmpl := template(o)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatalf("certstest: self-signed %q: %v", tmpl.Subject.CommonName, err)
	}
	return newLeaf(t, der, key, pemBlock("CERTIFICATE", der))
}

// AsCA returns an intermediate leaf (Options.Intermediate) as a CA that
// issues certificates.
func (l *Leaf) AsCA() *CA {
	return &CA{Cert: l.Cert, Key: l.Key, PEM: pemBlock("CERTIFICATE", l.Cert.Raw)}
}

func (ca *CA) selfSigned() bool {
	return string(ca.Cert.RawIssuer) == string(ca.Cert.RawSubject)
}

func template(o Options) *x509.Certificate {
	cn := o.CommonName
	if cn == "" && len(o.DNSNames) > 0 {
		cn = o.DNSNames[0]
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial.Add(1)),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    o.NotBefore,
		NotAfter:     o.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     o.DNSNames,
		IPAddresses:  o.IPs,
	}
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = time.Now().Add(-time.Hour)
	}
	if tmpl.NotAfter.IsZero() {
		tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	}
	switch {
	case o.Intermediate:
		tmpl.KeyUsage |= x509.KeyUsageCertSign | x509.KeyUsageCRLSign
		tmpl.BasicConstraintsValid, tmpl.IsCA = true, true
		tmpl.ExtKeyUsage = nil
	case o.Client:
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	if o.RSA {
		tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
	}
	return tmpl
}

func newLeaf(t testing.TB, der []byte, key crypto.Signer, chain []byte) *Leaf {
	t.Helper()
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("certstest: %v", err)
	}
	return &Leaf{Cert: cert, Key: key, CertPEM: chain, KeyPEM: keyPEM(t, key)}
}

func newKey(t testing.TB, useRSA bool) crypto.Signer {
	t.Helper()
	if useRSA {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatalf("certstest: key: %v", err)
		}
		return k
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("certstest: key: %v", err)
	}
	return k
}

func keyPEM(t testing.TB, key crypto.Signer) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("certstest: key: %v", err)
	}
	return pemBlock("PRIVATE KEY", der)
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// CRL returns a PEM CRL of ca that revokes certs.
func (ca *CA) CRL(t testing.TB, certs ...*x509.Certificate) []byte {
	t.Helper()
	tmpl := &x509.RevocationList{
		Number:     big.NewInt(serial.Add(1)),
		ThisUpdate: time.Now().Add(-time.Hour),
		NextUpdate: time.Now().Add(24 * time.Hour),
	}
	for _, c := range certs {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries,
			x509.RevocationListEntry{SerialNumber: c.SerialNumber, RevocationTime: time.Now().Add(-time.Minute)})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, ca.Cert, ca.Key)
	if err != nil {
		t.Fatalf("certstest: CRL: %v", err)
	}
	return pemBlock("X509 CRL", der)
}

// PEM returns c alone in PEM.
func PEM(c *x509.Certificate) []byte { return pemBlock("CERTIFICATE", c.Raw) }
