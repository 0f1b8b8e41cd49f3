package store

import (
	"context"
	"sync"
	"testing"

	"github.com/verdict-policy/verdict/internal/redistest"
)

func takeCase(t *testing.T, h *harness) {
	ctx := context.Background()
	s := h.store
	tk := s.(CounterTaker)
	if n := must(tk.Take(ctx, "missing")); n != 0 {
		t.Fatalf("take of a missing counter = %d", n)
	}
	must(s.Incr(ctx, "c", 7, 0))
	must(s.Incr(ctx, "c", 3, 0))
	if n := must(tk.Take(ctx, "c")); n != 10 {
		t.Fatalf("take = %d, want 10", n)
	}
	if _, ok, _ := s.Get(ctx, "c"); ok {
		t.Fatal("counter still there after take")
	}
	if n := must(s.Incr(ctx, "c", 2, 0)); n != 2 {
		t.Fatalf("increment after take = %d, want a fresh 2", n)
	}
	must(s.Incr(ctx, "short", 4, h.unit))
	h.wait(2 * h.unit)
	if n := must(tk.Take(ctx, "short")); n != 0 {
		t.Fatalf("take of an expired counter = %d", n)
	}
}

// takeLosesNothing adds from several goroutines while another takes: the
// sum of what was taken and what is left is what was added.
func takeLosesNothing(t *testing.T, s Store) {
	ctx := context.Background()
	tk := s.(CounterTaker)
	const workers, adds = 4, 200
	var wg sync.WaitGroup
	wg.Add(workers)
	for range workers {
		go func() {
			defer wg.Done()
			for range adds {
				must(s.Incr(ctx, "shared", 1, 0))
			}
		}()
	}
	added := make(chan struct{})
	go func() { wg.Wait(); close(added) }()
	var taken, takes int64
	for {
		select {
		case <-added:
			taken += must(tk.Take(ctx, "shared"))
			if taken != workers*adds {
				t.Fatalf("taken %d in %d takes, want %d", taken, takes, workers*adds)
			}
			return
		default:
			taken += must(tk.Take(ctx, "shared"))
			takes++
		}
	}
}

func TestTakeMemory(t *testing.T) {
	defer failOnPanic(t)
	takeCase(t, memoryHarness(t))
	takeLosesNothing(t, memoryHarness(t).store)
}

func TestTakeRedis(t *testing.T) {
	defer failOnPanic(t)
	srv := redistest.Start(t)
	takeCase(t, redisHarness(t, srv))
	takeLosesNothing(t, redisHarness(t, srv).store)
}
