package store

import (
	"context"

	goredis "github.com/redis/go-redis/v9"
)

// CounterTaker empties counters atomically: a batch of increments that
// several instances add to and one of them sends on. Both Memory and
// Redis implement it; it is not part of Store.
type CounterTaker interface {
	// Take returns the counter's value and deletes the counter in one
	// step, so that an increment made meanwhile is either in the value
	// returned or left in a new counter. A missing counter is 0.
	Take(ctx context.Context, key string) (int64, error)
}

// Take implements CounterTaker.
func (m *Memory) Take(_ context.Context, key string) (int64, error) {
	s := m.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.counters[key]
	if c == nil {
		return 0, nil
	}
	delete(s.counters, key)
	if expired(c.exp, m.now().UnixNano()) {
		return 0, nil
	}
	return c.value, nil
}

// takeScript: KEYS[1] counter. GET and DEL in one step (GETDEL needs
// Redis 6.2).
var takeScript = goredis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
redis.call('DEL', KEYS[1])
return tonumber(v)
`)

// Take implements CounterTaker.
func (r *Redis) Take(ctx context.Context, key string) (int64, error) {
	n, err := takeScript.Run(ctx, r.client, []string{r.key(kindCounter, key)}).Int64()
	if err != nil {
		return 0, r.fail("take", err)
	}
	return n, nil
}

var (
	_ CounterTaker = (*Memory)(nil)
	_ CounterTaker = (*Redis)(nil)
)
