//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package gateway

import "syscall"

// peek looks at the socket of an idle connection for one byte without
// taking it and without blocking: nothing there (EAGAIN) is the one
// state in which the connection can carry a request.
func (pc *pconn) peek(fd uintptr) {
	for {
		n, _, err := syscall.Recvfrom(int(fd), pc.peekBuf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN || err == syscall.EWOULDBLOCK:
			pc.peekSeen = idleFine
		case err != nil || n == 0:
			pc.peekSeen = idleClosed
		default:
			pc.peekSeen = idleData
		}
		return
	}
}
