package store

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
)

func TestRedisLoggerGoesThroughSlog(t *testing.T) {
	var buf bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
	defer slog.SetDefault(old)
	redisLogger{}.Printf(context.Background(), "redis: connection pool: failed to dial after %d attempts: %v\n", 5, "refused")
	got := buf.String()
	if !strings.Contains(got, "level=WARN") || !strings.Contains(got, `message="redis: connection pool: failed to dial after 5 attempts: refused"`) {
		t.Fatalf("logged %q", got)
	}
}
