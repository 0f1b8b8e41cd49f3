package h1

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/verdict-policy/verdict/internal/httpx"
)

// streamAfter is how much of a body is buffered before the response is
// streamed: below it, the head and body go out in one write with a
// Content-Length.
const streamAfter = 32 << 10

var lastChunk = []byte("0\r\n\r\n")

// sniffLen is how much of a body http.DetectContentType looks at.
const sniffLen = 512

// response is the connection's http.ResponseWriter, reset per request.
type response struct {
	c   *conn
	req *http.Request
	hdr http.Header

	status     int
	wrote      bool // the status is set and the head is in c.out
	streaming  bool // the head went out; body bytes go straight out
	chunked    bool
	failed     bool // a write failed: the connection is done
	closeAfter bool
	hasDate    bool
	hasType    bool
	now        time.Time // read for the head, reused by its write
	declared   int64     // the handler's Content-Length, or -1
	written    int64
	body       []byte // buffered body
	keys       []string
}

var (
	_ http.ResponseWriter = (*response)(nil)
	_ http.Flusher        = (*response)(nil)
)

func (w *response) reset(req *http.Request) {
	clear(w.hdr)
	w.req = req
	w.status, w.wrote, w.streaming, w.chunked, w.failed = 0, false, false, false, false
	w.closeAfter, w.hasDate, w.hasType = req.Close, false, false
	w.declared, w.written = -1, 0
	w.body = w.body[:0]
}

// Header implements http.ResponseWriter.
func (w *response) Header() http.Header { return w.hdr }

// WriteHeader implements http.ResponseWriter. The header is taken as it
// is now; later changes to it are not sent.
func (w *response) WriteHeader(code int) {
	if w.wrote {
		return
	}
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("h1: invalid WriteHeader code %d", code))
	}
	if code < 200 && code != http.StatusSwitchingProtocols {
		w.writeInterim(code)
		return
	}
	w.wrote, w.status = true, code
	out := appendStatusLine(w.c.out[:0], code)
	w.c.out = w.appendHeader(out, true)
}

// writeInterim sends a 1xx response at once.
func (w *response) writeInterim(code int) {
	out := appendStatusLine(w.c.out[:0], code)
	out = w.appendHeader(out, false)
	out = append(out, "\r\n"...)
	w.c.out = out[:0]
	w.send(out)
}

func appendStatusLine(out []byte, code int) []byte {
	out = append(out, "HTTP/1.1 "...)
	out = strconv.AppendInt(out, int64(code), 10)
	out = append(out, ' ')
	if text := http.StatusText(code); text != "" {
		out = append(out, text...)
	} else {
		out = append(out, "status code "...)
		out = strconv.AppendInt(out, int64(code), 10)
	}
	return append(out, "\r\n"...)
}

// appendHeader writes the handler's header fields in name order, leaving
// out the framing fields the server writes itself.
func (w *response) appendHeader(out []byte, final bool) []byte {
	keys := w.keys[:0]
	for k := range w.hdr {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	w.keys = keys
	for _, k := range keys {
		vs := w.hdr[k]
		if len(vs) == 0 || !httpx.IsToken(k) {
			continue
		}
		if final {
			switch k {
			case "Content-Length":
				if n, err := strconv.ParseInt(vs[0], 10, 64); err == nil && n >= 0 {
					w.declared = n
				}
				continue
			case "Transfer-Encoding":
				continue
			case "Date":
				w.hasDate = true
			case "Content-Type":
				w.hasType = true
			case "Connection":
				// The server says whether the connection stays open;
				// the handler can only ask for it to close.
				if hasToken(vs, "close") {
					w.closeAfter = true
				}
				continue
			}
		}
		for _, v := range vs {
			out = append(out, k...)
			out = append(out, ": "...)
			if strings.ContainsAny(v, "\r\n") {
				v = strings.NewReplacer("\r", " ", "\n", " ").Replace(v)
			}
			out = append(out, v...)
			out = append(out, "\r\n"...)
		}
	}
	if _, ok := w.hdr["Content-Type"]; ok && final {
		w.hasType = true // a nil value asks for no Content-Type at all
	}
	return out
}

// bodyAllowed reports whether a status may carry a body.
func bodyAllowed(status int) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}

// Write implements http.ResponseWriter.
func (w *response) Write(p []byte) (int, error) { return w.write(p, "") }

// WriteString implements io.StringWriter.
func (w *response) WriteString(s string) (int, error) { return w.write(nil, s) }

func (w *response) write(p []byte, s string) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	n := len(p) + len(s)
	if w.failed {
		return 0, http.ErrHandlerTimeout
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	if w.declared >= 0 && w.written+int64(n) > w.declared {
		return 0, http.ErrContentLength
	}
	w.written += int64(n)
	if w.req.Method == http.MethodHead {
		// Nothing goes out, but the first bytes still choose the
		// Content-Type, as they would for GET.
		if !w.hasType && !w.streaming && len(w.body) < sniffLen {
			w.body = append(w.body, p[:min(len(p), sniffLen-len(w.body))]...)
			w.body = append(w.body, s[:min(len(s), sniffLen-len(w.body))]...)
		}
		return n, nil
	}
	w.body = append(w.body, p...)
	w.body = append(w.body, s...)
	if w.streaming {
		w.flushBody()
	} else if len(w.body) > streamAfter {
		w.startStream()
	}
	if w.failed {
		return 0, http.ErrHandlerTimeout
	}
	return n, nil
}

// Flush implements http.Flusher: the head and what is buffered go out.
func (w *response) Flush() {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.failed {
		return
	}
	if !w.streaming {
		w.startStream()
		return
	}
	w.flushBody()
}

// appendTrailer finishes the head: Date, Content-Type, the framing and
// Connection, and the empty line.
func (w *response) appendTrailer(out []byte, length int64) []byte {
	if !w.hasDate {
		w.now = time.Now()
		out = append(out, w.c.srv.dateHeader(w.now)...)
	}
	allowed := bodyAllowed(w.status)
	if !w.hasType && allowed && len(w.body) > 0 {
		out = append(out, "Content-Type: "...)
		out = append(out, http.DetectContentType(w.body)...)
		out = append(out, "\r\n"...)
	}
	if allowed && length >= 0 {
		out = append(out, "Content-Length: "...)
		out = strconv.AppendInt(out, length, 10)
		out = append(out, "\r\n"...)
	}
	if w.chunked {
		out = append(out, "Transfer-Encoding: chunked\r\n"...)
	}
	switch {
	case w.closeAfter || w.c.srv.closing.Load() || !w.c.body.reusable():
		w.closeAfter = true
		out = append(out, "Connection: close\r\n"...)
	case w.req.ProtoMinor == 0:
		out = append(out, "Connection: keep-alive\r\n"...)
	}
	return append(out, "\r\n"...)
}

// startStream sends the head and what is buffered; later writes go out
// as they come, chunked unless the handler set a Content-Length.
func (w *response) startStream() {
	w.streaming = true
	length := w.declared
	if length < 0 && bodyAllowed(w.status) && w.req.Method != http.MethodHead {
		if w.req.ProtoMinor >= 1 {
			w.chunked = true
		} else {
			w.closeAfter = true // the body ends when the connection does
		}
	}
	if w.req.Method == http.MethodHead && length < 0 && w.written > 0 {
		length = w.written
	}
	out := w.appendTrailer(w.c.out, length)
	w.c.out = out[:0]
	w.send(out)
	w.flushBody()
}

// flushBody sends the buffered body, as a chunk when chunked.
func (w *response) flushBody() {
	if w.req.Method == http.MethodHead {
		w.body = w.body[:0] // kept for sniffing only
	}
	if len(w.body) == 0 || w.failed {
		return
	}
	if !w.chunked {
		w.send(w.body)
		w.body = w.body[:0]
		return
	}
	out := strconv.AppendInt(w.c.out[:0], int64(len(w.body)), 16)
	out = append(out, "\r\n"...)
	out = append(out, w.body...)
	out = append(out, "\r\n"...)
	w.c.out = out[:0]
	w.body = w.body[:0]
	w.send(out)
}

// finish completes the response after the handler returns.
func (w *response) finish() {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.failed {
		return
	}
	if w.streaming {
		w.flushBody()
		if w.chunked {
			w.send(lastChunk)
		} else if w.declared > w.written && w.req.Method != http.MethodHead && bodyAllowed(w.status) {
			// The client waits for the rest of the promised body.
			w.closeAfter = true
		}
		return
	}
	length := int64(len(w.body))
	if w.req.Method == http.MethodHead {
		length = w.written
		if w.declared >= 0 {
			length = w.declared
		} else if length == 0 {
			length = -1
		}
	} else if w.declared >= 0 && w.declared != length {
		// The handler promised more than it wrote: the client would wait
		// for the rest, so the connection ends with this response.
		w.closeAfter = true
		length = w.declared
	}
	out := w.appendTrailer(w.c.out, length)
	if w.req.Method != http.MethodHead && bodyAllowed(w.status) {
		out = append(out, w.body...)
	}
	w.c.out = out[:0]
	w.send(out)
}

// send writes to the connection; a failure ends it.
func (w *response) send(p []byte) {
	if w.failed {
		return
	}
	now := w.now
	if w.now = (time.Time{}); now.IsZero() {
		now = time.Now()
	}
	w.c.setWriteDeadline(after(now, w.c.srv.WriteTimeout))
	if _, err := w.c.nc.Write(p); err != nil {
		w.failed = true
	}
}
