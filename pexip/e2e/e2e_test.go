// Package e2e drives a whole Verdict server through its Pexip endpoints.
package e2e

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/verdict-policy/verdict/config"
	"github.com/verdict-policy/verdict/server"
)

// startServer runs a whole Verdict server for cfg on free loopback ports.
func startServer(t *testing.T, cfg *config.Config) *server.Server {
	t.Helper()
	cfg.Listen.Policy, cfg.Listen.Admin = "127.0.0.1:0", "127.0.0.1:0"
	s, err := server.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
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
			t.Error(err)
		}
	})
	return s
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

const seedVMR = `{"status":"success","action":"continue","result":{"service_type":"conference","name":"my-vmr-conference","service_tag":"my-service","description":"","call_tag":"","pin":"2931","guest_pin":"","guests_can_present":true,"allow_guests":true,"view":"five_mains_seven_pips","locked":false}}`

// The built-in configuration answers like Pexip's Express example, for
// every alias form, and falls back for the rest.
func TestBuiltInDefaultIsTheSeedDemo(t *testing.T) {
	cfg, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, cfg)
	base := "http://" + s.PolicyAddr() + "/policy/v1/service/configuration?"
	tests := []struct {
		query  string
		status int
		body   string
	}{
		{"local_alias=my-vmr-conference", 200, seedVMR},
		{"local_alias=my-vmr-conference%40example.com&protocol=webrtc", 200, seedVMR},
		{"local_alias=sip%3Amy-vmr-conference%40example.com&protocol=sip", 200, seedVMR},
		{"local_alias=sip%3Amy-vmr-conference%40example.com%3Btransport%3Dtls", 200, seedVMR},
		{"local_alias=meet.alice", 404, `{"status":"fail","action":"continue","result":{}}`},
		{"local_alias=", 404, `{"status":"fail","action":"continue","result":{}}`},
		{"", 404, `{"status":"fail","action":"continue","result":{}}`},
	}
	for _, tt := range tests {
		status, body := get(t, base+tt.query)
		if status != tt.status || body != tt.body {
			t.Errorf("%s: got %d %s\nwant %d %s", tt.query, status, body, tt.status, tt.body)
		}
	}
	// The other request types are not enabled in the seed: they fall back.
	for _, p := range []string{"participant/properties?local_alias=my-vmr-x", "participant/location?local_alias=my-vmr-x", "registrations/room1?protocol=sip", "registrations?q=a", "participant/avatar/a?width=1&height=1"} {
		if status, _ := get(t, "http://"+s.PolicyAddr()+"/policy/v1/"+p); status != 404 {
			t.Errorf("%s: status %d, want 404", p, status)
		}
	}
	// The rest of the server is unchanged by the Pexip door.
	if status, body := get(t, "http://"+s.AdminAddr()+"/metrics"); status != 200 || !strings.Contains(body, `verdict_pexip_requests_total{outcome="answer",request_type="service_configuration"} 4`) {
		t.Errorf("metrics: %d\n%s", status, grep(body, "verdict_pexip_requests_total"))
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if e.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The example configuration served by a whole server: answers over HTTP,
// and tables reloaded when their file changes, a broken file keeping the
// running table.
func TestExampleConfigServed(t *testing.T) {
	dir := t.TempDir()
	copyDir(t, "../../examples/pexip", dir)
	cfg, err := config.Load(filepath.Join(dir, "verdict.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, cfg)
	url := "http://" + s.PolicyAddr() + "/policy/v1/service/configuration?protocol=sip&call_direction=dial_in&local_alias=sip%3Ameet.carol%40example.com"
	if status, _ := get(t, url); status != 404 {
		t.Fatalf("meet.carol before she is in the table: %d", status)
	}
	vmrs := filepath.Join(dir, "vmrs.csv")
	old, _ := os.ReadFile(vmrs)
	add := string(old) + "meet.carol,meet.carol,7777,,false,one_main_zero_pips,Carol's room,\n"
	if err := os.WriteFile(vmrs, []byte(add), 0o644); err != nil {
		t.Fatal(err)
	}
	want := `{"status":"success","action":"continue","result":{"service_type":"conference","name":"meet.carol","service_tag":"vmr","description":"Carol's room","pin":"7777","allow_guests":false,"view":"one_main_zero_pips"}}`
	waitFor(t, func() bool { _, body := get(t, url); return body == want }, "the new VMR after the table changed")

	if err := os.WriteFile(vmrs, []byte(add+"broken,\"unterminated\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond) // the watcher settles, then the reload fails
	if _, body := get(t, url); body != want {
		t.Fatalf("after a broken table file: %s", body)
	}
	if status, body := get(t, "http://"+s.PolicyAddr()+"/policy/v1/registrations?q=bob&limit=10"); status != 200 || !strings.Contains(body, `"alias":"bob@example.com"`) {
		t.Errorf("directory: %d %s", status, body)
	}
	if status, _ := get(t, "http://"+s.PolicyAddr()+"/policy/v1/participant/avatar/alice%40example.com?width=64&height=48"); status != 200 {
		t.Errorf("avatar: %d", status)
	}
	if status, body := get(t, "http://"+s.PolicyAddr()+"/policy/v1/service/configuration?local_alias=%zz"); status != 400 || !strings.Contains(body, "invalid_query") {
		t.Errorf("bad escape: %d %s", status, body)
	}
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
