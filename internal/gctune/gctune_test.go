package gctune

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		name           string
		live, headroom uint64
		min, want      int
	}{
		{"small heap gets the headroom", 4 * mib, 64 * mib, 400, 1600},
		{"large heap keeps the minimum", 1024 * mib, 64 * mib, 400, 400},
		{"just below the minimum", 17 * mib, 64 * mib, 400, 400},
		{"empty heap is bounded", 0, 64 * mib, 400, maxPercent},
		{"tiny heap is bounded", 10, 64 * mib, 100, maxPercent},
		{"no headroom", 4 * mib, 0, 250, 250},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Percent(tc.live, tc.headroom, tc.min); got != tc.want {
				t.Errorf("Percent(%d, %d, %d) = %d, want %d", tc.live, tc.headroom, tc.min, got, tc.want)
			}
		})
	}
}

func TestTunerFollowsEveryCollection(t *testing.T) {
	old := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(old) })

	seen := make(chan int, 16)
	tu := start(64<<20, 150, func(live uint64, p int) {
		if live == 0 {
			t.Errorf("live heap read as 0")
		}
		select {
		case seen <- p:
		default:
		}
	})
	defer tu.Stop()
	for i := range 3 {
		// The tuner re-arms itself from a cleanup, which runs after the
		// collection that triggered it; on a busy machine a collection
		// may come before it is armed again, so collect until one is
		// seen.
		deadline := time.After(10 * time.Second)
	wait:
		for {
			runtime.GC()
			select {
			case p := <-seen:
				if p < 150 {
					t.Fatalf("collection %d: percent %d below the minimum", i, p)
				}
				break wait
			case <-deadline:
				t.Fatalf("collection %d: no adjustment", i)
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	// The test binary's live heap is a few MiB: 64 MiB of headroom is
	// far more than 150%, and the runtime now runs with it.
	if got := debug.SetGCPercent(-1); got <= 150 {
		t.Errorf("GC percent after tuning = %d, want above the minimum", got)
	} else {
		debug.SetGCPercent(got)
	}
	tu.Stop()
	for len(seen) > 0 { // adjustments from before Stop
		<-seen
	}
	runtime.GC()
	select {
	case p := <-seen:
		t.Errorf("adjusted to %d after Stop", p)
	case <-time.After(200 * time.Millisecond):
	}
}
