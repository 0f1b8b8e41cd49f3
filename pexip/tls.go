package pexip

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/verdict-policy/verdict/config"
	"github.com/verdict-policy/verdict/internal/h1"
)

// loadCert reads the certificate and key named by t. They are read again
// on every reload, and a change to either file triggers one.
func loadCert(cfg *config.Config, t *TLSConfig) (*tls.Certificate, error) {
	certPEM, err := cfg.ReadData(t.CertFile)
	if err != nil {
		return nil, fmt.Errorf("cert_file: %w", err)
	}
	keyPEM, err := cfg.ReadData(t.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("key_file: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("cert_file and key_file: %w", err)
	}
	return &cert, nil
}

// setTLS starts, moves or stops the HTTPS listener to match st. The
// certificate is taken from the current state on every handshake, so a
// reload with a new certificate needs no restart.
func (d *Door) setTLS(st *state) {
	d.tlsMu.Lock()
	defer d.tlsMu.Unlock()
	want := ""
	if st != nil && st.tlsCfg != nil {
		want = st.tlsCfg.Listen
	}
	if want == d.tlsAddr && (want == "" || d.tlsServer != nil) {
		return
	}
	d.stopTLSLocked()
	if want == "" {
		return
	}
	ln := d.pendingLn
	if ln == nil || d.pendingAddr != want {
		var err error
		if ln, err = net.Listen("tcp", want); err != nil {
			d.logger.Error("pexip TLS listener not started", "address", want, "error", err.Error())
			return
		}
	}
	d.pendingLn, d.pendingAddr = nil, ""
	// h1 serves HTTP/1.1 only: ALPN offers nothing else.
	tlsCfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			if st := d.cur.Load(); st != nil && st.cert != nil {
				return st.cert, nil
			}
			return nil, errors.New("no certificate is configured")
		},
	}
	srv := &h1.Server{
		Handler:           d,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		Logger:            d.logger,
	}
	d.tlsServer, d.tlsAddr, d.tlsLn = srv, want, ln
	go func() {
		if err := srv.Serve(tls.NewListener(ln, tlsCfg)); !errors.Is(err, http.ErrServerClosed) {
			d.logger.Error("pexip TLS listener stopped", "error", err.Error())
		}
	}()
	d.logger.Info("pexip TLS listener serving", "address", ln.Addr().String())
}

// bindTLS binds addr for the next install, unless the running HTTPS
// listener already serves it; a listener bound for an earlier Prepare
// that was never installed is closed.
func (d *Door) bindTLS(addr string) error {
	d.tlsMu.Lock()
	defer d.tlsMu.Unlock()
	if d.dryRun || (addr == d.tlsAddr && d.tlsServer != nil) {
		return nil
	}
	if d.pendingLn != nil {
		if d.pendingAddr == addr {
			return nil
		}
		_ = d.pendingLn.Close()
		d.pendingLn, d.pendingAddr = nil, ""
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	d.pendingLn, d.pendingAddr = ln, addr
	return nil
}

// SetDryRun makes Prepare check the configuration without binding the
// HTTPS listener's address (verdict check runs beside a serving process).
func (d *Door) SetDryRun() {
	d.tlsMu.Lock()
	defer d.tlsMu.Unlock()
	d.dryRun = true
}

// TLSAddr returns the bound address of the HTTPS listener, or "".
func (d *Door) TLSAddr() string {
	d.tlsMu.Lock()
	defer d.tlsMu.Unlock()
	if d.tlsLn == nil {
		return ""
	}
	return d.tlsLn.Addr().String()
}

func (d *Door) stopTLSLocked() {
	if d.tlsServer == nil {
		d.tlsAddr = ""
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = d.tlsServer.Shutdown(ctx)
	d.tlsServer, d.tlsAddr, d.tlsLn = nil, "", nil
}

// Close stops the HTTPS listener, if one runs, letting requests in flight
// finish, and closes the door's connection to the store.
func (d *Door) Close() error {
	d.tlsMu.Lock()
	defer d.tlsMu.Unlock()
	d.stopTLSLocked()
	if d.pendingLn != nil {
		_ = d.pendingLn.Close()
		d.pendingLn, d.pendingAddr = nil, ""
	}
	d.store.close()
	return nil
}
