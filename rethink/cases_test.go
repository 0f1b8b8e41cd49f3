package rethink

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/verdict-policy/verdict/pdl"
)

// caseFile is one file of the message conformance corpus: a document, the
// node's configuration, and messages decided in order by one enforcer, so
// that state carries from one to the next.
type caseFile struct {
	Config struct {
		Domain            string `yaml:"domain"`
		DefaultBehavior   bool   `yaml:"defaultBehavior"`
		CompatibleReply   bool   `yaml:"compatibleReply"`
		StrictObligations bool   `yaml:"strictObligations"`
	} `yaml:"config"`
	Policies yaml.Node     `yaml:"policies"`
	Cases    []messageCase `yaml:"cases"`
}

type messageCase struct {
	Name       string         `yaml:"name"`
	Advance    string         `yaml:"advance"` // a duration to move the clock first
	Direction  string         `yaml:"direction"`
	Attributes map[string]any `yaml:"attributes"`
	Message    any            `yaml:"message"`
	Want       struct {
		Decision    string `yaml:"decision"`
		Forward     bool   `yaml:"forward"`
		Obligations any    `yaml:"obligations"`
		Advice      any    `yaml:"advice"`
		Path        string `yaml:"path"`
		Message     any    `yaml:"message"`
		Reply       any    `yaml:"reply"`
		Error       string `yaml:"error"` // a substring of the answer's error
	} `yaml:"want"`
}

// toJSON turns a value decoded from YAML into its JSON text.
func toJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("encode %v: %v", v, err)
	}
	return b
}

// canonical re-encodes JSON so that two texts compare equal when their
// values do.
func canonical(t *testing.T, b []byte) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return jsonText(v)
}

func TestMessageCases(t *testing.T) {
	files, err := filepath.Glob("testdata/cases/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no case files: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".yaml"), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var cf caseFile
			dec := yaml.NewDecoder(strings.NewReader(string(data)))
			dec.KnownFields(true)
			if err := dec.Decode(&cf); err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			// The policies go back to YAML text, which keeps the order of
			// obligations that a map would lose.
			src, err := yaml.Marshal(&cf.Policies)
			if err != nil {
				t.Fatal(err)
			}
			doc, err := pdl.Compile(Options(), pdl.Source{Name: file, Data: src})
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			c := newClock()
			e, err := New(doc, Config{
				Domain: cf.Config.Domain, DomainRegistry: registry,
				DefaultBehavior: cf.Config.DefaultBehavior, CompatibleReply: cf.Config.CompatibleReply,
				StrictObligations: cf.Config.StrictObligations,
				Now:               c.Now, State: NewMemoryState(0, c.Now),
			})
			if err != nil {
				t.Fatal(err)
			}
			for i, tc := range cf.Cases {
				if tc.Advance != "" {
					d, err := time.ParseDuration(tc.Advance)
					if err != nil {
						t.Fatalf("case %d: advance: %v", i, err)
					}
					c.Advance(d)
				}
				runCase(t, e, i, tc)
			}
		})
	}
}

func runCase(t *testing.T, e *Enforcer, i int, tc messageCase) {
	t.Helper()
	m, err := ParseMessage(toJSON(t, tc.Message))
	if err != nil {
		t.Fatalf("case %d (%s): message: %v", i, tc.Name, err)
	}
	dir, err := ParseDirection(tc.Direction)
	if err != nil {
		t.Fatalf("case %d (%s): %v", i, tc.Name, err)
	}
	attrs, err := overrides(tc.Attributes)
	if err != nil {
		t.Fatalf("case %d (%s): %v", i, tc.Name, err)
	}
	got := NewAnswer(e.DecideWith(context.Background(), m, dir, attrs))
	where := tc.Name
	if got.Decision != tc.Want.Decision {
		t.Errorf("%s: decision %s, want %s (error %q)", where, got.Decision, tc.Want.Decision, got.Error)
	}
	if got.Forward != tc.Want.Forward {
		t.Errorf("%s: forward %v, want %v", where, got.Forward, tc.Want.Forward)
	}
	if tc.Want.Path != "" && got.Path != tc.Want.Path {
		t.Errorf("%s: path %q, want %q", where, got.Path, tc.Want.Path)
	}
	if !strings.Contains(got.Error, tc.Want.Error) || (tc.Want.Error == "" && got.Error != "" && got.Decision != "invalid") {
		t.Errorf("%s: error %q, want one containing %q", where, got.Error, tc.Want.Error)
	}
	compare := func(what string, gotV, wantV any) {
		if wantV == nil {
			wantV = []any{}
		}
		if g, w := canonical(t, toJSON(t, gotV)), canonical(t, toJSON(t, wantV)); g != w {
			t.Errorf("%s: %s\n got  %s\n want %s", where, what, g, w)
		}
	}
	compare("obligations", got.Obligations, tc.Want.Obligations)
	compare("advice", got.Advice, tc.Want.Advice)
	for _, part := range []struct {
		what      string
		got, want any
	}{{"message", got.Message, tc.Want.Message}, {"reply", got.Reply, tc.Want.Reply}} {
		g, w := canonical(t, toJSON(t, part.got)), canonical(t, toJSON(t, part.want))
		if g != w {
			t.Errorf("%s: %s\n got  %s\n want %s", where, part.what, g, w)
		}
	}
}
