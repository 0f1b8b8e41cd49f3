package store

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/verdict-policy/verdict/internal/redistest"
)

// benchKeys are a few hundred distinct keys, as a gateway sees many
// clients; they are built before the timer starts.
func benchKeys() []string {
	keys := make([]string, 256)
	for i := range keys {
		keys[i] = "client-" + strconv.Itoa(i)
	}
	return keys
}

func BenchmarkMemoryWindow(b *testing.B) {
	m := NewMemory(MemoryOptions{})
	defer m.Close()
	ctx, keys := context.Background(), benchKeys()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := m.Window(ctx, keys[i&255], 1000, time.Minute); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkMemoryWindowParallel(b *testing.B) {
	m := NewMemory(MemoryOptions{})
	defer m.Close()
	ctx, keys := context.Background(), benchKeys()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := m.Window(ctx, keys[i&255], 1000, time.Minute); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

func BenchmarkMemoryBucket(b *testing.B) {
	m := NewMemory(MemoryOptions{})
	defer m.Close()
	ctx, keys := context.Background(), benchKeys()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := m.Bucket(ctx, keys[i&255], 100, 50); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkMemoryIncr(b *testing.B) {
	m := NewMemory(MemoryOptions{})
	defer m.Close()
	ctx, keys := context.Background(), benchKeys()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := m.Incr(ctx, keys[i&255], 1, time.Minute); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkMemoryAddEvent(b *testing.B) {
	m := NewMemory(MemoryOptions{})
	defer m.Close()
	ctx, keys := context.Background(), benchKeys()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := m.AddEvent(ctx, keys[i&255], time.Second); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkRedisWindow is one EVALSHA round trip to a local Redis per call.
func BenchmarkRedisWindow(b *testing.B) {
	srv := redistest.Start(b)
	r := newRedis(b, srv.URL(), "bench:", nil)
	ctx, keys := context.Background(), benchKeys()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := r.Window(ctx, keys[i&255], 1000, time.Minute); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkRedisPing is the floor for BenchmarkRedisWindow: a round trip
// that does no work on the server.
func BenchmarkRedisPing(b *testing.B) {
	srv := redistest.Start(b)
	r := newRedis(b, srv.URL(), "bench:", nil)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := r.Ping(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRedisBucket(b *testing.B) {
	srv := redistest.Start(b)
	r := newRedis(b, srv.URL(), "bench:", nil)
	ctx, keys := context.Background(), benchKeys()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := r.Bucket(ctx, keys[i&255], 100, 50); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
