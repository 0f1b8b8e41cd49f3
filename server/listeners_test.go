package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// earlyAnswer is what a client uploading a large body saw of an answer
// the server gave before reading it.
type earlyAnswer struct {
	status   int
	readErr  error // reading the answer
	writeErr error // sending the body, before the answer was read
	after    error // reading on once the answer was in: io.EOF when closed cleanly
}

// uploadEarly sends head and then size bytes of body the way curl and
// browsers do: it keeps sending while it watches for an answer, and stops
// once one has arrived. The connection is raw TCP, so nothing between the
// client and the server hides a reset.
func uploadEarly(t *testing.T, addr, head string, size int) earlyAnswer {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	answered := make(chan struct{})
	wrote := make(chan error, 1)
	go func() {
		if _, err := io.WriteString(conn, head); err != nil {
			wrote <- err
			return
		}
		chunk := []byte(strings.Repeat("x", 64<<10))
		for sent := 0; sent < size; sent += len(chunk) {
			select {
			case <-answered:
				wrote <- nil
				return
			default:
			}
			if _, err := conn.Write(chunk[:min(len(chunk), size-sent)]); err != nil {
				select {
				case <-answered: // the answer was read first: a client has it
					wrote <- nil
				default:
					wrote <- err
				}
				return
			}
		}
		wrote <- nil
	}()
	var a earlyAnswer
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		a.readErr = err
	} else {
		_, a.readErr = io.ReadAll(resp.Body)
		a.status = resp.StatusCode
	}
	close(answered)
	a.writeErr = <-wrote
	if a.readErr == nil {
		_, a.after = br.ReadByte()
	}
	return a
}

// TestEarlyAnswerToLargeUpload holds every listener to answering a client
// that is still sending a large body without resetting the connection:
// the answer (413 for a body over the limit, 404 for an unknown host) is
// written, the sending side closed, and what the client still sends read
// and dropped, so that the client gets the answer every time.
func TestEarlyAnswerToLargeUpload(t *testing.T) {
	const size = 16 << 20
	s, _ := startGateway(t, "services:\n  - id: 1\n    proxy: {hosts: [api.test], policy_chain: [{name: echo}]}\n")
	tests := []struct {
		name, addr, head string
		status           int
	}{
		{"decision API, body over the limit", s.PolicyAddr(),
			fmt.Sprintf("POST /v1/decide HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", size), 413},
		{"gateway, unknown host", s.GatewayAddr(),
			fmt.Sprintf("POST /upload HTTP/1.1\r\nHost: nosuch.test\r\nContent-Length: %d\r\n\r\n", size), 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for try := range 20 {
				a := uploadEarly(t, tt.addr, tt.head, size)
				if a.readErr != nil || a.status != tt.status {
					t.Fatalf("try %d: status %d, error %v; want %d", try, a.status, a.readErr, tt.status)
				}
				if a.writeErr != nil {
					t.Fatalf("try %d: sending the body failed before the answer was read: %v", try, a.writeErr)
				}
				if a.after != io.EOF {
					t.Fatalf("try %d: after the answer: %v, want the connection closed cleanly", try, a.after)
				}
			}
		})
	}
}
