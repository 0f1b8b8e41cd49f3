package rethink

import (
	"reflect"
	"testing"

	"github.com/verdict-policy/verdict/internal/jsonenc"
)

// spliceAgrees checks that the message copied from body with body.auth
// written in is the decoded message with body.auth set. It reports whether
// body could be spliced at all.
func spliceAgrees(t *testing.T, body []byte, auth bool) bool {
	t.Helper()
	rm := locate(body)
	var dec jsonenc.Decoder
	dec.Depth = 2
	if _, err := dec.Decode(body); err == nil {
		if got := locateDecoded(body, &dec); got.ok != rm.ok || rm.ok && !reflect.DeepEqual(got, rm) {
			t.Fatalf("%q: locateDecoded %+v, locate %+v", body, got, rm)
		}
	}
	if !rm.ok {
		return false
	}
	v, err := decodeJSON(body)
	if err != nil {
		t.Fatalf("%q: locate accepted a body that does not decode: %v", body, err)
	}
	want := v.(map[string]any)["message"].(map[string]any)
	b, _ := want["body"].(map[string]any)
	if b == nil {
		b = map[string]any{}
		want["body"] = b
	}
	b["auth"] = auth
	out := rm.appendWithAuth(nil, auth)
	got, err := decodeJSON(out)
	if err != nil {
		t.Fatalf("%q: the spliced message is not JSON: %v\n%s", body, err, out)
	}
	if jsonText(got) != jsonText(want) {
		t.Fatalf("%q:\n spliced %s\n want    %s", body, jsonText(got), jsonText(want))
	}
	return true
}

func TestSplice(t *testing.T) {
	tests := []struct {
		body   string
		splice bool
	}{
		{`{"message": {"id": 1, "body": {"auth": false, "x": [1, {"auth": 3}]}}}`, true},
		{`{"message": {"id": 1, "body": {"x": "}", "y": {"z": "\"{"}}}, "direction": "egress"}`, true},
		{`{"message": {"id": 1, "body": {}}}`, true},
		{`{"message": {"id": 1, "body": { }}}`, true},
		{`{"message": {"id": 1}}`, true},
		{`{"message": { }}`, true},
		{`{"direction": "ingress", "message" : {"to": "a", "body" : {"auth" : "yes" } } }`, true},
		{`{"message": {"id": 1, "body": null}}`, false},
		{`{"message": {"id": 1, "id": 2}}`, false},
		{`{"message": {"body": {"auth": true, "auth": false}}}`, false},
		{`{"message": {"b\u006fdy": {}}}`, false},
		{"{\"message\": {\"id\": \"\xff\"}}", false},
	}
	for _, tt := range tests {
		for _, auth := range []bool{true, false} {
			if got := spliceAgrees(t, []byte(tt.body), auth); got != tt.splice {
				t.Errorf("%s: spliced %v, want %v", tt.body, got, tt.splice)
			}
		}
	}
}

func FuzzSplice(f *testing.F) {
	f.Add([]byte(`{"message": ` + allocRequest + `}`))
	f.Add([]byte(`{"message": {"id": 1, "body": {"auth": false, "x": [1, {"auth": 3}]}}, "explain": true}`))
	f.Add([]byte(`{"message": {}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		v, err := decodeJSON(body)
		if err != nil {
			return
		}
		obj, ok := v.(map[string]any)
		if !ok {
			return
		}
		if _, ok := obj["message"].(map[string]any); !ok {
			return
		}
		spliceAgrees(t, body, true)
	})
}
