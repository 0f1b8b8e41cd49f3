package gateway_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/verdict-policy/verdict/gateway/gatewaytest"
	_ "github.com/verdict-policy/verdict/policies/all"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// goldenRequest is a request the golden test sends to a configuration.
type goldenRequest struct {
	method, host, target string
	header               map[string]string
	body                 string
}

// goldenRequests are the requests sent to each golden configuration.
var goldenRequests = map[string][]goldenRequest{
	"seed_example": {
		{method: "GET", host: "localhost", target: "/hello", header: map[string]string{"Origin": "https://a.example"}},
		{method: "OPTIONS", host: "localhost", target: "/hello", header: map[string]string{"Origin": "https://a.example", "Access-Control-Request-Method": "POST"}},
		{method: "GET", host: "elsewhere.example", target: "/"},
	},
	"apicast_large": {
		{method: "GET", host: "pets.example.com", target: "/pets/7", header: map[string]string{"Origin": "https://app.example.com"}},
		{method: "GET", host: "pets.example.com", target: "/v2/pets?kind=cat"},
		{method: "POST", host: "pets.example.com", target: "/pets", body: "{}"},
		{method: "DELETE", host: "pets.example.com", target: "/pets/7"},
		{method: "GET", host: "legacy.example.com", target: "/v1/users"},
		{method: "GET", host: "eu.legacy.example.com", target: "/v2/users"},
		{method: "GET", host: "internal.example.com", target: "/"},
		{method: "GET", host: "closed.example.com", target: "/"},
		{method: "GET", host: "teapot.example.com", target: "/tea"},
		{method: "GET", host: "localhost", target: "/echo?x=1"},
		{method: "GET", host: "defaults.example.com", target: "/ok"},
		{method: "GET", host: "defaults.example.com", target: "/nope"},
		{method: "GET", host: "nobody.example.com", target: "/"},
	},
}

// TestGolden loads each configuration under testdata/golden, as an
// APIcast file would be given to --config, and compares what the gateway
// made of it and how it answers a few requests with the .golden file.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/golden/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".json")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			up := gatewaytest.StartUpstream(t, nil)
			gw := gatewaytest.Start(t, strings.ReplaceAll(string(raw), "${UPSTREAM}", up.URL))

			var b strings.Builder
			desc, err := json.MarshalIndent(gw.Gateway.Describe(), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			b.Write(desc)
			b.WriteString("\n")
			for _, gr := range goldenRequests[name] {
				var body *strings.Reader
				if gr.body != "" {
					body = strings.NewReader(gr.body)
				}
				var r *http.Request
				if body != nil {
					r = gw.NewRequest(gr.method, gr.target, body)
				} else {
					r = gw.NewRequest(gr.method, gr.target, nil)
				}
				r.Host = gr.host
				for k, v := range gr.header {
					r.Header.Set(k, v)
				}
				before := len(up.Requests())
				res := gw.Do(t, r)
				fmt.Fprintf(&b, "\n%s %s%s\n  -> %d %q\n", gr.method, gr.host, gr.target, res.Status, res.Body)
				for _, k := range sortedKeys(res.Header) {
					if k == "Date" || k == "Content-Length" {
						continue
					}
					fmt.Fprintf(&b, "  %s: %s\n", k, strings.Join(res.Header.Values(k), ", "))
				}
				if len(up.Requests()) > before {
					got := up.Last(t)
					fmt.Fprintf(&b, "  upstream got %s %s", got.Method, got.Path)
					if got.RawQuery != "" {
						fmt.Fprintf(&b, "?%s", got.RawQuery)
					}
					fmt.Fprintf(&b, " X-Gateway=%q\n", got.Header.Get("X-Gateway"))
				} else {
					b.WriteString("  upstream not reached\n")
				}
			}
			out := strings.ReplaceAll(b.String(), up.URL, "${UPSTREAM}")
			golden := strings.TrimSuffix(file, ".json") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if out != string(want) {
				t.Errorf("%s differs:\n--- got\n%s\n--- want\n%s", golden, out, want)
			}
		})
	}
}

func sortedKeys(h http.Header) []string {
	out := make([]string, 0, len(h))
	for k := range h {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
