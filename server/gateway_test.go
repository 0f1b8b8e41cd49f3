package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/verdict-policy/verdict/config"
)

// startGateway runs a server whose configuration cfg gets loopback ports
// for every listener, and returns it with its config file's path.
func startGateway(t *testing.T, cfg string) (*Server, string) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "verdict.yaml")
	writeFile(t, path, "listen: {policy: \"127.0.0.1:0\", admin: \"127.0.0.1:0\", gateway: \"127.0.0.1:0\"}\n"+cfg)
	c, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(c, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return s, path
}

func get(t *testing.T, url, host string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body), res.Header
}

func TestGatewayListener(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "api says hi to "+r.URL.Path)
	}))
	defer up.Close()
	s, path := startGateway(t, "services:\n  - id: 1\n    proxy: {hosts: [api.test], api_backend: "+up.URL+"}\n")
	if s.GatewayAddr() == "" {
		t.Fatal("no gateway listener")
	}
	gw := "http://" + s.GatewayAddr()
	if code, body, _ := get(t, gw+"/x", "api.test"); code != 200 || body != "api says hi to /x" {
		t.Fatalf("got %d %q", code, body)
	}
	if code, _, _ := get(t, gw+"/x", "other.test"); code != 404 {
		t.Errorf("unknown host: %d", code)
	}

	// A reload changes the chain; a bad one keeps it.
	writeFile(t, path, "listen: {policy: \"127.0.0.1:0\", admin: \"127.0.0.1:0\", gateway: \"127.0.0.1:0\"}\n"+
		"services:\n  - id: 1\n    proxy: {hosts: [api.test], policy_chain: [{name: echo, configuration: {status: 202}}]}\n")
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if code, body, _ := get(t, gw+"/x", "api.test"); code != 202 || body != "GET /x HTTP/1.1\n" {
		t.Fatalf("after reload: %d %q", code, body)
	}
	writeFile(t, path, "listen: {policy: \"127.0.0.1:0\", admin: \"127.0.0.1:0\", gateway: \"127.0.0.1:0\"}\n"+
		"services:\n  - id: 1\n    proxy: {hosts: [api.test], policy_chain: [{name: nonexistent}]}\n")
	err := s.Reload()
	if err == nil || !strings.Contains(err.Error(), "services[0].proxy.policy_chain[0]: policy nonexistent") {
		t.Fatalf("bad reload: %v", err)
	}
	if code, _, _ := get(t, gw+"/x", "api.test"); code != 202 {
		t.Errorf("after a bad reload: %d", code)
	}

	// The gateway's metrics are on the admin listener.
	_, metrics, _ := get(t, "http://"+s.AdminAddr()+"/metrics", "")
	for _, want := range []string{`verdict_gateway_requests_total{service="1",status="202"}`, `verdict_gateway_upstream_duration_seconds_count{service="1"}`,
		`verdict_gateway_phase_duration_seconds_count{phase="content",service="1"}`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestNoGatewayListenerWithoutServices(t *testing.T) {
	s, _ := startGateway(t, "")
	if s.GatewayAddr() != "" {
		t.Errorf("gateway listening on %s without services", s.GatewayAddr())
	}
}

func TestPoliciesListing(t *testing.T) {
	s, _ := startGateway(t, "")
	code, body, h := get(t, "http://"+s.AdminAddr()+"/v1/policies", "")
	if code != 200 || h.Get("Content-Type") != "application/json" {
		t.Fatalf("got %d %s", code, h.Get("Content-Type"))
	}
	var out struct {
		Policies []struct {
			Name     string `json:"name"`
			Version  string `json:"version"`
			Manifest struct {
				Name          string          `json:"name"`
				Summary       string          `json:"summary"`
				Configuration json.RawMessage `json:"configuration"`
			} `json:"manifest"`
		} `json:"policies"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, p := range out.Policies {
		seen[p.Name] = true
		if p.Version != "builtin" || p.Manifest.Name == "" || p.Manifest.Summary == "" || len(p.Manifest.Configuration) == 0 {
			t.Errorf("incomplete listing %+v", p)
		}
	}
	for _, want := range []string{"apicast", "authorize", "echo", "phase_logger", "upstream", "upstream_connection"} {
		if !seen[want] {
			t.Errorf("%s not listed", want)
		}
	}
	req, _ := http.NewRequest("POST", "http://"+s.AdminAddr()+"/v1/policies", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 405 {
		t.Errorf("POST: %d", res.StatusCode)
	}
}

// Large bodies cross the gateway listener both ways: an upload of unknown
// length (chunked) and one with a length reach the upstream whole, and a
// response larger than the listener buffers streams back whole.
func TestGatewayListenerStreamsLargeBodies(t *testing.T) {
	const size = 3 << 20
	big := strings.Repeat("0123456789abcdef", size/16)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			_, _ = io.WriteString(w, big)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil || string(body) != big {
			http.Error(w, "upload arrived damaged", http.StatusBadRequest)
			return
		}
		_, _ = io.WriteString(w, "got all")
	}))
	defer up.Close()
	s, _ := startGateway(t, "services:\n  - id: 1\n    proxy: {hosts: [api.test], api_backend: "+up.URL+"}\n")
	gw := "http://" + s.GatewayAddr()

	if code, body, _ := get(t, gw+"/big", "api.test"); code != 200 || body != big {
		t.Fatalf("download: %d, %d bytes, want 200 and %d", code, len(body), len(big))
	}
	for _, tc := range []struct {
		name string
		body io.Reader
	}{
		{"with a length", strings.NewReader(big)},
		{"chunked", io.MultiReader(strings.NewReader(big))}, // no length known
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, gw+"/up", tc.body)
			if err != nil {
				t.Fatal(err)
			}
			req.Host = "api.test"
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			got, _ := io.ReadAll(res.Body)
			if res.StatusCode != 200 || string(got) != "got all" {
				t.Fatalf("upload: %d %q", res.StatusCode, got)
			}
		})
	}
}
