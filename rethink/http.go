package rethink

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/verdict-policy/verdict/internal/jsonenc"
	"github.com/verdict-policy/verdict/internal/reply"
	"github.com/verdict-policy/verdict/pdl"
)

// Paths served by a Handler.
const (
	DecidePath      = "/v1/messages/decide"
	DecideBatchPath = "/v1/messages/decide-batch"
)

// Defaults for HandlerLimits left at zero.
const (
	DefaultMaxBodyBytes = 1 << 20
	DefaultMaxBatch     = 1000
)

// HandlerLimits bound what a client may send to a Handler.
type HandlerLimits struct {
	// MaxBodyBytes is the largest request body accepted (413 above it).
	MaxBodyBytes int64
	// MaxBatch is the most messages one batch may hold.
	MaxBatch int
}

// Handler serves the message endpoints over the Enforcer it was last
// given: POST /v1/messages/decide and POST /v1/messages/decide-batch. It
// answers 404 with code not_configured until Install is called with one.
// A Handler is safe for concurrent use.
type Handler struct {
	cur     atomic.Pointer[installed]
	metrics *Metrics
}

type installed struct {
	e       *Enforcer
	limits  HandlerLimits
	metrics *Metrics
}

// NewHandler returns a Handler with no Enforcer. m may be nil to record no
// metrics.
func NewHandler(m *Metrics) *Handler { return &Handler{metrics: m} }

// Install makes e the enforcer of later requests; nil takes the endpoints
// out of service.
func (h *Handler) Install(e *Enforcer, limits HandlerLimits) {
	if e == nil {
		h.cur.Store(nil)
		return
	}
	if limits.MaxBodyBytes <= 0 {
		limits.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if limits.MaxBatch <= 0 {
		limits.MaxBatch = DefaultMaxBatch
	}
	h.cur.Store(&installed{e: e, limits: limits, metrics: h.metrics})
}

// Patterns lists the paths h serves.
func (h *Handler) Patterns() []string { return []string{DecidePath, DecideBatchPath} }

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != DecidePath && r.URL.Path != DecideBatchPath {
		reply.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		reply.MethodNotAllowed(w, r, http.MethodPost)
		return
	}
	in := h.cur.Load()
	if in == nil {
		reply.Error(w, http.StatusNotFound, "not_configured",
			"the message endpoints are off: the configuration has no messages section")
		return
	}
	x := exchanges.Get().(*exchange)
	defer x.release()
	buf := &x.buf
	if status, code, msg := x.readBody(w, r, in.limits.MaxBodyBytes); status != 0 {
		reply.Error(w, status, code, msg)
		return
	}
	body := buf.Bytes()
	var out []byte
	var err error
	if r.URL.Path == DecidePath {
		out, err = in.decide(r, &x.dec, body, body[len(body):])
	} else {
		out, err = in.decideBatch(r, &x.dec, body, body[len(body):])
	}
	if err != nil {
		var enc *encodeError
		if errors.As(err, &enc) {
			reply.Error(w, http.StatusInternalServerError, "internal", "encoding the answer: "+err.Error())
			return
		}
		reply.Error(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	hdr := w.Header()
	hdr["Content-Type"] = jsonContentType
	hdr["Content-Length"] = contentLength(len(out))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
	// The answer is appended after the body in the same buffer; when it
	// outgrew the buffer, pool the bigger array instead.
	if cap(out) > buf.Cap() {
		*buf = *bytes.NewBuffer(out[:0])
	}
}

// exchange is the state of one request that is worth keeping for the
// next: the buffer that holds the body and the answer, and the decoder
// whose maps the message is decoded into. Nothing of a request's message
// outlives the request, so its maps can be reused.
type exchange struct {
	buf   bytes.Buffer
	dec   jsonenc.Decoder
	limit io.LimitedReader
}

var exchanges = sync.Pool{New: func() any {
	// The message's header and body, and body.value, are the objects
	// whose spans the answer needs.
	return &exchange{dec: jsonenc.Decoder{Depth: 2}}
}}

// release returns x to the pool unless its buffer grew too big to keep.
func (x *exchange) release() {
	x.dec.Reset()
	x.limit = io.LimitedReader{}
	if x.buf.Cap() > maxPooled {
		return
	}
	x.buf.Reset()
	exchanges.Put(x)
}

// contentLengths holds the Content-Length values of the answer sizes seen
// so far, so that setting the header allocates nothing. The slices are
// shared by every response: their length and capacity are 1, so that
// adding a value to the header copies rather than changes them.
var contentLengths [8 << 10]atomic.Pointer[[]string]

func contentLength(n int) []string {
	if n >= len(contentLengths) {
		return []string{strconv.Itoa(n)}
	}
	if v := contentLengths[n].Load(); v != nil {
		return *v
	}
	v := []string{strconv.Itoa(n)}
	contentLengths[n].Store(&v)
	return v
}

// encodeError marks a failure to encode an answer, a server-side problem.
type encodeError struct{ err error }

func (e *encodeError) Error() string { return e.err.Error() }

var jsonContentType = []string{"application/json"}

// maxPooled keeps a large body from pinning memory in the pool.
const maxPooled = 64 << 10

// readBody reads the request body into x.buf within limit. It returns a
// status, code and message when it cannot.
func (x *exchange) readBody(w http.ResponseWriter, r *http.Request, limit int64) (int, string, string) {
	if r.ContentLength > limit {
		return tooLarge(limit)
	}
	var err error
	if r.ContentLength >= 0 {
		// The length is known and within the limit: the server reads no
		// more than that, and a reader of limit+1 bytes catches a body
		// that says otherwise, without the allocation of MaxBytesReader.
		x.limit = io.LimitedReader{R: r.Body, N: limit + 1}
		_, err = x.buf.ReadFrom(&x.limit)
		if err == nil && int64(x.buf.Len()) > limit {
			return tooLarge(limit)
		}
	} else {
		_, err = x.buf.ReadFrom(http.MaxBytesReader(w, r.Body, limit))
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return tooLarge(limit)
		}
		return http.StatusBadRequest, "bad_request", "reading the request body: " + err.Error()
	}
	if len(bytes.TrimSpace(x.buf.Bytes())) == 0 {
		return http.StatusBadRequest, "invalid_request", "the request body is empty"
	}
	return 0, "", ""
}

func tooLarge(limit int64) (int, string, string) {
	return http.StatusRequestEntityTooLarge, "body_too_large",
		"the request body is larger than the limit of " + strconv.FormatInt(limit, 10) + " bytes"
}

// Answer is the JSON form of a Result, as the HTTP API returns it.
type Answer struct {
	// Decision is permit, deny, not_applicable, indeterminate, or invalid
	// for a message refused before any policy.
	Decision string `json:"decision"`
	// Obligations and Advice are the decision's, in the order rule,
	// policy, policy set; never null.
	Obligations []pdl.Obligation `json:"obligations"`
	Advice      []pdl.Obligation `json:"advice"`
	// Path names the deciding element.
	Path string `json:"path"`
	// Forward tells whether to route Message or block the message.
	Forward bool `json:"forward"`
	// Message is the message to route, or null when blocked.
	Message Message `json:"message"`
	// Reply is the error response to the sender, or null when forwarded.
	Reply Message `json:"reply"`
	// Error explains an invalid or indeterminate decision, or a permit
	// blocked because an obligation could not be applied.
	Error string `json:"error,omitempty"`
	// Trace is the decision's explanation, when asked for.
	Trace []pdl.Step `json:"trace,omitempty"`

	// Set instead of Reply by the handler, which writes the reply's JSON
	// from its parts.
	reply    replyTo
	enforcer *Enforcer
}

var noObligations = []pdl.Obligation{}

// NewAnswer returns the JSON form of r.
func NewAnswer(r Result) Answer {
	a := Answer{
		Decision:    r.Decision.Effect.String(),
		Obligations: r.Decision.Obligations,
		Advice:      r.Decision.Advice,
		Path:        r.Decision.Path,
		Forward:     r.Forward,
		Message:     r.Message,
		Reply:       r.Reply,
		Error:       r.Error,
		Trace:       r.Decision.Trace,
	}
	if r.Invalid != "" {
		a.Decision, a.Error = "invalid", r.Invalid
	}
	if a.Obligations == nil {
		a.Obligations = noObligations
	}
	if a.Advice == nil {
		a.Advice = noObligations
	}
	return a
}

// request is one message to decide, as the HTTP API takes it.
type request struct {
	message    Message
	direction  Direction
	attributes map[string]any
	explain    bool
}

// requestFields names the fields of a request, for error messages.
const requestFields = `the fields are "message", "direction", "attributes" and "explain"`

// parseRequest reads one decoded request object.
func parseRequest(v any) (request, error) {
	var req request
	obj, ok := v.(map[string]any)
	if !ok {
		return req, errors.New(`a request must be a JSON object: {"message": {...}, "direction": "ingress" | "egress", "attributes": {...}}`)
	}
	var unknown []string
	for k, f := range obj {
		switch k {
		case "message":
			switch m := f.(type) {
			case nil:
			case map[string]any:
				req.message = m
			default:
				return req, fmt.Errorf(`"message" must be a JSON object, not %s`, kindOf(f))
			}
		case "direction":
			if f == nil {
				continue
			}
			s, ok := f.(string)
			if !ok {
				return req, fmt.Errorf(`"direction" must be a string, not %s`, kindOf(f))
			}
			dir, err := ParseDirection(s)
			if err != nil {
				return req, fmt.Errorf(`"direction": %w`, err)
			}
			req.direction = dir
		case "attributes":
			if f == nil {
				continue
			}
			m, ok := f.(map[string]any)
			if !ok {
				return req, fmt.Errorf(`"attributes" must be an object of attribute values, not %s`, kindOf(f))
			}
			attrs, err := overrides(m)
			if err != nil {
				return req, err
			}
			req.attributes = attrs
		case "explain":
			if f == nil {
				continue
			}
			b, ok := f.(bool)
			if !ok {
				return req, fmt.Errorf(`"explain" must be true or false, not %s`, kindOf(f))
			}
			req.explain = b
		default:
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		return req, fmt.Errorf("unknown field %q; %s", slices.Min(unknown), requestFields)
	}
	if req.message == nil {
		return req, errors.New(`"message" is required: the reTHINK message to check`)
	}
	return req, nil
}

// decodeBody decodes a request body, saying what is wrong in terms a
// client can act on.
func decodeBody(dec *jsonenc.Decoder, body []byte) (any, error) {
	v, err := dec.Decode(body)
	if errors.Is(err, jsonenc.ErrEnd) {
		return nil, errors.New("the JSON body ends before it is complete")
	}
	return v, err
}

// decide answers one request, appending the answer to out.
func (in *installed) decide(r *http.Request, dec *jsonenc.Decoder, body, out []byte) ([]byte, error) {
	v, err := decodeBody(dec, body)
	if err != nil {
		return nil, err
	}
	req, err := parseRequest(v)
	if err != nil {
		return nil, err
	}
	// Where the message lies is read before the decision changes it.
	raw := locateDecoded(body, dec)
	if out, err = in.answer(r, &req, out, &raw); err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// answer decides a parsed request and appends its answer to out. raw,
// when not nil, locates the message in the request it was decoded from: a
// forwarded message that no obligation changed is copied from there.
func (in *installed) answer(r *http.Request, req *request, out []byte, raw *rawMessage) ([]byte, error) {
	var res Result
	var start time.Time
	if in.metrics != nil {
		start = time.Now()
	}
	if req.explain {
		res = in.e.Explain(r.Context(), req.message, req.direction, req.attributes)
	} else {
		res = in.e.decide(r.Context(), req.message, req.direction, req.attributes)
	}
	if in.metrics != nil {
		in.metrics.observe(req.direction, &res, time.Since(start))
	}
	a := NewAnswer(res)
	if a.Reply == nil && res.reply.ok {
		a.reply, a.enforcer = res.reply, in.e
	}
	if raw != nil && (!raw.ok || !res.Forward || len(res.Decision.Obligations) > 0) {
		raw = nil
	}
	out, err := appendAnswer(out, a, raw)
	if err != nil {
		return nil, &encodeError{err}
	}
	return out, nil
}

// overrides checks the attribute names a caller supplies, turning aliases
// into their canonical names.
func overrides(m map[string]any) (map[string]any, error) {
	if len(m) == 0 {
		return nil, nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		name := strings.TrimSuffix(strings.TrimPrefix(k, "<"), ">")
		if c, ok := aliases[name]; ok {
			name = c
		}
		if !IsAttribute(name) {
			return nil, fmt.Errorf(`"attributes": %q is not an attribute of the messaging-node vocabulary`, k)
		}
		out[name] = v
	}
	return out, nil
}

// decideBatch answers a list of requests with a list of answers, in order.
// A request that cannot be decided gets an error object in its place.
func (in *installed) decideBatch(r *http.Request, dec *jsonenc.Decoder, body, out []byte) ([]byte, error) {
	if t := bytes.TrimSpace(body); len(t) == 0 || t[0] != '[' {
		return nil, errors.New(`the batch must be a JSON array of requests, each {"message": ..., "direction": ...}`)
	}
	v, err := decodeBody(dec, body)
	if err != nil {
		return nil, fmt.Errorf("the batch is not valid JSON: %w", err)
	}
	items := v.([]any)
	if len(items) > in.limits.MaxBatch {
		return nil, fmt.Errorf("the batch holds %d requests; at most %d are allowed", len(items), in.limits.MaxBatch)
	}
	out = append(out, '[')
	for i, item := range items {
		if i > 0 {
			out = append(out, ',')
		}
		req, err := parseRequest(item)
		if err != nil {
			out = append(out, `{"error":{"code":"invalid_request","message":`...)
			out = appendString(out, fmt.Sprintf("request %d: %v", i, err))
			out = append(out, "}}"...)
			continue
		}
		if out, err = in.answer(r, &req, out, nil); err != nil {
			return nil, err
		}
	}
	return append(out, ']', '\n'), nil
}

// appendAnswer appends the JSON form of a. With raw, the forwarded
// message is copied from the request, body.auth written in.
func appendAnswer(b []byte, a Answer, raw *rawMessage) ([]byte, error) {
	b = append(b, `{"decision":`...)
	b = appendString(b, a.Decision)
	b = append(b, `,"obligations":`...)
	b, err := appendObligations(b, a.Obligations)
	if err != nil {
		return b, err
	}
	b = append(b, `,"advice":`...)
	if b, err = appendObligations(b, a.Advice); err != nil {
		return b, err
	}
	b = append(b, `,"path":`...)
	b = appendString(b, a.Path)
	if a.Forward {
		b = append(b, `,"forward":true,"message":`...)
	} else {
		b = append(b, `,"forward":false,"message":`...)
	}
	if raw != nil {
		b = raw.appendWithAuth(b, a.Decision == "permit")
	} else if b, err = appendMessage(b, a.Message); err != nil {
		return b, err
	}
	b = append(b, `,"reply":`...)
	if a.Reply == nil && a.enforcer != nil {
		if b, err = a.enforcer.appendReply(b, a.reply); err != nil {
			return b, err
		}
	} else if b, err = appendMessage(b, a.Reply); err != nil {
		return b, err
	}
	if a.Error != "" {
		b = append(b, `,"error":`...)
		b = appendString(b, a.Error)
	}
	if a.Trace != nil {
		trace, err := json.Marshal(a.Trace)
		if err != nil {
			return b, err
		}
		b = append(b, `,"trace":`...)
		b = append(b, trace...)
	}
	return append(b, '}'), nil
}

func appendMessage(b []byte, m Message) ([]byte, error) {
	if m == nil {
		return append(b, "null"...), nil
	}
	return jsonenc.AppendValue(b, map[string]any(m))
}

func appendObligations(b []byte, obs []pdl.Obligation) ([]byte, error) {
	b = append(b, '[')
	for i, o := range obs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = appendString(b, o.Name)
		b = append(b, `,"params":`...)
		var err error
		if b, err = appendJSON(b, o.Params); err != nil {
			return b, err
		}
		b = append(b, '}')
	}
	return append(b, ']'), nil
}
