package pdl

import (
	"encoding/json"
	"fmt"
	"testing"
)

// richDocument exercises indexing at every level: sets keyed on msgType,
// policies on actType, rules on a mix of keyed and unkeyed targets.
const richDocument = `[
 {"id": "reg", "target": {"msgType": {"equals": "registration"}}, "policyCombiningAlgorithm": "firstApplicable",
  "obligations": {"deny": {"info": "registration denied"}},
  "policies": [
   {"id": "create", "target": {"actType": {"equals": "create"}}, "rules": [
     {"id": 1, "condition": {"valueExpires": {"moreThan": 3600}}, "effect": "deny"},
     {"id": 2, "effect": "permit", "obligations": {"stamp": {"by": "{{ actType }}"}}}]},
   {"id": "update", "target": {"actType": {"in": ["update", "delete"]}}, "rules": [{"effect": "deny"}]},
   {"id": "read", "target": [{"actType": {"equals": "read"}}, {"actType": {"equals": "subscribe"}}], "rules": [{"effect": "permit"}]},
   {"id": "other", "target": {"not": {"actType": {"equals": "create"}}}, "rules": [{"effect": "permit"}]},
   {"id": "num", "target": {"actType": {"equals": "7"}}, "rules": [{"effect": "deny"}]}]},
 {"id": "alloc", "target": {"msgType": {"equals": ["addressAllocation", "objectAllocation"]}},
  "policies": [{"rules": [
   {"id": "a", "target": {"actType": {"equals": "create"}}, "condition": {"valueNumber": {"moreThan": 1}}, "effect": "deny"},
   {"id": "b", "target": {"actType": {"equals": "response"}}, "condition": {"valueAllocated": {"moreThan": 1}}, "effect": "permit",
    "obligations": {"limitNumber": {"valueAllocated": 1}}},
   {"id": "c", "target": {"anyOf": [{"actType": {"equals": "read"}}, {"actType": {"in": ["x", "y"]}}]}, "effect": "permit"},
   {"id": "d", "target": {"actType": {"exists": false}}, "effect": "deny"},
   {"id": "e", "target": {"allOf": [{"actType": {"equals": "forward"}}, {"valueNumber": {"lessThan": 5}}]}, "effect": "permit"}]}]},
 {"id": "wild", "target": {"msgType": {"equals": "*"}}, "policies": [{"rules": [{"effect": "permit"}]}]},
 {"id": "num", "target": {"msgType": {"equals": "5"}}, "policies": [{"rules": [{"effect": "deny"}]}]},
 {"id": "rest", "policies": [{"rules": [{"effect": "deny"}]}]}
]`

var richInputs = []string{
	`{}`,
	`{"msgType": "registration", "actType": "create", "valueExpires": 7200}`,
	`{"msgType": "registration", "actType": "create", "valueExpires": 60}`,
	`{"msgType": "registration", "actType": "update"}`,
	`{"msgType": "registration", "actType": "delete"}`,
	`{"msgType": "registration", "actType": "subscribe"}`,
	`{"msgType": "registration", "actType": "unknown"}`,
	`{"msgType": "registration", "actType": 7}`,
	`{"msgType": "registration"}`,
	`{"msgType": "addressAllocation", "actType": "create", "valueNumber": 3}`,
	`{"msgType": "objectAllocation", "actType": "response", "valueAllocated": ["a", "b"]}`,
	`{"msgType": "addressAllocation", "actType": "y"}`,
	`{"msgType": "addressAllocation"}`,
	`{"msgType": "addressAllocation", "actType": "forward", "valueNumber": 2}`,
	`{"msgType": "addressAllocation", "actType": ["create"]}`,
	`{"msgType": 5}`,
	`{"msgType": "5"}`,
	`{"msgType": ["registration"]}`,
	`{"msgType": "discovery", "actType": "read"}`,
	`{"msgType": true}`,
}

// unindexed turns every index of d off, so that each level is scanned.
func unindexed(d *Document) {
	off := func(ix *index) { ix.slot = -1 }
	off(&d.setIndex)
	for _, sp := range d.sets {
		off(&sp.index)
		for _, p := range sp.policies {
			off(&p.index)
		}
	}
}

func decideJSON(t testing.TB, d *Document, in string) Decision {
	var m map[string]any
	if err := json.Unmarshal([]byte(in), &m); err != nil {
		t.Fatal(err)
	}
	return d.Decide(Input(m))
}

func TestIndexAgreesWithScan(t *testing.T) {
	indexed, err := Compile(Options{}, Source{Name: "rich.json", Data: []byte(richDocument)})
	if err != nil {
		t.Fatal(err)
	}
	if indexed.setIndex.slot < 0 || indexed.sets[0].index.slot < 0 || indexed.sets[1].policies[0].index.slot < 0 {
		t.Fatal("the rich document should be indexed at every level")
	}
	scanned, _ := Compile(Options{}, Source{Name: "rich.json", Data: []byte(richDocument)})
	unindexed(scanned)
	for _, in := range richInputs {
		a, b := decideJSON(t, indexed, in), decideJSON(t, scanned, in)
		if fmt.Sprint(a) != fmt.Sprint(b) {
			t.Errorf("%s:\n indexed %+v\n scanned %+v", in, a, b)
		}
	}
}

func TestIndexNarrowsCandidates(t *testing.T) {
	d, err := Compile(Options{}, Source{Name: "rich.json", Data: []byte(richDocument)})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		input string
		want  []int32
	}{
		{`{"msgType": "registration"}`, []int32{0, 2, 4}},
		{`{"msgType": "objectAllocation"}`, []int32{1, 2, 4}},
		{`{"msgType": "5"}`, []int32{2, 3, 4}},
		{`{"msgType": "nothing"}`, []int32{2, 4}},
		{`{}`, []int32{2, 4}},
		{`{"msgType": 5}`, []int32{0, 1, 2, 3, 4}},
	}
	for _, tt := range tests {
		var m map[string]any
		_ = json.Unmarshal([]byte(tt.input), &m)
		s := d.acquire(Input(m))
		got := d.setIndex.candidates(s)
		d.release(s)
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("%s: candidates %v, want %v", tt.input, got, tt.want)
		}
	}
}
