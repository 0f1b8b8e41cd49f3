package gatewaytest

import (
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/verdict-policy/verdict/internal/h1"
)

// StartListener is Start with the gateway served by the HTTP/1.1 server
// of the gateway listener (internal/h1, with the listener's timeouts)
// instead of net/http: the server `verdict serve` runs, for tests of what
// reaches a client byte for byte.
func StartListener(t testing.TB, cfgYAML string) *Gateway {
	t.Helper()
	g := load(t, cfgYAML)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("gatewaytest: listen: %v", err)
	}
	srv := &h1.Server{
		Handler:           g.Gateway,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       -1,
		WriteTimeout:      -1,
		IdleTimeout:       2 * time.Minute,
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("gatewaytest: serve: %v", err)
		}
	})
	g.URL = "http://" + ln.Addr().String()
	return g
}
