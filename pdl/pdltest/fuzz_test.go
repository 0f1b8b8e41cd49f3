package pdltest

import (
	"errors"
	"testing"

	"github.com/verdict-policy/verdict/config"
)

func FuzzParseFile(f *testing.F) {
	f.Add([]byte("policy: p.yaml\ncases:\n  - {name: a, input: {x: 1}, decision: permit, obligations: {o: 1}}\n"), false)
	f.Add([]byte("document: d\nconfig: v.yaml\ncases: [{name: a, decision: indeterminate, error: x, advice_include: [{name: info}]}]\n"), false)
	f.Add([]byte(`{"policy": ["a.json"], "cases": [{"name": "a", "decision": "deny", "path_prefix": "P", "input": {"a": [1, {"b": null}]}}]}`), true)
	f.Add([]byte("cases: [&a {name: x, decision: deny}, *a]\npolicy: p\n"), false)
	f.Add([]byte("\ufeff{\"cases\": [}"), true)
	f.Fuzz(func(t *testing.T, data []byte, json bool) {
		name := "fuzz_test.yaml"
		if json {
			name = "fuzz_test.json"
		}
		file, err := ParseFile(name, data)
		if err != nil {
			var ps config.Problems
			if !errors.As(err, &ps) || len(ps) == 0 {
				t.Fatalf("error %T %v, want config.Problems", err, err)
			}
			for _, p := range ps {
				var cp config.Problem
				if !errors.As(p, &cp) || cp.File != name || cp.Line < 0 || cp.Column < 0 || cp.Message == "" {
					t.Fatalf("problem %#v", p)
				}
			}
			return
		}
		if len(file.Cases) == 0 || (len(file.Policy) == 0) == (file.Document == "") {
			t.Fatalf("a file without cases or without exactly one document under test: %+v", file)
		}
		names := map[string]bool{}
		for _, c := range file.Cases {
			if c.Name == "" || names[c.Name] || c.Input == nil {
				t.Fatalf("case %+v", c)
			}
			names[c.Name] = true
		}
	})
}
