package script

import (
	"net/http/httptest"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/verdict-policy/verdict/chain"
)

// poolPolicy returns a policy acting in rewrite, with a reserve of size.
func poolPolicy(t *testing.T, size int) *Policy {
	t.Helper()
	dir := t.TempDir()
	writePolicy(t, dir, "pooled", "1.0", map[string]string{"init.lua": `
local _M = require('apicast.policy').new('pooled', '1.0')
function _M:rewrite(context) context.n = (context.n or 0) + 1 end
return _M
`})
	f := locate([]string{dir}, "pooled", "1.0")
	if err := f.load(); err != nil {
		t.Fatal(err)
	}
	// The calls are tiny; the generous time budget keeps a busy machine
	// under the race detector from stopping one (the instruction limit
	// still applies).
	cp, err := newPolicy(f, nil, chain.Env{}, Options{PoolSize: size, Budget: 10 * time.Second}.withDefaults())
	if err != nil {
		t.Fatal(err)
	}
	return cp.(*Policy)
}

// registered counts the budgets the policy's watchdog watches: one per
// open state.
func registered(p *Policy) int {
	w := p.opts.watch
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.budgets)
}

// eventually polls cond for up to five seconds, collecting garbage
// between tries so that leases are dropped and their cleanups run.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		if cond() {
			return
		}
		runtime.GC()
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s: not reached", what)
}

func TestPoolKeepsReserveAndClosesTheRest(t *testing.T) {
	p := poolPolicy(t, 2)
	// Hold many leases at once so many states exist, then give them back.
	var leases []*lease
	for range 8 {
		l, err := p.get()
		if err != nil {
			t.Fatal(err)
		}
		leases = append(leases, l)
	}
	if got := registered(p); got != 8 {
		t.Fatalf("%d budgets watched with 8 states open", got)
	}
	for _, l := range leases {
		p.put(l)
	}
	leases = nil
	// Idle through collections, the per-core pool lets go of its leases:
	// two states go to the reserve, the other six are closed.
	eventually(t, "idle states retired", func() bool { return len(p.reserve) == 2 && registered(p) == 2 })

	// The reserve serves the next requests.
	l, err := p.get()
	if err != nil {
		t.Fatal(err)
	}
	if len(p.reserve) != 1 || registered(p) != 2 {
		t.Fatalf("reserve %d, watched %d after taking one", len(p.reserve), registered(p))
	}
	p.put(l)

	// Close empties the reserve; the pooled state is closed when dropped.
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "closed policy's states closed", func() bool { return registered(p) == 0 })
}

func TestPoolBrokenStateNotReused(t *testing.T) {
	p := poolPolicy(t, 4)
	l, err := p.get()
	if err != nil {
		t.Fatal(err)
	}
	st := l.st
	st.broken = true
	p.put(l)
	if !st.isClosed() {
		t.Fatal("a broken state was not closed")
	}
	for range 20 {
		l, err := p.get()
		if err != nil {
			t.Fatal(err)
		}
		if l.st == st {
			t.Fatal("a broken state came back from the pool")
		}
		p.put(l)
	}
}

func TestPoolParallelRequests(t *testing.T) {
	p := poolPolicy(t, 4)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				ctx := chain.NewContext(httptest.NewRequest("GET", "/", nil), "127.0.0.1", nil, nil)
				if err := p.Rewrite(ctx); err != nil {
					t.Errorf("goroutine %d request %d: %v", g, i, err)
					return
				}
				if err := p.Log(ctx); err != nil {
					t.Errorf("goroutine %d request %d: log: %v", g, i, err)
					return
				}
				if ctx.Private(p) != nil {
					t.Errorf("goroutine %d request %d: state not given back", g, i)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestWatchdogStopsSlowCallAndIdles(t *testing.T) {
	w := newWatchdog(20 * time.Millisecond)
	b := newBudget(w)
	defer b.release()

	// A call past its time: Done closes within the limit and two ticks.
	b.start(20*time.Millisecond, 1<<40)
	began := time.Now()
	select {
	case <-b.Done():
	case <-time.After(2 * time.Second):
		t.Fatal("Done did not close for a call over its time")
	}
	if took := time.Since(began); took < 20*time.Millisecond {
		t.Fatalf("stopped after %s, before its limit", took)
	}
	if err := b.stop(); err == nil {
		t.Fatal("stop reported no error for a call over its time")
	}

	// The next call starts afresh and a quick one is not stopped.
	b.start(time.Second, 1<<40)
	select {
	case <-b.Done():
		t.Fatal("a new call started with Done closed")
	default:
	}
	if err := b.stop(); err != nil {
		t.Fatalf("quick call: %v", err)
	}

	// With no call running, the watchdog's goroutine ends; the next call
	// starts it again.
	eventually(t, "watchdog idle", func() bool { return !w.running.Load() })
	b.start(20*time.Millisecond, 1<<40)
	select {
	case <-b.Done():
	case <-time.After(2 * time.Second):
		t.Fatal("restarted watchdog did not stop a call over its time")
	}
	if err := b.stop(); err == nil {
		t.Fatal("no error after the restart")
	}
}
