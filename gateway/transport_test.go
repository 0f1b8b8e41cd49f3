package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/verdict-policy/verdict/chain"
)

// tlsTransport returns the https transport for srv, trusting its
// certificate.
func tlsTransport(t *testing.T, srv *httptest.Server, pool upstreamPool) stdTransport {
	t.Helper()
	ts := newTransports(slog.New(slog.DiscardHandler))
	t.Cleanup(ts.closeIdle)
	u, _ := url.Parse(srv.URL)
	tr, ok := ts.get("https", u.Host, chain.Timeouts{Connect: 5 * time.Second}, pool).(stdTransport)
	if !ok {
		t.Fatal("an https upstream did not get an http.Transport")
	}
	tr.TLSClientConfig = &tls.Config{RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
	return tr
}

// TestTLSUpstreamConnectionLimit: https upstreams share the connection
// limit of plain ones.
func TestTLSUpstreamConnectionLimit(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			<-release
		}
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()
	tr := tlsTransport(t, srv, upstreamPool{keepalive: time.Second, maxConns: 1, queue: 200 * time.Millisecond})
	held := make(chan *http.Response, 1)
	go func() {
		req, _ := http.NewRequest("GET", srv.URL+"/hold", nil)
		resp, err := tr.RoundTrip(req, nil, chain.Timeouts{})
		if err != nil {
			t.Error(err)
		}
		held <- resp
	}()
	// Wait until the held request has its slot.
	for deadline := time.Now().Add(20 * time.Second); len(tr.limit.slots) == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the held request never took its slot")
		}
	}
	req, _ := http.NewRequest("GET", srv.URL+"/next", nil)
	if _, err := tr.RoundTrip(req, nil, chain.Timeouts{}); !errors.Is(err, errConnLimit) {
		t.Fatalf("second request: %v, want errConnLimit", err)
	}
	close(release)
	resp := <-held
	if resp == nil {
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	resp, err := tr.RoundTrip(req, nil, chain.Timeouts{})
	if err != nil {
		t.Fatalf("after the slot was released: %v", err)
	}
	resp.Body.Close()
	if n := len(tr.limit.slots); n != 0 {
		t.Errorf("%d slots still taken after every body was closed", n)
	}
}

// TestTLSUpstreamBodyErrorsAreTheClients: an error reading the client's
// body is told apart from the upstream's on the https path too.
func TestTLSUpstreamBodyErrorsAreTheClients(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	defer srv.Close()
	tr := tlsTransport(t, srv, upstreamPool{keepalive: time.Second})
	body := io.MultiReader(strings.NewReader("hello"), iotest.ErrReader(errors.New("invalid byte in chunk length")))
	req, _ := http.NewRequestWithContext(context.Background(), "POST", srv.URL+"/", io.NopCloser(body))
	req.ContentLength = -1
	_, err := tr.RoundTrip(req, nil, chain.Timeouts{})
	var be *bodyError
	if !errors.As(err, &be) || !strings.Contains(err.Error(), "invalid byte in chunk length") {
		t.Fatalf("error %v, want the client's body error", err)
	}
}
