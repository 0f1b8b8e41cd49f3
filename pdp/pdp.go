// Package pdp is the generic decision point: an HTTP API that evaluates a
// named policy document against an input object sent by the caller
// (POST /v1/decide) and lists the loaded documents (GET /v1/policies). It
// holds the documents it is given; reading and compiling them is left to
// the config package, and listening to the server package.
package pdp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
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
	DecidePath   = "/v1/decide"
	PoliciesPath = "/v1/policies"
)

// DefaultMaxBodyBytes bounds request bodies when Load is given no limit.
const DefaultMaxBodyBytes = 1 << 20

// Document is a compiled document to serve under a name.
type Document struct {
	Name       string
	Vocabulary string
	Sources    []string
	Document   *pdl.Document
}

// Handler serves the decision API. Its documents are replaced as a whole by
// Load, atomically: a request sees either the old set or the new one.
// A Handler is safe for concurrent use.
type Handler struct {
	metrics *Metrics
	snap    atomic.Pointer[snapshot]
	loadMu  sync.Mutex // serialises Load, so metrics cleanup sees a consistent old snapshot
}

// snapshot is an immutable view of everything a request needs.
type snapshot struct {
	docs     map[string]*entry
	names    string // the document names, for error messages
	listing  []byte // the body of GET /v1/policies
	maxBytes int64
}

type entry struct {
	name    string
	doc     *pdl.Document
	metrics documentMetrics
}

// New returns a Handler without documents; until Load is called it answers
// decisions with 503. m may be nil to record no metrics.
func New(m *Metrics) *Handler { return &Handler{metrics: m} }

// Load replaces the served documents and the request body limit (bytes; 0
// or less means DefaultMaxBodyBytes).
func (h *Handler) Load(docs []Document, maxBodyBytes int64) {
	h.loadMu.Lock()
	defer h.loadMu.Unlock()
	if maxBodyBytes <= 0 {
		maxBodyBytes = DefaultMaxBodyBytes
	}
	s := &snapshot{docs: make(map[string]*entry, len(docs)), maxBytes: maxBodyBytes}
	infos := make([]documentInfo, 0, len(docs))
	names := make([]string, 0, len(docs))
	for _, d := range docs {
		e := &entry{name: d.Name, doc: d.Document}
		if old := h.snap.Load(); old != nil && old.docs[d.Name] != nil {
			e.metrics = old.docs[d.Name].metrics
		} else {
			e.metrics = h.metrics.forDocument(d.Name)
		}
		s.docs[d.Name] = e
		info := documentInfo{Name: d.Name, Vocabulary: d.Vocabulary, Sources: d.Sources}
		if d.Document != nil {
			info.Sets, info.Policies, info.Rules = d.Document.Counts()
		}
		if info.Sources == nil {
			info.Sources = []string{}
		}
		infos = append(infos, info)
		names = append(names, d.Name)
	}
	slices.SortFunc(infos, func(a, b documentInfo) int { return strings.Compare(a.Name, b.Name) })
	slices.Sort(names)
	s.names = strings.Join(names, ", ")
	// documentInfo holds only strings and ints, which always encode.
	listing, _ := json.Marshal(policyList{Policies: infos})
	s.listing = append(listing, '\n')

	old := h.snap.Swap(s)
	if old != nil {
		for name := range old.docs {
			if _, kept := s.docs[name]; !kept {
				h.metrics.forget(name)
			}
		}
	}
}

// Loaded reports whether Load has been called.
func (h *Handler) Loaded() bool { return h.snap.Load() != nil }

// Documents returns the names and counts of the served documents, sorted
// by name.
func (h *Handler) Documents() []byte {
	if s := h.snap.Load(); s != nil {
		return s.listing
	}
	return []byte("{\"policies\":[]}\n")
}

type policyList struct {
	Policies []documentInfo `json:"policies"`
}

type documentInfo struct {
	Name       string   `json:"name"`
	Vocabulary string   `json:"vocabulary,omitempty"`
	Sets       int      `json:"sets"`
	Policies   int      `json:"policies"`
	Rules      int      `json:"rules"`
	Sources    []string `json:"sources"`
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case DecidePath:
		if r.Method != http.MethodPost {
			reply.MethodNotAllowed(w, r, http.MethodPost)
			return
		}
		h.decide(w, r)
	case PoliciesPath:
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			reply.MethodNotAllowed(w, r, "GET, HEAD")
			return
		}
		writeBody(w, http.StatusOK, h.Documents())
	default:
		reply.NotFound(w, r)
	}
}

// request is the body of POST /v1/decide.
type request struct {
	Policy  string `json:"policy"`
	Input   any    `json:"input"`
	Explain bool   `json:"explain"`
}

// buffers recycles the buffer a request body is read into and its answer is
// encoded into.
var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooled keeps an unusually large body from pinning memory in the pool.
const maxPooled = 64 << 10

func (h *Handler) decide(w http.ResponseWriter, r *http.Request) {
	s := h.snap.Load()
	if s == nil {
		reply.Error(w, http.StatusServiceUnavailable, "not_ready", "no policy documents are loaded yet")
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

	if r.ContentLength > s.maxBytes {
		tooLarge(w, s.maxBytes)
		return
	}
	// A body with a declared length is already cut to it by net/http, and
	// that length was checked above; only a streamed body needs the limit.
	body := r.Body
	if r.ContentLength < 0 {
		body = http.MaxBytesReader(w, body, s.maxBytes)
	}
	if _, err := buf.ReadFrom(body); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			tooLarge(w, s.maxBytes)
			return
		}
		reply.Error(w, http.StatusBadRequest, "bad_request", "reading the request body: "+err.Error())
		return
	}

	var req request
	if msg := decodeRequest(buf.Bytes(), &req); msg != "" {
		reply.Error(w, http.StatusBadRequest, "invalid_json", msg)
		return
	}
	if req.Policy == "" {
		reply.Error(w, http.StatusBadRequest, "invalid_request", `"policy" is required: the name of a loaded document`)
		return
	}
	input, ok := req.Input.(map[string]any)
	if !ok {
		if req.Input == nil {
			reply.Error(w, http.StatusBadRequest, "invalid_request", `"input" is required: an object of attributes`)
		} else {
			reply.Error(w, http.StatusBadRequest, "invalid_request", `"input" must be a JSON object, not `+jsonKind(req.Input))
		}
		return
	}
	e := s.docs[req.Policy]
	if e == nil {
		reply.Error(w, http.StatusNotFound, "unknown_policy",
			fmt.Sprintf("no policy document named %q; loaded: %s", req.Policy, s.names))
		return
	}

	start := time.Now()
	var d pdl.Decision
	if req.Explain {
		d = e.doc.Explain(pdl.Input(input))
	} else {
		d = e.doc.Decide(pdl.Input(input))
	}
	elapsed := time.Since(start)
	if int(d.Effect) < len(e.metrics.decisions) && e.metrics.duration != nil {
		e.metrics.decisions[d.Effect].Inc()
		e.metrics.duration.Observe(elapsed.Seconds())
	}

	buf.Reset()
	if err := json.NewEncoder(buf).Encode(wireDecision(d)); err != nil {
		// A decision holds the document's own values and the caller's JSON
		// input, so this is unexpected; say what failed.
		reply.Error(w, http.StatusInternalServerError, "internal", "encoding the decision: "+err.Error())
		return
	}
	writeBody(w, http.StatusOK, buf.Bytes())
}

func tooLarge(w http.ResponseWriter, limit int64) {
	reply.Error(w, http.StatusRequestEntityTooLarge, "body_too_large",
		"the request body is larger than the limit of "+strconv.FormatInt(limit, 10)+" bytes")
}

// jsonContentType is shared by every response; net/http only reads it.
var jsonContentType = []string{"application/json"}

// chunkingThreshold is the size up to which net/http buffers a response and
// sets its Content-Length itself.
const chunkingThreshold = 2048

func writeBody(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h["Content-Type"] = jsonContentType
	if len(body) > chunkingThreshold {
		h["Content-Length"] = []string{strconv.Itoa(len(body))}
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// decodeRequest decodes body into req strictly: unknown fields, wrong types
// and trailing data are refused. It returns a message naming the problem,
// or "" when the body is good.
//
// json.Unmarshal plus a scan of the top-level keys does the work of a
// json.Decoder with DisallowUnknownFields, without the decoder's two
// allocations per request.
func decodeRequest(body []byte, req *request) string {
	if decodeFast(body, req) {
		return ""
	}
	*req = request{}
	if len(bytes.TrimSpace(body)) == 0 {
		return `the request body is empty; send a JSON object with "policy" and "input"`
	}
	if err := json.Unmarshal(body, req); err != nil {
		var (
			syn *json.SyntaxError
			typ *json.UnmarshalTypeError
		)
		switch {
		case errors.As(err, &syn):
			msg := syn.Error()
			if strings.Contains(msg, "unexpected end of JSON input") {
				return "the JSON body ends before it is complete"
			}
			if strings.Contains(msg, "after top-level value") {
				return fmt.Sprintf("unexpected data after the JSON object at byte offset %d", syn.Offset-1)
			}
			return fmt.Sprintf("invalid JSON at byte offset %d: %s", syn.Offset, strings.TrimPrefix(syn.Error(), "json: "))
		case errors.As(err, &typ):
			if typ.Field == "" {
				return "the request body must be a JSON object, not " + typ.Value
			}
			return fmt.Sprintf("field %q must be %s, not %s (byte offset %d)", typ.Field, goKind(typ.Type.Kind().String()), typ.Value, typ.Offset)
		}
		return "invalid JSON: " + strings.TrimPrefix(err.Error(), "json: ")
	}
	if key, ok := unknownKey(body); ok {
		return "unknown field " + strconv.Quote(key) + `; the fields are "policy", "input" and "explain"`
	}
	return ""
}

// decodeFast decodes a well-formed request without reflection. It reports
// false for anything else, which the slower path then explains.
func decodeFast(body []byte, req *request) bool {
	v, err := jsonenc.Decode(body)
	if err != nil {
		return false
	}
	m, ok := v.(map[string]any)
	if !ok {
		return false
	}
	for k, val := range m {
		switch k {
		case "policy":
			if req.Policy, ok = val.(string); !ok {
				return false
			}
		case "input":
			req.Input = val
		case "explain":
			if req.Explain, ok = val.(bool); !ok {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// unknownKey returns the first key of the top-level object in body that is
// not a field of request. body must be valid JSON holding an object.
func unknownKey(body []byte) (string, bool) {
	depth := 0
	expectKey := false
	for i := 0; i < len(body); i++ {
		switch c := body[i]; c {
		case '{':
			depth++
			expectKey = depth == 1
		case '[':
			depth++
		case '}', ']':
			depth--
		case ',':
			expectKey = depth == 1
		case '"':
			start := i + 1
			for i++; i < len(body) && body[i] != '"'; i++ {
				if body[i] == '\\' {
					i++
				}
			}
			if expectKey {
				// Comparing the converted bytes directly does not allocate.
				switch string(body[start:i]) {
				case "policy", "input", "explain":
				default:
					return string(body[start:i]), true
				}
				expectKey = false
			}
		}
	}
	return "", false
}

func goKind(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	}
	return kind
}

func jsonKind(v any) string {
	switch v.(type) {
	case []any:
		return "an array"
	case string:
		return "a string"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	}
	return "null"
}

// decisionJSON mirrors the JSON form of pdl.Decision. Encoding it directly
// skips the copy and re-scan that Decision.MarshalJSON costs; a test holds
// the two forms equal.
type decisionJSON struct {
	Decision    string           `json:"decision"`
	Obligations []pdl.Obligation `json:"obligations"`
	Advice      []pdl.Obligation `json:"advice"`
	Path        string           `json:"path"`
	Error       string           `json:"error,omitempty"`
	Trace       []pdl.Step       `json:"trace,omitempty"`
}

var emptyObligations = []pdl.Obligation{}

func wireDecision(d pdl.Decision) decisionJSON {
	w := decisionJSON{
		Decision:    d.Effect.String(),
		Obligations: d.Obligations,
		Advice:      d.Advice,
		Path:        d.Path,
		Error:       d.Error,
		Trace:       d.Trace,
	}
	if w.Obligations == nil {
		w.Obligations = emptyObligations
	}
	if w.Advice == nil {
		w.Advice = emptyObligations
	}
	return w
}
