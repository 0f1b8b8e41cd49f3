package logbuf

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// sink records the writes it gets.
type sink struct {
	mu     sync.Mutex
	writes []string
	err    error
}

func (s *sink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes = append(s.writes, string(p))
	return len(p), s.err
}

func (s *sink) got() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.writes...)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("%s: not within 3s", what)
}

func TestWriterBuffers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		size   int
		lines  []string
		want   []string // writes before any timer or flush
		wantAt []string // after Close
	}{
		{"held", 64, []string{"a\n", "b\n"}, nil, []string{"a\nb\n"}},
		{"overflow writes the buffer first", 8, []string{"aaaa\n", "bbbb\n"}, []string{"aaaa\n"}, []string{"aaaa\n", "bbbb\n"}},
		{"line larger than the buffer goes through", 4, []string{"ab\n", "0123456789\n"}, []string{"ab\n", "0123456789\n"}, []string{"ab\n", "0123456789\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &sink{}
			w := New(s, tc.size, time.Hour)
			for _, l := range tc.lines {
				if n, err := w.Write([]byte(l)); n != len(l) || err != nil {
					t.Fatalf("Write(%q) = %d, %v", l, n, err)
				}
			}
			if got := s.got(); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("before close: %q, want %q", got, tc.want)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if got := s.got(); fmt.Sprint(got) != fmt.Sprint(tc.wantAt) {
				t.Fatalf("after close: %q, want %q", got, tc.wantAt)
			}
			// Closed: straight through.
			_, _ = w.Write([]byte("late\n"))
			if got := s.got(); got[len(got)-1] != "late\n" {
				t.Fatalf("write after close not passed through: %q", got)
			}
		})
	}
}

func TestWriterFlushesAfterInterval(t *testing.T) {
	s := &sink{}
	w := New(s, 0, 20*time.Millisecond)
	defer w.Close()
	start := time.Now()
	_, _ = w.Write([]byte("one\n"))
	_, _ = w.Write([]byte("two\n"))
	waitFor(t, "timed flush", func() bool { return strings.Join(s.got(), "") == "one\ntwo\n" })
	if took := time.Since(start); took < 20*time.Millisecond {
		t.Fatalf("flushed after %s, before the interval", took)
	}
	// The timer re-arms for the next line.
	n := len(s.got())
	_, _ = w.Write([]byte("three\n"))
	waitFor(t, "second timed flush", func() bool { return len(s.got()) == n+1 })
}

func TestWriterUnbuffered(t *testing.T) {
	s := &sink{}
	w := New(s, 0, 0)
	_, _ = w.Write([]byte("x\n"))
	if got := s.got(); len(got) != 1 {
		t.Fatalf("interval 0 buffered: %q", got)
	}
}

func TestWriterKeepsError(t *testing.T) {
	s := &sink{err: errors.New("disk full")}
	w := New(s, 0, time.Hour)
	_, _ = w.Write([]byte("x\n"))
	if err := w.Close(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Close = %v, want the write error", err)
	}
}

func TestHandlerFlushesWarnings(t *testing.T) {
	s := &sink{}
	w := New(s, 0, time.Hour)
	defer w.Close()
	logger := slog.New(NewHandler(slog.NewTextHandler(w, nil), w, slog.LevelWarn)).With("svc", "1")
	logger.Info("request", "n", 1)
	if got := s.got(); len(got) != 0 {
		t.Fatalf("info line written at once: %q", got)
	}
	logger.WithGroup("g").Warn("trouble")
	got := s.got()
	if len(got) != 1 || !strings.Contains(got[0], "msg=request") || !strings.Contains(got[0], "msg=trouble") || !strings.Contains(got[0], "svc=1") {
		t.Fatalf("after a warning: %q", got)
	}
	if strings.Index(got[0], "request") > strings.Index(got[0], "trouble") {
		t.Fatalf("lines out of order: %q", got[0])
	}
}

func TestWriterConcurrentLinesStayWhole(t *testing.T) {
	var out bytes.Buffer
	var mu sync.Mutex
	w := New(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return out.Write(p)
	}), 256, time.Millisecond)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				_, _ = fmt.Fprintf(w, "goroutine=%d line=%03d end\n", g, i)
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 8*200 {
		t.Fatalf("%d lines, want %d", len(lines), 8*200)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "goroutine=") || !strings.HasSuffix(l, " end") {
			t.Fatalf("torn line %q", l)
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func BenchmarkLogLine(b *testing.B) {
	for _, interval := range []time.Duration{0, 100 * time.Millisecond} {
		b.Run(fmt.Sprintf("interval=%s", interval), func(b *testing.B) {
			w := New(discard{}, 0, interval)
			defer w.Close()
			logger := slog.New(NewHandler(slog.NewTextHandler(w, nil), w, slog.LevelWarn))
			b.ReportAllocs()
			for b.Loop() {
				logger.Info("pexip request", "request_type", "service_configuration", "status", 200)
			}
		})
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func TestHandleAttrsMatchesHandle(t *testing.T) {
	attrs := []slog.Attr{
		slog.String("request_type", "service_configuration"), slog.Int("status", 200),
		slog.String("policy", "PolicySet a | Rule b"), slog.Duration("latency", 3577*time.Nanosecond),
		slog.String("alias", "sip:alice@example.com"), slog.Bool("ok", true),
	}
	for _, tc := range []struct {
		name  string
		with  func(slog.Handler) slog.Handler
		extra []slog.Attr // beyond what the fast path formats
	}{
		{"fast path", nil, nil},
		{"with attributes", func(h slog.Handler) slog.Handler { return h.WithAttrs([]slog.Attr{slog.String("svc", "1")}) }, nil},
		{"in a group", func(h slog.Handler) slog.Handler { return h.WithGroup("g") }, nil},
		{"an error value", nil, []slog.Attr{slog.Any("error", errors.New("boom"))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			all := append(append([]slog.Attr(nil), attrs...), tc.extra...)
			var viaRecord, viaAttrs bytes.Buffer
			var hr, ha slog.Handler = NewTextHandler(&viaRecord, nil), NewTextHandler(&viaAttrs, nil)
			if tc.with != nil {
				hr, ha = tc.with(hr), tc.with(ha)
			}
			r := slog.NewRecord(when, slog.LevelInfo, "pexip request", 0)
			r.AddAttrs(all...)
			if err := hr.Handle(context.Background(), r); err != nil {
				t.Fatal(err)
			}
			if err := ha.(AttrsHandler).HandleAttrs(context.Background(), when, slog.LevelInfo, "pexip request", all); err != nil {
				t.Fatal(err)
			}
			if viaRecord.String() != viaAttrs.String() || viaRecord.Len() == 0 {
				t.Fatalf("\nrecord %q\n attrs %q", viaRecord.String(), viaAttrs.String())
			}
		})
	}
}

func TestHandlerHandleAttrsFlushesWarnings(t *testing.T) {
	s := &sink{}
	w := New(s, 0, time.Hour)
	defer w.Close()
	for _, inner := range []slog.Handler{NewTextHandler(w, nil), slog.NewTextHandler(w, nil)} {
		h := NewHandler(inner, w, slog.LevelWarn)
		_ = h.HandleAttrs(context.Background(), when, slog.LevelInfo, "quiet", []slog.Attr{slog.Int("n", 1)})
		if got := s.got(); len(got) != 0 {
			t.Fatalf("%T: info line written at once: %q", inner, got)
		}
		_ = h.HandleAttrs(context.Background(), when, slog.LevelWarn, "loud", nil)
		got := s.got()
		if len(got) != 1 || !strings.Contains(got[0], "msg=quiet n=1") || !strings.Contains(got[0], "msg=loud") {
			t.Fatalf("%T: after a warning: %q", inner, got)
		}
		s.mu.Lock()
		s.writes = nil
		s.mu.Unlock()
	}
}
