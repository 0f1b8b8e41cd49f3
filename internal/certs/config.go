package certs

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DefaultReloadInterval is how often Watch looks for changed files when
// Config.ReloadInterval is zero.
const DefaultReloadInterval = 5 * time.Second

// Config is what a listener's TLS is made of. Paths are used as given:
// the caller resolves them against the configuration file's directory.
type Config struct {
	// Certificates are served by the SNI name the client asks for; see
	// Certificate. There must be at least one.
	Certificates []Certificate
	// ClientCertificates says whether clients are asked for a certificate
	// and what is done with one; see ClientAuth.
	ClientCertificates ClientAuth
	// ClientCAPath or ClientCA (PEM text) hold the authorities a client
	// certificate is verified against (ClientVerifyIfGiven and
	// ClientRequire) or, with ClientRequest, the authorities the client is
	// told the server accepts.
	ClientCAPath string
	ClientCA     string
	// MinVersion is the oldest TLS version served: tls.VersionTLS12 (the
	// default, for zero) or tls.VersionTLS13.
	MinVersion uint16
	// NextProtos are the protocols offered by ALPN, most preferred first
	// ("h2", "http/1.1"); empty offers none.
	NextProtos []string
	// ReloadInterval is how often Watch looks at the files for changes:
	// zero is DefaultReloadInterval, a negative one turns reloading off.
	ReloadInterval time.Duration
}

// Certificate is one certificate with its key, from files or inline PEM.
// It is served to clients asking for one of Hosts by SNI.
type Certificate struct {
	// Hosts are the names the certificate is served for: exact names and
	// wildcards "*.example.com" (one label, as in X.509). Empty means the
	// DNS names the certificate itself holds.
	Hosts []string
	// CertificatePath names a PEM file holding the certificate, then its
	// chain; Certificate holds the same PEM text inline. One of the two.
	CertificatePath string
	Certificate     string
	// CertificateKeyPath names a PEM file holding the private key;
	// CertificateKey holds it inline. One of the two.
	CertificateKeyPath string
	CertificateKey     string
	// Default makes this the certificate of clients that send no SNI name
	// or one that no certificate is for. Without one, the first
	// certificate is the default.
	Default bool
}

// ClientAuth is what a listener does about client certificates.
type ClientAuth uint8

// The ClientAuth values, by the names the configuration uses.
const (
	// ClientNone asks for no client certificate ("none", the default).
	ClientNone ClientAuth = iota
	// ClientRequest asks for one and takes whatever is sent, unverified
	// ("request"): policies check it, as APIcast's tls_validation does.
	ClientRequest
	// ClientVerifyIfGiven asks for one and fails the handshake when one
	// is sent that the client CAs do not verify ("verify_if_given").
	ClientVerifyIfGiven
	// ClientRequire fails the handshake without a certificate the client
	// CAs verify ("require").
	ClientRequire
)

var clientAuthNames = [...]string{"none", "request", "verify_if_given", "require"}

// String returns the configuration's name of a.
func (a ClientAuth) String() string {
	if int(a) < len(clientAuthNames) {
		return clientAuthNames[a]
	}
	return "ClientAuth(" + strconv.Itoa(int(a)) + ")"
}

// ParseClientAuth returns the ClientAuth named s; the empty string is
// ClientNone.
func ParseClientAuth(s string) (ClientAuth, error) {
	if s == "" {
		return ClientNone, nil
	}
	for i, n := range clientAuthNames {
		if s == n {
			return ClientAuth(i), nil
		}
	}
	return 0, fmt.Errorf("%q is not one of %s", s, strings.Join(clientAuthNames[:], ", "))
}

func (a ClientAuth) tls() tls.ClientAuthType {
	switch a {
	case ClientRequest:
		return tls.RequestClientCert
	case ClientVerifyIfGiven:
		return tls.VerifyClientCertIfGiven
	case ClientRequire:
		return tls.RequireAndVerifyClientCert
	}
	return tls.NoClientCert
}

// ParseVersion returns the TLS version named s ("1.2" or "1.3"); the
// empty string is TLS 1.2. Versions before 1.2 are refused.
func ParseVersion(s string) (uint16, error) {
	switch s {
	case "", "1.2", "TLSv1.2":
		return tls.VersionTLS12, nil
	case "1.3", "TLSv1.3":
		return tls.VersionTLS13, nil
	}
	return 0, fmt.Errorf("%q is not a TLS version served: use 1.2 or 1.3", s)
}

// FieldError is a problem with one field of a Config, named as the
// configuration file spells it (certificates[1].certificate_key_path), so
// that the caller can point at its line.
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }

func (e *FieldError) Unwrap() error { return e.Err }

func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Err: fmt.Errorf(format, args...)}
}

// Check reports every problem of c that shows without reading a file, as
// FieldErrors joined with errors.Join; nil when there is none.
func (c *Config) Check() error {
	var errs []error
	if len(c.Certificates) == 0 {
		errs = append(errs, fieldErr("certificates", "at least one certificate is needed"))
	}
	defaults := 0
	for i, cert := range c.Certificates {
		f := "certificates[" + strconv.Itoa(i) + "]"
		errs = append(errs, oneOf(f, "certificate_path", cert.CertificatePath, "certificate", cert.Certificate)...)
		errs = append(errs, oneOf(f, "certificate_key_path", cert.CertificateKeyPath, "certificate_key", cert.CertificateKey)...)
		for j, h := range cert.Hosts {
			if err := checkHost(h); err != nil {
				errs = append(errs, &FieldError{Field: f + ".hosts[" + strconv.Itoa(j) + "]", Err: err})
			}
		}
		if cert.Default {
			if defaults++; defaults == 2 {
				errs = append(errs, fieldErr(f+".default", "only one certificate can be the default"))
			}
		}
	}
	if c.ClientCAPath != "" && c.ClientCA != "" {
		errs = append(errs, fieldErr("client_ca_path", "give client_ca_path or client_ca, not both"))
	}
	if c.ClientCertificates > ClientRequire {
		errs = append(errs, fieldErr("client_certificates", "unknown value %d", c.ClientCertificates))
	}
	if (c.ClientCertificates == ClientVerifyIfGiven || c.ClientCertificates == ClientRequire) &&
		c.ClientCAPath == "" && c.ClientCA == "" {
		errs = append(errs, fieldErr("client_certificates", "%s needs the authorities to verify against: set client_ca_path or client_ca", c.ClientCertificates))
	}
	if c.MinVersion != 0 && c.MinVersion != tls.VersionTLS12 && c.MinVersion != tls.VersionTLS13 {
		errs = append(errs, fieldErr("min_version", "only TLS 1.2 and 1.3 are served"))
	}
	return errors.Join(errs...)
}

func oneOf(prefix, pathField, path, inlineField, inline string) []error {
	switch {
	case path == "" && inline == "":
		return []error{fieldErr(prefix, "%s or %s is required", pathField, inlineField)}
	case path != "" && inline != "":
		return []error{fieldErr(prefix+"."+pathField, "give %s or %s, not both", pathField, inlineField)}
	}
	return nil
}

// checkHost checks a name of Certificate.Hosts.
func checkHost(h string) error {
	name := strings.TrimPrefix(h, "*.")
	switch {
	case h == "":
		return errors.New("empty host name")
	case strings.Contains(name, "*"):
		return fmt.Errorf("host %q: a wildcard is allowed only as the whole first label (*.example.com)", h)
	case strings.HasSuffix(h, ".") || strings.HasPrefix(name, ".") || strings.Contains(name, ".."):
		return fmt.Errorf("host %q: empty label", h)
	case strings.HasPrefix(h, "*.") && !strings.Contains(name, "."):
		return fmt.Errorf("host %q: a wildcard needs at least two labels after it", h)
	}
	for i := 0; i < len(name); i++ {
		b := name[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '.' || b == '_') {
			return fmt.Errorf("host %q: %q is not allowed in a host name", h, b)
		}
	}
	return nil
}
