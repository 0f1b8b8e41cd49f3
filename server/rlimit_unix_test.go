//go:build unix

package server

import (
	"syscall"
	"testing"
)

func TestRaiseOpenFileLimit(t *testing.T) {
	var before syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &before); err != nil {
		t.Fatal(err)
	}
	if before.Max <= 512 {
		t.Skipf("hard open-file limit %d leaves nothing to raise", before.Max)
	}
	low := before
	low.Cur = 512
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &before) })
	got, err := RaiseOpenFileLimit()
	if err != nil {
		t.Fatal(err)
	}
	cur, hard, err := openFileLimit()
	if err != nil {
		t.Fatal(err)
	}
	if got != uint64(before.Max) || cur != hard || hard != uint64(before.Max) {
		t.Errorf("after raising: returned %d, soft %d, hard %d; want all %d", got, cur, hard, before.Max)
	}
}
