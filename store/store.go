// Package store owns Verdict's shared state: counters with expiry,
// fixed-window and leaky-bucket limiters, concurrency leases, sliding-window
// event counts, sets and keyed tables. Two implementations sit behind the
// Store interface: Memory, the embedded default for a single process, and
// Redis, for several instances that must see one count. What a caller does
// when the store fails (allow or deny) is left to the caller; the store only
// reports the failure as ErrUnavailable.
package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"
)

// ErrUnavailable marks every failure to reach the backend (Redis down, a
// timeout, a broken connection). Test for it with errors.Is and apply the
// caller's on_store_error policy; the wrapped text is for logs only and must
// not be sent to clients.
var ErrUnavailable = errors.New("store unavailable")

// ErrFull is returned by TablePut on the memory store when a table already
// holds its maximum number of live entries.
var ErrFull = errors.New("table is full")

// ErrInvalid is returned for arguments no operation can honour, such as a
// limit below zero or a window of zero length.
var ErrInvalid = errors.New("invalid argument")

// Store is the whole shared-state interface. Every method takes a context
// first; an implementation is safe for concurrent use. Keys of the different
// kinds (counters, windows, buckets, leases, events, sets, tables) live in
// separate name spaces, so one key name may be used by several kinds.
type Store interface {
	Counters
	Limiters
	Events
	Sets
	Tables
	// Close releases the store's resources (the janitor goroutine, the
	// connection pool). The store must not be used afterwards.
	Close() error
}

// Counters are integers that expire.
type Counters interface {
	// Incr adds delta to the counter at key and returns the new value. A
	// counter that does not exist starts at 0 and, when ttl > 0, expires
	// ttl after this call; later increments keep that expiry.
	Incr(ctx context.Context, key string, delta int64, ttl time.Duration) (int64, error)
	// Get returns the counter's value and whether it exists.
	Get(ctx context.Context, key string) (int64, bool, error)
	// Delete removes the counter; removing a missing one is not an error.
	Delete(ctx context.Context, key string) error
}

// Limiters are the rate and concurrency limits a gateway enforces. Each
// call is one atomic step, so instances sharing a Redis store share the
// limit.
type Limiters interface {
	// Window counts one request in the fixed window of length window that
	// holds the current instant. Windows are aligned to the Unix epoch: a
	// 60 s window always starts on a whole minute. The request is allowed
	// while the count, this request included, is at most limit.
	Window(ctx context.Context, key string, limit int64, window time.Duration) (WindowResult, error)
	// Bucket runs one request through a leaky bucket that drains rate
	// requests per second and holds up to burst requests beyond that rate.
	// A request within the rate passes at once, one within the burst passes
	// after Delay, one beyond the burst is rejected with RetryAfter.
	Bucket(ctx context.Context, key string, rate float64, burst float64) (BucketResult, error)
	// Acquire takes one of limit concurrent leases on key. A lease that is
	// never released expires after ttl, so a crashed holder cannot keep a
	// slot forever. When Allowed is false nothing was taken and Release is
	// a no-op.
	Acquire(ctx context.Context, key string, limit int64, ttl time.Duration) (Lease, error)
}

// Events count occurrences over a sliding window, e.g. how many addresses a
// runtime allocated in the last minute.
type Events interface {
	// AddEvent records one event at the current instant and returns how many
	// events key has had in the last window, this one included.
	AddEvent(ctx context.Context, key string, window time.Duration) (int64, error)
	// CountEvents returns how many events key has had in the last window.
	CountEvents(ctx context.Context, key string, window time.Duration) (int64, error)
}

// Sets are unordered sets of strings. A set expires as a whole.
type Sets interface {
	// SetAdd adds members to the set at key and returns how many were new.
	// When ttl > 0 the set expires ttl after this call.
	SetAdd(ctx context.Context, key string, ttl time.Duration, members ...string) (int64, error)
	// SetRemove removes members and returns how many were there.
	SetRemove(ctx context.Context, key string, members ...string) (int64, error)
	// SetMembers returns the members in no particular order.
	SetMembers(ctx context.Context, key string) ([]string, error)
	// SetCard returns the number of members.
	SetCard(ctx context.Context, key string) (int64, error)
	// SetContains reports whether member is in the set.
	SetContains(ctx context.Context, key, member string) (bool, error)
}

// Tables map keys to values inside a named table; each entry may have its
// own expiry. A registry cache keyed by user URL, or a table of virtual
// meeting rooms keyed by alias, is one table each.
type Tables interface {
	// TablePut stores value under key in table. When ttl > 0 the entry
	// expires ttl after this call; ttl 0 keeps it until deleted.
	TablePut(ctx context.Context, table, key string, value []byte, ttl time.Duration) error
	// TableGet returns the entry's value and whether it exists.
	TableGet(ctx context.Context, table, key string) ([]byte, bool, error)
	// TableDelete removes the entry; removing a missing one is not an error.
	TableDelete(ctx context.Context, table, key string) error
	// TableAll returns every live entry of the table.
	TableAll(ctx context.Context, table string) (map[string][]byte, error)
}

// WindowResult is the outcome of one fixed-window step.
type WindowResult struct {
	// Allowed is true when the request fits in the limit.
	Allowed bool
	// Count is the number of requests counted in this window so far, this
	// one included, rejected ones too.
	Count int64
	// Remaining is how many more requests the window allows, never below 0.
	Remaining int64
	// Reset is the time left until the window ends and the count restarts.
	Reset time.Duration
}

// BucketResult is the outcome of one leaky-bucket step.
type BucketResult struct {
	// Allowed is true when the request passes, possibly after Delay.
	Allowed bool
	// Delay is how long an allowed request should wait before going on, so
	// that requests leave at the configured rate; 0 within the rate.
	Delay time.Duration
	// RetryAfter is, for a rejected request, the wait after which one
	// request would be allowed again.
	RetryAfter time.Duration
	// Remaining is how many more requests the burst would admit now.
	Remaining int64
}

// Lease is one slot taken by Acquire.
type Lease struct {
	// Allowed is true when the slot was taken.
	Allowed bool
	// Count is the number of leases held on the key, this one included when
	// Allowed.
	Count int64

	release func(ctx context.Context) error
}

// Release gives the slot back. It is safe to call on a lease that was not
// allowed and to call more than once. Pass a context that is still live
// (not that of a request already cancelled): a release that cannot reach
// the store leaves the slot taken until its TTL.
func (l Lease) Release(ctx context.Context) error {
	if l.release == nil {
		return nil
	}
	return l.release(ctx)
}

// unavailable wraps a backend failure so that errors.Is(err, ErrUnavailable)
// holds while the cause stays available to logs.
type unavailable struct {
	op  string
	err error
}

func (e *unavailable) Error() string {
	return fmt.Sprintf("store %s: %v: %v", e.op, ErrUnavailable, e.err)
}

func (e *unavailable) Unwrap() []error { return []error{ErrUnavailable, e.err} }

func invalidf(op, format string, args ...any) error {
	return fmt.Errorf("store %s: %w: %s", op, ErrInvalid, fmt.Sprintf(format, args...))
}

// checkLimit validates the arguments shared by the limiters.
func checkLimit(op string, limit int64, d time.Duration) error {
	if limit < 0 {
		return invalidf(op, "limit %d is below 0", limit)
	}
	if d <= 0 {
		return invalidf(op, "duration %v is not positive", d)
	}
	return nil
}

func checkBucket(rate, burst float64) error {
	if !(rate >= minRate) || rate > 1e9 {
		return invalidf("bucket", "rate %v must be from %v to 1e9 per second", rate, minRate)
	}
	if !(burst >= 0) || burst > 1e12 {
		return invalidf("bucket", "burst %v must be from 0 to 1e12", burst)
	}
	return nil
}

// bucketStep is the leaky-bucket arithmetic of the memory store (the Redis
// script does the same in Lua). excess is the bucket's level after the
// previous request, elapsed the time since it. It returns the new level (to store only when allowed) and the
// result.
func bucketStep(excess float64, elapsed time.Duration, fresh bool, rate, burst float64) (float64, BucketResult) {
	if fresh {
		excess = 0
	} else {
		if elapsed < 0 {
			elapsed = 0
		}
		excess = excess - rate*elapsed.Seconds() + 1
		if excess < 0 {
			excess = 0
		}
	}
	if excess > burst {
		return excess, BucketResult{RetryAfter: seconds((excess - burst) / rate)}
	}
	return excess, BucketResult{Allowed: true, Delay: seconds(excess / rate), Remaining: int64(burst - excess)}
}

// minRate is the slowest leaky bucket, one request in about 17 minutes;
// slower ones would need waits that no client keeps.
const minRate = 0.001

// bucketTTL is how long a bucket's state must outlive its last request:
// until its level has drained, plus a second, at most a year.
func bucketTTL(excess, rate float64) time.Duration {
	const year = 365 * 24 * time.Hour
	if s := (excess+1)/rate + 1; s < year.Seconds() {
		return seconds(s)
	}
	return year
}

// seconds converts to a Duration, saturating instead of overflowing.
func seconds(s float64) time.Duration {
	ns := s * float64(time.Second)
	if ns >= math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(ns)
}

// windowOf returns the index of the epoch-aligned window that holds now and
// the time left until it ends.
func windowOf(now time.Time, window time.Duration) (int64, time.Duration) {
	ns := now.UnixNano()
	idx := ns / int64(window)
	return idx, time.Duration((idx+1)*int64(window) - ns)
}
