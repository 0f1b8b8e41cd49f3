package e2e

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestVerdictServe builds the verdict command, runs `verdict serve` with
// the example configuration on free loopback ports and drives it over
// HTTP, then stops it with SIGTERM.
func TestVerdictServe(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "verdict")
	build := exec.Command("go", "build", "-o", bin, "github.com/verdict-policy/verdict/cmd/verdict")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dir := t.TempDir()
	copyDir(t, "../../examples/pexip", dir)
	cfgFile := filepath.Join(dir, "verdict.yaml")
	data, err := os.ReadFile(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	data = []byte(strings.NewReplacer(`"127.0.0.1:3000"`, `"127.0.0.1:0"`, `"127.0.0.1:9421"`, `"127.0.0.1:0"`).Replace(string(data)))
	if err := os.WriteFile(cfgFile, data, 0o644); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "serve", "--config", cfgFile, "--log-format", "text")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	addr := make(chan string, 1)
	logs := make(chan string, 1000)
	go func() {
		serving := regexp.MustCompile(`msg=serving policy=(\S+)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			if m := serving.FindStringSubmatch(line); m != nil {
				addr <- m[1]
			}
			select {
			case logs <- line:
			default:
			}
		}
		close(logs)
	}()
	var policy string
	select {
	case policy = <-addr:
	case <-time.After(20 * time.Second):
		t.Fatal("verdict serve did not start")
	}
	base := "http://" + policy + "/policy/v1/"
	tests := []struct {
		path   string
		status int
		body   string
	}{
		{"service/configuration?protocol=sip&call_direction=dial_in&local_alias=sip%3Ameet.alice%40example.com%3Btransport%3Dtls",
			200, `{"status":"success","action":"continue","result":{"service_type":"conference","name":"meet.alice","service_tag":"vmr","description":"Alice's room","pin":"1234","guest_pin":"5678","allow_guests":true,"view":"one_main_seven_pips"}}`},
		{"service/configuration?protocol=webrtc&local_alias=meet.alice",
			200, `{"status":"success","action":"continue","result":{"service_type":"conference","name":"meet.alice","service_tag":"vmr","description":"Alice's room","pin":"1234","guest_pin":"5678","allow_guests":true,"view":"one_main_seven_pips"}}`},
		{"participant/location?remote_address=10.47.1.2",
			200, `{"status":"success","result":{"location":"Oslo","primary_overflow_location":"London"}}`},
		{"registrations/room2%40example.com?protocol=sip",
			200, `{"status":"success","action":"continue","result":{"username":"room2","password":"s3cret-room2"}}`},
		{"registrations?q=carol&limit=10",
			200, `{"status":"success","result":[{"username":"carol","alias":"carol@example.com","description":"Carol Alvarez"}],"ignore_local":false}`},
		{"service/configuration?local_alias=nobody",
			404, `{"status":"fail","action":"continue","result":{}}`},
	}
	for _, tt := range tests {
		status, body := get(t, base+tt.path)
		if status != tt.status || body != tt.body {
			t.Errorf("%s: got %d %s\nwant %d %s", tt.path, status, body, tt.status, tt.body)
		}
	}
	if status, _ := get(t, base+"participant/avatar/alice%40example.com?width=32&height=32"); status != 200 {
		t.Errorf("avatar: %d", status)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("verdict serve exited with %v", err)
	}
	var sawRequestLog bool
	for line := range logs {
		if strings.Contains(line, `msg="pexip request" request_type=registration outcome=answer status=200`) {
			sawRequestLog = true
		}
	}
	if !sawRequestLog {
		t.Error("no request log line for the registration")
	}
}
