// Package tlsvalidation is the builtin chain policy "tls_validation"
// (APIcast's TLS Client Certificate Validation): in the access phase it
// refuses a request unless the client presented, in the TLS handshake, a
// certificate that chains to one of a whitelist of certificates, and, if
// asked, that no listed CRL revokes. The whitelist and CRLs are parsed
// when the chain is built; a verdict is kept for a minute per certificate
// chain, so a kept-alive client is verified once, not on every request.
//
// The listener asks for the certificate (internal/certs, client
// certificates "request"); this policy decides what it is worth.
package tlsvalidation

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	_ "embed"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/policies/internal/builtin"
)

// Name is the policy's name in a chain entry.
const Name = "tls_validation"

// The bodies of the refusals, as APIcast words them.
const (
	NoCertificateMessage = "No required TLS certificate was sent"
	FailedMessage        = "TLS certificate validation failed"
)

// DefaultErrorStatus is the status of a refusal when error_status is
// absent.
const DefaultErrorStatus = http.StatusBadRequest

// verdictTTL is how long the verdict on a certificate chain is kept.
const verdictTTL = time.Minute

// maxVerdicts bounds the verdicts kept; past it they are all dropped.
const maxVerdicts = 4096

//go:embed apicast-policy.json
var manifestJSON []byte

func init() {
	builtin.Register(Name, manifestJSON, func(cfg json.RawMessage, env chain.Env) (chain.Policy, error) {
		p, err := New(cfg)
		if err != nil {
			return nil, err
		}
		return p, nil
	})
}

// Config is the policy's configuration.
type Config struct {
	// Whitelist holds the certificates that vouch for a client: its own
	// certificate, or an authority on its chain.
	Whitelist []PEM `json:"whitelist"`
	// AllowPartialChain lets any whitelisted certificate end a chain;
	// false requires the chain to end at a whitelisted self-signed root.
	// Default true.
	AllowPartialChain *bool `json:"allow_partial_chain"`
	// RevocationCheckType is "none" (the default) or "crl".
	RevocationCheckType string `json:"revocation_check_type"`
	// RevokeList holds the CRLs checked with "crl".
	RevokeList []PEM `json:"revoke_list"`
	// ErrorStatus is the status of a refusal; DefaultErrorStatus when 0.
	ErrorStatus int `json:"error_status"`
}

// PEM is one entry of a list: a certificate or CRL in PEM.
type PEM struct {
	PEMCertificate string `json:"pem_certificate"`
}

// Policy checks client certificates. It is safe for concurrent use.
type Policy struct {
	roots   *x509.CertPool
	partial bool
	crls    []*x509.RevocationList
	status  int

	mu       sync.Mutex
	verdicts map[[sha256.Size]byte]verdict
	now      func() time.Time
}

// verdict is the outcome of verifying one certificate chain.
type verdict struct {
	ok    bool
	until time.Time
}

var _ chain.Accessor = (*Policy)(nil)

// New builds the policy from its JSON configuration. A whitelist entry
// that holds no certificate, or a revoke_list entry that holds no CRL, is
// an error naming it.
func New(raw json.RawMessage) (*Policy, error) {
	var cfg Config
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &cfg); err != nil {
			return nil, fmt.Errorf("configuration: %w", err)
		}
	}
	p := &Policy{
		roots:    x509.NewCertPool(),
		partial:  cfg.AllowPartialChain == nil || *cfg.AllowPartialChain,
		status:   DefaultErrorStatus,
		verdicts: make(map[[sha256.Size]byte]verdict),
		now:      time.Now,
	}
	if cfg.ErrorStatus != 0 {
		if cfg.ErrorStatus < 400 || cfg.ErrorStatus > 599 {
			return nil, fmt.Errorf("error_status: %d is not an error status (400-599)", cfg.ErrorStatus)
		}
		p.status = cfg.ErrorStatus
	}
	for i, e := range cfg.Whitelist {
		certs, err := parseCertificates(e.PEMCertificate)
		if err != nil {
			return nil, fmt.Errorf("whitelist[%d].pem_certificate: %w", i, err)
		}
		for _, c := range certs {
			p.roots.AddCert(c)
		}
	}
	switch cfg.RevocationCheckType {
	case "", "none":
	case "crl":
		for i, e := range cfg.RevokeList {
			crls, err := parseCRLs(e.PEMCertificate)
			if err != nil {
				return nil, fmt.Errorf("revoke_list[%d].pem_certificate: %w", i, err)
			}
			p.crls = append(p.crls, crls...)
		}
	default:
		return nil, fmt.Errorf("revocation_check_type: %q is not none or crl", cfg.RevocationCheckType)
	}
	return p, nil
}

// parseCertificates returns every certificate of a PEM text.
func parseCertificates(text string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	rest := []byte(text)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("a %q block where a CERTIFICATE was expected", block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no PEM certificate found")
	}
	return out, nil
}

// parseCRLs returns every CRL of a PEM text.
func parseCRLs(text string) ([]*x509.RevocationList, error) {
	var out []*x509.RevocationList
	rest := []byte(text)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "X509 CRL" {
			return nil, fmt.Errorf("a %q block where an X509 CRL was expected", block.Type)
		}
		crl, err := x509.ParseRevocationList(block.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, crl)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no PEM CRL found")
	}
	return out, nil
}

// Access refuses the request unless its client certificate verifies.
func (p *Policy) Access(c *chain.Context) error {
	st := c.Request.TLS
	if st == nil || len(st.PeerCertificates) == 0 {
		c.Exit(p.status, NoCertificateMessage+"\n")
		return nil
	}
	if !p.check(c, st.PeerCertificates) {
		c.Exit(p.status, FailedMessage+"\n")
	}
	return nil
}

// check returns the verdict on the chain the client sent, from the
// verdicts kept or by verifying it.
func (p *Policy) check(c *chain.Context, peer []*x509.Certificate) bool {
	key := chainKey(peer)
	now := p.now()
	p.mu.Lock()
	v, ok := p.verdicts[key]
	p.mu.Unlock()
	if ok && now.Before(v.until) {
		return v.ok
	}
	err := p.verify(peer, now)
	if err != nil && c.Logger != nil {
		c.Logger.Warn("client TLS certificate validation failed",
			"subject", peer[0].Subject.String(), "error", err.Error())
	}
	v = verdict{ok: err == nil, until: now.Add(verdictTTL)}
	if na := peer[0].NotAfter; err == nil && na.Before(v.until) {
		v.until = na
	}
	p.mu.Lock()
	if len(p.verdicts) >= maxVerdicts {
		clear(p.verdicts)
	}
	p.verdicts[key] = v
	p.mu.Unlock()
	return v.ok
}

// chainKey identifies the certificates a client sent.
func chainKey(peer []*x509.Certificate) [sha256.Size]byte {
	if len(peer) == 1 {
		return sha256.Sum256(peer[0].Raw)
	}
	h := sha256.New()
	var n [4]byte
	for _, cert := range peer {
		n[0], n[1], n[2], n[3] = byte(len(cert.Raw)>>24), byte(len(cert.Raw)>>16), byte(len(cert.Raw)>>8), byte(len(cert.Raw))
		_, _ = h.Write(n[:])
		_, _ = h.Write(cert.Raw)
	}
	var key [sha256.Size]byte
	h.Sum(key[:0])
	return key
}

// verify verifies the client's certificate against the whitelist, with
// the certificates it sent after it as intermediates.
func (p *Policy) verify(peer []*x509.Certificate, now time.Time) error {
	opts := x509.VerifyOptions{
		Roots:       p.roots,
		CurrentTime: now,
		// APIcast checks no purpose: a certificate made for servers
		// vouches for a client as well.
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}
	if len(peer) > 1 {
		opts.Intermediates = x509.NewCertPool()
		for _, c := range peer[1:] {
			opts.Intermediates.AddCert(c)
		}
	}
	chains, err := peer[0].Verify(opts)
	if err != nil {
		return err
	}
	var last error
	for _, ch := range chains {
		if !p.partial && !selfSigned(ch[len(ch)-1]) {
			last = fmt.Errorf("the chain ends at %q, which is not a self-signed root (allow_partial_chain is false)",
				ch[len(ch)-1].Subject.String())
			continue
		}
		if err := p.revoked(ch, now); err != nil {
			last = err
			continue
		}
		return nil
	}
	return last
}

func selfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignatureFrom(c) == nil
}

// revoked returns an error when a CRL signed by the issuer of a
// certificate of chain lists that certificate.
func (p *Policy) revoked(ch []*x509.Certificate, now time.Time) error {
	for i, cert := range ch {
		issuer := cert
		if i+1 < len(ch) {
			issuer = ch[i+1]
		}
		for _, crl := range p.crls {
			if !bytes.Equal(crl.RawIssuer, cert.RawIssuer) || crl.CheckSignatureFrom(issuer) != nil {
				continue
			}
			for _, e := range crl.RevokedCertificateEntries {
				if e.SerialNumber.Cmp(cert.SerialNumber) == 0 && !e.RevocationTime.After(now) {
					return fmt.Errorf("certificate %q (serial %s) is revoked", cert.Subject.String(), cert.SerialNumber)
				}
			}
		}
	}
	return nil
}
