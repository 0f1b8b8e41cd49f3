package store

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/verdict-policy/verdict/internal/redistest"
)

// fakeClock is a clock that moves only when told to.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// harness runs the same cases on either implementation. Durations in the
// cases are multiples of unit: a second on the fake clock of the memory
// store, a short real interval for Redis.
type harness struct {
	store Store
	unit  time.Duration
	// tol is how far a measured duration may fall short of the exact one,
	// because real time passes between two calls.
	tol time.Duration
	// wait lets d pass; alignTo waits until just after a multiple of d.
	wait    func(d time.Duration)
	alignTo func(d time.Duration)
}

func memoryHarness(t *testing.T) *harness {
	clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	m := NewMemory(MemoryOptions{Now: clock.Now, SweepInterval: -1})
	t.Cleanup(func() { _ = m.Close() })
	return &harness{
		store: m,
		unit:  time.Second,
		wait:  clock.Advance,
		alignTo: func(d time.Duration) {
			_, left := windowOf(clock.Now(), d)
			clock.Advance(left)
		},
	}
}

func redisHarness(t *testing.T, srv *redistest.Server) *harness {
	r, err := NewRedis(context.Background(), RedisOptions{URL: srv.URL(), KeyPrefix: t.Name() + ":"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return &harness{
		store: r,
		unit:  400 * time.Millisecond,
		tol:   100 * time.Millisecond,
		wait:  time.Sleep,
		alignTo: func(d time.Duration) {
			_, left := windowOf(time.Now(), d)
			time.Sleep(left + 5*time.Millisecond)
		},
	}
}

// suite is the behaviour every Store must have.
var suite = []struct {
	name string
	run  func(t *testing.T, h *harness)
}{
	{"counter increments and expires", func(t *testing.T, h *harness) {
		ctx := context.Background()
		s := h.store
		mustEqual(t, "incr new", must(s.Incr(ctx, "hits", 1, 2*h.unit)), int64(1))
		mustEqual(t, "incr by 5", must(s.Incr(ctx, "hits", 5, 2*h.unit)), int64(6))
		mustEqual(t, "decr", must(s.Incr(ctx, "hits", -2, 2*h.unit)), int64(4))
		v, ok, err := s.Get(ctx, "hits")
		if err != nil || !ok || v != 4 {
			t.Fatalf("Get = %d, %v, %v; want 4, true", v, ok, err)
		}
		h.wait(3 * h.unit)
		if _, ok, err := s.Get(ctx, "hits"); err != nil || ok {
			t.Fatalf("Get after expiry: ok %v err %v", ok, err)
		}
		mustEqual(t, "incr after expiry", must(s.Incr(ctx, "hits", 7, 0)), int64(7))
		h.wait(3 * h.unit)
		mustEqual(t, "no ttl keeps", must(s.Incr(ctx, "hits", 1, 0)), int64(8))
		if err := s.Delete(ctx, "hits"); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, "hits"); err != nil {
			t.Fatalf("second delete: %v", err)
		}
		if _, ok, _ := s.Get(ctx, "hits"); ok {
			t.Fatal("Get after Delete found the counter")
		}
	}},
	{"ttl is set when the counter is created only", func(t *testing.T, h *harness) {
		ctx := context.Background()
		s := h.store
		must(s.Incr(ctx, "c", 1, 2*h.unit))
		h.wait(h.unit)
		must(s.Incr(ctx, "c", 1, 10*h.unit)) // does not extend the expiry
		h.wait(h.unit + h.unit/2)
		if _, ok, _ := s.Get(ctx, "c"); ok {
			t.Fatal("a later increment extended the expiry")
		}
	}},
	{"fixed window allows limit requests per window", func(t *testing.T, h *harness) {
		ctx := context.Background()
		s := h.store
		w := 2 * h.unit
		h.alignTo(w)
		for i := int64(1); i <= 3; i++ {
			r, err := s.Window(ctx, "api", 3, w)
			if err != nil {
				t.Fatal(err)
			}
			if !r.Allowed || r.Count != i || r.Remaining != 3-i {
				t.Fatalf("request %d: %+v", i, r)
			}
			if r.Reset <= 0 || r.Reset > w {
				t.Fatalf("request %d: reset %v outside (0, %v]", i, r.Reset, w)
			}
		}
		r, err := s.Window(ctx, "api", 3, w)
		if err != nil || r.Allowed || r.Count != 4 || r.Remaining != 0 {
			t.Fatalf("4th request: %+v, %v", r, err)
		}
		other, _ := s.Window(ctx, "other", 3, w)
		if !other.Allowed || other.Count != 1 {
			t.Fatalf("another key shares the count: %+v", other)
		}
		h.alignTo(w)
		r, err = s.Window(ctx, "api", 3, w)
		if err != nil || !r.Allowed || r.Count != 1 || r.Remaining != 2 {
			t.Fatalf("next window: %+v, %v", r, err)
		}
	}},
	{"fixed window is aligned to the epoch", func(t *testing.T, h *harness) {
		ctx := context.Background()
		w := 4 * h.unit
		h.alignTo(w)
		h.wait(3 * h.unit) // late in the window: the first request must not open a new one
		r := must(h.store.Window(ctx, "k", 10, w))
		if r.Reset > h.unit+h.tol {
			t.Fatalf("reset %v: the window was not aligned (want at most %v)", r.Reset, h.unit)
		}
		h.wait(h.unit + h.tol)
		if r := must(h.store.Window(ctx, "k", 10, w)); r.Count != 1 {
			t.Fatalf("count %d after the aligned window ended", r.Count)
		}
	}},
	{"fixed window with limit 0 rejects", func(t *testing.T, h *harness) {
		r := must(h.store.Window(context.Background(), "zero", 0, h.unit))
		if r.Allowed || r.Remaining != 0 {
			t.Fatalf("%+v", r)
		}
	}},
	{"limiters reject bad arguments", func(t *testing.T, h *harness) {
		ctx := context.Background()
		s := h.store
		checks := map[string]error{}
		_, checks["negative limit"] = s.Window(ctx, "k", -1, time.Second)
		_, checks["zero window"] = s.Window(ctx, "k", 1, 0)
		_, checks["zero rate"] = s.Bucket(ctx, "k", 0, 1)
		_, checks["negative burst"] = s.Bucket(ctx, "k", 1, -1)
		_, checks["rate below the slowest"] = s.Bucket(ctx, "k", 0.0001, 1)
		_, checks["zero lease ttl"] = s.Acquire(ctx, "k", 1, 0)
		_, checks["zero event window"] = s.AddEvent(ctx, "k", 0)
		_, checks["zero count window"] = s.CountEvents(ctx, "k", -time.Second)
		for name, err := range checks {
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("%s: err %v, want ErrInvalid", name, err)
			}
		}
	}},
	{"leaky bucket delays within burst and rejects beyond", func(t *testing.T, h *harness) {
		ctx := context.Background()
		s := h.store
		rate := 1 / h.unit.Seconds() // one request per unit
		step := h.unit
		steps := []struct {
			allowed   bool
			delay     time.Duration
			remaining int64
		}{
			{true, 0, 2},
			{true, step, 1},
			{true, 2 * step, 0},
			{false, 0, 0},
		}
		for i, want := range steps {
			r, err := s.Bucket(ctx, "b", rate, 2)
			if err != nil {
				t.Fatal(err)
			}
			if r.Allowed != want.allowed || r.Remaining != want.remaining && h.tol == 0 || !near(r.Delay, want.delay, h.tol) {
				t.Fatalf("request %d: %+v, want %+v", i+1, r, want)
			}
			if !want.allowed && !near(r.RetryAfter, step, h.tol) {
				t.Fatalf("request %d: retry after %v, want %v", i+1, r.RetryAfter, step)
			}
		}
		h.wait(4 * h.unit)
		r := must(s.Bucket(ctx, "b", rate, 2))
		if !r.Allowed || r.Delay != 0 {
			t.Fatalf("after draining: %+v", r)
		}
	}},
	{"leaky bucket without burst rejects over rate", func(t *testing.T, h *harness) {
		ctx := context.Background()
		rate := 1 / h.unit.Seconds()
		if r := must(h.store.Bucket(ctx, "nb", rate, 0)); !r.Allowed || r.Delay != 0 {
			t.Fatalf("first: %+v", r)
		}
		if r := must(h.store.Bucket(ctx, "nb", rate, 0)); r.Allowed || !near(r.RetryAfter, h.unit, h.tol) {
			t.Fatalf("second: %+v", r)
		}
		h.wait(h.unit + h.tol)
		if r := must(h.store.Bucket(ctx, "nb", rate, 0)); !r.Allowed {
			t.Fatalf("after one interval: %+v", r)
		}
	}},
	{"leases up to the limit, released or expired", func(t *testing.T, h *harness) {
		ctx := context.Background()
		s := h.store
		a := must(s.Acquire(ctx, "conn", 2, 2*h.unit))
		b := must(s.Acquire(ctx, "conn", 2, 2*h.unit))
		c := must(s.Acquire(ctx, "conn", 2, 2*h.unit))
		if !a.Allowed || !b.Allowed || c.Allowed || a.Count != 1 || b.Count != 2 || c.Count != 2 {
			t.Fatalf("leases %+v %+v %+v", a, b, c)
		}
		if err := c.Release(ctx); err != nil {
			t.Fatalf("release of a refused lease: %v", err)
		}
		if err := a.Release(ctx); err != nil {
			t.Fatal(err)
		}
		if err := a.Release(ctx); err != nil {
			t.Fatalf("second release: %v", err)
		}
		if d := must(s.Acquire(ctx, "conn", 2, 2*h.unit)); !d.Allowed || d.Count != 2 {
			t.Fatalf("after release: %+v", d)
		}
		if e := must(s.Acquire(ctx, "conn", 2, 2*h.unit)); e.Allowed {
			t.Fatalf("over the limit after release: %+v", e)
		}
		h.wait(3 * h.unit) // nobody released b and d: their TTL frees them
		if f := must(s.Acquire(ctx, "conn", 2, 2*h.unit)); !f.Allowed || f.Count != 1 {
			t.Fatalf("after the TTL: %+v", f)
		}
	}},
	{"events counted over a sliding window", func(t *testing.T, h *harness) {
		ctx := context.Background()
		s := h.store
		w := 2 * h.unit
		for i := int64(1); i <= 3; i++ {
			mustEqual(t, "add", must(s.AddEvent(ctx, "alloc", w)), i)
		}
		mustEqual(t, "count", must(s.CountEvents(ctx, "alloc", w)), int64(3))
		h.wait(h.unit + h.unit/2)
		mustEqual(t, "add later", must(s.AddEvent(ctx, "alloc", w)), int64(4))
		h.wait(h.unit)
		mustEqual(t, "count after the first three left", must(s.CountEvents(ctx, "alloc", w)), int64(1))
		mustEqual(t, "shorter window", must(s.CountEvents(ctx, "alloc", h.unit/4)), int64(0))
		h.wait(2 * h.unit)
		mustEqual(t, "count after all left", must(s.CountEvents(ctx, "alloc", w)), int64(0))
		mustEqual(t, "unknown key", must(s.CountEvents(ctx, "none", w)), int64(0))
	}},
	{"sets add, remove, list and expire", func(t *testing.T, h *harness) {
		ctx := context.Background()
		s := h.store
		mustEqual(t, "add", must(s.SetAdd(ctx, "rooms", 0, "a", "b", "a")), int64(2))
		mustEqual(t, "add again", must(s.SetAdd(ctx, "rooms", 0, "b", "c")), int64(1))
		mustEqual(t, "card", must(s.SetCard(ctx, "rooms")), int64(3))
		if !must(s.SetContains(ctx, "rooms", "a")) || must(s.SetContains(ctx, "rooms", "z")) {
			t.Fatal("SetContains wrong")
		}
		members := must(s.SetMembers(ctx, "rooms"))
		slices.Sort(members)
		if !slices.Equal(members, []string{"a", "b", "c"}) {
			t.Fatalf("members %v", members)
		}
		mustEqual(t, "remove", must(s.SetRemove(ctx, "rooms", "a", "zz")), int64(1))
		mustEqual(t, "card after remove", must(s.SetCard(ctx, "rooms")), int64(2))
		mustEqual(t, "add nothing", must(s.SetAdd(ctx, "rooms", 0)), int64(0))
		mustEqual(t, "remove nothing", must(s.SetRemove(ctx, "rooms")), int64(0))

		must(s.SetAdd(ctx, "short", 2*h.unit, "x"))
		h.wait(3 * h.unit)
		mustEqual(t, "card after expiry", must(s.SetCard(ctx, "short")), int64(0))
		if m := must(s.SetMembers(ctx, "short")); len(m) != 0 {
			t.Fatalf("members after expiry %v", m)
		}
		if must(s.SetContains(ctx, "short", "x")) {
			t.Fatal("contains after expiry")
		}
		mustEqual(t, "set without ttl stays", must(s.SetCard(ctx, "rooms")), int64(2))
	}},
	{"tables hold entries with their own expiry", func(t *testing.T, h *harness) {
		ctx := context.Background()
		s := h.store
		bin := []byte{0, 1, 2, 0xff, '\n'}
		check(t, s.TablePut(ctx, "registry", "user://a", []byte("alice"), 0))
		check(t, s.TablePut(ctx, "registry", "user://b", bin, 2*h.unit))
		check(t, s.TablePut(ctx, "vmr", "user://a", []byte("room"), 0))
		v, ok, err := s.TableGet(ctx, "registry", "user://b")
		if err != nil || !ok || !bytes.Equal(v, bin) {
			t.Fatalf("get b = %q, %v, %v", v, ok, err)
		}
		all := must(s.TableAll(ctx, "registry"))
		if len(all) != 2 || string(all["user://a"]) != "alice" || !bytes.Equal(all["user://b"], bin) {
			t.Fatalf("all = %q", all)
		}
		h.wait(3 * h.unit)
		if _, ok, err := s.TableGet(ctx, "registry", "user://b"); ok || err != nil {
			t.Fatalf("expired entry: ok %v err %v", ok, err)
		}
		all = must(s.TableAll(ctx, "registry"))
		if len(all) != 1 || string(all["user://a"]) != "alice" {
			t.Fatalf("all after expiry = %q", all)
		}
		// A put replaces the value and the expiry.
		check(t, s.TablePut(ctx, "registry", "user://a", []byte("alice2"), 2*h.unit))
		check(t, s.TablePut(ctx, "registry", "user://a", []byte("alice3"), 0))
		h.wait(3 * h.unit)
		if v, ok, _ := s.TableGet(ctx, "registry", "user://a"); !ok || string(v) != "alice3" {
			t.Fatalf("replaced entry = %q, %v", v, ok)
		}
		check(t, s.TableDelete(ctx, "registry", "user://a"))
		check(t, s.TableDelete(ctx, "registry", "missing"))
		if _, ok, _ := s.TableGet(ctx, "registry", "user://a"); ok {
			t.Fatal("deleted entry found")
		}
		if all := must(s.TableAll(ctx, "registry")); len(all) != 0 {
			t.Fatalf("all after delete = %q", all)
		}
		if v, ok, _ := s.TableGet(ctx, "vmr", "user://a"); !ok || string(v) != "room" {
			t.Fatalf("other table = %q, %v", v, ok)
		}
		if all := must(s.TableAll(ctx, "never")); all == nil || len(all) != 0 {
			t.Fatalf("unknown table = %#v", all)
		}
	}},
	{"kinds of keys do not collide", func(t *testing.T, h *harness) {
		ctx := context.Background()
		s := h.store
		must(s.Incr(ctx, "same", 1, 0))
		must(s.SetAdd(ctx, "same", 0, "m"))
		must(s.Window(ctx, "same", 5, h.unit))
		must(s.Bucket(ctx, "same", 1, 1))
		must(s.AddEvent(ctx, "same", h.unit))
		must(s.Acquire(ctx, "same", 1, h.unit))
		check(t, s.TablePut(ctx, "same", "same", []byte("v"), 0))
		mustEqual(t, "counter", must(s.Incr(ctx, "same", 1, 0)), int64(2))
		mustEqual(t, "set", must(s.SetCard(ctx, "same")), int64(1))
	}},
}

func TestSuiteMemory(t *testing.T) {
	for _, tc := range suite {
		t.Run(tc.name, func(t *testing.T) {
			defer failOnPanic(t)
			tc.run(t, memoryHarness(t))
		})
	}
}

func TestSuiteRedis(t *testing.T) {
	srv := redistest.Start(t)
	for _, tc := range suite {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			defer failOnPanic(t)
			tc.run(t, redisHarness(t, srv))
		})
	}
}

// must returns v or, on an error, stops the case through failOnPanic, so
// that calls returning a value and an error can be nested in checks.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func failOnPanic(t *testing.T) {
	if r := recover(); r != nil {
		t.Fatalf("unexpected error: %v", r)
	}
}

func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mustEqual[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
}

// near reports whether got is want or at most tol below it (time passes
// between calls, so a measured wait can only shrink) or 1 ms above it
// (Redis counts in milliseconds).
func near(got, want, tol time.Duration) bool {
	return got >= want-tol && got <= want+time.Millisecond
}
