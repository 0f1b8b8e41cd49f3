package store

import (
	"context"
	"fmt"
	"time"
)

// Config selects and tunes a store. The config package decodes it from the
// store section of the configuration file; the zero value is the memory
// store with its defaults.
type Config struct {
	// Backend is "memory" (or empty) or "redis".
	Backend string
	// Memory holds the settings of the memory backend.
	Memory MemoryConfig
	// Redis holds the settings of the Redis backend.
	Redis RedisConfig
}

// MemoryConfig holds the settings of the memory backend that a
// configuration file may set. Zero fields take the defaults.
type MemoryConfig struct {
	// MaxTableEntries bounds each keyed table; see MemoryOptions.
	MaxTableEntries int
}

// RedisConfig holds the settings of the Redis backend that a configuration
// file may set. Zero fields other than URL take go-redis's defaults.
type RedisConfig struct {
	// URL is redis://[user:password@]host[:port][/db], rediss:// for TLS.
	URL string
	// PoolSize is the most connections kept open to the server.
	PoolSize int
	// DialTimeout bounds connecting; ReadTimeout and WriteTimeout bound the
	// network I/O of each command.
	DialTimeout, ReadTimeout, WriteTimeout time.Duration
	// KeyPrefix is put before every key written.
	KeyPrefix string
}

// Open creates the store cfg selects. metrics may be nil. A Redis store
// opens even when the server is down (its operations then fail with
// ErrUnavailable until it returns); only a bad setting is an error.
func Open(ctx context.Context, cfg Config, metrics *Metrics) (Store, error) {
	switch cfg.Backend {
	case "", "memory":
		return NewMemory(MemoryOptions{MaxTableEntries: cfg.Memory.MaxTableEntries}), nil
	case "redis":
		r, err := NewRedis(ctx, RedisOptions{
			URL:          cfg.Redis.URL,
			PoolSize:     cfg.Redis.PoolSize,
			DialTimeout:  cfg.Redis.DialTimeout,
			ReadTimeout:  cfg.Redis.ReadTimeout,
			WriteTimeout: cfg.Redis.WriteTimeout,
			KeyPrefix:    cfg.Redis.KeyPrefix,
			Metrics:      metrics,
		})
		if err != nil {
			return nil, err
		}
		return r, nil
	default:
		return nil, fmt.Errorf("store: unknown backend %q: choose memory or redis", cfg.Backend)
	}
}
