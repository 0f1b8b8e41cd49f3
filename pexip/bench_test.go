package pexip

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/verdict-policy/verdict/internal/logbuf"
)

// discard is a ResponseWriter that keeps only the status.
type discard struct {
	h      http.Header
	status int
}

func (w *discard) Header() http.Header         { return w.h }
func (w *discard) WriteHeader(s int)           { w.status = s }
func (w *discard) Write(b []byte) (int, error) { return len(b), nil }

func benchServe(b *testing.B, file, target string, want int) {
	benchServeDoor(b, loadDoor(b, file), target, want)
}

func benchServeDoor(b *testing.B, d *Door, target string, want int) {
	r := httptest.NewRequest(http.MethodGet, target, nil)
	w := &discard{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		d.ServeHTTP(w, r)
		if w.status != want {
			b.Fatalf("status %d", w.status)
		}
	}
}

// The load-test configuration: 1,000 VMRs in a table and 100 rules; the
// VMR rule is the last of them.
func BenchmarkServiceConfigurationVMR(b *testing.B) {
	benchServe(b, "../examples/pexip/load/verdict.yaml",
		"/policy/v1/service/configuration?protocol=sip&call_direction=dial_in&bandwidth=0&vendor=Cisco%2FCE&registered=False&trigger=invite&remote_display_name=Alice&remote_alias=sip%3Aalice%40example.com&remote_address=10.44.151.5&remote_port=58435&call_tag=&idp_uuid=&location=London&node_ip=10.144.101.21&version_id=35&pseudo_version_id=77683.0.0&local_alias=sip%3Aroom-0789%40example.com", 200)
}

// The same with the request log line written, as verdict serve does by
// default: the text format, to a buffered writer.
func BenchmarkServiceConfigurationVMRLogged(b *testing.B) {
	d := loadDoor(b, "../examples/pexip/load/verdict.yaml")
	d.logger = slog.New(logbuf.NewTextHandler(io.Discard, slog.LevelInfo))
	benchServeDoor(b, d,
		"/policy/v1/service/configuration?protocol=sip&call_direction=dial_in&bandwidth=0&vendor=Cisco%2FCE&registered=False&trigger=invite&remote_display_name=Alice&remote_alias=sip%3Aalice%40example.com&remote_address=10.44.151.5&remote_port=58435&call_tag=&idp_uuid=&location=London&node_ip=10.144.101.21&version_id=35&pseudo_version_id=77683.0.0&local_alias=sip%3Aroom-0789%40example.com", 200)
}

func BenchmarkServiceConfigurationFallback(b *testing.B) {
	benchServe(b, "../examples/pexip/load/verdict.yaml",
		"/policy/v1/service/configuration?protocol=sip&call_direction=dial_in&remote_alias=sip%3Aalice%40example.com&local_alias=sip%3Anobody%40example.com", 404)
}

// The built-in seed demo.
func BenchmarkServiceConfigurationSeedDemo(b *testing.B) {
	benchServe(b, "../examples/verdict.yaml", "/policy/v1/service/configuration?local_alias=my-vmr-conference", 200)
}

func BenchmarkDirectory(b *testing.B) {
	benchServe(b, "../examples/pexip/verdict.yaml", "/policy/v1/registrations?q=al&limit=10", 200)
}

func BenchmarkAvatarCached(b *testing.B) {
	benchServe(b, "../examples/pexip/verdict.yaml", "/policy/v1/participant/avatar/alice%40example.com?width=100&height=100", 200)
}
