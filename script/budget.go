package script

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// budget is the context a state's interpreter checks before every
// instruction. It counts the instructions of the running call and closes
// Done past the call's instruction limit; the runtime's watchdog closes it
// when the call runs past its time limit (which catches the few
// instructions that are slow on their own, such as concatenating huge
// strings). Starting and stopping a call touches only the budget's own
// memory: no timer, no clock read while the watchdog runs, nothing shared
// between cores.
type budget struct {
	w *watchdog

	// Touched only by the goroutine running the call.
	steps, maxSteps int64
	stepsOver       bool

	// deadline is the watchdog time after which the running call is
	// over; 0 while no call runs.
	deadline atomic.Int64

	mu    sync.Mutex
	done  chan struct{} // written by the call's goroutine, under mu
	over  bool
	limit time.Duration
}

// closed is a channel closed from the start, for calls out of steps.
var closed = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

func newBudget(w *watchdog) *budget {
	b := &budget{w: w, done: make(chan struct{})}
	w.add(b)
	return b
}

// release takes the budget off the watchdog's list when its state closes.
func (b *budget) release() { b.w.remove(b) }

func (b *budget) start(limit time.Duration, steps int64) {
	b.steps, b.maxSteps, b.stepsOver = 0, steps, false
	b.mu.Lock()
	if b.over { // a late expiry of the previous call
		b.over = false
		b.done = make(chan struct{})
	}
	b.limit = limit
	b.mu.Unlock()
	b.w.arm(b, limit)
}

// stop ends a call and returns the error of a call stopped by its budget.
func (b *budget) stop() error {
	b.deadline.Store(0)
	err := b.Err()
	b.stepsOver = false
	return err
}

// expire ends the call that runs under deadline d, unless it has ended.
func (b *budget) expire(d int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.deadline.Load() == d && !b.over {
		b.over = true
		close(b.done)
	}
}

func (b *budget) expired() bool { return b.Err() != nil }

// Deadline, Done, Err and Value make budget a context.Context.
func (b *budget) Deadline() (time.Time, bool) { return time.Time{}, false }

// Done is called before every instruction: it closes when the running
// call is over its budget.
func (b *budget) Done() <-chan struct{} {
	b.steps++
	if b.steps > b.maxSteps {
		b.stepsOver = true
		return closed
	}
	return b.done
}

// Err says why Done closed.
func (b *budget) Err() error {
	if b.stepsOver {
		return fmt.Errorf("stopped: %w of %d instructions", errOverBudget, b.maxSteps)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.over {
		return fmt.Errorf("stopped: %w of %s", errOverBudget, b.limit)
	}
	return nil
}

// Value holds nothing.
func (b *budget) Value(any) any { return nil }

// watchdogIdleTicks is how many ticks without a running call the
// watchdog waits before its goroutine ends; the next call starts it again.
const watchdogIdleTicks = 100

// watchdog enforces the time limits of every state of one runtime (one
// configuration load). While calls run, one goroutine wakes every tick,
// advances a coarse clock and expires the budgets past their deadline; a
// call reads that clock instead of the system's. A call is stopped
// between its limit and its limit plus two ticks.
type watchdog struct {
	tick    time.Duration
	base    time.Time
	now     atomic.Int64 // nanoseconds since base at the last tick
	running atomic.Bool

	mu      sync.Mutex
	budgets map[*budget]struct{}
}

// newWatchdog returns a watchdog ticking at a tenth of limit, between a
// millisecond and fifty.
func newWatchdog(limit time.Duration) *watchdog {
	return &watchdog{
		tick:    min(max(limit/10, time.Millisecond), 50*time.Millisecond),
		base:    time.Now(),
		budgets: map[*budget]struct{}{},
	}
}

func (w *watchdog) clock() int64 { return int64(time.Since(w.base)) }

func (w *watchdog) add(b *budget) {
	w.mu.Lock()
	w.budgets[b] = struct{}{}
	w.mu.Unlock()
}

func (w *watchdog) remove(b *budget) {
	w.mu.Lock()
	delete(w.budgets, b)
	w.mu.Unlock()
}

// arm sets b's deadline limit from now and makes sure the watchdog runs.
func (w *watchdog) arm(b *budget, limit time.Duration) {
	now := w.now.Load()
	if !w.running.Load() { // the coarse clock stands still while idle
		now = w.clock()
	}
	b.deadline.Store(now + int64(limit) + int64(w.tick))
	// The deadline is stored before running is read, and the watchdog
	// clears running before its last sweep: one of the two sees the other.
	if !w.running.Load() && w.running.CompareAndSwap(false, true) {
		w.now.Store(w.clock())
		go w.run()
	}
}

func (w *watchdog) run() {
	t := time.NewTicker(w.tick)
	defer t.Stop()
	idle := 0
	for range t.C {
		now := w.clock()
		w.now.Store(now)
		if w.sweep(now) {
			idle = 0
			continue
		}
		if idle++; idle < watchdogIdleTicks {
			continue
		}
		w.running.Store(false)
		if !w.sweep(now) || !w.running.CompareAndSwap(false, true) {
			return
		}
		idle = 0
	}
}

// sweep expires the budgets past their deadline at now and reports
// whether any call is running.
func (w *watchdog) sweep(now int64) bool {
	active := false
	w.mu.Lock()
	defer w.mu.Unlock()
	for b := range w.budgets {
		d := b.deadline.Load()
		if d == 0 {
			continue
		}
		active = true
		if now > d {
			b.expire(d)
		}
	}
	return active
}
