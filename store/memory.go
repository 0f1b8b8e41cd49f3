package store

import (
	"context"
	"fmt"
	"hash/maphash"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for MemoryOptions fields left at zero.
const (
	DefaultShards          = 64
	DefaultMaxTableEntries = 100_000
	DefaultSweepInterval   = 10 * time.Second
)

// MemoryOptions tunes a Memory store. The zero value is ready to use.
type MemoryOptions struct {
	// Shards is the number of independently locked parts the keys are
	// spread over by hash; DefaultShards when 0.
	Shards int
	// MaxTableEntries bounds each table. A put of a new key into a full
	// table first drops the table's expired entries and fails with ErrFull
	// if it is still full. DefaultMaxTableEntries when 0.
	MaxTableEntries int
	// SweepInterval is how often the janitor drops expired keys;
	// DefaultSweepInterval when 0, no janitor when negative.
	SweepInterval time.Duration
	// Now is the clock; time.Now when nil. Tests pass a fake one.
	Now func() time.Time
}

// Memory is the in-process Store: keys sharded by hash, each shard behind
// its own mutex, expired keys dropped on access and by a janitor goroutine.
// Create one with NewMemory and stop it with Close.
type Memory struct {
	shards   []shard
	seed     maphash.Seed
	now      func() time.Time
	maxTable int
	leaseSeq atomic.Uint64

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// shard holds one hash slice of every kind of key. Times are Unix
// nanoseconds; an expiry of 0 means never.
type shard struct {
	mu       sync.Mutex
	counters map[string]*counter
	windows  map[string]*window
	buckets  map[string]*bucket
	leases   map[string]*leaseSet
	events   map[string]*eventLog
	sets     map[string]*set
	tables   map[string]*table
	_        [40]byte // keeps neighbouring shards' mutexes off one cache line
}

type counter struct{ value, exp int64 }

type window struct{ idx, count, exp int64 }

type bucket struct {
	excess    float64
	last, exp int64
}

type leaseSet struct {
	held map[uint64]int64 // lease id → deadline
	exp  int64
}

type eventLog struct {
	times []int64 // ascending
	exp   int64
}

type set struct {
	members map[string]struct{}
	exp     int64
}

type table struct{ entries map[string]tableEntry }

type tableEntry struct {
	value []byte
	exp   int64
}

func expired(exp, now int64) bool { return exp != 0 && exp <= now }

// dropExpired deletes the entries of m whose expiry, read by exp, has
// passed at now.
func dropExpired[V any](m map[string]V, now int64, exp func(V) int64) {
	for k, v := range m {
		if expired(exp(v), now) {
			delete(m, k)
		}
	}
}

func expiry(now int64, ttl time.Duration) int64 {
	if ttl <= 0 {
		return 0
	}
	return now + int64(ttl)
}

// NewMemory returns a running memory store.
func NewMemory(opts MemoryOptions) *Memory {
	n := opts.Shards
	if n <= 0 {
		n = DefaultShards
	}
	m := &Memory{
		shards:   make([]shard, n),
		seed:     maphash.MakeSeed(),
		now:      opts.Now,
		maxTable: opts.MaxTableEntries,
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.maxTable <= 0 {
		m.maxTable = DefaultMaxTableEntries
	}
	for i := range m.shards {
		s := &m.shards[i]
		s.counters = make(map[string]*counter)
		s.windows = make(map[string]*window)
		s.buckets = make(map[string]*bucket)
		s.leases = make(map[string]*leaseSet)
		s.events = make(map[string]*eventLog)
		s.sets = make(map[string]*set)
		s.tables = make(map[string]*table)
	}
	interval := opts.SweepInterval
	if interval == 0 {
		interval = DefaultSweepInterval
	}
	if interval > 0 {
		go m.janitor(interval)
	} else {
		close(m.done)
	}
	return m
}

func (m *Memory) shard(key string) *shard {
	return &m.shards[maphash.String(m.seed, key)%uint64(len(m.shards))]
}

func (m *Memory) janitor(interval time.Duration) {
	defer close(m.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			m.Sweep()
		}
	}
}

// Close stops the janitor. It is safe to call more than once.
func (m *Memory) Close() error {
	m.closeOnce.Do(func() { close(m.stop) })
	<-m.done
	return nil
}

// Sweep drops every expired key now, one shard at a time. The janitor calls
// it periodically.
func (m *Memory) Sweep() {
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		now := m.now().UnixNano()
		dropExpired(s.counters, now, func(v *counter) int64 { return v.exp })
		dropExpired(s.windows, now, func(v *window) int64 { return v.exp })
		dropExpired(s.buckets, now, func(v *bucket) int64 { return v.exp })
		dropExpired(s.leases, now, func(v *leaseSet) int64 { return v.exp })
		dropExpired(s.events, now, func(v *eventLog) int64 { return v.exp })
		dropExpired(s.sets, now, func(v *set) int64 { return v.exp })
		for k, t := range s.tables {
			t.dropExpired(now)
			if len(t.entries) == 0 {
				delete(s.tables, k)
			}
		}
		s.mu.Unlock()
	}
}

// Len returns the number of keys held, expired or not, counting each table
// entry as one key. It shows how much the janitor has left to reclaim.
func (m *Memory) Len() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += len(s.counters) + len(s.windows) + len(s.buckets) + len(s.leases) + len(s.events) + len(s.sets)
		for _, t := range s.tables {
			n += len(t.entries)
		}
		s.mu.Unlock()
	}
	return n
}

// Incr implements Counters.
func (m *Memory) Incr(_ context.Context, key string, delta int64, ttl time.Duration) (int64, error) {
	s := m.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := m.now().UnixNano()
	c := s.counters[key]
	if c == nil || expired(c.exp, now) {
		c = &counter{exp: expiry(now, ttl)}
		s.counters[key] = c
	}
	c.value += delta
	return c.value, nil
}

// Get implements Counters.
func (m *Memory) Get(_ context.Context, key string) (int64, bool, error) {
	s := m.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.counters[key]
	if c == nil || expired(c.exp, m.now().UnixNano()) {
		return 0, false, nil
	}
	return c.value, true, nil
}

// Delete implements Counters.
func (m *Memory) Delete(_ context.Context, key string) error {
	s := m.shard(key)
	s.mu.Lock()
	delete(s.counters, key)
	s.mu.Unlock()
	return nil
}

// Window implements Limiters.
func (m *Memory) Window(_ context.Context, key string, limit int64, d time.Duration) (WindowResult, error) {
	if err := checkLimit("window", limit, d); err != nil {
		return WindowResult{}, err
	}
	s := m.shard(key)
	s.mu.Lock()
	now := m.now()
	idx, reset := windowOf(now, d)
	w := s.windows[key]
	if w == nil {
		w = &window{}
		s.windows[key] = w
	}
	if w.idx != idx || w.count == 0 {
		w.idx, w.count = idx, 0
		w.exp = now.UnixNano() + int64(reset)
	}
	w.count++
	count := w.count
	s.mu.Unlock()
	return WindowResult{Allowed: count <= limit, Count: count, Remaining: max(limit-count, 0), Reset: reset}, nil
}

// Bucket implements Limiters.
func (m *Memory) Bucket(_ context.Context, key string, rate, burst float64) (BucketResult, error) {
	if err := checkBucket(rate, burst); err != nil {
		return BucketResult{}, err
	}
	s := m.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := m.now().UnixNano()
	b := s.buckets[key]
	fresh := b == nil || expired(b.exp, now)
	var prev float64
	var last int64
	if !fresh {
		prev, last = b.excess, b.last
	}
	excess, r := bucketStep(prev, time.Duration(now-last), fresh, rate, burst)
	if r.Allowed {
		if b == nil {
			b = &bucket{}
			s.buckets[key] = b
		}
		b.excess, b.last = excess, now
		// The bucket is empty again once its level has drained.
		b.exp = now + int64(bucketTTL(excess, rate))
	}
	return r, nil
}

// Acquire implements Limiters.
func (m *Memory) Acquire(_ context.Context, key string, limit int64, ttl time.Duration) (Lease, error) {
	if err := checkLimit("acquire", limit, ttl); err != nil {
		return Lease{}, err
	}
	s := m.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := m.now().UnixNano()
	l := s.leases[key]
	if l == nil || expired(l.exp, now) {
		l = &leaseSet{held: make(map[uint64]int64)}
		s.leases[key] = l
	}
	for id, deadline := range l.held {
		if deadline <= now {
			delete(l.held, id)
		}
	}
	n := int64(len(l.held))
	if n >= limit {
		return Lease{Count: n}, nil
	}
	id := m.leaseSeq.Add(1)
	deadline := now + int64(ttl)
	l.held[id] = deadline
	l.exp = max(l.exp, deadline)
	return Lease{Allowed: true, Count: n + 1, release: func(context.Context) error {
		s.mu.Lock()
		if l := s.leases[key]; l != nil {
			delete(l.held, id)
			if len(l.held) == 0 {
				delete(s.leases, key)
			}
		}
		s.mu.Unlock()
		return nil
	}}, nil
}

// AddEvent implements Events.
func (m *Memory) AddEvent(_ context.Context, key string, d time.Duration) (int64, error) {
	if d <= 0 {
		return 0, invalidf("add event", "window %v is not positive", d)
	}
	s := m.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := m.now().UnixNano()
	e := s.events[key]
	if e == nil {
		e = &eventLog{}
		s.events[key] = e
	}
	if n := len(e.times); n > 0 && now < e.times[n-1] {
		now = e.times[n-1] // the wall clock stepped back: keep the log sorted
	}
	e.trim(now - int64(d))
	e.times = append(e.times, now)
	e.exp = max(e.exp, now+int64(d))
	return int64(len(e.times)), nil
}

// CountEvents implements Events.
func (m *Memory) CountEvents(_ context.Context, key string, d time.Duration) (int64, error) {
	if d <= 0 {
		return 0, invalidf("count events", "window %v is not positive", d)
	}
	s := m.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.events[key]
	if e == nil {
		return 0, nil
	}
	since := m.now().UnixNano() - int64(d)
	first, _ := slices.BinarySearch(e.times, since+1)
	return int64(len(e.times) - first), nil
}

// trim drops the events at or before since. Slicing rather than copying
// keeps each call cheap; append moves the live part to a new array when
// the old one is used up, so the dead prefix is reclaimed then.
func (e *eventLog) trim(since int64) {
	i, _ := slices.BinarySearch(e.times, since+1)
	e.times = e.times[i:]
}

// SetAdd implements Sets.
func (m *Memory) SetAdd(_ context.Context, key string, ttl time.Duration, members ...string) (int64, error) {
	s := m.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := m.now().UnixNano()
	st := s.liveSet(key, now)
	if st == nil {
		st = &set{members: make(map[string]struct{}, len(members))}
		s.sets[key] = st
	}
	var added int64
	for _, v := range members {
		if _, ok := st.members[v]; !ok {
			st.members[v] = struct{}{}
			added++
		}
	}
	if ttl > 0 {
		st.exp = expiry(now, ttl)
	}
	if len(st.members) == 0 {
		delete(s.sets, key)
	}
	return added, nil
}

func (s *shard) liveSet(key string, now int64) *set {
	st := s.sets[key]
	if st != nil && expired(st.exp, now) {
		delete(s.sets, key)
		return nil
	}
	return st
}

// SetRemove implements Sets.
func (m *Memory) SetRemove(_ context.Context, key string, members ...string) (int64, error) {
	s := m.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.liveSet(key, m.now().UnixNano())
	if st == nil {
		return 0, nil
	}
	var removed int64
	for _, v := range members {
		if _, ok := st.members[v]; ok {
			delete(st.members, v)
			removed++
		}
	}
	if len(st.members) == 0 {
		delete(s.sets, key)
	}
	return removed, nil
}

// SetMembers implements Sets.
func (m *Memory) SetMembers(_ context.Context, key string) ([]string, error) {
	s := m.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.liveSet(key, m.now().UnixNano())
	if st == nil {
		return []string{}, nil
	}
	out := make([]string, 0, len(st.members))
	for v := range st.members {
		out = append(out, v)
	}
	return out, nil
}

// SetCard implements Sets.
func (m *Memory) SetCard(_ context.Context, key string) (int64, error) {
	s := m.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.liveSet(key, m.now().UnixNano())
	if st == nil {
		return 0, nil
	}
	return int64(len(st.members)), nil
}

// SetContains implements Sets.
func (m *Memory) SetContains(_ context.Context, key, member string) (bool, error) {
	s := m.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.liveSet(key, m.now().UnixNano())
	if st == nil {
		return false, nil
	}
	_, ok := st.members[member]
	return ok, nil
}

func (t *table) dropExpired(now int64) {
	for k, e := range t.entries {
		if expired(e.exp, now) {
			delete(t.entries, k)
		}
	}
}

// TablePut implements Tables. The value is copied.
func (m *Memory) TablePut(_ context.Context, name, key string, value []byte, ttl time.Duration) error {
	s := m.shard(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := m.now().UnixNano()
	t := s.tables[name]
	if t == nil {
		t = &table{entries: make(map[string]tableEntry)}
		s.tables[name] = t
	}
	if _, ok := t.entries[key]; !ok && len(t.entries) >= m.maxTable {
		t.dropExpired(now)
		if len(t.entries) >= m.maxTable {
			return fmt.Errorf("store table %q: %w: %d entries", name, ErrFull, m.maxTable)
		}
	}
	t.entries[key] = tableEntry{value: append([]byte(nil), value...), exp: expiry(now, ttl)}
	return nil
}

// TableGet implements Tables. The value returned is the caller's to keep.
func (m *Memory) TableGet(_ context.Context, name, key string) ([]byte, bool, error) {
	s := m.shard(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tables[name]
	if t == nil {
		return nil, false, nil
	}
	e, ok := t.entries[key]
	if !ok {
		return nil, false, nil
	}
	if expired(e.exp, m.now().UnixNano()) {
		delete(t.entries, key)
		return nil, false, nil
	}
	return append([]byte(nil), e.value...), true, nil
}

// TableDelete implements Tables.
func (m *Memory) TableDelete(_ context.Context, name, key string) error {
	s := m.shard(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.tables[name]; t != nil {
		delete(t.entries, key)
		if len(t.entries) == 0 {
			delete(s.tables, name)
		}
	}
	return nil
}

// TableAll implements Tables.
func (m *Memory) TableAll(_ context.Context, name string) (map[string][]byte, error) {
	s := m.shard(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string][]byte)
	t := s.tables[name]
	if t == nil {
		return out, nil
	}
	now := m.now().UnixNano()
	for k, e := range t.entries {
		if expired(e.exp, now) {
			delete(t.entries, k)
			continue
		}
		out[k] = append([]byte(nil), e.value...)
	}
	return out, nil
}

var _ Store = (*Memory)(nil)
