package h2

import (
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/verdict-policy/verdict/internal/h1"
)

// BodyTimeout returns h with a bound on each wait for more of a request
// body, for servers other than h1 (which has its own): a Read of the body
// that waits d for the client fails with h1.ErrBodyTimeout, and so does
// every Read after it. Only time spent inside Read counts: a handler busy
// elsewhere between reads does not use up the client's time. A d of zero
// or less returns h.
//
// A request without a body costs nothing; one with a body costs a timer.
func BodyTimeout(h http.Handler, d time.Duration) http.Handler {
	if d <= 0 {
		return h
	}
	return &bodyTimeout{next: h, d: d}
}

type bodyTimeout struct {
	next http.Handler
	d    time.Duration
}

func (t *bodyTimeout) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		t.next.ServeHTTP(w, r)
		return
	}
	b := &timedBody{rc: r.Body, d: t.d}
	b.timer = time.AfterFunc(t.d, b.expire)
	b.timer.Stop()
	if r.ProtoMajor == 1 {
		// Closing an HTTP/1 body of net/http waits for a Read in
		// progress; a deadline in the past ends the Read instead.
		b.w, _ = w.(readDeadliner)
	}
	r.Body = b
	defer b.stop()
	t.next.ServeHTTP(w, r)
}

// readDeadliner is what net/http's ResponseWriters offer (see
// http.ResponseController).
type readDeadliner interface {
	SetReadDeadline(time.Time) error
}

// timedBody is a request body whose Reads each have d to wait.
type timedBody struct {
	rc      io.ReadCloser
	d       time.Duration
	w       readDeadliner // for HTTP/1; nil: the body is closed instead
	timer   *time.Timer   // runs only during a Read; safe for concurrent use
	expired atomic.Bool
}

func (b *timedBody) Read(p []byte) (int, error) {
	if b.expired.Load() {
		return 0, h1.ErrBodyTimeout
	}
	b.timer.Reset(b.d)
	n, err := b.rc.Read(p)
	if !b.timer.Stop() {
		// The timer went off during this Read, which its kick ended.
		b.expired.Store(true)
		return n, h1.ErrBodyTimeout
	}
	return n, err
}

// expire ends the Read in progress.
func (b *timedBody) expire() {
	b.expired.Store(true)
	if b.w != nil {
		_ = b.w.SetReadDeadline(time.Unix(1, 0))
		return
	}
	_ = b.rc.Close()
}

func (b *timedBody) Close() error {
	b.stop()
	return b.rc.Close()
}

func (b *timedBody) stop() { b.timer.Stop() }
