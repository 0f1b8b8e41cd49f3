package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/verdict-policy/verdict/internal/redistest"
)

// valuesCases are the behaviour of Values, run on both implementations.
var valuesCases = []struct {
	name string
	run  func(t *testing.T, v Values, h *harness)
}{
	{"put, get, replace, delete", func(t *testing.T, v Values, _ *harness) {
		ctx := context.Background()
		if _, ok, err := v.ValueGet(ctx, "k"); err != nil || ok {
			t.Fatalf("get of a missing value: ok %v, err %v", ok, err)
		}
		check(t, v.ValuePut(ctx, "k", []byte("200"), 0))
		got, ok, err := v.ValueGet(ctx, "k")
		if err != nil || !ok || string(got) != "200" {
			t.Fatalf("get = %q, %v, %v; want 200", got, ok, err)
		}
		check(t, v.ValuePut(ctx, "k", []byte("409:limits_exceeded"), 0))
		if got, _, _ := v.ValueGet(ctx, "k"); string(got) != "409:limits_exceeded" {
			t.Fatalf("after replace: %q", got)
		}
		check(t, v.ValueDelete(ctx, "k"))
		check(t, v.ValueDelete(ctx, "k"))
		if _, ok, _ := v.ValueGet(ctx, "k"); ok {
			t.Fatal("value found after delete")
		}
	}},
	{"values expire", func(t *testing.T, v Values, h *harness) {
		ctx := context.Background()
		check(t, v.ValuePut(ctx, "short", []byte("a"), 2*h.unit))
		check(t, v.ValuePut(ctx, "kept", []byte("b"), 0))
		h.wait(h.unit)
		if _, ok, _ := v.ValueGet(ctx, "short"); !ok {
			t.Fatal("value gone before its ttl")
		}
		h.wait(2 * h.unit)
		if _, ok, _ := v.ValueGet(ctx, "short"); ok {
			t.Fatal("value still there after its ttl")
		}
		if _, ok, _ := v.ValueGet(ctx, "kept"); !ok {
			t.Fatal("value without ttl expired")
		}
	}},
	{"add stores only when absent or expired", func(t *testing.T, v Values, h *harness) {
		ctx := context.Background()
		if ok := must(v.ValueAdd(ctx, "a", []byte("200"), 2*h.unit)); !ok {
			t.Fatal("add to a missing key did not store")
		}
		if ok := must(v.ValueAdd(ctx, "a", []byte("409"), 2*h.unit)); ok {
			t.Fatal("add replaced a live value")
		}
		if got, _, _ := v.ValueGet(ctx, "a"); string(got) != "200" {
			t.Fatalf("value %q, want the first one", got)
		}
		h.wait(3 * h.unit)
		if ok := must(v.ValueAdd(ctx, "a", []byte("409"), 0)); !ok {
			t.Fatal("add over an expired value did not store")
		}
		if got, _, _ := v.ValueGet(ctx, "a"); string(got) != "409" {
			t.Fatalf("value %q, want 409", got)
		}
	}},
	{"values are apart from counters and tables", func(t *testing.T, v Values, h *harness) {
		ctx := context.Background()
		s := h.store
		check(t, v.ValuePut(ctx, "same", []byte("v"), 0))
		must(s.Incr(ctx, "same", 5, 0))
		check(t, s.TablePut(ctx, "same", "same", []byte("t"), 0))
		if got, _, _ := v.ValueGet(ctx, "same"); string(got) != "v" {
			t.Fatalf("value %q after a counter and a table of the same name", got)
		}
		if n, _, _ := s.Get(ctx, "same"); n != 5 {
			t.Fatalf("counter %d", n)
		}
	}},
}

func TestValuesMemory(t *testing.T) {
	for _, tc := range valuesCases {
		t.Run(tc.name, func(t *testing.T) {
			defer failOnPanic(t)
			h := memoryHarness(t)
			tc.run(t, h.store.(*Memory), h)
		})
	}
}

func TestValuesRedis(t *testing.T) {
	srv := redistest.Start(t)
	for _, tc := range valuesCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			defer failOnPanic(t)
			h := redisHarness(t, srv)
			tc.run(t, h.store.(*Redis), h)
		})
	}
}

func TestMemoryValuesAreSweptAndBounded(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	m := NewMemory(MemoryOptions{Now: clock.Now, SweepInterval: -1, Shards: 1, MaxTableEntries: 2})
	defer m.Close()
	ctx := context.Background()
	check(t, m.ValuePut(ctx, "a", []byte("1"), time.Second))
	check(t, m.ValuePut(ctx, "b", []byte("2"), 0))
	if err := m.ValuePut(ctx, "c", []byte("3"), 0); !errors.Is(err, ErrFull) {
		t.Fatalf("put beyond the bound: %v, want ErrFull", err)
	}
	if _, err := m.ValueAdd(ctx, "c", []byte("3"), 0); !errors.Is(err, ErrFull) {
		t.Fatalf("add beyond the bound: %v, want ErrFull", err)
	}
	v := []byte("x")
	check(t, m.ValuePut(ctx, "b", v, 0)) // replacing is not growing
	v[0] = 'Y'
	if got, _, _ := m.ValueGet(ctx, "b"); string(got) != "x" {
		t.Fatalf("stored value changed to %q through the caller's slice", got)
	}
	clock.Advance(2 * time.Second)
	m.Sweep()
	if n := m.Len(); n != 1 {
		t.Fatalf("%d keys after the sweep, want 1", n)
	}
	check(t, m.ValuePut(ctx, "c", []byte("3"), 0))
}
