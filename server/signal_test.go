//go:build unix

package server

import (
	"path/filepath"
	"syscall"
	"testing"
)

func TestSIGHUPReloads(t *testing.T) {
	ts := start(t, "  api: api.json\n", map[string]string{"api.json": permitRead})
	read := `{"action": "read"}`
	// Run has subscribed to SIGHUP before it serves, so once a request is
	// answered the signal cannot kill the test process.
	if got := ts.decision("api", read); got != "permit" {
		t.Fatalf("at start: %s", got)
	}
	writeFile(t, filepath.Join(ts.dir, "api.json"), denyRead)
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	ts.eventually("api", read, "deny")
}
