// Package tlspolicy is the builtin chain policy "tls" (APIcast's TLS
// Termination): in the ssl_certificate phase it chooses the certificate
// the gateway's TLS listener serves to a client that asked, by SNI, for
// one of the service's hosts. Certificates are read when the chain is
// built, from files or inline PEM (or data: URLs of it, as 3scale's admin
// portal stores uploads), and files are read again when they change
// while the chain serves.
package tlspolicy

import (
	"context"
	"crypto/tls"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"sync"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/internal/certs"
	"github.com/verdict-policy/verdict/policies/internal/builtin"
)

// Name is the policy's name in a chain entry.
const Name = "tls"

//go:embed apicast-policy.json
var manifestJSON []byte

func init() {
	builtin.Register(Name, manifestJSON, func(cfg json.RawMessage, env chain.Env) (chain.Policy, error) {
		p, err := New(cfg, env.Dir, env.Logger)
		if err != nil {
			return nil, err
		}
		return p, nil
	})
}

// Config is the policy's configuration.
type Config struct {
	Certificates []Certificate `json:"certificates"`
}

// Certificate is one certificate and its key, from files or inline.
type Certificate struct {
	CertificatePath    string `json:"certificate_path"`
	CertificateKeyPath string `json:"certificate_key_path"`
	Certificate        string `json:"certificate"`
	CertificateKey     string `json:"certificate_key"`
}

// Policy serves a service's certificates. It is safe for concurrent use.
type Policy struct {
	set  *certs.Set
	once sync.Once
	stop context.CancelFunc
	done chan struct{}
}

var (
	_ chain.SSLCertificateHandler = (*Policy)(nil)
	_ chain.WorkerInitializer     = (*Policy)(nil)
	_ chain.Closer                = (*Policy)(nil)
)

// New builds the policy from its JSON configuration, reading every
// certificate; relative paths resolve against dir. logger receives the
// reloads of changed files; nil discards them.
func New(raw json.RawMessage, dir string, logger *slog.Logger) (*Policy, error) {
	var cfg Config
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	var conf certs.Config
	for i, c := range cfg.Certificates {
		cc := certs.Certificate{
			CertificatePath:    resolve(dir, c.CertificatePath),
			CertificateKeyPath: resolve(dir, c.CertificateKeyPath),
			Default:            i == 0,
		}
		var err error
		if cc.Certificate, err = inline(c.Certificate); err != nil {
			return nil, fmt.Errorf("certificates[%d].certificate: %w", i, err)
		}
		if cc.CertificateKey, err = inline(c.CertificateKey); err != nil {
			return nil, fmt.Errorf("certificates[%d].certificate_key: %w", i, err)
		}
		conf.Certificates = append(conf.Certificates, cc)
	}
	set, err := certs.New(conf, logger)
	if err != nil {
		return nil, explain(err)
	}
	return &Policy{set: set}, nil
}

// explain rewords the errors of certs for this configuration, which has
// no hosts field: a certificate after the first that names no host
// could never be served.
func explain(err error) error {
	var out []error
	for _, e := range unjoin(err) {
		var fe *certs.FieldError
		if errors.As(e, &fe) && strings.HasSuffix(fe.Field, ".hosts") {
			e = fmt.Errorf("%s: %w; only the first certificate serves names its certificate does not hold",
				strings.TrimSuffix(fe.Field, ".hosts"), fe.Err)
			e = errors.New(strings.Replace(e.Error(), ": list the hosts it is for", "", 1))
		}
		out = append(out, e)
	}
	return errors.Join(out...)
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func resolve(dir, p string) string {
	if p == "" || filepath.IsAbs(p) || dir == "" {
		return p
	}
	return filepath.Join(dir, p)
}

// inline returns the PEM text of an inline value: the text itself, or
// the content of a data: URL.
func inline(s string) (string, error) {
	rest, ok := strings.CutPrefix(s, "data:")
	if !ok {
		return s, nil
	}
	meta, data, ok := strings.Cut(rest, ",")
	if !ok {
		return "", errors.New("a data: URL without a comma before its data")
	}
	if strings.HasSuffix(meta, ";base64") {
		b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(data), ""))
		if err != nil {
			return "", fmt.Errorf("the data: URL's base64: %w", err)
		}
		return string(b), nil
	}
	text, err := url.PathUnescape(data)
	if err != nil {
		return "", fmt.Errorf("the data: URL: %w", err)
	}
	return text, nil
}

// SSLCertificate leaves the certificate for the SNI name the client asked
// for (the request's host in this phase) in the context, under
// certs.ChainKey.
func (p *Policy) SSLCertificate(c *chain.Context) error {
	c.Set(certs.ChainKey, p.set.Certificate(c.Original.Host))
	return nil
}

// Certificate returns the certificate served for the SNI name host.
func (p *Policy) Certificate(host string) *tls.Certificate { return p.set.Certificate(host) }

// InitWorker starts reading the certificate files again when they
// change, until Close.
func (p *Policy) InitWorker() error {
	p.once.Do(func() {
		ctx, stop := context.WithCancel(context.Background())
		p.stop, p.done = stop, make(chan struct{})
		go func() {
			defer close(p.done)
			p.set.Watch(ctx)
		}()
	})
	return nil
}

// Close stops watching the files.
func (p *Policy) Close() error {
	p.once.Do(func() {}) // no watching starts after Close
	if p.stop != nil {
		p.stop()
		<-p.done
	}
	return nil
}

// Check reads changed certificate files now, as the watch does on its
// interval; it reports whether anything was reloaded.
func (p *Policy) Check() bool { return p.set.Check() }
