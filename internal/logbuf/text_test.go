package logbuf

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math"
	"testing"
	"time"
)

var when = time.Date(2026, 11, 28, 19, 4, 5, 678_901_234, time.FixedZone("X", 3600))

// both formats r with TextHandler and slog.TextHandler, each after with.
func both(t testing.TB, r slog.Record, with func(slog.Handler) slog.Handler) (fast, std string) {
	t.Helper()
	var fb, sb bytes.Buffer
	var fh, sh slog.Handler = NewTextHandler(&fb, slog.LevelDebug), slog.NewTextHandler(&sb, &slog.HandlerOptions{Level: slog.LevelDebug})
	if with != nil {
		fh, sh = with(fh), with(sh)
	}
	if err := fh.Handle(context.Background(), r.Clone()); err != nil {
		t.Fatal(err)
	}
	if err := sh.Handle(context.Background(), r.Clone()); err != nil {
		t.Fatal(err)
	}
	return fb.String(), sb.String()
}

func TestTextHandlerMatchesSlog(t *testing.T) {
	for _, tc := range []struct {
		name  string
		level slog.Level
		msg   string
		attrs []slog.Attr
		with  func(slog.Handler) slog.Handler
		zero  bool // no time
	}{
		{name: "request line", msg: "pexip request", attrs: []slog.Attr{
			slog.String("request_type", "service_configuration"), slog.Int("status", 200),
			slog.String("policy", "PolicySet load | Policy service | Rule vmr-from-table"),
			slog.Duration("latency", 6763*time.Nanosecond), slog.Bool("ok", true)}},
		{name: "quoting", level: slog.LevelWarn, msg: "", attrs: []slog.Attr{
			slog.String("empty", ""), slog.String("eq", "a=b"), slog.String("quote", `say "hi"`),
			slog.String("backslash", `C:\path`), slog.String("tab", "a\tb"), slog.String("nl", "a\nb"),
			slog.String("unicode", "héllo→"), slog.String("nbsp", "a\u00a0b"), slog.String("bad", "\xff"),
			slog.String("key with space", "v"), slog.String("del", "\x7f")}},
		{name: "numbers and times", level: slog.LevelError + 2, msg: "n", attrs: []slog.Attr{
			slog.Int64("neg", -42), slog.Uint64("big", math.MaxUint64), slog.Float64("f", 1.5e-7),
			slog.Float64("inf", math.Inf(1)), slog.Time("at", when), slog.Duration("d", 90*time.Minute)}},
		{name: "no time", msg: "x", zero: true, attrs: []slog.Attr{slog.String("k", "v")}},
		{name: "with attrs", msg: "m", attrs: []slog.Attr{slog.String("k", "v")},
			with: func(h slog.Handler) slog.Handler { return h.WithAttrs([]slog.Attr{slog.String("svc", "gateway 1")}) }},
		{name: "error falls back", msg: "m", attrs: []slog.Attr{slog.Any("error", errors.New("boom")), slog.String("k", "v")}},
		{name: "group falls back", msg: "m", attrs: []slog.Attr{slog.Group("g", slog.Int("a", 1))}},
		{name: "with group", msg: "m", attrs: []slog.Attr{slog.Int("a", 1)},
			with: func(h slog.Handler) slog.Handler { return h.WithAttrs([]slog.Attr{slog.Int("b", 2)}).WithGroup("g") }},
		{name: "any falls back", msg: "m", attrs: []slog.Attr{slog.Any("list", []int{1, 2})}},
		{name: "empty key", msg: "m", attrs: []slog.Attr{slog.String("", "dropped"), slog.Int("a", 1)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			at := when
			if tc.zero {
				at = time.Time{}
			}
			r := slog.NewRecord(at, tc.level, tc.msg, 0)
			r.AddAttrs(tc.attrs...)
			fast, std := both(t, r, tc.with)
			if fast != std {
				t.Errorf("\nfast %q\n std %q", fast, std)
			}
		})
	}
}

func TestTextHandlerLevel(t *testing.T) {
	var b bytes.Buffer
	l := slog.New(NewTextHandler(&b, slog.LevelWarn))
	l.Info("hidden")
	l.Warn("shown")
	if got := b.String(); bytes.Contains(b.Bytes(), []byte("hidden")) || !bytes.Contains(b.Bytes(), []byte("msg=shown")) {
		t.Fatalf("got %q", got)
	}
}

func FuzzTextHandler(f *testing.F) {
	f.Add("msg", "key", "value", int64(1), int64(1500))
	f.Add("", "a b", "x=\"y\"\n", int64(-1), int64(0))
	f.Add("é", "\u2028", "\xff\xfe", int64(1<<62), int64(-5))
	f.Fuzz(func(t *testing.T, msg, key, val string, n, d int64) {
		r := slog.NewRecord(when, slog.LevelInfo, msg, 0)
		r.AddAttrs(slog.String(key, val), slog.Int64("n", n), slog.Duration("d", time.Duration(d)), slog.String("v", val))
		fast, std := both(t, r, func(h slog.Handler) slog.Handler { return h.WithAttrs([]slog.Attr{slog.String(key, msg)}) })
		if fast != std {
			t.Fatalf("\nfast %q\n std %q", fast, std)
		}
	})
}

func BenchmarkTextHandler(b *testing.B) {
	for _, bc := range []struct {
		name string
		h    slog.Handler
	}{
		{"fast", NewTextHandler(discard{}, nil)},
		{"slog", slog.NewTextHandler(discard{}, nil)},
	} {
		b.Run(bc.name+"/record", func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				r := slog.NewRecord(time.Now(), slog.LevelInfo, "pexip request", 0)
				r.AddAttrs(slog.String("request_type", "service_configuration"), slog.String("outcome", "answer"), slog.Int("status", 200),
					slog.String("local_alias", "sip:room-0789@example.com"), slog.String("remote_alias", "sip:alice@example.com"),
					slog.String("document", "load"), slog.String("decision", "permit"),
					slog.String("policy", "PolicySet load | Policy service | Rule vmr-from-table"),
					slog.Duration("latency", 6763*time.Nanosecond))
				_ = bc.h.Handle(ctx, r)
			}
		})
		b.Run(bc.name, func(b *testing.B) {
			l := slog.New(bc.h)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				l.LogAttrs(ctx, slog.LevelInfo, "pexip request",
					slog.String("request_type", "service_configuration"), slog.String("outcome", "answer"), slog.Int("status", 200),
					slog.String("local_alias", "sip:room-0789@example.com"), slog.String("remote_alias", "sip:alice@example.com"),
					slog.String("document", "load"), slog.String("decision", "permit"),
					slog.String("policy", "PolicySet load | Policy service | Rule vmr-from-table"),
					slog.Duration("latency", 6763*time.Nanosecond))
			}
		})
	}
}

func TestAppendDuration(t *testing.T) {
	for _, d := range []time.Duration{
		0, 1, -1, 999, 1000, 1001, 3577, 999_999, time.Millisecond, 1_500_000, 999_999_999,
		time.Second, 1_000_000_001, 90 * time.Second, time.Minute, time.Hour, time.Hour + 500*time.Millisecond,
		25*time.Hour + 3*time.Minute + 4*time.Second + 5, math.MaxInt64, math.MinInt64, -3 * time.Millisecond,
	} {
		if got, want := string(appendDuration(nil, d)), d.String(); got != want {
			t.Errorf("appendDuration(%d) = %q, want %q", int64(d), got, want)
		}
	}
}

func FuzzAppendDuration(f *testing.F) {
	f.Add(int64(3577))
	f.Add(int64(math.MinInt64))
	f.Fuzz(func(t *testing.T, n int64) {
		if got, want := string(appendDuration(nil, time.Duration(n))), time.Duration(n).String(); got != want {
			t.Fatalf("appendDuration(%d) = %q, want %q", n, got, want)
		}
	})
}

func TestRecordTimeAcrossSecondsAndZones(t *testing.T) {
	w := &lockedWriter{}
	base := time.Date(2026, 12, 4, 23, 59, 58, 0, time.UTC)
	zones := []*time.Location{time.UTC, time.FixedZone("A", 3600), time.FixedZone("B", -(5*3600 + 30*60)), time.FixedZone("C", 0)}
	// Alternate zones and step across second, day and year boundaries, so
	// the cached second is both reused and replaced.
	for i := range 4000 {
		tm := base.Add(time.Duration(i) * 997 * time.Microsecond).In(zones[i/7%len(zones)])
		if got, want := string(w.appendRecordTime(nil, tm)), tm.Format("2006-01-02T15:04:05.000Z07:00"); got != want {
			t.Fatalf("%v: got %q, want %q", tm, got, want)
		}
	}
}
