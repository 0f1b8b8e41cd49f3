package store

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/verdict-policy/verdict/internal/redistest"
)

func newRedis(t testing.TB, url, prefix string, m *Metrics) *Redis {
	t.Helper()
	r, err := NewRedis(context.Background(), RedisOptions{URL: url, KeyPrefix: prefix, Metrics: m,
		DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// hammer runs workers goroutines that each make calls fixed-window steps on
// one key through the store they are given, and returns how many passed.
func hammer(t *testing.T, stores []Store, workers, calls int, limit int64) int64 {
	t.Helper()
	var allowed atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		s := stores[w%len(stores)]
		wg.Go(func() {
			for range calls {
				r, err := s.Window(context.Background(), "shared", limit, time.Hour)
				if err != nil {
					errs <- err
					return
				}
				if r.Allowed {
					allowed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return allowed.Load()
}

// avoidHourEdge waits out the last seconds of an hour, so that a test's
// one-hour window cannot roll over while it runs.
func avoidHourEdge() {
	if _, left := windowOf(time.Now(), time.Hour); left < 10*time.Second {
		time.Sleep(left + 10*time.Millisecond)
	}
}

func TestConcurrentWindowAllowsExactlyLimit(t *testing.T) {
	const workers, calls, limit = 32, 20, 100
	t.Run("memory", func(t *testing.T) {
		m := NewMemory(MemoryOptions{})
		defer m.Close()
		if got := hammer(t, []Store{m}, workers, calls, limit); got != limit {
			t.Fatalf("%d allowed, want %d", got, limit)
		}
	})
	t.Run("redis", func(t *testing.T) {
		srv := redistest.Start(t)
		avoidHourEdge()
		r := newRedis(t, srv.URL(), "", nil)
		if got := hammer(t, []Store{r}, workers, calls, limit); got != limit {
			t.Fatalf("%d allowed, want %d", got, limit)
		}
	})
	t.Run("two redis clients share one count", func(t *testing.T) {
		srv := redistest.Start(t)
		avoidHourEdge()
		a := newRedis(t, srv.URL(), "gw:", nil)
		b := newRedis(t, srv.URL(), "gw:", nil)
		if got := hammer(t, []Store{a, b}, workers, calls, limit); got != limit {
			t.Fatalf("%d allowed across two clients, want %d", got, limit)
		}
		// A client with another prefix counts apart.
		c := newRedis(t, srv.URL(), "other:", nil)
		if r := must(c.Window(context.Background(), "shared", limit, time.Hour)); r.Count != 1 {
			t.Fatalf("another prefix saw count %d", r.Count)
		}
	})
}

func TestConcurrentLeasesNeverExceedLimit(t *testing.T) {
	srv := redistest.Start(t)
	for name, s := range map[string]Store{
		"memory": NewMemory(MemoryOptions{}),
		"redis":  newRedis(t, srv.URL(), "", nil),
	} {
		t.Run(name, func(t *testing.T) {
			defer s.Close()
			const limit = 3
			var held, peak, allowed atomic.Int64
			var wg sync.WaitGroup
			for range 16 {
				wg.Go(func() {
					for range 20 {
						l, err := s.Acquire(context.Background(), "conn", limit, time.Minute)
						if err != nil {
							t.Error(err)
							return
						}
						if !l.Allowed {
							continue
						}
						allowed.Add(1)
						n := held.Add(1)
						for {
							p := peak.Load()
							if n <= p || peak.CompareAndSwap(p, n) {
								break
							}
						}
						time.Sleep(100 * time.Microsecond)
						held.Add(-1)
						if err := l.Release(context.Background()); err != nil {
							t.Error(err)
						}
					}
				})
			}
			wg.Wait()
			if peak.Load() > limit || allowed.Load() == 0 {
				t.Fatalf("peak %d leases held (limit %d), %d allowed", peak.Load(), limit, allowed.Load())
			}
			if l := must(s.Acquire(context.Background(), "conn", limit, time.Minute)); l.Count != 1 {
				t.Fatalf("leases left after every release: %d", l.Count-1)
			}
		})
	}
}

func TestRedisOutage(t *testing.T) {
	srv := redistest.Start(t)
	reg := prometheus.NewRegistry()
	metrics, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	r := newRedis(t, srv.URL(), "", metrics)
	ctx := context.Background()
	if _, err := r.Window(ctx, "k", 10, time.Minute); err != nil {
		t.Fatalf("before the outage: %v", err)
	}
	srv.Stop()
	ops := map[string]func() error{
		"window":      func() error { _, err := r.Window(ctx, "k", 10, time.Minute); return err },
		"bucket":      func() error { _, err := r.Bucket(ctx, "k", 10, 1); return err },
		"acquire":     func() error { _, err := r.Acquire(ctx, "k", 1, time.Second); return err },
		"incr":        func() error { _, err := r.Incr(ctx, "k", 1, 0); return err },
		"get":         func() error { _, _, err := r.Get(ctx, "k"); return err },
		"add event":   func() error { _, err := r.AddEvent(ctx, "k", time.Second); return err },
		"set add":     func() error { _, err := r.SetAdd(ctx, "k", 0, "m"); return err },
		"set members": func() error { _, err := r.SetMembers(ctx, "k"); return err },
		"table put":   func() error { return r.TablePut(ctx, "t", "k", []byte("v"), 0) },
		"table all":   func() error { _, err := r.TableAll(ctx, "t"); return err },
		"ping":        func() error { return r.Ping(ctx) },
	}
	for op, call := range ops {
		start := time.Now()
		err := call()
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s during the outage: err %v, want ErrUnavailable", op, err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("%s took %v to fail", op, d)
		}
	}
	if got := testutil.ToFloat64(metrics.errors.WithLabelValues("window")); got != 1 {
		t.Errorf("verdict_store_errors_total{op=window} = %v, want 1", got)
	}

	srv.Restart()
	deadline := time.Now().Add(5 * time.Second)
	for {
		res, err := r.Window(ctx, "k", 10, time.Minute)
		if err == nil {
			if res.Count != 1 || !res.Allowed {
				t.Fatalf("after the restart: %+v (the restarted server starts empty)", res)
			}
			break
		}
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("after the restart: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recovery within 5 s: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := r.Ping(ctx); err != nil {
		t.Fatalf("ping after recovery: %v", err)
	}
}

func TestRedisHonoursContextDeadline(t *testing.T) {
	srv := redistest.Start(t)
	metrics, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	r := newRedis(t, srv.URL(), "", metrics)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.Window(ctx, "k", 1, time.Second); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("cancelled context: err %v, want ErrUnavailable", err)
	}
	if got := testutil.ToFloat64(metrics.errors.WithLabelValues("window")); got != 0 {
		t.Fatalf("a call the caller cancelled counted as a store error (%v)", got)
	}
	ctx, cancel = context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	time.Sleep(time.Millisecond)
	if _, err := r.Window(ctx, "k", 1, time.Second); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("expired deadline: err %v, want ErrUnavailable", err)
	}
}

func TestMemoryJanitorReclaimsExpiredKeys(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	m := NewMemory(MemoryOptions{Now: clock.Now, SweepInterval: 5 * time.Millisecond})
	defer m.Close()
	ctx := context.Background()
	const n = 500
	for i := range n {
		k := "k" + strconv.Itoa(i)
		must(m.Incr(ctx, k, 1, time.Second))
		must(m.Window(ctx, k, 10, time.Second))
		must(m.Bucket(ctx, k, 100, 1))
		must(m.AddEvent(ctx, k, time.Second))
		must(m.SetAdd(ctx, k, time.Second, "a"))
		check(t, m.TablePut(ctx, "t", k, []byte("v"), time.Second))
		l := must(m.Acquire(ctx, k, 1, time.Second))
		_ = l // never released: the TTL must reclaim it
	}
	must(m.Incr(ctx, "forever", 1, 0))
	check(t, m.TablePut(ctx, "t", "forever", []byte("v"), 0))
	if got := m.Len(); got != 7*n+2 {
		t.Fatalf("Len = %d, want %d", got, 7*n+2)
	}
	clock.Advance(3 * time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for m.Len() != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("janitor left %d keys, want 2", m.Len())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if v, ok, _ := m.Get(ctx, "forever"); !ok || v != 1 {
		t.Fatal("the janitor dropped a key without expiry")
	}
}

func TestMemoryEventLogIsTrimmed(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	m := NewMemory(MemoryOptions{Now: clock.Now, SweepInterval: -1})
	defer m.Close()
	ctx := context.Background()
	for range 10_000 {
		must(m.AddEvent(ctx, "runtime", time.Second))
		clock.Advance(10 * time.Millisecond)
	}
	e := m.shard("runtime").events["runtime"]
	if len(e.times) > 101 {
		t.Fatalf("%d events kept for a 1 s window at 100 per second", len(e.times))
	}
}

func TestMemoryTableBound(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	m := NewMemory(MemoryOptions{Now: clock.Now, SweepInterval: -1, MaxTableEntries: 3})
	defer m.Close()
	ctx := context.Background()
	check(t, m.TablePut(ctx, "cache", "a", []byte("1"), time.Second))
	check(t, m.TablePut(ctx, "cache", "b", []byte("2"), 0))
	check(t, m.TablePut(ctx, "cache", "c", []byte("3"), 0))
	err := m.TablePut(ctx, "cache", "d", []byte("4"), 0)
	if !errors.Is(err, ErrFull) || !strings.Contains(err.Error(), `"cache"`) {
		t.Fatalf("put into a full table: %v, want ErrFull naming the table", err)
	}
	check(t, m.TablePut(ctx, "cache", "c", []byte("3b"), 0)) // replacing is not growing
	check(t, m.TablePut(ctx, "other", "d", []byte("4"), 0))  // the bound is per table
	clock.Advance(2 * time.Second)
	check(t, m.TablePut(ctx, "cache", "d", []byte("4"), 0)) // "a" expired and makes room
	all := must(m.TableAll(ctx, "cache"))
	if len(all) != 3 || string(all["c"]) != "3b" || all["a"] != nil {
		t.Fatalf("table = %q", all)
	}
}

func TestMemoryValuesAreCopied(t *testing.T) {
	m := NewMemory(MemoryOptions{SweepInterval: -1})
	defer m.Close()
	ctx := context.Background()
	v := []byte("abc")
	check(t, m.TablePut(ctx, "t", "k", v, 0))
	v[0] = 'X'
	got, _, _ := m.TableGet(ctx, "t", "k")
	got[1] = 'Y'
	again, _, _ := m.TableGet(ctx, "t", "k")
	if string(again) != "abc" {
		t.Fatalf("stored value changed to %q through a caller's slice", again)
	}
}

func TestMemoryCloseTwice(t *testing.T) {
	m := NewMemory(MemoryOptions{SweepInterval: time.Millisecond})
	check(t, m.Close())
	check(t, m.Close())
}

func TestOpen(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	tests := []struct {
		name    string
		cfg     Config
		want    string // type of the store, or "" for an error
		wantErr string
	}{
		{"zero value is memory", Config{}, "*store.Memory", ""},
		{"memory", Config{Backend: "memory", Memory: MemoryConfig{MaxTableEntries: 5}}, "*store.Memory", ""},
		{"redis", Config{Backend: "redis", Redis: RedisConfig{URL: srv.URL(), PoolSize: 4,
			DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second, KeyPrefix: "v:"}}, "*store.Redis", ""},
		{"redis down still opens", Config{Backend: "redis", Redis: RedisConfig{URL: "redis://127.0.0.1:1/0",
			DialTimeout: 100 * time.Millisecond}}, "*store.Redis", ""},
		{"bad redis url", Config{Backend: "redis", Redis: RedisConfig{URL: "http://x"}}, "", "redis url"},
		{"unknown backend", Config{Backend: "disk"}, "", `unknown backend "disk"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(ctx, tt.cfg, nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if got := typeName(s); got != tt.want {
				t.Fatalf("Open gave %s, want %s", got, tt.want)
			}
		})
	}
	// The Redis store from Open reaches the server with its prefix.
	s, err := Open(ctx, Config{Backend: "redis", Redis: RedisConfig{URL: srv.URL(), KeyPrefix: "v:"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	must(s.Incr(ctx, "n", 1, 0))
	if n, ok, err := newRedis(t, srv.URL(), "v:", nil).Get(ctx, "n"); err != nil || !ok || n != 1 {
		t.Fatalf("another client with the prefix reads %d, %v, %v", n, ok, err)
	}
}

func typeName(s Store) string {
	switch s.(type) {
	case *Memory:
		return "*store.Memory"
	case *Redis:
		return "*store.Redis"
	}
	return "unknown"
}

func TestNewMetricsTwiceOnOneRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	a, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewMetrics(reg)
	if err != nil {
		t.Fatalf("second registration: %v", err)
	}
	a.failed("window")
	b.failed("window")
	if got := testutil.ToFloat64(a.errors.WithLabelValues("window")); got != 2 {
		t.Fatalf("counter = %v, want 2 (one shared collector)", got)
	}
	var nilMetrics *Metrics
	nilMetrics.failed("window") // counting nothing, without a panic
}

func TestUnavailableErrorText(t *testing.T) {
	err := (&Redis{}).fail("window", errors.New("dial tcp 127.0.0.1:6379: connection refused"))
	if !errors.Is(err, ErrUnavailable) {
		t.Fatal("not ErrUnavailable")
	}
	if want := "store window: store unavailable: dial tcp"; !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("text %q, want it to start with %q", err, want)
	}
	if (&Redis{}).fail("get", nil) != nil {
		t.Fatal("nil error wrapped")
	}
}

// commandCalls reads how many times the server ran each command.
func commandCalls(t *testing.T, r *Redis) map[string]int {
	t.Helper()
	info, err := r.client.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]int{}
	for line := range strings.Lines(info) {
		name, rest, ok := strings.Cut(strings.TrimPrefix(line, "cmdstat_"), ":calls=")
		if !ok {
			continue
		}
		n, _, _ := strings.Cut(rest, ",")
		calls[name], _ = strconv.Atoi(n)
	}
	return calls
}

func TestRedisLimiterIsOneEvalshaPerCall(t *testing.T) {
	srv := redistest.Start(t)
	r := newRedis(t, srv.URL(), "", nil)
	ctx := context.Background()
	must(r.Window(ctx, "warm", 5, time.Minute)) // the pool has a connection
	before := commandCalls(t, r)
	const n = 50
	for i := range n {
		must(r.Window(ctx, "k", 5, time.Minute))
		must(r.Bucket(ctx, "k"+strconv.Itoa(i), 10, 5))
	}
	after := commandCalls(t, r)
	if got := after["evalsha"] - before["evalsha"]; got != 2*n {
		t.Fatalf("%d EVALSHA for %d limiter calls", got, 2*n)
	}
	// The commands a script runs inside the server are counted too; what
	// the client sent is only the EVALSHA, never EVAL or SCRIPT LOAD.
	for _, cmd := range []string{"eval", "script|load", "multi", "ping"} {
		if after[cmd] != before[cmd] {
			t.Fatalf("%s ran %d times during the limiter calls", cmd, after[cmd]-before[cmd])
		}
	}
}

// Redis going away and coming back while requests are in flight: every
// failure is ErrUnavailable, nothing panics or hangs, and requests pass
// again once the server is back.
func TestRedisOutageUnderLoad(t *testing.T) {
	srv := redistest.Start(t)
	r := newRedis(t, srv.URL(), "", nil)
	var ok, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				_, err := r.Window(ctx, "busy", 1_000_000, time.Hour)
				cancel()
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, ErrUnavailable):
					failed.Add(1)
				default:
					t.Errorf("error that is not ErrUnavailable: %v", err)
					return
				}
			}
		})
	}
	time.Sleep(100 * time.Millisecond)
	srv.Stop()
	time.Sleep(200 * time.Millisecond)
	srv.Restart()
	okAtRestart := ok.Load()
	deadline := time.Now().Add(5 * time.Second)
	for ok.Load() < okAtRestart+100 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if failed.Load() == 0 {
		t.Fatal("no request failed while the server was down")
	}
	if ok.Load() < okAtRestart+100 {
		t.Fatalf("only %d requests passed after the restart", ok.Load()-okAtRestart)
	}
}
