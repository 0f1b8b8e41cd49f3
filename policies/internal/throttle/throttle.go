// Package throttle keeps a failure that repeats on every request (an
// identity provider or a store that cannot be reached) from writing a log
// line per request: a Log lets one line through per interval and counts
// the occurrences it held back, for the next line to report.
package throttle

import (
	"sync/atomic"
	"time"
)

// Log decides when a repeated failure is logged. The zero Log lets a line
// through at once and then at most once per second. It is safe for
// concurrent use.
type Log struct {
	// Every is the least time between two lines; zero means a second.
	Every time.Duration

	last atomic.Int64 // Unix nanoseconds of the last line let through
	held atomic.Uint64
}

// Allow records one occurrence at now and reports whether to log it; when
// it does, held is how many occurrences were not logged since the last
// line.
func (l *Log) Allow(now time.Time) (held uint64, ok bool) {
	every := l.Every
	if every <= 0 {
		every = time.Second
	}
	t := now.UnixNano()
	last := l.last.Load()
	if (last != 0 && t-last < int64(every)) || !l.last.CompareAndSwap(last, t) {
		l.held.Add(1)
		return 0, false
	}
	return l.held.Swap(0), true
}
