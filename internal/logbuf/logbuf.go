// Package logbuf buffers log output so that a server logging a line per
// request does not make a write system call per request. Lines are kept
// whole, written in order, and wait at most a short interval; records of
// level warn and above go out at once.
package logbuf

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// DefaultSize is the buffer size when New is given none.
const DefaultSize = 64 << 10

// Writer buffers whole writes (one log line each, as slog handlers make
// them) and writes them to the underlying writer when the buffer would
// overflow, when the oldest buffered line has waited the interval, or on
// Flush and Close. It is safe for concurrent use.
type Writer struct {
	mu       sync.Mutex
	out      io.Writer
	buf      []byte
	interval time.Duration
	timer    *time.Timer
	armed    bool // the timer will flush what is buffered
	closed   bool
	err      error // the last error of the underlying writer
}

// New returns a Writer over out holding up to size bytes (DefaultSize if
// size is not positive) for at most interval. An interval of zero or less
// makes every write go straight through.
func New(out io.Writer, size int, interval time.Duration) *Writer {
	if size <= 0 {
		size = DefaultSize
	}
	w := &Writer{out: out, buf: make([]byte, 0, size), interval: interval}
	w.timer = time.AfterFunc(time.Hour, w.tick)
	w.timer.Stop()
	return w
}

// Write buffers p, or writes it through when buffering is off, the
// Writer is closed, or p alone does not fit the buffer. It does not
// report errors of buffered writes (a log line is never retried); Err
// does.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.interval <= 0 || w.closed {
		return w.out.Write(p)
	}
	if len(w.buf)+len(p) > cap(w.buf) {
		w.flushLocked()
		if len(p) > cap(w.buf) {
			return w.out.Write(p)
		}
	}
	w.buf = append(w.buf, p...)
	if !w.armed {
		w.armed = true
		w.timer.Reset(w.interval)
	}
	return len(p), nil
}

func (w *Writer) tick() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.armed = false
	w.flushLocked()
}

func (w *Writer) flushLocked() {
	if len(w.buf) == 0 {
		return
	}
	if _, err := w.out.Write(w.buf); err != nil {
		w.err = err
	}
	w.buf = w.buf[:0]
}

// Flush writes out what is buffered.
func (w *Writer) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.flushLocked()
}

// Close flushes and makes later writes go straight through. It does not
// close the underlying writer.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.timer.Stop()
	w.armed = false
	w.flushLocked()
	w.closed = true
	return w.err
}

// Err returns the last error the underlying writer gave.
func (w *Writer) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Handler wraps an slog.Handler writing to a Writer so that records at
// or above a level are flushed as soon as they are written: warnings and
// errors are not held back behind the buffer.
type Handler struct {
	slog.Handler
	w     *Writer
	level slog.Level
}

// NewHandler returns h flushing w after every record at level or above.
func NewHandler(h slog.Handler, w *Writer, level slog.Level) *Handler {
	return &Handler{Handler: h, w: w, level: level}
}

// Handle passes r on and flushes for records at the handler's level or
// above.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Level >= h.level {
		h.w.Flush()
	}
	return err
}

// HandleAttrs implements AttrsHandler: the parts go to the wrapped
// handler as they are when it is an AttrsHandler, else as a record.
func (h *Handler) HandleAttrs(ctx context.Context, t time.Time, level slog.Level, msg string, attrs []slog.Attr) error {
	var err error
	if ah, ok := h.Handler.(AttrsHandler); ok {
		err = ah.HandleAttrs(ctx, t, level, msg, attrs)
	} else {
		r := slog.NewRecord(t, level, msg, 0)
		r.AddAttrs(attrs...)
		err = h.Handler.Handle(ctx, r)
	}
	if level >= h.level {
		h.w.Flush()
	}
	return err
}

// WithAttrs keeps the flushing behaviour for the derived handler.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &Handler{Handler: h.Handler.WithAttrs(attrs), w: h.w, level: h.level}
}

// WithGroup keeps the flushing behaviour for the derived handler.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{Handler: h.Handler.WithGroup(name), w: h.w, level: h.level}
}
