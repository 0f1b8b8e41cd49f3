package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/verdict-policy/verdict/authz"
	"github.com/verdict-policy/verdict/config"
)

// lockedBuffer collects a child's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startServe runs verdict serve through sh, so that script (ulimit, say)
// sets up the process first, and waits until its admin listener answers.
func startServe(t *testing.T, bin, script, cfg, adminAddr string) *lockedBuffer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "sh", "-c", script+`; exec "$0" serve --config "$1" --log-flush 0`, bin, cfg)
	logs := &lockedBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cancel()
		<-exited
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get("http://" + adminAddr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return logs
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("verdict serve exited early: %v\n%s", err, logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("verdict serve did not become healthy\n%s", logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// testFewOpenFiles runs verdict serve with 1,024 open files and holds more
// idle keep-alive connections to the policy listener than that: the
// policy listener closes idle ones to make room for new ones, and the
// admin listener keeps answering.
func testFewOpenFiles(t *testing.T, bin string) {
	if runtime.GOOS == "windows" {
		t.Skip("no open-file limit to set")
	}
	const nofile, clients = 1024, 1100
	policyAddr, adminAddr := freePort(t), freePort(t)
	cfg := writeFile(t, t.TempDir(), "verdict.yaml", fmt.Sprintf(
		"listen: {policy: %q, admin: %q}\npolicies:\n  rethink: {path: %s, vocabulary: rethink}\n",
		policyAddr, adminAddr, absPath(t, seedPolicies)))
	logs := startServe(t, bin, "ulimit -n "+strconv.Itoa(nofile), cfg, adminAddr)
	if !strings.Contains(logs.String(), "open_file_limit=1024") {
		t.Errorf("the connection limits are not logged with the open-file limit:\n%s", logs)
	}

	request := func(c net.Conn, br *bufio.Reader) error {
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, "GET /v1/policies HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
			return err
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		if err == nil && resp.StatusCode != 200 {
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		return err
	}
	var idle []net.Conn
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	for i := range clients {
		c, err := net.Dial("tcp", policyAddr)
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		idle = append(idle, c)
		if err := request(c, bufio.NewReader(c)); err != nil {
			t.Fatalf("client %d of %d: %v\n%s", i, clients, err, logs)
		}
	}

	// The admin listener answers, and its metrics show the policy
	// listener within its limit.
	resp, err := http.Get("http://" + adminAddr + "/metrics")
	if err != nil {
		t.Fatalf("admin listener with %d idle clients: %v", clients, err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`(?m)^verdict_connections_open\{listener="policy"\} (\d+)$`).FindSubmatch(metrics)
	if m == nil {
		t.Fatalf("no verdict_connections_open for the policy listener:\n%s", metrics)
	}
	if open, _ := strconv.Atoi(string(m[1])); open >= nofile-256 || open < 100 {
		t.Errorf("%d connections open on the policy listener with an open-file limit of %d", open, nofile)
	}
	if strings.Contains(logs.String(), "accepting a connection failed") {
		t.Errorf("the process ran out of files:\n%s", logs)
	}
}

// testExampleSecret runs verdict serve with the built-in configuration's
// HS256 secret: on loopback it serves and warns, naming the setting; with
// the policy listener on every interface it refuses to start.
func testExampleSecret(t *testing.T, bin string) {
	cfg, err := config.Default()
	if err != nil || authz.ConfigOf(cfg) == nil || authz.ConfigOf(cfg).JWT == nil || authz.ConfigOf(cfg).JWT.Secret == "" {
		t.Fatalf("the built-in configuration has no HS256 secret: %v", err)
	}
	dir := t.TempDir()
	policies := writeFile(t, dir, "authz.json", `[{"id": "r", "effect": "permit"}]`)
	file := func(policy, admin string) string {
		return writeFile(t, dir, "verdict.yaml", fmt.Sprintf(
			"listen: {policy: %q, admin: %q}\npolicies:\n  authz: %s\nauthz:\n  policy: authz\n  jwt: {hs256_secret: %q}\n",
			policy, admin, policies, authz.ConfigOf(cfg).JWT.Secret))
	}

	adminAddr := freePort(t)
	logs := startServe(t, bin, "true", file(freePort(t), adminAddr), adminAddr)
	if !regexp.MustCompile(`level=WARN msg="authz.jwt.hs256_secret is the published example secret.*setting=authz.jwt.hs256_secret`).MatchString(logs.String()) {
		t.Errorf("no warning naming the example secret:\n%s", logs)
	}

	path := file(":0", freePort(t))
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "serve", "--config", path)
	cmd.Stderr = &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("verdict serve started with the example secret on every interface:\n%s", stderr.String())
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Errorf("exit %v, want 1", err)
	}
	want := "verdict serve: " + path + ": authz.jwt.hs256_secret is the published example secret, and listen.policy (:0) is not on the loopback interface"
	if !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
	}
}
