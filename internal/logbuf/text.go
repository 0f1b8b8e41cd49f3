package logbuf

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/verdict-policy/verdict/internal/bytescan"
)

// TextHandler writes records in the format of slog.TextHandler, line for
// line, several times faster for the attribute kinds servers log on every
// request (strings, numbers, booleans, durations, times). A record with
// anything else (groups, LogValuers, errors, arbitrary values) is passed
// to an slog.TextHandler over the same writer, so the output is the same
// either way.
type TextHandler struct {
	out   *lockedWriter // shared with std and the handlers derived from this one
	level slog.Leveler
	std   slog.Handler // for what the fast path does not format
	pre   []byte       // attributes from WithAttrs, formatted
	slow  bool         // a group was opened: everything goes to std
}

// NewTextHandler returns a TextHandler writing to out, at level and above
// (info when nil).
func NewTextHandler(out io.Writer, level slog.Leveler) *TextHandler {
	if level == nil {
		level = slog.LevelInfo
	}
	lw := &lockedWriter{out: out}
	return &TextHandler{
		out:   lw,
		level: level,
		std:   slog.NewTextHandler(lw, &slog.HandlerOptions{Level: level}),
	}
}

// lockedWriter serialises the lines of the fast path and of the standard
// handler.
type lockedWriter struct {
	mu    sync.Mutex
	out   io.Writer
	stamp atomic.Pointer[stamp] // the time format of the last second seen
}

// stamp is the formatted time of one second in one zone: the part before
// the milliseconds and the zone after them.
type stamp struct {
	sec    int64
	offset int
	prefix []byte // 2006-01-02T15:04:05
	zone   []byte // Z or -07:00
}

// appendRecordTime writes t as appendTime does, formatting the date, the
// time to the second and the zone once a second.
func (w *lockedWriter) appendRecordTime(b []byte, t time.Time) []byte {
	sec := t.Unix()
	_, offset := t.Zone()
	st := w.stamp.Load()
	if st == nil || st.sec != sec || st.offset != offset {
		st = &stamp{sec: sec, offset: offset,
			prefix: t.AppendFormat(nil, "2006-01-02T15:04:05"),
			zone:   t.AppendFormat(nil, "Z07:00")}
		w.stamp.Store(st)
	}
	ms := t.Nanosecond() / 1e6
	b = append(b, st.prefix...)
	b = append(b, '.', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10))
	return append(b, st.zone...)
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.out.Write(p)
}

// Enabled reports whether records at level are written.
func (h *TextHandler) Enabled(_ context.Context, level slog.Level) bool {
	return level >= h.level.Level()
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// Handle formats r and writes it as one line.
func (h *TextHandler) Handle(ctx context.Context, r slog.Record) error {
	if h.slow || !fastRecord(r) {
		return h.std.Handle(ctx, r)
	}
	b, bp := h.start(r.Time, r.Level, r.Message)
	r.Attrs(func(a slog.Attr) bool {
		b = appendAttr(b, a)
		return true
	})
	return h.end(b, bp)
}

// AttrsHandler is a handler that takes a record as its parts. A
// slog.Record holds five attributes in place and allocates for more; a
// caller logging a dozen attributes per request hands them over in a
// slice it reuses instead.
type AttrsHandler interface {
	slog.Handler
	// HandleAttrs handles the record of t, level, msg and attrs, as Handle
	// would. It does not keep attrs.
	HandleAttrs(ctx context.Context, t time.Time, level slog.Level, msg string, attrs []slog.Attr) error
}

// HandleAttrs implements AttrsHandler.
func (h *TextHandler) HandleAttrs(ctx context.Context, t time.Time, level slog.Level, msg string, attrs []slog.Attr) error {
	fast := !h.slow
	for _, a := range attrs {
		fast = fast && fastAttr(a)
	}
	if !fast {
		r := slog.NewRecord(t, level, msg, 0)
		r.AddAttrs(attrs...)
		return h.std.Handle(ctx, r)
	}
	b, bp := h.start(t, level, msg)
	for _, a := range attrs {
		b = appendAttr(b, a)
	}
	return h.end(b, bp)
}

// start begins a line in a pooled buffer: time, level, message and the
// handler's own attributes.
func (h *TextHandler) start(t time.Time, level slog.Level, msg string) ([]byte, *[]byte) {
	bp := bufPool.Get().(*[]byte)
	b := (*bp)[:0]
	if !t.IsZero() {
		b = append(b, "time="...)
		b = h.out.appendRecordTime(b, t)
		b = append(b, ' ')
	}
	b = append(b, "level="...)
	b = append(b, level.String()...)
	b = append(b, " msg="...)
	b = appendText(b, msg)
	return append(b, h.pre...), bp
}

// end writes the line and gives its buffer back.
func (h *TextHandler) end(b []byte, bp *[]byte) error {
	b = append(b, '\n')
	_, err := h.out.Write(b)
	if cap(b) <= 16<<10 {
		*bp = b
		bufPool.Put(bp)
	}
	return err
}

// WithAttrs returns a handler that adds attrs to every record.
func (h *TextHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	h2 := *h
	h2.std = h.std.WithAttrs(attrs)
	if !h.slow {
		for _, a := range attrs {
			if !fastAttr(a) {
				h2.slow = true
				break
			}
		}
		if !h2.slow {
			pre := append([]byte(nil), h.pre...)
			for _, a := range attrs {
				pre = appendAttr(pre, a)
			}
			h2.pre = pre
		}
	}
	return &h2
}

// WithGroup returns a handler that qualifies later attributes with name;
// grouped output always goes through slog.TextHandler.
func (h *TextHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.std = h.std.WithGroup(name)
	h2.slow = true
	return &h2
}

func fastRecord(r slog.Record) bool {
	ok := true
	r.Attrs(func(a slog.Attr) bool {
		ok = fastAttr(a)
		return ok
	})
	return ok
}

func fastAttr(a slog.Attr) bool {
	if a.Key == "" {
		return false // dropped or inlined by the standard handler
	}
	switch a.Value.Kind() {
	case slog.KindString, slog.KindInt64, slog.KindUint64, slog.KindBool, slog.KindDuration, slog.KindFloat64, slog.KindTime:
		return true
	}
	return false
}

func appendAttr(b []byte, a slog.Attr) []byte {
	b = append(b, ' ')
	b = appendText(b, a.Key)
	b = append(b, '=')
	v := a.Value
	switch v.Kind() {
	case slog.KindString:
		b = appendText(b, v.String())
	case slog.KindInt64:
		b = strconv.AppendInt(b, v.Int64(), 10)
	case slog.KindUint64:
		b = strconv.AppendUint(b, v.Uint64(), 10)
	case slog.KindBool:
		b = strconv.AppendBool(b, v.Bool())
	case slog.KindDuration:
		b = appendDuration(b, v.Duration()) // never needs quotes
	case slog.KindFloat64:
		b = strconv.AppendFloat(b, v.Float64(), 'g', -1, 64)
	case slog.KindTime:
		b = appendTime(b, v.Time())
	}
	return b
}

// appendDuration writes d as d.String() does, without making the string.
func appendDuration(b []byte, d time.Duration) []byte {
	if d == 0 {
		return append(b, "0s"...)
	}
	u := uint64(d)
	if d < 0 {
		b = append(b, '-')
		u = -u
	}
	switch {
	case u < uint64(time.Microsecond):
		return append(strconv.AppendUint(b, u, 10), "ns"...)
	case u < uint64(time.Millisecond):
		return append(appendFrac(b, u, 3), "µs"...)
	case u < uint64(time.Second):
		return append(appendFrac(b, u, 6), "ms"...)
	}
	h := u / uint64(time.Hour)
	u -= h * uint64(time.Hour)
	m := u / uint64(time.Minute)
	u -= m * uint64(time.Minute)
	if h > 0 {
		b = append(strconv.AppendUint(b, h, 10), 'h')
	}
	if h > 0 || m > 0 {
		b = append(strconv.AppendUint(b, m, 10), 'm')
	}
	return append(appendFrac(b, u, 9), 's')
}

// appendFrac writes v/10^prec in decimal, the fraction without trailing
// zeros and without its point when it is zero.
func appendFrac(b []byte, v uint64, prec int) []byte {
	pow := uint64(1)
	for range prec {
		pow *= 10
	}
	b = strconv.AppendUint(b, v/pow, 10)
	frac := v % pow
	if frac == 0 {
		return b
	}
	var digits [9]byte
	for i := prec - 1; i >= 0; i-- {
		digits[i] = byte('0' + frac%10)
		frac /= 10
	}
	n := prec
	for digits[n-1] == '0' {
		n--
	}
	return append(append(b, '.'), digits[:n]...)
}

// appendTime writes t as slog.TextHandler does: RFC 3339 with
// milliseconds.
func appendTime(b []byte, t time.Time) []byte {
	return t.AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
}

// appendText writes s bare, or quoted where slog.TextHandler quotes it.
func appendText(b []byte, s string) []byte {
	if needsQuoting(s) {
		return appendQuoted(b, s)
	}
	return append(b, s...)
}

// appendQuoted is strconv.AppendQuote, with a fast path for printable
// ASCII, which only needs its quotes and backslashes escaped.
func appendQuoted(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e {
			return strconv.AppendQuote(b, s)
		}
	}
	b = append(b, '"')
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && s[j] != '"' && s[j] != '\\' {
			j++
		}
		b = append(b, s[i:j]...)
		if j < len(s) {
			b = append(b, '\\', s[j])
			j++
		}
		i = j
	}
	return append(b, '"')
}

// needsQuoting is slog.TextHandler's rule: empty strings, and strings
// with spaces, '=', '"', or anything not printable.
func needsQuoting(s string) bool {
	if len(s) == 0 {
		return true
	}
	i := 0
	// Eight bytes at a time while they are all printable ASCII other than
	// space, '=' and '"'.
	for ; i+8 <= len(s); i += 8 {
		x := bytescan.Word(s, i)
		if bytescan.Less(x, 0x21) || bytescan.High(x) || bytescan.Has(x, '=') || bytescan.Has(x, '"') {
			break
		}
	}
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			if c != '\\' && (!safeASCII[c]) {
				return true
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return true
		}
		i += size
	}
	return false
}

// safeASCII marks the ASCII bytes slog.TextHandler leaves bare: from '!'
// to DEL, but for '=' and '"'.
var safeASCII = func() (t [utf8.RuneSelf]bool) {
	for c := 0x21; c < utf8.RuneSelf; c++ {
		t[c] = c != '=' && c != '"'
	}
	return t
}()
