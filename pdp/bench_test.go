package pdp

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkDecide measures one POST /v1/decide through the handler, from
// the request body to the encoded answer, without the network.
func BenchmarkDecide(b *testing.B) {
	h := seedHandler(b, prometheus.NewRegistry())
	const body = `{"policy": "rethink", "input": {"msgType": "addressAllocation", "actType": "create", "valueNumber": 2}}`
	req := httptest.NewRequest("POST", "/v1/decide", nil)
	rd := strings.NewReader(body)
	w := &discardWriter{h: make(http.Header)}
	b.ReportAllocs()
	for b.Loop() {
		rd.Reset(body)
		req.Body = nopCloser{rd}
		req.ContentLength = int64(len(body))
		h.ServeHTTP(w, req)
	}
	if w.status != 200 {
		b.Fatalf("status %d", w.status)
	}
}

type nopCloser struct{ *strings.Reader }

func (nopCloser) Close() error { return nil }

type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(s int)           { w.status = s }
