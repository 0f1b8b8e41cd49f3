package rethink

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/verdict-policy/verdict/pdl"
)

// seedRules are the seed's first two rules.
const seedRules = `[
  {"id": "limit-address-request", "target": {"msgType": {"equals": "addressAllocation"}},
   "condition": {"actType": {"equals": "create"}, "valueNumber": {"moreThan": 1}}, "effect": "deny"},
  {"id": "limit-address-response", "target": {"msgType": {"equals": "addressAllocation"}},
   "condition": {"actType": {"equals": "response"}, "valueAllocate": {"moreThan": 1}}, "effect": "permit",
   "obligations": {"limitNumber": {"valueAllocated": 1}}}]`

const (
	allocRequest = `{"id": 1, "type": "create", "from": "runtime://hjiang-rethink.com/r/address-allocation",
	  "to": "domain://msg-node.hjiang-rethink.com/address-allocation", "body": {"value": {"number": 2}}}`
	allocReply = `{"id": 1, "type": "response", "from": "domain://msg-node.hjiang-rethink.com/address-allocation",
	  "to": "runtime://hjiang-rethink.com/r/address-allocation", "body": {"code": 200, "value": {"allocated": ["a", "b"]}}}`
)

func testServer(t *testing.T, limits HandlerLimits) *httptest.Server {
	t.Helper()
	e, err := New(compile(t, seedRules), Config{Domain: "hjiang-rethink.com"})
	if err != nil {
		t.Fatal(err)
	}
	h := NewHandler(nil)
	h.Install(e, limits)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	return resp.StatusCode, string(b)
}

func TestHTTPDecide(t *testing.T) {
	srv := testServer(t, HandlerLimits{})
	status, body := post(t, srv.URL+DecidePath, `{"message": `+allocRequest+`}`)
	if status != 200 {
		t.Fatalf("status %d: %s", status, body)
	}
	var a Answer
	if err := json.Unmarshal([]byte(body), &a); err != nil {
		t.Fatal(err)
	}
	if a.Decision != "deny" || a.Forward || a.Message != nil || a.Reply["to"] != "runtime://hjiang-rethink.com/r/address-allocation" {
		t.Errorf("request for two addresses: %s", body)
	}

	status, body = post(t, srv.URL+DecidePath, `{"message": `+allocReply+`, "direction": "egress"}`)
	if status != 200 {
		t.Fatalf("status %d: %s", status, body)
	}
	want := `{"decision":"permit","obligations":[{"name":"limitNumber","params":{"valueAllocated":1}}],"advice":[],` +
		`"path":"PolicySet 1 | Policy 1 | Rule limit-address-response","forward":true,` +
		`"message":{"body":{"auth":true,"code":200,"value":{"allocated":["a"]}},"from":"domain://msg-node.hjiang-rethink.com/address-allocation","id":1,"to":"runtime://hjiang-rethink.com/r/address-allocation","type":"response"},` +
		`"reply":null}` + "\n"
	if body != want {
		t.Errorf("reply with two addresses:\n got  %s want %s", body, want)
	}

	// The caller's attributes override the computed ones.
	_, body = post(t, srv.URL+DecidePath, `{"message": `+allocRequest+`, "attributes": {"<valueNumber>": 1}}`)
	if !strings.Contains(body, `"decision":"not_applicable"`) {
		t.Errorf("with valueNumber overridden to 1: %s", body)
	}
	// explain adds the trace.
	_, body = post(t, srv.URL+DecidePath, `{"message": `+allocRequest+`, "explain": true}`)
	if !strings.Contains(body, `"trace":[`) {
		t.Errorf("explain: %s", body)
	}
}

func TestHTTPBatch(t *testing.T) {
	srv := testServer(t, HandlerLimits{MaxBatch: 3})
	status, body := post(t, srv.URL+DecideBatchPath, `[
	  {"message": `+allocRequest+`},
	  {"message": "not an object"},
	  {"message": `+allocReply+`, "direction": "egress"}]`)
	if status != 200 {
		t.Fatalf("status %d: %s", status, body)
	}
	var items []map[string]any
	if err := json.Unmarshal([]byte(body), &items); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	if len(items) != 3 {
		t.Fatalf("%d answers, want 3: %s", len(items), body)
	}
	if items[0]["decision"] != "deny" || items[2]["decision"] != "permit" {
		t.Errorf("order not kept: %s", body)
	}
	if e, ok := items[1]["error"].(map[string]any); !ok || !strings.Contains(e["message"].(string), `request 1: "message" must be a JSON object`) {
		t.Errorf("bad item: %v", items[1])
	}
	status, body = post(t, srv.URL+DecideBatchPath, `[{}, {}, {}, {}]`)
	if status != 400 || !strings.Contains(body, "at most 3") {
		t.Errorf("too long a batch: %d %s", status, body)
	}
}

func TestHTTPBadInput(t *testing.T) {
	srv := testServer(t, HandlerLimits{MaxBodyBytes: 1024})
	huge := `{"message": {"id": 1, "type": "create", "from": "a://b/c", "to": "a://b/d", "body": {"pad": "` + strings.Repeat("x", 2000) + `"}}}`
	tests := []struct {
		name, path, body string
		status           int
		code, message    string
	}{
		{"not JSON", DecidePath, `hello`, 400, "invalid_request", "invalid JSON at byte offset 0: unexpected 'h'"},
		{"a string", DecidePath, `"hello"`, 400, "invalid_request", "a request must be a JSON object"},
		{"empty", DecidePath, ``, 400, "invalid_request", "the request body is empty"},
		{"truncated", DecidePath, `{"message": {"id": 1`, 400, "invalid_request", "ends before it is complete"},
		{"trailing data", DecidePath, `{"message": ` + allocRequest + `} {}`, 400, "invalid_request", "unexpected data after the JSON value"},
		{"no message", DecidePath, `{"direction": "ingress"}`, 400, "invalid_request", `"message" is required`},
		{"null message", DecidePath, `{"message": null}`, 400, "invalid_request", `"message" is required`},
		{"message is a list", DecidePath, `{"message": [1]}`, 400, "invalid_request", `"message" must be a JSON object`},
		{"bad direction", DecidePath, `{"message": ` + allocRequest + `, "direction": "sideways"}`, 400, "invalid_request", `"direction": direction "sideways" is neither ingress nor egress`},
		{"direction not a string", DecidePath, `{"message": ` + allocRequest + `, "direction": 1}`, 400, "invalid_request", `"direction" must be a string, not a number`},
		{"unknown field", DecidePath, `{"message": ` + allocRequest + `, "policy": "x"}`, 400, "invalid_request", `unknown field "policy"`},
		{"unknown attribute", DecidePath, `{"message": ` + allocRequest + `, "attributes": {"colour": "red"}}`, 400, "invalid_request", `"colour" is not an attribute`},
		{"attributes not an object", DecidePath, `{"message": ` + allocRequest + `, "attributes": [1]}`, 400, "invalid_request", `"attributes" must be an object of attribute values, not an array`},
		{"huge", DecidePath, huge, 413, "body_too_large", "larger than the limit of 1024 bytes"},
		{"batch not a list", DecideBatchPath, `{"message": {}}`, 400, "invalid_request", "the batch must be a JSON array"},
		{"batch not JSON", DecideBatchPath, `[{"message": `, 400, "invalid_request", "the batch is not valid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := post(t, srv.URL+tt.path, tt.body)
			if status != tt.status {
				t.Errorf("status %d, want %d: %s", status, tt.status, body)
			}
			var e struct {
				Error struct{ Code, Message string }
			}
			if err := json.Unmarshal([]byte(body), &e); err != nil {
				t.Fatalf("not the error envelope: %s", body)
			}
			if e.Error.Code != tt.code || !strings.Contains(e.Error.Message, tt.message) {
				t.Errorf("error %+v, want code %s and a message containing %q", e.Error, tt.code, tt.message)
			}
		})
	}

	resp, err := http.Get(srv.URL + DecidePath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 || resp.Header.Get("Allow") != "POST" {
		t.Errorf("GET: %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

func TestHTTPNotConfigured(t *testing.T) {
	srv := httptest.NewServer(NewHandler(nil))
	defer srv.Close()
	status, body := post(t, srv.URL+DecidePath, `{"message": `+allocRequest+`}`)
	if status != 404 || !strings.Contains(body, "not_configured") {
		t.Errorf("%d %s", status, body)
	}
}

// BenchmarkHTTPDecide runs one data-object update (PCP 24) through the
// handler: decoding, deciding and encoding the answer.
func BenchmarkHTTPDecide(b *testing.B) {
	e, _, _ := pcpPack(b)
	h := NewHandler(nil)
	h.Install(e, HandlerLimits{})
	body := `{"direction": "ingress", "message": {"id": 32, "type": "update",
	  "from": "connection://hjiang-rethink.com/e8fef4d4-88c7-4c59-b01a-8322356ae8e9",
	  "to": "connection://hjiang-rethink.com/e8fef4d4-88c7-4c59-b01a-8322356ae8e9/changes",
	  "body": {"version": 26, "source": "hyperty://hjiang-rethink.com/6a54377c-b292-4287-9a83-039b0ad77b31",
	    "attribute": "status", "value": "checking", "auth": true,
	    "identity": {"userProfile": {"username": "he.johen@gmail.com"}, "idp": "google.com", "assertion": "eyJ..."}}}}`
	rec := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		rec.Body.Reset()
		req := httptest.NewRequest(http.MethodPost, DecidePath, strings.NewReader(body))
		h.ServeHTTP(rec, req)
	}
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"forward":true`) {
		b.Fatalf("%d %s", rec.Code, rec.Body)
	}
}

func TestHTTPMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewMetrics(reg); err == nil {
		t.Error("registering the metrics twice succeeded")
	}
	e, err := New(compile(t, seedRules), Config{Domain: "hjiang-rethink.com"})
	if err != nil {
		t.Fatal(err)
	}
	h := NewHandler(m)
	h.Install(e, HandlerLimits{})
	srv := httptest.NewServer(h)
	defer srv.Close()
	post(t, srv.URL+DecidePath, `{"message": `+allocRequest+`}`)
	post(t, srv.URL+DecideBatchPath, `[{"message": `+allocReply+`, "direction": "egress"}, {"message": {"id": 1}, "direction": "egress"}]`)
	for _, c := range []struct {
		counter prometheus.Counter
		want    float64
	}{
		{m.messages[Ingress][pdl.Deny][0], 1},
		{m.messages[Egress][pdl.Permit][1], 1},
		{m.messages[Egress][4][0], 1}, // invalid
		{m.messages[Ingress][pdl.Permit][1], 0},
	} {
		if got := testutil.ToFloat64(c.counter); got != c.want {
			t.Errorf("%s = %v, want %v", c.counter.Desc(), got, c.want)
		}
	}
	if n, err := testutil.GatherAndCount(reg, "verdict_message_duration_seconds"); err != nil || n != 2 {
		t.Errorf("duration series: %d, %v", n, err)
	}
}

// handlerOnlyWriter is a minimal ResponseWriter that keeps nothing, so
// that BenchmarkHTTPDecideHandler measures the handler alone.
type handlerOnlyWriter struct {
	hdr    http.Header
	status int
	n      int
}

func (w *handlerOnlyWriter) Header() http.Header { return w.hdr }

func (w *handlerOnlyWriter) WriteHeader(status int) { w.status = status }

func (w *handlerOnlyWriter) Write(b []byte) (int, error) {
	w.n += len(b)
	return len(b), nil
}

// rewindBody is a request body that can be read again from the start.
type rewindBody struct{ strings.Reader }

func (*rewindBody) Close() error { return nil }

// BenchmarkHTTPDecideHandler is BenchmarkHTTPDecide without the cost of
// building the request and recording the response: one request and one
// writer are reused, so only the handler's own work and allocations show.
func BenchmarkHTTPDecideHandler(b *testing.B) {
	pack, _, _ := pcpPack(b)
	seed, err := New(compile(b, seedRules), Config{Domain: "hjiang-rethink.com"})
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		e    *Enforcer
		body string
	}{
		{"update_forwarded", pack, `{"direction": "ingress", "message": {"id": 32, "type": "update",
	  "from": "connection://hjiang-rethink.com/e8fef4d4-88c7-4c59-b01a-8322356ae8e9",
	  "to": "connection://hjiang-rethink.com/e8fef4d4-88c7-4c59-b01a-8322356ae8e9/changes",
	  "body": {"version": 26, "source": "hyperty://hjiang-rethink.com/6a54377c-b292-4287-9a83-039b0ad77b31",
	    "attribute": "status", "value": "checking", "auth": true,
	    "identity": {"userProfile": {"username": "he.johen@gmail.com"}, "idp": "google.com", "assertion": "eyJ..."}}}}`},
		// The seed's rules against an address allocation they do not
		// cover: blocked by default, answered with a reply.
		{"allocation_blocked_seed", seed, `{"direction": "ingress", "message": {"id": 7, "type": "create",
	  "from": "runtime://hjiang-rethink.com/0908bd/registry/allocation",
	  "to": "domain://msg-node.hjiang-rethink.com/address-allocation", "body": {"value": {"number": 1}}}}`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			h := NewHandler(nil)
			h.Install(bc.e, HandlerLimits{})
			rb := &rewindBody{}
			req := httptest.NewRequest(http.MethodPost, DecidePath, rb)
			req.ContentLength = int64(len(bc.body))
			w := &handlerOnlyWriter{hdr: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				rb.Reset(bc.body)
				clear(w.hdr)
				h.ServeHTTP(w, req)
			}
			if w.status != 200 {
				b.Fatalf("status %d", w.status)
			}
		})
	}
}

// TestAppendReplyMatchesMessage holds the handler's direct encoding of a
// reply to the generic encoding of the reply message the Go API returns.
func TestAppendReplyMatchesMessage(t *testing.T) {
	for _, compatible := range []bool{false, true} {
		e, err := New(compile(t, seedRules), Config{Domain: "hjiang-rethink.com", CompatibleReply: compatible})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []replyTo{
			{},
			{ok: true, id: 7.0, to: "runtime://a.com/1", code: 403, reason: "no policy applies"},
			{ok: true, id: "x-1", to: "hyperty://a.com/\"q\"", code: 400, reason: "bad <message> & \u2028"},
			{ok: true, id: nil, to: "", code: 403, reason: ""},
			{ok: true, id: map[string]any{"n": 1.5}, to: "t", code: 403, reason: "r"},
		} {
			got, err := e.appendReply(nil, p)
			if err != nil {
				t.Fatal(err)
			}
			want, err := appendMessage(nil, e.replyMessage(p))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Errorf("compatible %v, %+v:\n got %s\nwant %s", compatible, p, got, want)
			}
		}
	}
}
