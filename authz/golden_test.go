package authz

import (
	"flag"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// TestGoldenDefault records what every adapter of the built-in
// configuration answers to a set of calls, as a golden file: a reviewer
// reads the protocols' answers in one place, and any change shows in the
// diff.
func TestGoldenDefault(t *testing.T) {
	d := defaultDoor(t)
	admin := "Bearer " + hs256(t, exampleSecret, map[string]any{"sub": "root", "role": "admin"})
	viewer := "Bearer " + hs256(t, exampleSecret, map[string]any{"sub": "joe", "role": "viewer"})
	calls := []struct {
		title, method, target, body string
		header                      []string
	}{
		{"envoy: anonymous read", "GET", "/v1/authz/envoy/orders?id=7", "", nil},
		{"envoy: read with a token", "HEAD", "/v1/authz/envoy/orders", "", []string{"Authorization", viewer}},
		{"envoy: write without a token", "POST", "/v1/authz/envoy/orders", "", nil},
		{"envoy: write as viewer", "DELETE", "/v1/authz/envoy/orders/7", "", []string{"Authorization", viewer}},
		{"envoy: write as admin", "PUT", "/v1/authz/envoy/orders/7", "", []string{"Authorization", admin}},
		{"nginx: anonymous read", "GET", "/v1/authz/nginx", "", []string{"X-Original-URI", "/orders", "X-Original-Method", "GET"}},
		{"nginx: write without a token", "GET", "/v1/authz/nginx", "", []string{"X-Original-URI", "/orders", "X-Original-Method", "POST"}},
		{"nginx: write as viewer", "GET", "/v1/authz/nginx", "", []string{"X-Original-URI", "/orders", "X-Original-Method", "POST", "Authorization", viewer}},
		{"nginx: write as admin", "GET", "/v1/authz/nginx", "", []string{"X-Original-URI", "/orders", "X-Original-Method", "POST", "Authorization", admin}},
		{"nginx: no original URI", "GET", "/v1/authz/nginx", "", nil},
		{"forward: anonymous read", "GET", "/v1/authz/forward", "", []string{"X-Forwarded-Uri", "/orders", "X-Forwarded-Method", "GET"}},
		{"forward: write without a token", "GET", "/v1/authz/forward", "", []string{"X-Forwarded-Uri", "/orders", "X-Forwarded-Method", "PATCH"}},
		{"forward: write as viewer", "GET", "/v1/authz/forward", "", []string{"X-Forwarded-Uri", "/orders", "X-Forwarded-Method", "PATCH", "Authorization", viewer}},
		{"authzen: read", "POST", "/access/v1/evaluation", `{"subject":{"type":"user","id":"joe"},"action":{"name":"read"},"resource":{"type":"order","id":"7"}}`, nil},
		{"authzen: batch, deny_on_first_deny", "POST", "/access/v1/evaluations", `{"subject":{"type":"user","id":"joe"},"resource":{"type":"order","id":"7"},"options":{"evaluations_semantic":"deny_on_first_deny"},"evaluations":[{"action":{"name":"read"}},{"action":{"name":"delete"}},{"action":{"name":"read"}}]}`, nil},
		{"authzen: bad request", "POST", "/access/v1/evaluation", `{"subject":{"type":"user"}}`, nil},
		{"authzen: discovery", "GET", "/.well-known/authzen-configuration", "", nil},
	}
	var b strings.Builder
	for _, c := range calls {
		r := httptest.NewRequest(c.method, c.target, strings.NewReader(c.body))
		r.Host = "verdict.test"
		for i := 0; i+1 < len(c.header); i += 2 {
			r.Header.Set(c.header[i], c.header[i+1])
		}
		w := httptest.NewRecorder()
		d.ServeHTTP(w, r)
		fmt.Fprintf(&b, "### %s\n> %s %s\n< %d\n", c.title, c.method, c.target, w.Code)
		names := make([]string, 0, len(w.Header()))
		for k := range w.Header() {
			names = append(names, k)
		}
		slices.Sort(names)
		for _, k := range names {
			for _, v := range w.Header()[k] {
				fmt.Fprintf(&b, "< %s: %s\n", k, v)
			}
		}
		if body := strings.TrimSpace(w.Body.String()); body != "" {
			fmt.Fprintf(&b, "<\n%s\n", body)
		}
		b.WriteString("\n")
	}
	file := filepath.Join("testdata", "golden", "default.txt")
	if *update {
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test -run TestGoldenDefault -update to create it)", err)
	}
	if got := b.String(); got != string(want) {
		t.Errorf("answers differ from %s (run with -update after checking):\n%s", file, got)
	}
}
