package h1

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// sendWhileReading sends head and then size bytes of body while it reads
// the answer, as curl and browsers do, and stops sending once the answer
// is in. It returns the answer's status, the error of a write that failed
// before the answer was read, and what reading on after the answer gave
// (io.EOF when the server closed cleanly).
func sendWhileReading(t *testing.T, addr, head string, size int) (status int, writeErr, after error) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(6 * testTimeout))
	answered := make(chan struct{})
	wrote := make(chan error, 1)
	go func() {
		chunk := []byte(strings.Repeat("b", 64<<10))
		_, err := io.WriteString(conn, head)
		for sent := 0; err == nil && sent < size; sent += len(chunk) {
			select {
			case <-answered:
				wrote <- nil
				return
			default:
			}
			_, err = conn.Write(chunk[:min(len(chunk), size-sent)])
		}
		select {
		case <-answered:
			err = nil // the answer was read first: a client has it
		default:
		}
		wrote <- err
	}()
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		close(answered)
		t.Fatalf("reading the answer: %v (sending: %v)", err, <-wrote)
	}
	if _, err := io.ReadAll(resp.Body); err != nil {
		t.Fatalf("reading the answer's body: %v", err)
	}
	close(answered)
	writeErr = <-wrote
	_, after = br.ReadByte()
	return resp.StatusCode, writeErr, after
}

func TestEarlyAnswerWhileClientSends(t *testing.T) {
	const size = 16 << 20
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/close":
			// Reads a little, then asks for the connection to close.
			_, _ = io.ReadFull(r.Body, make([]byte, 1000))
			w.Header().Set("Connection", "close")
			w.WriteHeader(http.StatusForbidden)
		case "/panic":
			panic("the handler failed")
		default:
			http.Error(w, "too large", http.StatusRequestEntityTooLarge)
		}
	}))
	tests := []struct {
		name, head string
		status     int
	}{
		{"body with a length, not read", fmt.Sprintf("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", size), 413},
		{"chunked body, not read", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1000000\r\n", 413},
		{"handler closes the connection", fmt.Sprintf("POST /close HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", size), 403},
		{"handler panics", fmt.Sprintf("POST /panic HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", size), 500},
		{"request the server refuses", fmt.Sprintf("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nContent-Length: 1\r\n\r\n", size), 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for try := range 20 {
				status, writeErr, after := sendWhileReading(t, ts.addr, tt.head, size)
				if status != tt.status {
					t.Fatalf("try %d: status %d, want %d", try, status, tt.status)
				}
				if writeErr != nil {
					t.Fatalf("try %d: sending failed before the answer was read: %v", try, writeErr)
				}
				if after != io.EOF {
					t.Fatalf("try %d: after the answer: %v, want the connection closed cleanly", try, after)
				}
			}
		})
	}
}

// TestCloseGentlyIsBounded holds the read-and-drop before a close to its
// bounds: a client that keeps sending is cut off, one that goes quiet is
// let go.
func TestCloseGentlyIsBounded(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusForbidden)
	}))
	t.Run("quiet client", func(t *testing.T) {
		c := dialRaw(t, ts.addr)
		c.send(fmt.Sprintf("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", maxDrain+1))
		c.read("POST")
		start := time.Now()
		c.expectClosed()
		if d := time.Since(start); d > lingerTime+testTimeout {
			t.Errorf("closed after %v", d)
		}
	})
	t.Run("client that never stops", func(t *testing.T) {
		c := dialRaw(t, ts.addr)
		c.send(fmt.Sprintf("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", int64(1)<<40))
		c.read("POST")
		_ = c.SetDeadline(time.Now().Add(lingerTime + testTimeout))
		chunk := make([]byte, 64<<10)
		start := time.Now()
		sent := 0
		var err error
		for err == nil {
			var n int
			n, err = c.Write(chunk)
			sent += n
		}
		if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
			t.Fatalf("sending ended with %v, want the server to close", err)
		}
		if d := time.Since(start); d < lingerTime/2 && sent < lingerBytes {
			t.Errorf("cut off after %v and %d bytes, before either bound (%v, %d bytes)", d, sent, lingerTime, lingerBytes)
		}
	})
}
