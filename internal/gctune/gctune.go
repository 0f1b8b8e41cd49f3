// Package gctune keeps the garbage collector's heap goal a fixed amount
// above the live heap.
//
// Go sets the heap goal as a percentage of the live heap (GOGC). A policy
// server's live heap is small (compiled documents, tables) while every
// request allocates a little, so a percentage alone makes it collect many
// times a second, and each collection, on one core, holds back every
// request in flight for a few milliseconds: the collections make the tail
// of the latency. Keeping at least a fixed headroom above the live heap
// (64 MiB, say) makes them rare for a small server and changes nothing
// for a large one, whose percentage already gives more.
package gctune

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
)

// maxPercent bounds the percentage set, so that a nearly empty heap does
// not get an unbounded one.
const maxPercent = 100_000

// Percent is the GOGC percentage that gives a heap goal of at least
// live+headroom bytes and at least min percent.
func Percent(live, headroom uint64, min int) int {
	if live == 0 {
		live = 1
	}
	p := headroom * 100 / live
	if p > maxPercent {
		p = maxPercent
	}
	if int(p) < min {
		return min
	}
	return int(p)
}

// Tuner adjusts the GC percentage after every collection.
type Tuner struct {
	headroom uint64
	min      int
	stopped  atomic.Bool
	set      int // the percentage last set
	sample   []metrics.Sample
	// onAdjust, when set, sees every percentage computed.
	onAdjust func(live uint64, percent int)
}

// Start sets the GC percentage to min and, after each collection, raises
// it so that the heap goal is at least headroom bytes above the live
// heap. Stop ends the adjustments and leaves the last percentage set.
func Start(headroom uint64, min int) *Tuner { return start(headroom, min, nil) }

func start(headroom uint64, min int, onAdjust func(uint64, int)) *Tuner {
	t := &Tuner{headroom: headroom, min: min, set: min, onAdjust: onAdjust,
		sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	debug.SetGCPercent(min)
	t.arm()
	return t
}

// Stop ends the adjustments.
func (t *Tuner) Stop() { t.stopped.Store(true) }

// sentinel is an object made unreachable on purpose: its cleanup runs
// after the collection that finds it, once per collection.
type sentinel struct {
	_ *int // a pointer keeps it out of the tiny allocator
}

func (t *Tuner) arm() {
	s := &sentinel{}
	runtime.AddCleanup(s, func(t *Tuner) { t.adjust() }, t)
}

// adjust runs on the cleanup goroutine after a collection.
func (t *Tuner) adjust() {
	if t.stopped.Load() {
		return
	}
	metrics.Read(t.sample)
	var live uint64
	if t.sample[0].Value.Kind() == metrics.KindUint64 {
		live = t.sample[0].Value.Uint64()
	}
	p := Percent(live, t.headroom, t.min)
	// Setting the percentage is cheap but not free; small drifts of the
	// live heap are left alone.
	if diff := p - t.set; diff*10 > t.set || -diff*10 > t.set {
		debug.SetGCPercent(p)
		t.set = p
	}
	if t.onAdjust != nil {
		t.onAdjust(live, p)
	}
	t.arm()
}
