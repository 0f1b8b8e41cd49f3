package rethink

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

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
	cur atomic.Pointer[installed]
}

type installed struct {
	e      *Enforcer
	limits HandlerLimits
}

// NewHandler returns a Handler with no Enforcer.
func NewHandler() *Handler { return &Handler{} }

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
	h.cur.Store(&installed{e: e, limits: limits})
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
	buf := buffers.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= maxPooled {
			buf.Reset()
			buffers.Put(buf)
		}
	}()
	buf.Reset()
	if status, code, msg := readBody(w, r, buf, in.limits.MaxBodyBytes); status != 0 {
		reply.Error(w, status, code, msg)
		return
	}
	var out any
	if r.URL.Path == DecidePath {
		res, err := in.decide(r, buf.Bytes())
		if err != nil {
			reply.Error(w, http.StatusBadRequest, "invalid_request", err.Error())
			return
		}
		out = res
	} else {
		res, err := in.decideBatch(r, buf.Bytes())
		if err != nil {
			reply.Error(w, http.StatusBadRequest, "invalid_request", err.Error())
			return
		}
		out = res
	}
	buf.Reset()
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		reply.Error(w, http.StatusInternalServerError, "internal", "encoding the answer: "+err.Error())
		return
	}
	hdr := w.Header()
	hdr["Content-Type"] = jsonContentType
	hdr["Content-Length"] = []string{strconv.Itoa(buf.Len())}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}

var (
	buffers         = sync.Pool{New: func() any { return new(bytes.Buffer) }}
	jsonContentType = []string{"application/json"}
)

// maxPooled keeps a large body from pinning memory in the pool.
const maxPooled = 64 << 10

// readBody reads the request body into buf within limit. It returns a
// status, code and message when it cannot.
func readBody(w http.ResponseWriter, r *http.Request, buf *bytes.Buffer, limit int64) (int, string, string) {
	tooLarge := "the request body is larger than the limit of " + strconv.FormatInt(limit, 10) + " bytes"
	if r.ContentLength > limit {
		return http.StatusRequestEntityTooLarge, "body_too_large", tooLarge
	}
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, limit)); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return http.StatusRequestEntityTooLarge, "body_too_large", tooLarge
		}
		return http.StatusBadRequest, "bad_request", "reading the request body: " + err.Error()
	}
	if len(bytes.TrimSpace(buf.Bytes())) == 0 {
		return http.StatusBadRequest, "invalid_request", "the request body is empty"
	}
	return 0, "", ""
}

// request is one message to decide, as the HTTP API takes it.
type request struct {
	Message    json.RawMessage `json:"message"`
	Direction  string          `json:"direction"`
	Attributes map[string]any  `json:"attributes"`
	Explain    bool            `json:"explain"`
}

// Answer is the JSON form of a Result, as the HTTP API returns it.
type Answer struct {
	// Decision is permit, deny, not_applicable, indeterminate, or invalid
	// for a message refused before any policy.
	Decision    string           `json:"decision"`
	Obligations []pdl.Obligation `json:"obligations"`
	Advice      []pdl.Obligation `json:"advice"`
	Path        string           `json:"path"`
	Forward     bool             `json:"forward"`
	// Message is the message to route, or null when blocked.
	Message Message `json:"message"`
	// Reply is the error response to the sender, or null when forwarded.
	Reply Message    `json:"reply"`
	Error string     `json:"error,omitempty"`
	Trace []pdl.Step `json:"trace,omitempty"`
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

func (in *installed) decide(r *http.Request, body []byte) (Answer, error) {
	var req request
	if err := decodeStrict(body, &req); err != nil {
		return Answer{}, err
	}
	return in.answer(r, &req)
}

// answer decides one decoded request.
func (in *installed) answer(r *http.Request, req *request) (Answer, error) {
	if len(req.Message) == 0 || string(req.Message) == "null" {
		return Answer{}, errors.New(`"message" is required: the reTHINK message to check`)
	}
	msg, err := ParseMessage(req.Message)
	if err != nil {
		if errors.Is(err, ErrNotObject) {
			return Answer{}, errors.New(`"message" must be a JSON object`)
		}
		return Answer{}, fmt.Errorf(`"message": %w`, err)
	}
	dir, err := ParseDirection(req.Direction)
	if err != nil {
		return Answer{}, fmt.Errorf(`"direction": %w`, err)
	}
	attrs, err := overrides(req.Attributes)
	if err != nil {
		return Answer{}, err
	}
	if req.Explain {
		return NewAnswer(in.e.Explain(r.Context(), msg, dir, attrs)), nil
	}
	return NewAnswer(in.e.DecideWith(r.Context(), msg, dir, attrs)), nil
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

// batchItem is one element of a batch answer: an answer, or the error of
// a request that could not be decided.
type batchItem struct {
	*Answer
	Err *reply.ErrorDetail `json:"error,omitempty"`
}

// MarshalJSON writes the answer, or {"error": {...}}.
func (b batchItem) MarshalJSON() ([]byte, error) {
	if b.Answer != nil {
		return json.Marshal(b.Answer)
	}
	return json.Marshal(reply.ErrorBody{Error: *b.Err})
}

func (in *installed) decideBatch(r *http.Request, body []byte) ([]batchItem, error) {
	var raws []json.RawMessage
	if trimmed := bytes.TrimSpace(body); len(trimmed) == 0 || trimmed[0] != '[' {
		return nil, errors.New("the batch must be a JSON array of requests, each {\"message\": ..., \"direction\": ...}")
	}
	if err := json.Unmarshal(body, &raws); err != nil {
		return nil, fmt.Errorf("the batch is not valid JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if len(raws) > in.limits.MaxBatch {
		return nil, fmt.Errorf("the batch holds %d requests; at most %d are allowed", len(raws), in.limits.MaxBatch)
	}
	out := make([]batchItem, len(raws))
	for i, raw := range raws {
		var req request
		err := decodeStrict(raw, &req)
		var a Answer
		if err == nil {
			a, err = in.answer(r, &req)
		}
		if err != nil {
			out[i].Err = &reply.ErrorDetail{Code: "invalid_request", Message: fmt.Sprintf("request %d: %v", i, err)}
			continue
		}
		out[i].Answer = &a
	}
	return out, nil
}

// decodeStrict decodes one request object, refusing unknown fields and
// trailing data, and says what is wrong in terms of the request's fields.
func decodeStrict(data []byte, req *request) error {
	if t := bytes.TrimSpace(data); len(t) == 0 || t[0] != '{' {
		return errors.New(`a request must be a JSON object: {"message": {...}, "direction": "ingress" | "egress", "attributes": {...}}`)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(req); err != nil {
		var typ *json.UnmarshalTypeError
		var syn *json.SyntaxError
		switch {
		case errors.As(err, &typ):
			return fmt.Errorf("field %q must be %s, not %s", typ.Field, goKind(typ.Type.Kind().String()), typ.Value)
		case errors.As(err, &syn):
			return fmt.Errorf("invalid JSON at byte offset %d: %s", syn.Offset, strings.TrimPrefix(syn.Error(), "json: "))
		case errors.Is(err, io.ErrUnexpectedEOF):
			return errors.New("the JSON body ends before it is complete")
		}
		msg := strings.TrimPrefix(err.Error(), "json: ")
		if strings.HasPrefix(msg, "unknown field") {
			return fmt.Errorf(`%s; the fields are "message", "direction", "attributes" and "explain"`, msg)
		}
		return errors.New("invalid JSON: " + msg)
	}
	if dec.More() {
		return errors.New("unexpected data after the JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("unexpected data after the JSON object")
	}
	return nil
}

func goKind(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "map":
		return "an object"
	}
	return kind
}
