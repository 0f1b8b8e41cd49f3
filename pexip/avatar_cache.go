package pexip

import (
	"container/list"
	"context"
	"fmt"
	"sync"
	"time"
)

// lru is a least-recently-used cache bounded by entries and by bytes. It
// is not safe for concurrent use; the avatars mutex guards it.
type lru[K comparable, V any] struct {
	maxEntries int
	maxBytes   int64
	bytes      int64
	order      list.List // front: most recently used
	items      map[K]*list.Element
}

type lruItem[K comparable, V any] struct {
	key  K
	val  V
	cost int64
}

func newLRU[K comparable, V any](maxEntries int, maxBytes int64) *lru[K, V] {
	return &lru[K, V]{maxEntries: maxEntries, maxBytes: maxBytes, items: map[K]*list.Element{}}
}

// get returns the value for k and marks it recently used.
func (c *lru[K, V]) get(k K) (V, bool) {
	el, ok := c.items[k]
	if !ok {
		var zero V
		return zero, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*lruItem[K, V]).val, true
}

// add stores v under k at the given cost in bytes, evicting the least
// recently used entries until both bounds hold. A value costing more than
// the whole budget is not kept.
func (c *lru[K, V]) add(k K, v V, cost int64) {
	c.remove(k)
	if c.maxEntries <= 0 || cost > c.maxBytes {
		return
	}
	for c.order.Len() > 0 && (c.order.Len() >= c.maxEntries || c.bytes+cost > c.maxBytes) {
		c.removeElement(c.order.Back())
	}
	c.items[k] = c.order.PushFront(&lruItem[K, V]{key: k, val: v, cost: cost})
	c.bytes += cost
}

// remove drops k if it is cached.
func (c *lru[K, V]) remove(k K) {
	if el, ok := c.items[k]; ok {
		c.removeElement(el)
	}
}

func (c *lru[K, V]) removeElement(el *list.Element) {
	it := c.order.Remove(el).(*lruItem[K, V])
	delete(c.items, it.key)
	c.bytes -= it.cost
}

// flightGroup runs one load per source at a time: callers asking for a
// source already being loaded wait for that load instead of starting
// another.
type flightGroup struct {
	mu    sync.Mutex
	calls map[srcKey]*flight
}

type flight struct {
	done   chan struct{}
	val    *sourceEntry
	refs   int // callers still waiting
	cancel context.CancelFunc
}

// do returns the result of load for key, sharing one run among concurrent
// callers. load runs with a context that keeps ctx's values, ends after
// timeout, and is cancelled once every waiting caller has given up; a
// caller gives up when its own ctx ends, and then gets ctx's error.
func (g *flightGroup) do(ctx context.Context, key srcKey, timeout time.Duration, load func(context.Context) *sourceEntry) (*sourceEntry, error) {
	g.mu.Lock()
	c, ok := g.calls[key]
	if !ok {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		c = &flight{done: make(chan struct{}), cancel: cancel}
		if g.calls == nil {
			g.calls = map[srcKey]*flight{}
		}
		g.calls[key] = c
		go g.run(fctx, key, c, load)
	}
	c.refs++
	g.mu.Unlock()
	select {
	case <-c.done:
		return c.val, nil
	case <-ctx.Done():
		g.mu.Lock()
		c.refs--
		if c.refs == 0 {
			c.cancel()
			if g.calls[key] == c {
				delete(g.calls, key) // later callers start afresh
			}
		}
		g.mu.Unlock()
		return nil, ctx.Err()
	}
}

func (g *flightGroup) run(ctx context.Context, key srcKey, c *flight, load func(context.Context) *sourceEntry) {
	defer c.cancel()
	var val *sourceEntry
	defer func() {
		if p := recover(); p != nil {
			val = &sourceEntry{err: fmt.Errorf("avatar %s: internal failure: %v", key.name, p)}
		}
		g.mu.Lock()
		if g.calls[key] == c {
			delete(g.calls, key)
		}
		c.val = val
		g.mu.Unlock()
		close(c.done)
	}()
	val = load(ctx)
}

// gate is a weighted semaphore: work that needs n units of a budget waits,
// in arrival order, until they are free or its context ends.
type gate struct {
	mu      sync.Mutex
	free    int64
	waiters list.List // of *gateWaiter
}

type gateWaiter struct {
	n     int64
	ready chan struct{}
}

func newGate(size int64) *gate { return &gate{free: size} }

// acquire takes n units, waiting while they are not free. It fails with
// ctx's error when ctx ends first, holding nothing.
func (g *gate) acquire(ctx context.Context, n int64) error {
	g.mu.Lock()
	if g.waiters.Len() == 0 && g.free >= n {
		g.free -= n
		g.mu.Unlock()
		return nil
	}
	w := &gateWaiter{n: n, ready: make(chan struct{})}
	el := g.waiters.PushBack(w)
	g.mu.Unlock()
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		g.mu.Lock()
		select {
		case <-w.ready: // granted meanwhile: hand the units back
			g.free += n
			g.grant()
		default:
			g.waiters.Remove(el)
			g.grant() // a smaller waiter behind may fit now
		}
		g.mu.Unlock()
		return fmt.Errorf("wait for avatar work: %w", ctx.Err())
	}
}

// release returns n units taken by acquire.
func (g *gate) release(n int64) {
	g.mu.Lock()
	g.free += n
	g.grant()
	g.mu.Unlock()
}

// grant wakes waiters, in order, while the first one fits. g.mu is held.
func (g *gate) grant() {
	for el := g.waiters.Front(); el != nil; el = g.waiters.Front() {
		w := el.Value.(*gateWaiter)
		if w.n > g.free {
			return
		}
		g.free -= w.n
		g.waiters.Remove(el)
		close(w.ready)
	}
}
