//go:build unix

package server

import (
	"fmt"
	"syscall"
)

// openFileLimit returns the process's soft and hard limits on open files.
func openFileLimit() (cur, max uint64, err error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, 0, fmt.Errorf("reading the open-file limit: %w", err)
	}
	return uint64(lim.Cur), uint64(lim.Max), nil
}

// RaiseOpenFileLimit raises the process's soft limit on open files to its
// hard limit, so that the connection limits derived from it are as high as
// the system allows, and returns the limit in force. (The Go runtime does
// the same at start on most systems; raising it here makes it explicit
// and reports it.)
func RaiseOpenFileLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("reading the open-file limit: %w", err)
	}
	if lim.Cur < lim.Max {
		raised := lim
		raised.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err != nil {
			return uint64(lim.Cur), fmt.Errorf("raising the open-file limit from %d to %d: %w", lim.Cur, lim.Max, err)
		}
		lim = raised
	}
	return uint64(lim.Cur), nil
}
