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

// dialPlan is indexed on alias by exact events, number ranges in rule
// conditions (startsWith, nested prefixes, lists, anyOf mixing equals
// and startsWith), and rules that do not constrain the alias at all.
const dialPlan = `[{"id": "plan", "policies": [{"id": "calls", "ruleCombiningAlgorithm": "firstApplicable", "rules": [
 {"id": "event-a", "target": {"alias": {"equals": "event-a"}}, "effect": "permit", "obligations": {"to": "a"}},
 {"id": "event-b", "target": {"alias": {"in": ["event-b", "+4610777"]}}, "effect": "permit", "obligations": {"to": "b"}},
 {"id": "blocked", "condition": {"alias": {"startsWith": "+461099"}}, "effect": "deny"},
 {"id": "range-10", "condition": {"alias": {"startsWith": "+4610"}, "call": {"equals": "in"}}, "effect": "permit", "obligations": {"to": "gw10"}},
 {"id": "range-1", "condition": {"alias": {"startsWith": ["+461", "+462"]}}, "effect": "permit", "obligations": {"to": "gw1"}},
 {"id": "mixed", "condition": {"anyOf": [{"alias": {"equals": "operator"}}, {"alias": {"startsWith": "op-"}}]}, "effect": "permit", "obligations": {"to": "op"}},
 {"id": "nested", "condition": {"allOf": [{"call": {"exists": true}}, {"alias": {"anyOf": [{"startsWith": "sip:"}, {"equals": "x"}]}}]}, "effect": "permit", "obligations": {"to": "sip"}},
 {"id": "empty-prefix", "condition": {"alias": {"startsWith": ""}, "call": {"equals": "out"}}, "effect": "permit", "obligations": {"to": "any"}},
 {"id": "vmr", "condition": {"room": {"exists": true}}, "effect": "permit", "obligations": {"to": "vmr"}},
 {"id": "last", "effect": "deny"}]}]}]`

var dialInputs = []string{
	`{}`, `{"alias": "event-a"}`, `{"alias": "event-b"}`, `{"alias": "+4610777"}`, `{"alias": "+4610777", "call": "in"}`,
	`{"alias": "+4610991"}`, `{"alias": "+461099"}`, `{"alias": "+46109"}`, `{"alias": "+4610", "call": "in"}`,
	`{"alias": "+461"}`, `{"alias": "+46"}`, `{"alias": "+4620"}`, `{"alias": "+46200", "call": "out"}`,
	`{"alias": "operator"}`, `{"alias": "op-1"}`, `{"alias": "op"}`, `{"alias": "sip:a@b", "call": "in"}`,
	`{"alias": "sip:a@b"}`, `{"alias": "x", "call": 1}`, `{"alias": "", "call": "out"}`, `{"alias": "room-1", "room": true}`,
	`{"alias": 4610}`, `{"alias": ["+4610"]}`, `{"alias": null, "room": 1}`, `{"alias": "EVENT-A"}`,
}

func TestPrefixIndexAgreesWithScan(t *testing.T) {
	indexed, err := Compile(Options{}, Source{Name: "plan.json", Data: []byte(dialPlan)})
	if err != nil {
		t.Fatal(err)
	}
	ix := indexed.sets[0].policies[0].index
	if ix.slot < 0 || len(ix.byPrefix) == 0 {
		t.Fatalf("the dial plan's rules are not indexed by prefix: %+v", ix)
	}
	scanned, _ := Compile(Options{}, Source{Name: "plan.json", Data: []byte(dialPlan)})
	unindexed(scanned)
	for _, in := range dialInputs {
		a, b := decideJSON(t, indexed, in), decideJSON(t, scanned, in)
		if fmt.Sprint(a) != fmt.Sprint(b) {
			t.Errorf("%s:\n indexed %+v\n scanned %+v", in, a, b)
		}
	}
}

func TestPrefixIndexNarrowsCandidates(t *testing.T) {
	d, err := Compile(Options{}, Source{Name: "plan.json", Data: []byte(dialPlan)})
	if err != nil {
		t.Fatal(err)
	}
	ix := &d.sets[0].policies[0].index
	// Rules 8 (vmr) and 9 (last) leave the alias free; 7 takes every
	// string (an empty prefix).
	for _, tt := range []struct {
		input string
		want  []int32
	}{
		{`{"alias": "event-a"}`, []int32{0, 7, 8, 9}},
		{`{"alias": "+4610777"}`, []int32{1, 3, 4, 7, 8, 9}},
		{`{"alias": "+4610991"}`, []int32{2, 3, 4, 7, 8, 9}},
		{`{"alias": "+4620"}`, []int32{4, 7, 8, 9}},
		{`{"alias": "op-7"}`, []int32{5, 7, 8, 9}},
		{`{"alias": "room-1"}`, []int32{7, 8, 9}},
		{`{}`, []int32{8, 9}},
	} {
		var m map[string]any
		_ = json.Unmarshal([]byte(tt.input), &m)
		s := d.acquire(Input(m))
		got := ix.candidates(s)
		d.release(s)
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("%s: candidates %v, want %v", tt.input, got, tt.want)
		}
	}
}
