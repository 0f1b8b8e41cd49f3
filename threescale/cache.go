package threescale

import (
	"context"
	"fmt"
	"hash/maphash"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/verdict-policy/verdict/store"
)

// CacheMode says how cached authorizations follow the backend's answers:
// APIcast's backend cache handler (APICAST_BACKEND_CACHE_HANDLER) and its
// caching policy (caching_type).
type CacheMode uint8

const (
	// CacheDefault takes the Authorizer's mode (on a Request) or the
	// mode's own default (in Options): strict for authrep, none for batch.
	CacheDefault CacheMode = iota
	// CacheStrict caches authorized calls only; any other answer, an
	// unreachable backend included, drops the entry. While the backend is
	// down, only applications whose authorization is still cached and has
	// not been re-checked since pass.
	CacheStrict
	// CacheResilient caches every answer below 500 (authorized and
	// denied) and keeps the entry when the backend cannot be reached, so
	// that the last answer keeps deciding through an outage.
	CacheResilient
	// CacheAllow is resilient and, when the backend cannot be reached and
	// nothing is cached, caches an authorization: every request passes
	// during an outage unless the backend last denied it.
	CacheAllow
	// CacheNone caches nothing: every request asks the backend and an
	// unreachable backend denies.
	CacheNone
)

var cacheModeNames = [...]string{"default", "strict", "resilient", "allow", "none"}

// ParseCacheMode reads a mode name: strict, resilient, allow or none; an
// empty string is CacheDefault.
func ParseCacheMode(s string) (CacheMode, error) {
	if s == "" {
		return CacheDefault, nil
	}
	for i, n := range cacheModeNames[1:] {
		if s == n {
			return CacheMode(i + 1), nil
		}
	}
	return 0, fmt.Errorf("caching mode %q: want strict, resilient, allow or none", s)
}

// String returns the mode's name.
func (m CacheMode) String() string {
	if int(m) < len(cacheModeNames) {
		return cacheModeNames[m]
	}
	return fmt.Sprintf("CacheMode(%d)", uint8(m))
}

// entry is one cached authorization: the backend's status and, for a
// denial, its rejection reason.
type entry struct {
	status int
	reason string
}

// encode writes the entry as it is kept in a store: "200" or
// "409:limits_exceeded", the form APIcast's batcher keeps.
func (e entry) encode() []byte {
	b := strconv.AppendInt(nil, int64(e.status), 10)
	if e.reason != "" {
		b = append(b, ':')
		b = append(b, e.reason...)
	}
	return b
}

func decodeEntry(v []byte) (entry, error) {
	s := string(v)
	status, reason, _ := strings.Cut(s, ":")
	n, err := strconv.Atoi(status)
	if err != nil || n < 100 || n > 599 {
		return entry{}, fmt.Errorf("cached authorization %q is not STATUS[:REASON]", s)
	}
	return entry{status: n, reason: reason}, nil
}

// authCache holds authorizations by key, in this process or in a store.
// It is a struct rather than an interface so that the key, built in the
// caller's stack buffer, does not escape to the heap through an interface
// call: a cached authorization then costs no allocation.
type authCache struct {
	local  *localCache
	shared *storeCache
}

func (c authCache) get(ctx context.Context, key []byte) (entry, bool, error) {
	if c.local != nil {
		return c.local.get(key)
	}
	return c.shared.get(ctx, key)
}

func (c authCache) set(ctx context.Context, key []byte, e entry, ttl time.Duration) error {
	if c.local != nil {
		c.local.set(key, e, ttl)
		return nil
	}
	return c.shared.set(ctx, key, e, ttl)
}

// add stores e only when key holds nothing.
func (c authCache) add(ctx context.Context, key []byte, e entry, ttl time.Duration) error {
	if c.local != nil {
		c.local.add(key, e, ttl)
		return nil
	}
	return c.shared.add(ctx, key, e, ttl)
}

func (c authCache) del(ctx context.Context, key []byte) error {
	if c.local != nil {
		c.local.del(key)
		return nil
	}
	return c.shared.del(ctx, key)
}

// cacheShards is the number of independently locked parts of a local
// cache.
const cacheShards = 64

// localCache is the in-process authCache: a sharded map whose look-ups
// cost no allocation. When a shard is full, expired entries go first, then
// an arbitrary one, as a shared dictionary evicts under pressure.
type localCache struct {
	seed     maphash.Seed
	now      func() time.Time
	perShard int
	shards   [cacheShards]cacheShard
}

type cacheShard struct {
	mu sync.RWMutex
	m  map[string]localEntry
	_  [32]byte // keeps neighbouring shards' locks off one cache line
}

type localEntry struct {
	entry
	exp int64 // Unix nanoseconds; 0: never
}

func newLocalCache(size int, now func() time.Time) *localCache {
	c := &localCache{seed: maphash.MakeSeed(), now: now, perShard: max(size/cacheShards, 1)}
	for i := range c.shards {
		c.shards[i].m = make(map[string]localEntry)
	}
	return c
}

func (c *localCache) shard(key []byte) *cacheShard {
	return &c.shards[maphash.Bytes(c.seed, key)%cacheShards]
}

func (c *localCache) get(key []byte) (entry, bool, error) {
	s := c.shard(key)
	s.mu.RLock()
	e, ok := s.m[string(key)]
	s.mu.RUnlock()
	if !ok || e.exp != 0 && e.exp <= c.now().UnixNano() {
		return entry{}, false, nil
	}
	return e.entry, true, nil
}

func (c *localCache) set(key []byte, e entry, ttl time.Duration) {
	s := c.shard(key)
	now := c.now().UnixNano()
	s.mu.Lock()
	c.put(s, key, e, ttl, now)
	s.mu.Unlock()
}

// put stores e; the caller holds s.mu.
func (c *localCache) put(s *cacheShard, key []byte, e entry, ttl time.Duration, now int64) {
	if _, ok := s.m[string(key)]; !ok && len(s.m) >= c.perShard {
		for k, v := range s.m {
			if v.exp != 0 && v.exp <= now {
				delete(s.m, k)
			}
		}
		if len(s.m) >= c.perShard {
			for k := range s.m {
				delete(s.m, k)
				break
			}
		}
	}
	var exp int64
	if ttl > 0 {
		exp = now + int64(ttl)
	}
	s.m[string(key)] = localEntry{entry: e, exp: exp}
}

func (c *localCache) add(key []byte, e entry, ttl time.Duration) {
	s := c.shard(key)
	now := c.now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.m[string(key)]; ok && (old.exp == 0 || old.exp > now) {
		return
	}
	c.put(s, key, e, ttl, now)
}

func (c *localCache) del(key []byte) {
	s := c.shard(key)
	s.mu.Lock()
	delete(s.m, string(key))
	s.mu.Unlock()
}

// storeCache keeps authorizations as store values under prefix+key, so
// that every instance using the store shares them.
type storeCache struct {
	values store.Values
	prefix string
}

func (c *storeCache) name(key []byte) string {
	return c.prefix + string(key)
}

func (c *storeCache) get(ctx context.Context, key []byte) (entry, bool, error) {
	v, ok, err := c.values.ValueGet(ctx, c.name(key))
	if err != nil || !ok {
		return entry{}, false, err
	}
	e, err := decodeEntry(v)
	if err != nil {
		return entry{}, false, err
	}
	return e, true, nil
}

func (c *storeCache) set(ctx context.Context, key []byte, e entry, ttl time.Duration) error {
	return c.values.ValuePut(ctx, c.name(key), e.encode(), ttl)
}

func (c *storeCache) add(ctx context.Context, key []byte, e entry, ttl time.Duration) error {
	_, err := c.values.ValueAdd(ctx, c.name(key), e.encode(), ttl)
	return err
}

func (c *storeCache) del(ctx context.Context, key []byte) error {
	return c.values.ValueDelete(ctx, c.name(key))
}
