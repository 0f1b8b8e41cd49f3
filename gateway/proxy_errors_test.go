package gateway

import (
	"errors"
	"io"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/verdict-policy/verdict/config"
)

// TestRequestBodyErrorsAreAnsweredAsTheClients: whatever goes wrong
// reading a client's body is answered as the client's fault, before any
// upstream connection is taken (the upstream here would refuse one).
func TestRequestBodyErrorsAreAnsweredAsTheClients(t *testing.T) {
	g, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("t.yaml", []byte("services:\n  - proxy:\n      api_backend: http://127.0.0.1:9\n"))
	if err != nil {
		t.Fatal(err)
	}
	install, err := g.Prepare(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	install()
	for _, tc := range []struct {
		name   string
		body   io.Reader
		length int64
		status int
		want   string
	}{
		{"chunked body that does not parse", iotest.ErrReader(errors.New("invalid byte in chunk length")), -1, 400,
			"the request body could not be read: invalid byte in chunk length\n"},
		{"body cut short", iotest.DataErrReader(strings.NewReader("abc")), 10, 400, "the request body could not be read: 3 of 10 bytes: unexpected EOF\n"},
		{"body too slow", iotest.ErrReader(os.ErrDeadlineExceeded), 5, 408, "the request body did not arrive in time\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "http://localhost/upload", io.NopCloser(tc.body))
			r.ContentLength = tc.length
			w := httptest.NewRecorder()
			g.ServeHTTP(w, r)
			if w.Code != tc.status || w.Body.String() != tc.want {
				t.Errorf("got %d %q, want %d %q", w.Code, w.Body.String(), tc.status, tc.want)
			}
		})
	}
}
