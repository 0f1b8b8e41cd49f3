package pdl

import (
	"encoding/json"
	"fmt"
	"testing"
)

func FuzzCompile(f *testing.F) {
	f.Add([]byte(richDocument), false)
	f.Add([]byte(`{"effect": "deny", "condition": {"a": {"between": "22:00 06:00"}, "b": {"matches": "x+"}, "c": {"inCIDR": ["10.0.0.0/8", "::1"]}}}`), false)
	f.Add([]byte("- target: {msgType: {equals: x}}\n  effect: permit\n  obligations: {n: {t: '{{ a | upcase }}'}}\n"), true)
	f.Add([]byte(`{"rules": [{"effect": "permit", "condition": {"not": [{"a": {"like": "*x*"}}]}}]}`), false)
	f.Fuzz(func(t *testing.T, data []byte, yaml bool) {
		name := "fuzz.json"
		if yaml {
			name = "fuzz.yaml"
		}
		d, err := Compile(Options{}, Source{Name: name, Data: data})
		if err != nil {
			if _, ok := err.(*LoadError); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		for _, in := range richInputs {
			var m map[string]any
			_ = json.Unmarshal([]byte(in), &m)
			a, b := d.Decide(Input(m)), d.Explain(Input(m))
			if a.Effect != b.Effect || a.Path != b.Path {
				t.Fatalf("%s: Decide %v %q, Explain %v %q", in, a.Effect, a.Path, b.Effect, b.Path)
			}
			if c := d.NewCoverage().Explain(Input(m)); c.Effect != b.Effect || c.Path != b.Path || len(c.Trace) != len(b.Trace) {
				t.Fatalf("%s: Coverage.Explain %v %q, Explain %v %q", in, c.Effect, c.Path, b.Effect, b.Path)
			}
		}
	})
}

func FuzzDecide(f *testing.F) {
	for _, in := range richInputs {
		f.Add([]byte(in))
	}
	indexed, err := Compile(Options{}, Source{Name: "rich.json", Data: []byte(richDocument)})
	if err != nil {
		f.Fatal(err)
	}
	scanned, _ := Compile(Options{}, Source{Name: "rich.json", Data: []byte(richDocument)})
	unindexed(scanned)
	f.Fuzz(func(t *testing.T, data []byte) {
		var m map[string]any
		if json.Unmarshal(data, &m) != nil {
			return
		}
		a, b := indexed.Decide(Input(m)), scanned.Decide(Input(m))
		if fmt.Sprint(a) != fmt.Sprint(b) {
			t.Fatalf("indexed %+v, scanned %+v", a, b)
		}
	})
}

// FuzzPrefixIndex holds the dial plan's prefix index to a scan of every rule.
func FuzzPrefixIndex(f *testing.F) {
	for _, in := range dialInputs {
		f.Add([]byte(in))
	}
	indexed, err := Compile(Options{}, Source{Name: "plan.json", Data: []byte(dialPlan)})
	if err != nil {
		f.Fatal(err)
	}
	scanned, _ := Compile(Options{}, Source{Name: "plan.json", Data: []byte(dialPlan)})
	unindexed(scanned)
	f.Fuzz(func(t *testing.T, data []byte) {
		var m map[string]any
		if json.Unmarshal(data, &m) != nil {
			return
		}
		a, b := indexed.Decide(Input(m)), scanned.Decide(Input(m))
		if fmt.Sprint(a) != fmt.Sprint(b) {
			t.Fatalf("indexed %+v, scanned %+v", a, b)
		}
	})
}
