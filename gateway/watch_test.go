package gateway

import (
	"context"
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// pipe returns a watchedConn over one end of a pipe and the other end.
func pipe(t *testing.T, read, send time.Duration) (*watchedConn, net.Conn) {
	t.Helper()
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	return &watchedConn{Conn: a, read: read, send: send}, b
}

func TestWatchedConnReadTimeout(t *testing.T) {
	for _, tc := range []struct {
		name    string
		timeout time.Duration
		watched bool
	}{
		{"shorter than a heartbeat", 50 * time.Millisecond, true},
		{"longer than a heartbeat", 2*heartbeat + 50*time.Millisecond, true},
		{"unwatched", 2*heartbeat + 50*time.Millisecond, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := pipe(t, tc.timeout, 0)
			if tc.watched {
				c.watch = context.Background()
			}
			start := time.Now()
			_, err := c.Read(make([]byte, 8))
			took := time.Since(start)
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("error %v, want a timeout", err)
			}
			if took < tc.timeout*15/16 || took > tc.timeout+time.Second {
				t.Errorf("timed out after %s, want about %s", took, tc.timeout)
			}
		})
	}
}

func TestWatchedConnInterruptedByContext(t *testing.T) {
	c, _ := pipe(t, time.Minute, 0)
	ctx, cancel := context.WithCancel(context.Background())
	c.watch = ctx
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err := c.Read(make([]byte, 8))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if took := time.Since(start); took > 100*time.Millisecond+2*heartbeat+time.Second {
		t.Errorf("interrupted after %s, want within a heartbeat of the cancel", took)
	}
}

func TestWatchedConnSlowStreamKeepsGoing(t *testing.T) {
	// A byte every 300 ms under a read timeout of 2 s: every read waits
	// across a heartbeat, none near its timeout.
	c, other := pipe(t, 2*time.Second, 0)
	c.watch = context.Background()
	go func() {
		for range 3 {
			time.Sleep(300 * time.Millisecond)
			if _, err := other.Write([]byte{'x'}); err != nil {
				return
			}
		}
	}()
	buf := make([]byte, 1)
	for i := range 3 {
		if _, err := c.Read(buf); err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
	}
}

func TestWatchedConnWriteWaitsAcrossHeartbeats(t *testing.T) {
	// The reader takes its time: the write waits more than a heartbeat
	// and completes, whole.
	c, other := pipe(t, 0, time.Minute)
	c.watch = context.Background()
	got := make(chan []byte, 1)
	go func() {
		time.Sleep(heartbeat + 100*time.Millisecond)
		buf := make([]byte, 5)
		n := 0
		for n < len(buf) {
			m, err := other.Read(buf[n:])
			if err != nil {
				break
			}
			n += m
		}
		got <- buf[:n]
	}()
	if n, err := c.Write([]byte("hello")); n != 5 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if b := <-got; string(b) != "hello" {
		t.Fatalf("the other side read %q", b)
	}
}
