package pdp

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/verdict-policy/verdict/config"
	"github.com/verdict-policy/verdict/pdl"
)

// stubHandler serves one document that is never evaluated: enough to test
// every way a request can be refused before a decision is made.
func stubHandler(maxBody int64) *Handler {
	h := New(nil)
	h.Load([]Document{{Name: "rethink", Document: new(pdl.Document), Sources: []string{"rethink/policies.json"}}}, maxBody)
	return h
}

// seedHandler serves the reTHINK seed rules compiled from the built-in
// configuration, with metrics in reg.
func seedHandler(t testing.TB, reg *prometheus.Registry) *Handler {
	t.Helper()
	cfg, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}
	docs, err := cfg.Compile()
	if err != nil {
		t.Fatalf("compile the seed rules: %v", err)
	}
	var m *Metrics
	if reg != nil {
		if m, err = NewMetrics(reg); err != nil {
			t.Fatal(err)
		}
	}
	h := New(m)
	h.Load(toPDP(docs), cfg.Limits.MaxBodyBytes)
	return h
}

func toPDP(docs []config.Document) []Document {
	out := make([]Document, len(docs))
	for i, d := range docs {
		out[i] = Document{Name: d.Name, Vocabulary: d.Vocabulary, Sources: d.Sources, Document: d.Document}
	}
	return out
}

func do(h http.Handler, method, path, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name        string
		method      string
		path        string
		body        string
		status      int
		code        string
		messageHas  string
		allowHeader string
	}{
		{"GET on decide", "GET", "/v1/decide", "", 405, "method_not_allowed", "GET", "POST"},
		{"PUT on decide", "PUT", "/v1/decide", "{}", 405, "method_not_allowed", "use POST", "POST"},
		{"POST on policies", "POST", "/v1/policies", "", 405, "method_not_allowed", "POST", "GET, HEAD"},
		{"unknown path", "POST", "/v1/decider", "{}", 404, "not_found", "/v1/decider", ""},
		{"root", "GET", "/", "", 404, "not_found", "/", ""},
		{"empty body", "POST", "/v1/decide", "", 400, "invalid_json", "empty", ""},
		{"syntax error", "POST", "/v1/decide", `{"policy": "rethink", "input": {"a": }}`, 400, "invalid_json", "byte offset 38", ""},
		{"truncated", "POST", "/v1/decide", `{"policy": "rethink", "input": {`, 400, "invalid_json", "ends before", ""},
		{"not an object", "POST", "/v1/decide", `["rethink"]`, 400, "invalid_json", "must be a JSON object, not array", ""},
		{"unknown field", "POST", "/v1/decide", `{"policy": "rethink", "input": {}, "explian": true}`, 400, "invalid_json", `unknown field "explian"`, ""},
		{"policy not a string", "POST", "/v1/decide", `{"policy": 3, "input": {}}`, 400, "invalid_json", `field "policy" must be a string, not number`, ""},
		{"explain not a boolean", "POST", "/v1/decide", `{"policy": "rethink", "input": {}, "explain": "yes"}`, 400, "invalid_json", `field "explain" must be a boolean`, ""},
		{"trailing data", "POST", "/v1/decide", `{"policy": "rethink", "input": {}} {}`, 400, "invalid_json", "after the JSON object", ""},
		{"trailing garbage", "POST", "/v1/decide", `{"policy": "rethink", "input": {}}]`, 400, "invalid_json", "after the JSON object", ""},
		{"missing policy", "POST", "/v1/decide", `{"input": {}}`, 400, "invalid_request", `"policy" is required`, ""},
		{"missing input", "POST", "/v1/decide", `{"policy": "rethink"}`, 400, "invalid_request", `"input" is required`, ""},
		{"null input", "POST", "/v1/decide", `{"policy": "rethink", "input": null}`, 400, "invalid_request", `"input" is required`, ""},
		{"input is an array", "POST", "/v1/decide", `{"policy": "rethink", "input": [1]}`, 400, "invalid_request", "not an array", ""},
		{"input is a string", "POST", "/v1/decide", `{"policy": "rethink", "input": "msgType"}`, 400, "invalid_request", "not a string", ""},
		{"unknown document", "POST", "/v1/decide", `{"policy": "pexip", "input": {}}`, 404, "unknown_policy", `"pexip"; loaded: rethink`, ""},
		{"body over the limit", "POST", "/v1/decide", `{"policy": "rethink", "input": {"pad": "` + strings.Repeat("x", 200) + `"}}`, 413, "body_too_large", "limit of 128 bytes", ""},
	}
	h := stubHandler(128)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := do(h, tt.method, tt.path, tt.body)
			if rec.Code != tt.status {
				t.Errorf("status = %d, want %d; body %s", rec.Code, tt.status, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if got := rec.Header().Get("Allow"); got != tt.allowHeader {
				t.Errorf("Allow = %q, want %q", got, tt.allowHeader)
			}
			var eb errorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil {
				t.Fatalf("body %q is not the error envelope: %v", rec.Body, err)
			}
			if eb.Error.Code != tt.code {
				t.Errorf("code = %q, want %q", eb.Error.Code, tt.code)
			}
			if !strings.Contains(eb.Error.Message, tt.messageHas) {
				t.Errorf("message %q does not contain %q", eb.Error.Message, tt.messageHas)
			}
		})
	}
}

// TestBodyLimitWithoutLength checks the limit when the client streams the
// body without announcing its length.
func TestBodyLimitWithoutLength(t *testing.T) {
	h := stubHandler(64)
	req := httptest.NewRequest("POST", "/v1/decide", strings.NewReader(strings.Repeat(" ", 100)+"{}"))
	req.ContentLength = -1
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("status = %d, want 413; body %s", rec.Code, rec.Body)
	}
}

func TestNotReady(t *testing.T) {
	h := New(nil)
	if h.Loaded() {
		t.Fatal("a new handler claims to be loaded")
	}
	rec := do(h, "POST", "/v1/decide", `{"policy": "rethink", "input": {}}`)
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("status = %d, want 503", rec.Code)
	}
}

func TestPolicies(t *testing.T) {
	h := New(nil)
	h.Load([]Document{
		{Name: "zeta", Document: new(pdl.Document)},
		{Name: "alpha", Vocabulary: "rethink", Document: new(pdl.Document), Sources: []string{"a.json", "b.yaml"}},
	}, 0)
	rec := do(h, "GET", "/v1/policies", "")
	if rec.Code != 200 {
		t.Fatalf("status = %d", rec.Code)
	}
	var got struct {
		Policies []map[string]any `json:"policies"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := []map[string]any{
		{"name": "alpha", "vocabulary": "rethink", "sets": 0.0, "policies": 0.0, "rules": 0.0, "sources": []any{"a.json", "b.yaml"}},
		{"name": "zeta", "sets": 0.0, "policies": 0.0, "rules": 0.0, "sources": []any{}},
	}
	if !reflect.DeepEqual(got.Policies, want) {
		t.Errorf("policies = %v, want %v", got.Policies, want)
	}

	// A reload replaces the whole list.
	h.Load([]Document{{Name: "beta", Document: new(pdl.Document)}}, 0)
	rec = do(h, "GET", "/v1/policies", "")
	if !strings.Contains(rec.Body.String(), `"beta"`) || strings.Contains(rec.Body.String(), `"alpha"`) {
		t.Errorf("after reload: %s", rec.Body)
	}
}

// The cases below need the policy engine.

func TestDecide(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  string
		obl   []pdl.Obligation
	}{
		{"example 1: more than one address requested",
			`{"msgType": "addressAllocation", "actType": "create", "valueNumber": 2}`, "deny", nil},
		{"example 1: one address requested",
			`{"msgType": "addressAllocation", "actType": "create", "valueNumber": 1}`, "not_applicable", nil},
		{"example 2: more than one address allocated",
			`{"msgType": "addressAllocation", "actType": "response", "valueAllocated": ["a", "b"]}`, "permit",
			[]pdl.Obligation{{Name: "limitNumber", Params: map[string]any{"valueAllocated": 1.0}}}},
		{"example 3: expiry over an hour",
			`{"msgType": "registration", "actType": "create", "valueExpires": 7200}`, "deny", nil},
		{"example 3: video requested",
			`{"msgType": "registration", "actType": "create", "valueResources": ["audio", "video"]}`, "deny", nil},
		{"example 3: a modest registration",
			`{"msgType": "registration", "actType": "create", "valueExpires": 60, "valueResources": ["chat"]}`, "not_applicable", nil},
		{"no rule targets discovery",
			`{"msgType": "discovery"}`, "not_applicable", nil},
	}
	h := seedHandler(t, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := do(h, "POST", "/v1/decide", `{"policy": "rethink", "input": `+tt.input+`}`)
			if rec.Code != 200 {
				t.Fatalf("status = %d; body %s", rec.Code, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			var got struct {
				Decision    string           `json:"decision"`
				Obligations []pdl.Obligation `json:"obligations"`
				Advice      []pdl.Obligation `json:"advice"`
				Path        string           `json:"path"`
				Trace       []any            `json:"trace"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatalf("decode %s: %v", rec.Body, err)
			}
			if got.Decision != tt.want {
				t.Errorf("decision = %q, want %q; body %s", got.Decision, tt.want, rec.Body)
			}
			if tt.obl == nil {
				tt.obl = []pdl.Obligation{}
			}
			if !reflect.DeepEqual(got.Obligations, tt.obl) {
				t.Errorf("obligations = %#v, want %#v", got.Obligations, tt.obl)
			}
			if got.Trace != nil {
				t.Errorf("a trace came without explain: %v", got.Trace)
			}
		})
	}
}

func TestExplain(t *testing.T) {
	h := seedHandler(t, nil)
	rec := do(h, "POST", "/v1/decide", `{"policy": "rethink", "explain": true,
		"input": {"msgType": "addressAllocation", "actType": "create", "valueNumber": 2}}`)
	if rec.Code != 200 {
		t.Fatalf("status = %d; body %s", rec.Code, rec.Body)
	}
	var got pdl.Decision
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Effect != pdl.Deny || len(got.Trace) == 0 {
		t.Errorf("explained decision = %v with %d trace steps, want deny with a trace", got.Effect, len(got.Trace))
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := seedHandler(t, reg)
	for range 3 {
		do(h, "POST", "/v1/decide", `{"policy": "rethink", "input": {"msgType": "addressAllocation", "actType": "create", "valueNumber": 5}}`)
	}
	do(h, "POST", "/v1/decide", `{"policy": "rethink", "input": {"msgType": "discovery"}}`)
	do(h, "POST", "/v1/decide", `{"policy": "rethink", "input": 5}`) // refused: not counted

	deny := counterValue(t, reg, "verdict_decisions_total", "rethink", "deny")
	na := counterValue(t, reg, "verdict_decisions_total", "rethink", "not_applicable")
	if deny != 3 || na != 1 {
		t.Errorf("deny = %v, not_applicable = %v; want 3 and 1", deny, na)
	}
	// One duration series per loaded document (the default configuration
	// loads several).
	if n, want := seriesCount(t, reg, "verdict_decision_duration_seconds"), len(h.snap.Load().docs); n != want {
		t.Errorf("%d duration series, want %d", n, want)
	}

	// Dropping the document on reload drops its series.
	h.Load(nil, 0)
	if n := seriesCount(t, reg, "verdict_decisions_total"); n != 0 {
		t.Errorf("%d decision series after the document went away, want 0", n)
	}
}

func gather(t *testing.T, reg *prometheus.Registry, name string) []*dto.Metric {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name {
			return f.GetMetric()
		}
	}
	return nil
}

func seriesCount(t *testing.T, reg *prometheus.Registry, name string) int {
	return len(gather(t, reg, name))
}

// counterValue reads the counter name{document, decision}.
func counterValue(t *testing.T, reg *prometheus.Registry, name, document, decision string) float64 {
	t.Helper()
	for _, m := range gather(t, reg, name) {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["document"] == document && labels["decision"] == decision {
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// TestWireDecision holds the handler's encoding of a decision equal to the
// engine's own.
func TestWireDecision(t *testing.T) {
	decisions := []pdl.Decision{
		{},
		{Effect: pdl.Deny, Path: "PolicySet 1 | Policy 1 | Rule a"},
		{Effect: pdl.Permit, Path: "p", Obligations: []pdl.Obligation{{Name: "limitNumber", Params: map[string]any{"valueAllocated": 1}}},
			Advice: []pdl.Obligation{{Name: "info", Params: "see <docs> & more"}}},
		{Effect: pdl.Indeterminate, Error: "attribute x: boom"},
		{Effect: pdl.NotApplicable, Trace: []pdl.Step{{Path: "PolicySet 1", Kind: "select", Result: "false"},
			{Path: "PolicySet 1", Kind: "compare", Where: "w", Attribute: "a", Operator: "equals", Value: 1.5, Param: []any{"x"}, Result: "true"}}},
	}
	for _, d := range decisions {
		want, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		got, err := json.Marshal(wireDecision(d))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("wire form\n %s\nengine form\n %s", got, want)
		}
	}
}

func TestUnknownKey(t *testing.T) {
	tests := []struct {
		body string
		key  string
	}{
		{`{"policy": "a", "input": {"x": {"y": [1, {"z": "\"}"}]}}, "explain": true}`, ""},
		{`{"input": {"policy": 1, "other": 2}, "policy": "a"}`, ""},
		{`{"policy": "a,\"b", "extra": 1}`, "extra"},
		{`{"input": [{"a": 1}, "x"], "Policy": "p"}`, "Policy"},
		{`{"po\"licy": 1}`, `po\"licy`},
		{`{}`, ""},
	}
	for _, tt := range tests {
		key, found := unknownKey([]byte(tt.body))
		if key != tt.key || found != (tt.key != "") {
			t.Errorf("unknownKey(%s) = %q, %v; want %q", tt.body, key, found, tt.key)
		}
	}
}
