package rethink

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/verdict-policy/verdict/internal/jsonenc"
)

// fuzzRules exercise every kind of attribute and both obligations.
const fuzzRules = `[
  {"id": "a", "target": {"msgType": {"equals": "addressAllocation"}}, "condition": [{"valueNumber": {"moreThan": 1}}, {"addrAllastMin": {"moreThan": 5}}], "effect": "deny"},
  {"id": "b", "target": {"msgType": {"equals": "addressAllocation"}}, "effect": "permit", "obligations": {"limitByNumberOfEntries": {"valueAllocated": 1, "valueNumber": 1}}},
  {"id": "c", "target": {"msgType": {"equals": "registration"}}, "condition": {"not": {"userRegistries": {"moreThan": 3}}, "srcUsername": {"not": {"like": "*@evil.org"}}}, "effect": "permit",
   "obligations": {"limitByConditionOfEntries": {"bodyValue": {"descriptor": {"like": "*/Connector"}}, "valueResources": {"x": {"exists": false}}}}},
  {"id": "d", "condition": {"srcIDPDomain": {"equals": "<dstSPDomain>"}, "isInterDomain": {"equals": false}, "weekday": {"in": ["monday", "tuesday"]}}, "effect": "permit"},
  {"id": "e", "condition": {"dstRuntime": {"exists": true}, "valueUser": {"startsWith": "user://"}}, "effect": "deny"}]`

func FuzzDecide(f *testing.F) {
	for _, s := range []string{allocRequest, allocReply,
		`{"id": 5, "type": "create", "from": "runtime://d/r/registry/", "to": "domain://registry.d/", "body": {"value": {"user": "user://g/u", "url": "hyperty://d/h", "resources": ["audio"], "descriptor": "x/Connector"}}}`,
		`{"id": 2, "type": "response", "from": "domain://registry.d/", "to": "hyperty://d/h", "body": {"code": 200, "value": {"hyperty://d/x": {"descriptor": "y/Connector", "userID": "user://g/u"}}}}`,
		`{"id": 1, "type": "update", "from": "connection://d/o", "to": "connection://d/o/changes", "body": {"identity": {"userProfile": {"username": "a@d"}}}}`,
		`{"id": null}`, `[]`, `{}`, `{"id": 1, "type": "x", "from": "a", "to": "b", "body": 3}`} {
		f.Add([]byte(s), false)
	}
	doc := compile(f, fuzzRules)
	e, err := New(doc, Config{Domain: "d"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte, egress bool) {
		m, err := ParseMessage(data)
		if err != nil {
			return
		}
		dir := Ingress
		if egress {
			dir = Egress
		}
		r := e.Decide(context.Background(), m, dir)
		from, _ := m["from"].(string)
		if r.Forward && r.Reply != nil || !r.Forward && (r.Reply == nil) != (from == "") {
			t.Fatalf("forward %v with reply %v (from %q)", r.Forward, r.Reply, from)
		}
		if r.Forward && r.Message == nil {
			t.Fatal("forwarded nothing")
		}
		if _, err := json.Marshal(NewAnswer(r)); err != nil {
			t.Fatalf("the answer does not encode: %v", err)
		}
	})
}

func FuzzHTTP(f *testing.F) {
	f.Add(`{"message": ` + allocRequest + `}`)
	f.Add(`{"message": ` + allocReply + `, "direction": "egress", "attributes": {"valueNumber": "3"}}`)
	f.Add(`[{"message": ` + allocRequest + `}, {"message": 1}]`)
	f.Add(`{"message": {"id": 1}, "explain": true}`)
	f.Add(`{"message": {}, "direction": null, "attributes": null}`)
	e, err := New(compile(f, fuzzRules), Config{Domain: "d"})
	if err != nil {
		f.Fatal(err)
	}
	h := NewHandler(nil)
	h.Install(e, HandlerLimits{MaxBodyBytes: 64 << 10})
	f.Fuzz(func(t *testing.T, body string) {
		for _, path := range []string{DecidePath, DecideBatchPath} {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, strings.NewReader(body)))
			switch rec.Code {
			case 200, 400, 413:
			default:
				t.Fatalf("%s: status %d: %s", path, rec.Code, rec.Body)
			}
			if !json.Valid(rec.Body.Bytes()) {
				t.Fatalf("%s: the answer is not JSON: %s", path, rec.Body)
			}
		}
	})
}

// FuzzJSON holds the message decoder and encoder to encoding/json: the same
// inputs accepted, the same values, the same bytes out.
func FuzzJSON(f *testing.F) {
	for _, s := range []string{allocRequest, allocReply, `{"a": [1, 2.5, -0, 1e400]}`, `"\ud83d\ude00 \ud800 \u2028 <&>"`,
		`[true, false, null, {}, [], ""]`, `{"a": 1, "a": 2}`, "\"\xff\"", `1e-7`, `123456789012345678901234`, `{"x": "\t\n\u0001"}`, ` [1,]`, `01`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		mine, errMine := decodeJSON(data)
		var std any
		errStd := json.Unmarshal(data, &std)
		var se *jsonenc.SyntaxError
		if errors.As(errMine, &se) && strings.Contains(se.Msg, "nested more than") {
			return
		}
		if (errMine == nil) != (errStd == nil) {
			t.Fatalf("%q: decodeJSON error %v, encoding/json error %v", data, errMine, errStd)
		}
		if errMine != nil {
			return
		}
		if !reflect.DeepEqual(mine, std) {
			t.Fatalf("%q: decodeJSON %#v, encoding/json %#v", data, mine, std)
		}
		out, err := appendJSON(nil, mine)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(std); err != nil {
			t.Fatal(err)
		}
		if want := bytes.TrimSuffix(buf.Bytes(), []byte("\n")); !bytes.Equal(out, want) {
			t.Fatalf("%q: appendJSON %s, encoding/json %s", data, out, want)
		}
	})
}
