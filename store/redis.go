package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// RedisOptions configures a Redis store.
type RedisOptions struct {
	// URL is redis://[user:password@]host:port/db (rediss:// for TLS).
	URL string
	// PoolSize is the most connections kept open; go-redis's default (ten
	// per CPU) when 0.
	PoolSize int
	// DialTimeout, ReadTimeout and WriteTimeout bound connecting and each
	// command's network I/O; go-redis's defaults when 0.
	DialTimeout, ReadTimeout, WriteTimeout time.Duration
	// KeyPrefix is put before every key, so that several deployments can
	// share one Redis database.
	KeyPrefix string
	// Metrics, when set, counts failed operations.
	Metrics *Metrics
}

// Redis is the Store kept in a Redis server, shared by every instance that
// uses the same server, database and key prefix. Each operation is a single
// command or one Lua script, so it is atomic across instances. Failures to
// reach the server come back wrapped with ErrUnavailable.
type Redis struct {
	client  *goredis.Client
	prefix  string
	metrics *Metrics
	// idBase and idSeq make lease and event ids unique across instances:
	// a random part per store and a sequence.
	idBase string
	idSeq  atomic.Uint64
}

// Key kinds, so that one caller's key name can be a counter and a set
// without the two colliding in Redis.
const (
	kindCounter = "c:"
	kindWindow  = "w:"
	kindBucket  = "b:"
	kindLease   = "l:"
	kindEvents  = "e:"
	kindSet     = "s:"
	kindTable   = "t:"
	kindExpiry  = "x:"
)

// NewRedis connects to the server named in opts. It does not fail when the
// server is down: the store is usable and each operation reports
// ErrUnavailable until the server answers. It does fail on a bad URL.
func NewRedis(ctx context.Context, opts RedisOptions) (*Redis, error) {
	o, err := goredis.ParseURL(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("store: redis url: %w", err)
	}
	if opts.PoolSize > 0 {
		o.PoolSize = opts.PoolSize
	}
	if opts.DialTimeout > 0 {
		o.DialTimeout = opts.DialTimeout
	}
	if opts.ReadTimeout > 0 {
		o.ReadTimeout = opts.ReadTimeout
	}
	if opts.WriteTimeout > 0 {
		o.WriteTimeout = opts.WriteTimeout
	}
	// A limiter step must not be counted twice: a command that may have
	// reached the server is not retried, and a down server is reported at
	// once rather than after rounds of redials.
	o.MaxRetries = -1
	o.DialerRetries = 1
	o.ContextTimeoutEnabled = true
	o.DisableIdentity = true
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	r := &Redis{
		client:  goredis.NewClient(o),
		prefix:  opts.KeyPrefix,
		metrics: opts.Metrics,
		idBase:  hex.EncodeToString(rnd[:]) + "-",
	}
	// Load the scripts now so the first requests run EVALSHA directly. A
	// server that is down is not fatal here: Script.Run sends the source
	// with EVAL when the server does not know the digest.
	for _, s := range scripts {
		if s.Load(ctx, r.client).Err() != nil {
			break // down or refusing: no point trying the others
		}
	}
	return r, nil
}

// Ping checks that the server answers.
func (r *Redis) Ping(ctx context.Context) error {
	return r.fail("ping", r.client.Ping(ctx).Err())
}

// Close closes the connection pool.
func (r *Redis) Close() error {
	if err := r.client.Close(); err != nil {
		return fmt.Errorf("store: close redis: %w", err)
	}
	return nil
}

func (r *Redis) key(kind, key string) string { return r.prefix + kind + key }

func (r *Redis) nextID() string {
	return r.idBase + strconv.FormatUint(r.idSeq.Add(1), 36)
}

// fail wraps a backend error as ErrUnavailable and counts it. A nil error
// and redis.Nil (no such key) are not failures. A call its caller cancelled
// is reported the same way but not counted: Redis did not fail.
func (r *Redis) fail(op string, err error) error {
	if err == nil || errors.Is(err, goredis.Nil) {
		return nil
	}
	if !errors.Is(err, context.Canceled) {
		r.metrics.failed(op)
	}
	return &unavailable{op: op, err: err}
}

func ms(d time.Duration) int64 {
	n := d.Milliseconds()
	if n == 0 && d > 0 {
		n = 1
	}
	return n
}

// ints reads a script's reply of two integers.
func ints(v any) (int64, int64, error) {
	a, ok := v.([]any)
	if !ok || len(a) != 2 {
		return 0, 0, fmt.Errorf("unexpected script reply %T", v)
	}
	x, ok1 := a[0].(int64)
	y, ok2 := a[1].(int64)
	if !ok1 || !ok2 {
		return 0, 0, fmt.Errorf("unexpected script reply %v", a)
	}
	return x, y, nil
}

// Incr implements Counters.
func (r *Redis) Incr(ctx context.Context, key string, delta int64, ttl time.Duration) (int64, error) {
	n, err := incrScript.Run(ctx, r.client, []string{r.key(kindCounter, key)}, delta, max(ms(ttl), 0)).Int64()
	if err != nil {
		return 0, r.fail("incr", err)
	}
	return n, nil
}

// Get implements Counters.
func (r *Redis) Get(ctx context.Context, key string) (int64, bool, error) {
	n, err := r.client.Get(ctx, r.key(kindCounter, key)).Int64()
	if errors.Is(err, goredis.Nil) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, r.fail("get", err)
	}
	return n, true, nil
}

// Delete implements Counters.
func (r *Redis) Delete(ctx context.Context, key string) error {
	return r.fail("delete", r.client.Del(ctx, r.key(kindCounter, key)).Err())
}

// Window implements Limiters. The window is counted in whole milliseconds
// of the Redis server's clock.
func (r *Redis) Window(ctx context.Context, key string, limit int64, window time.Duration) (WindowResult, error) {
	if err := checkLimit("window", limit, window); err != nil {
		return WindowResult{}, err
	}
	v, err := windowScript.Run(ctx, r.client, []string{r.key(kindWindow, key)}, ms(window)).Result()
	if err != nil {
		return WindowResult{}, r.fail("window", err)
	}
	count, reset, err := ints(v)
	if err != nil {
		return WindowResult{}, r.fail("window", err)
	}
	return WindowResult{
		Allowed:   count <= limit,
		Count:     count,
		Remaining: max(limit-count, 0),
		Reset:     time.Duration(reset) * time.Millisecond,
	}, nil
}

// Bucket implements Limiters.
func (r *Redis) Bucket(ctx context.Context, key string, rate, burst float64) (BucketResult, error) {
	if err := checkBucket(rate, burst); err != nil {
		return BucketResult{}, err
	}
	v, err := bucketScript.Run(ctx, r.client, []string{r.key(kindBucket, key)},
		strconv.FormatFloat(rate, 'g', -1, 64), strconv.FormatFloat(burst, 'g', -1, 64)).Result()
	if err != nil {
		return BucketResult{}, r.fail("bucket", err)
	}
	a, ok := v.([]any)
	if !ok || len(a) != 2 {
		return BucketResult{}, r.fail("bucket", fmt.Errorf("unexpected script reply %v", v))
	}
	allowed, _ := a[0].(int64)
	text, _ := a[1].(string)
	excess, err := strconv.ParseFloat(text, 64)
	if err != nil {
		return BucketResult{}, r.fail("bucket", fmt.Errorf("unexpected bucket level %q", text))
	}
	if allowed == 0 {
		return BucketResult{RetryAfter: seconds((excess - burst) / rate)}, nil
	}
	return BucketResult{Allowed: true, Delay: seconds(excess / rate), Remaining: int64(burst - excess)}, nil
}

// Acquire implements Limiters. The lease's TTL is kept by the server, so a
// lease whose holder died frees itself.
func (r *Redis) Acquire(ctx context.Context, key string, limit int64, ttl time.Duration) (Lease, error) {
	if err := checkLimit("acquire", limit, ttl); err != nil {
		return Lease{}, err
	}
	k := r.key(kindLease, key)
	id := r.nextID()
	v, err := acquireScript.Run(ctx, r.client, []string{k}, limit, ms(ttl), id).Result()
	if err != nil {
		return Lease{}, r.fail("acquire", err)
	}
	allowed, n, err := ints(v)
	if err != nil {
		return Lease{}, r.fail("acquire", err)
	}
	if allowed == 0 {
		return Lease{Count: n}, nil
	}
	return Lease{Allowed: true, Count: n, release: func(ctx context.Context) error {
		return r.fail("release", r.client.ZRem(ctx, k, id).Err())
	}}, nil
}

// AddEvent implements Events.
func (r *Redis) AddEvent(ctx context.Context, key string, window time.Duration) (int64, error) {
	if window <= 0 {
		return 0, invalidf("add event", "window %v is not positive", window)
	}
	n, err := addEventScript.Run(ctx, r.client, []string{r.key(kindEvents, key)}, ms(window), r.nextID()).Int64()
	if err != nil {
		return 0, r.fail("add event", err)
	}
	return n, nil
}

// CountEvents implements Events.
func (r *Redis) CountEvents(ctx context.Context, key string, window time.Duration) (int64, error) {
	if window <= 0 {
		return 0, invalidf("count events", "window %v is not positive", window)
	}
	n, err := countEventsScript.Run(ctx, r.client, []string{r.key(kindEvents, key)}, ms(window)).Int64()
	if err != nil {
		return 0, r.fail("count events", err)
	}
	return n, nil
}

// SetAdd implements Sets.
func (r *Redis) SetAdd(ctx context.Context, key string, ttl time.Duration, members ...string) (int64, error) {
	if len(members) == 0 {
		return 0, nil
	}
	args := make([]any, 0, len(members)+1)
	args = append(args, max(ms(ttl), 0))
	for _, m := range members {
		args = append(args, m)
	}
	n, err := setAddScript.Run(ctx, r.client, []string{r.key(kindSet, key)}, args...).Int64()
	if err != nil {
		return 0, r.fail("set add", err)
	}
	return n, nil
}

// SetRemove implements Sets.
func (r *Redis) SetRemove(ctx context.Context, key string, members ...string) (int64, error) {
	if len(members) == 0 {
		return 0, nil
	}
	args := make([]any, len(members))
	for i, m := range members {
		args[i] = m
	}
	n, err := r.client.SRem(ctx, r.key(kindSet, key), args...).Result()
	if err != nil {
		return 0, r.fail("set remove", err)
	}
	return n, nil
}

// SetMembers implements Sets.
func (r *Redis) SetMembers(ctx context.Context, key string) ([]string, error) {
	v, err := r.client.SMembers(ctx, r.key(kindSet, key)).Result()
	if err != nil {
		return nil, r.fail("set members", err)
	}
	return v, nil
}

// SetCard implements Sets.
func (r *Redis) SetCard(ctx context.Context, key string) (int64, error) {
	n, err := r.client.SCard(ctx, r.key(kindSet, key)).Result()
	if err != nil {
		return 0, r.fail("set card", err)
	}
	return n, nil
}

// SetContains implements Sets.
func (r *Redis) SetContains(ctx context.Context, key, member string) (bool, error) {
	ok, err := r.client.SIsMember(ctx, r.key(kindSet, key), member).Result()
	if err != nil {
		return false, r.fail("set contains", err)
	}
	return ok, nil
}

func (r *Redis) tableKeys(table string) []string {
	return []string{r.key(kindTable, table), r.key(kindExpiry, table)}
}

// TablePut implements Tables.
func (r *Redis) TablePut(ctx context.Context, table, key string, value []byte, ttl time.Duration) error {
	err := tablePutScript.Run(ctx, r.client, r.tableKeys(table), key, value, max(ms(ttl), 0)).Err()
	return r.fail("table put", err)
}

// TableGet implements Tables.
func (r *Redis) TableGet(ctx context.Context, table, key string) ([]byte, bool, error) {
	v, err := tableGetScript.Run(ctx, r.client, r.tableKeys(table), key).Result()
	if errors.Is(err, goredis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, r.fail("table get", err)
	}
	s, ok := v.(string)
	if !ok {
		return nil, false, r.fail("table get", fmt.Errorf("unexpected script reply %T", v))
	}
	return []byte(s), true, nil
}

// TableDelete implements Tables.
func (r *Redis) TableDelete(ctx context.Context, table, key string) error {
	return r.fail("table delete", tableDeleteScript.Run(ctx, r.client, r.tableKeys(table), key).Err())
}

// TableAll implements Tables.
func (r *Redis) TableAll(ctx context.Context, table string) (map[string][]byte, error) {
	v, err := tableAllScript.Run(ctx, r.client, r.tableKeys(table)).Result()
	if err != nil {
		return nil, r.fail("table all", err)
	}
	out := make(map[string][]byte)
	switch a := v.(type) {
	case []any: // a script's HGETALL is a flat list under RESP2 and RESP3
		for i := 0; i+1 < len(a); i += 2 {
			k, _ := a[i].(string)
			val, _ := a[i+1].(string)
			out[k] = []byte(val)
		}
	default:
		return nil, r.fail("table all", fmt.Errorf("unexpected script reply %T", v))
	}
	return out, nil
}

var _ Store = (*Redis)(nil)
