package throttle

import (
	"sync"
	"testing"
	"time"
)

func TestAllow(t *testing.T) {
	var l Log
	t0 := time.Unix(1_800_000_000, 0)
	steps := []struct {
		at   time.Duration
		ok   bool
		held uint64
	}{
		{0, true, 0},
		{100 * time.Millisecond, false, 0},
		{900 * time.Millisecond, false, 0},
		{1000 * time.Millisecond, true, 2},
		{1500 * time.Millisecond, false, 0},
		{5 * time.Second, true, 1},
	}
	for i, s := range steps {
		held, ok := l.Allow(t0.Add(s.at))
		if ok != s.ok || held != s.held {
			t.Fatalf("step %d at %v: ok %v held %d, want %v %d", i, s.at, ok, held, s.ok, s.held)
		}
	}
}

func TestAllowConcurrent(t *testing.T) {
	l := Log{Every: time.Hour}
	now := time.Unix(1_800_000_000, 0)
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, ok := l.Allow(now); ok {
				mu.Lock()
				allowed++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if allowed != 1 {
		t.Fatalf("%d lines let through at one instant, want 1", allowed)
	}
	if held, ok := l.Allow(now.Add(2 * time.Hour)); !ok || held != 63 {
		t.Fatalf("next line: ok %v held %d, want true 63", ok, held)
	}
}
