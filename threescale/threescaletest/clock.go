package threescaletest

import (
	"sync"
	"time"

	"github.com/verdict-policy/verdict/threescale"
)

// Clock is a threescale.Clock that moves only when told to, so that tests
// of expiry and of the report interval do not wait for real time.
type Clock struct {
	mu      sync.Mutex
	now     time.Time
	tickers []*ticker
	ticks   int
	created chan struct{}
}

// NewClock returns a clock at start.
func NewClock(start time.Time) *Clock {
	return &Clock{now: start, created: make(chan struct{}, 16)}
}

// Now implements threescale.Clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTicker implements threescale.Clock.
func (c *Clock) NewTicker(d time.Duration) threescale.Ticker {
	if d <= 0 {
		panic("threescaletest: non-positive ticker interval")
	}
	c.mu.Lock()
	t := &ticker{c: c, every: d, next: c.now.Add(d), ch: make(chan time.Time, 1)}
	c.tickers = append(c.tickers, t)
	c.mu.Unlock()
	select {
	case c.created <- struct{}{}:
	default:
	}
	return t
}

// WaitTicker blocks until a ticker has been created, or fails after a
// while: an authorizer starts its report timer in a goroutine.
func (c *Clock) WaitTicker() bool {
	c.mu.Lock()
	n := len(c.tickers)
	c.mu.Unlock()
	if n > 0 {
		return true
	}
	select {
	case <-c.created:
		return true
	case <-time.After(10 * time.Second):
		return false
	}
}

// Advance moves the clock by d and fires every ticker that falls due, once
// per interval passed (a tick that is not taken is dropped, as with
// time.Ticker). It returns how many ticks were delivered.
func (c *Clock) Advance(d time.Duration) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	delivered := 0
	for _, t := range c.tickers {
		if t.stopped {
			continue
		}
		for !t.next.After(c.now) {
			select {
			case t.ch <- t.next:
				delivered++
			default:
			}
			t.next = t.next.Add(t.every)
		}
	}
	c.ticks += delivered
	return delivered
}

// Ticks returns how many ticks have been delivered so far.
func (c *Clock) Ticks() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ticks
}

type ticker struct {
	c       *Clock
	every   time.Duration
	next    time.Time
	ch      chan time.Time
	stopped bool
}

func (t *ticker) C() <-chan time.Time { return t.ch }

func (t *ticker) Stop() {
	t.c.mu.Lock()
	t.stopped = true
	t.c.mu.Unlock()
}

var _ threescale.Clock = (*Clock)(nil)
