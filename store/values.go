package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Values are byte strings, each under its own key with its own expiry,
// which the store drops by itself once expired: cache entries. Unlike a
// table entry, a Redis value is a key of its own with Redis's expiry, so
// entries that are never read again do not pile up. Both Memory and Redis
// implement Values; it is not part of Store.
type Values interface {
	// ValuePut stores value under key. When ttl > 0 it expires ttl after
	// this call; ttl 0 keeps it until deleted.
	ValuePut(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// ValueAdd stores value under key only when key holds no live value,
	// and reports whether it did.
	ValueAdd(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error)
	// ValueGet returns the value and whether it exists.
	ValueGet(ctx context.Context, key string) ([]byte, bool, error)
	// ValueDelete removes the value; removing a missing one is not an error.
	ValueDelete(ctx context.Context, key string) error
}

// kindValue is the Redis key kind of values.
const kindValue = "v:"

// valuesTable names the table that holds, in each memory shard, the values
// whose key falls in that shard. The leading NUL keeps it apart from the
// tables callers name.
const valuesTable = "\x00values"

// values returns the table of key's shard, created when create is set. The
// caller holds the shard's lock.
func (s *shard) values(create bool) *table {
	t := s.tables[valuesTable]
	if t == nil && create {
		t = &table{entries: make(map[string]tableEntry)}
		s.tables[valuesTable] = t
	}
	return t
}

// ValuePut implements Values. The value is copied. Values count towards
// MaxTableEntries per shard.
func (m *Memory) ValuePut(_ context.Context, key string, value []byte, ttl time.Duration) error {
	s := m.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	return m.putValue(s, key, value, ttl, m.now().UnixNano())
}

func (m *Memory) putValue(s *shard, key string, value []byte, ttl time.Duration, now int64) error {
	t := s.values(true)
	if _, ok := t.entries[key]; !ok && len(t.entries) >= m.maxTable {
		t.dropExpired(now)
		if len(t.entries) >= m.maxTable {
			return fmt.Errorf("store values: %w: %d entries in a shard", ErrFull, m.maxTable)
		}
	}
	t.entries[key] = tableEntry{value: append([]byte(nil), value...), exp: expiry(now, ttl)}
	return nil
}

// ValueAdd implements Values.
func (m *Memory) ValueAdd(_ context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	s := m.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := m.now().UnixNano()
	if t := s.values(false); t != nil {
		if e, ok := t.entries[key]; ok && !expired(e.exp, now) {
			return false, nil
		}
	}
	if err := m.putValue(s, key, value, ttl, now); err != nil {
		return false, err
	}
	return true, nil
}

// ValueGet implements Values. The value returned is the caller's to keep.
func (m *Memory) ValueGet(_ context.Context, key string) ([]byte, bool, error) {
	s := m.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.values(false)
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

// ValueDelete implements Values.
func (m *Memory) ValueDelete(_ context.Context, key string) error {
	s := m.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.values(false); t != nil {
		delete(t.entries, key)
	}
	return nil
}

// ValuePut implements Values with SET (PX when ttl > 0).
func (r *Redis) ValuePut(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	return r.fail("value put", r.client.Set(ctx, r.key(kindValue, key), value, valueTTL(ttl)).Err())
}

// ValueAdd implements Values with SET NX.
func (r *Redis) ValueAdd(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	ok, err := r.client.SetNX(ctx, r.key(kindValue, key), value, valueTTL(ttl)).Result()
	if err != nil {
		return false, r.fail("value add", err)
	}
	return ok, nil
}

// ValueGet implements Values.
func (r *Redis) ValueGet(ctx context.Context, key string) ([]byte, bool, error) {
	v, err := r.client.Get(ctx, r.key(kindValue, key)).Bytes()
	if errors.Is(err, goredis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, r.fail("value get", err)
	}
	return v, true, nil
}

// ValueDelete implements Values.
func (r *Redis) ValueDelete(ctx context.Context, key string) error {
	return r.fail("value delete", r.client.Del(ctx, r.key(kindValue, key)).Err())
}

// valueTTL turns a ttl into go-redis's expiration: 0 keeps the key, and a
// positive ttl below a millisecond is rounded up rather than dropped.
func valueTTL(ttl time.Duration) time.Duration {
	if ttl <= 0 {
		return 0
	}
	return time.Duration(ms(ttl)) * time.Millisecond
}

var (
	_ Values = (*Memory)(nil)
	_ Values = (*Redis)(nil)
)
