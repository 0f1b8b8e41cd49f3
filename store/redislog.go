package store

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/redis/go-redis/v9"
)

// The Redis client reports trouble it handles itself (a connection pool
// that cannot dial, a reconnect) through a logger of its own, which writes
// plain text to standard error. Its lines go through slog instead, at warn
// level, so that they share the server's format and destination.
func init() { redis.SetLogger(redisLogger{}) }

// redisLogger passes the Redis client's messages to slog's default logger.
type redisLogger struct{}

// Printf logs one message of the Redis client.
func (redisLogger) Printf(ctx context.Context, format string, v ...any) {
	msg := strings.TrimSpace(fmt.Sprintf(format, v...))
	slog.Default().WarnContext(ctx, "redis client", "message", msg)
}
