// Package processtest builds the verdict binary and runs it as a child
// process for tests that hold the deployment files and the interface
// descriptions to what the real program does: the binary is built with
// the flags a test names, started with a configuration on free loopback
// ports, and stopped with SIGTERM when the test ends.
package processtest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// startTimeout bounds how long Start waits for /healthz to answer 200. A
// busy machine running the race detector elsewhere is slow; the program
// itself starts in milliseconds.
const startTimeout = 30 * time.Second

// stopTimeout bounds how long a stopped process may take to exit before
// it is killed.
const stopTimeout = 15 * time.Second

// ModuleRoot returns the directory holding the module's go.mod, found by
// walking up from the working directory of the test.
func ModuleRoot(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("processtest: no go.mod above the working directory")
		}
		dir = parent
	}
}

// GoTool returns the go command of the toolchain running the test.
func GoTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// Build runs `go build` on ./cmd/verdict from the module root with env
// added to the environment and args before the package (flags such as
// -trimpath and -ldflags), writing the binary to out. It fails the test
// with the compiler's output when the build fails.
func Build(tb testing.TB, out string, env []string, args ...string) {
	tb.Helper()
	cmdArgs := append([]string{"build", "-o", out}, args...)
	cmdArgs = append(cmdArgs, "./cmd/verdict")
	cmd := exec.Command(GoTool(), cmdArgs...)
	cmd.Dir = ModuleRoot(tb)
	cmd.Env = append(os.Environ(), env...)
	if output, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go %s: %v\n%s", strings.Join(cmdArgs, " "), err, output)
	}
}

// Binary is the verdict binary built once per test process, in a
// temporary directory that Remove deletes. The zero value is ready to use.
type Binary struct {
	once sync.Once
	path string
	err  string
}

// Path builds the binary on first use and returns its path; later calls
// return the same path, or fail the same way.
func (b *Binary) Path(tb testing.TB) string {
	tb.Helper()
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "verdict-bin-")
		if err != nil {
			b.err = err.Error()
			return
		}
		b.path = filepath.Join(dir, "verdict")
		// As the Dockerfile builds it: the packages compiled for one
		// build serve the other from the build cache.
		cmd := exec.Command(GoTool(), "build", "-trimpath", "-o", b.path, "./cmd/verdict")
		cmd.Dir = ModuleRoot(tb)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Sprintf("go build: %v\n%s", err, out)
		}
	})
	if b.err != "" {
		tb.Fatal(b.err)
	}
	return b.path
}

// Remove deletes the built binary; call it from TestMain after the tests.
func (b *Binary) Remove() {
	if b.path != "" {
		_ = os.RemoveAll(filepath.Dir(b.path))
	}
}

// FreeAddr returns a loopback host:port that was free when asked.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Process is a running `verdict serve`.
type Process struct {
	cmd    *exec.Cmd
	logs   *lockedBuffer
	exited chan struct{}
	err    error // set before exited closes
}

// Start runs `verdict serve --config cfg` with env added to its
// environment and waits until GET /healthz on adminAddr answers 200. The
// process is stopped when the test ends.
func Start(tb testing.TB, bin, cfg, adminAddr string, env ...string) *Process {
	tb.Helper()
	cmd := exec.Command(bin, "serve", "--config", cfg, "--log-flush", "0")
	cmd.Env = append(os.Environ(), env...)
	p := &Process{cmd: cmd, logs: &lockedBuffer{}, exited: make(chan struct{})}
	cmd.Stdout = p.logs
	cmd.Stderr = p.logs
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start verdict serve: %v", err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	tb.Cleanup(p.Stop)

	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(startTimeout)
	for {
		resp, err := client.Get("http://" + adminAddr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case <-p.exited:
			tb.Fatalf("verdict serve exited early: %v\n%s", p.err, p.Logs())
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("verdict serve did not answer /healthz on %s within %s\n%s", adminAddr, startTimeout, p.Logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Pid returns the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Logs returns what the process wrote so far.
func (p *Process) Logs() string { return p.logs.String() }

// Signal sends sig to the process.
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// WaitLog waits until the process's output holds s, or ctx is done.
func (p *Process) WaitLog(ctx context.Context, s string) error {
	for {
		if strings.Contains(p.Logs(), s) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no %q in the logs: %w", s, ctx.Err())
		case <-p.exited:
			return fmt.Errorf("the process exited (%v) before logging %q", p.err, s)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Stop sends SIGTERM and waits for the process to exit, killing it when
// it takes too long.
func (p *Process) Stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(stopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// Exited reports whether the process has ended, and how.
func (p *Process) Exited() (bool, error) {
	select {
	case <-p.exited:
		return true, p.err
	default:
		return false, nil
	}
}

// SetField sets the field at a dotted path of a YAML document (a number
// indexes a list) and returns the document again.
func SetField(t testing.TB, doc, field string, value any) string {
	t.Helper()
	var root map[string]any
	if err := yaml.Unmarshal([]byte(doc), &root); err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(field, ".")
	var cur any = root
	for i, p := range parts {
		last := i == len(parts)-1
		switch c := cur.(type) {
		case map[string]any:
			if last {
				c[p] = value
				break
			}
			if c[p] == nil {
				c[p] = map[string]any{}
			}
			cur = c[p]
		case []any:
			n, err := strconv.Atoi(p)
			if err != nil || n >= len(c) {
				t.Fatalf("setField %s: %q is not an index of the list", field, p)
			}
			if last {
				c[n] = value
				break
			}
			cur = c[n]
		default:
			t.Fatalf("setField %s: %q is under a scalar", field, p)
		}
	}
	out, err := yaml.Marshal(root)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// lockedBuffer collects a child's output while a test reads it.
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
