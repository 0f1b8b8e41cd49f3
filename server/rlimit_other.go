//go:build !unix

package server

import "errors"

// openFileLimit reports that the system has no open-file limit to read.
func openFileLimit() (cur, max uint64, err error) { return 0, 0, errors.ErrUnsupported }

// RaiseOpenFileLimit does nothing where there is no open-file limit.
func RaiseOpenFileLimit() (uint64, error) { return 0, errors.ErrUnsupported }
