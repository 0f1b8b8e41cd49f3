package pexip

import (
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/verdict-policy/verdict/config"
)

// exampleDoor serves examples/pexip/verdict.yaml.
func exampleDoor(t testing.TB) *Door {
	t.Helper()
	return loadDoor(t, "../examples/pexip/verdict.yaml")
}

func loadDoor(t testing.TB, file string) *Door {
	t.Helper()
	cfg, err := config.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	docs, err := cfg.Compile()
	if err != nil {
		t.Fatal(err)
	}
	d := New(nil, prometheus.NewRegistry())
	install, err := d.Prepare(cfg, docs)
	if err != nil {
		t.Fatal(err)
	}
	install()
	t.Cleanup(func() { d.Close() })
	return d
}

func serve(d http.Handler, method, target string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	d.ServeHTTP(w, httptest.NewRequest(method, target, nil))
	return w
}

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestExampleAnswers replays testdata/example_answers.txt against the example
// configuration: requests as Infinity sends them, whole answers expected.
func TestExampleAnswers(t *testing.T) {
	d := exampleDoor(t)
	const golden = "testdata/example_answers.txt"
	data, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	lines := strings.Split(string(data), "\n")
	name, cases := "", 0
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		switch {
		case strings.HasPrefix(line, "# "):
			name = strings.TrimPrefix(line, "# ")
		case strings.HasPrefix(line, "GET "):
			if i+1 >= len(lines) {
				t.Fatalf("%s:%d: no answer after the request", golden, i+1)
			}
			target := strings.TrimPrefix(line, "GET ")
			w := serve(d, http.MethodGet, target)
			got := fmt.Sprintf("%d %s", w.Code, w.Body)
			if want := lines[i+1]; got != want && !*update {
				t.Errorf("%s:%d: %s\n got %s\nwant %s", golden, i+2, name, got, want)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("%s: Content-Type %q", name, ct)
			}
			out.WriteString(line + "\n" + got + "\n")
			cases++
			i++
			continue
		}
		out.WriteString(line)
		if i < len(lines)-1 {
			out.WriteString("\n")
		}
	}
	if cases < 20 {
		t.Fatalf("only %d cases in %s", cases, golden)
	}
	if *update {
		if err := os.WriteFile(golden, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// Bad input gets a clear 4xx that names the problem, never a 5xx.
func TestBadInput(t *testing.T) {
	d := exampleDoor(t)
	tests := []struct {
		name, method, target string
		status               int
		want                 string
	}{
		{"bad percent-encoding", "GET", "/policy/v1/service/configuration?local_alias=%zz", 400, "invalid_query"},
		{"huge query", "GET", "/policy/v1/service/configuration?local_alias=" + strings.Repeat("a", 70000), 414, "query_too_long"},
		{"POST", "POST", "/policy/v1/service/configuration", 405, "method_not_allowed"},
		{"DELETE on the directory", "DELETE", "/policy/v1/registrations", 405, "method_not_allowed"},
		{"unknown path", "GET", "/policy/v1/service/other", 404, "not_found"},
		{"outside the prefix", "GET", "/policy/v2/service/configuration", 404, "not_found"},
		{"avatar without width", "GET", "/policy/v1/participant/avatar/alice%40example.com?height=40", 400, "width is required"},
		{"avatar with a huge height", "GET", "/policy/v1/participant/avatar/alice%40example.com?width=40&height=99999", 400, "height must be a whole number"},
		{"directory with a bad limit", "GET", "/policy/v1/registrations?q=a&limit=ten", 400, "limit must be a whole number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := serve(d, tt.method, tt.target)
			if w.Code != tt.status || !strings.Contains(w.Body.String(), tt.want) {
				t.Errorf("got %d %s, want %d containing %q", w.Code, w.Body, tt.status, tt.want)
			}
		})
	}
}
