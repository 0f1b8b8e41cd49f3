package config

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/verdict-policy/verdict/pdl"
)

// The tests of this package register a vocabulary and a section of their
// own, as a front door would from its init function.
func init() {
	RegisterVocabulary("testvocab", func() pdl.Options {
		return pdl.Options{Known: func(name string) bool { return name == "msgType" }}
	})
	RegisterSection(SectionInfo{
		Key: "testsection",
		Decode: func(d *Decoder, n *Node, field string) any {
			s := &testSection{Line: n.Line}
			d.Fields(n, field, map[string]func(*Node, string){
				"name": func(v *Node, f string) { s.Name, _ = d.Str(v, f) },
				"file": func(v *Node, f string) { s.File, _ = d.Str(v, f) },
			})
			return s
		},
		Validate: func(d *Decoder, c *Config, v any) {
			s := v.(*testSection)
			if s.Name != "" && !hasPolicy(c, s.Name) {
				d.Errorf(nil, "testsection.name", "no document is named %q", s.Name)
			}
		},
		WatchPaths: func(c *Config, v any) []string {
			if v == nil {
				return nil
			}
			if f := v.(*testSection).File; f != "" {
				return []string{c.DataPath(f)}
			}
			return nil
		},
	})
}

type testSection struct {
	Name, File string
	Line       int
}

func hasPolicy(c *Config, name string) bool {
	for _, p := range c.Policies {
		if p.Name == name {
			return true
		}
	}
	return false
}

func TestSectionDecodedByItsOwner(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "verdict.yaml", "policies: {a: a.json}\ntestsection:\n  name: a\n  file: table.csv\n")
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := Section[*testSection](cfg, "testsection")
	if !ok || *got != (testSection{Name: "a", File: "table.csv", Line: 3}) {
		t.Errorf("Section = %+v, %v", got, ok)
	}
	if _, ok := Section[string](cfg, "testsection"); ok {
		t.Error("Section of the wrong type succeeded")
	}
	want := []string{path, filepath.Join(dir, "a.json"), filepath.Join(dir, "table.csv")}
	if paths := cfg.WatchPaths(); !reflect.DeepEqual(paths, want) {
		t.Errorf("WatchPaths = %v, want %v", paths, want)
	}

	cfg, err = Parse("v.yaml", []byte("listen: {policy: \":0\", admin: \":1\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := Section[*testSection](cfg, "testsection"); ok || v != nil {
		t.Errorf("an absent section: %+v, %v", v, ok)
	}
	cfg.SetSection("testsection", &testSection{Name: "set"})
	if v, _ := Section[*testSection](cfg, "testsection"); v == nil || v.Name != "set" {
		t.Errorf("SetSection: %+v", v)
	}
	cfg.SetSection("testsection", nil)
	if _, ok := Section[*testSection](cfg, "testsection"); ok {
		t.Error("SetSection(nil) kept the section")
	}
}

func TestSectionProblems(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"owner's problem", "testsection: {colour: red}\n", "v.yaml:1:15: testsection.colour: unknown field"},
		{"owner's validation", "testsection: {name: nothere}\n", `v.yaml: testsection.name: no document is named "nothere"`},
		{"unknown key", "pexipp: {}\n", "v.yaml:1:1: pexipp: unknown field"},
		{"key given twice", "testsection: {}\ntestsection: {}\n", "v.yaml:2:1: testsection: given twice (first on line 1)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("v.yaml", []byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestRegisterSectionPanics(t *testing.T) {
	decode := func(*Decoder, *Node, string) any { return nil }
	tests := []struct {
		name string
		s    SectionInfo
	}{
		{"twice", SectionInfo{Key: "testsection", Decode: decode}},
		{"a frame key", SectionInfo{Key: "listen", Decode: decode}},
		{"no key", SectionInfo{Decode: decode}},
		{"no decode", SectionInfo{Key: "other"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("RegisterSection did not panic")
				}
			}()
			RegisterSection(tt.s)
		})
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("RegisterVocabulary twice did not panic")
			}
		}()
		RegisterVocabulary("testvocab", func() pdl.Options { return pdl.Options{} })
	}()
	if keys := SectionKeys(); !reflect.DeepEqual(keys, []string{"testsection"}) {
		t.Errorf("SectionKeys = %v", keys)
	}
}

// The built-in file is written for the whole program: in a program that
// leaves out a front door, its section is skipped, while a user's file
// naming that section is refused.
func TestDefaultSkipsSectionsThisProgramLacks(t *testing.T) {
	cfg, err := Default()
	if err != nil {
		t.Fatalf("Default: %v", err)
	}
	if len(cfg.sections) != 0 {
		t.Errorf("sections of the built-in file = %v, want none (no front door is linked)", cfg.sections)
	}
	if _, err := Parse("v.yaml", []byte("messages: {}\n")); err == nil || !strings.Contains(err.Error(), "v.yaml:1:1: messages: unknown field") {
		t.Errorf("a user's file with an unregistered section: %v", err)
	}
}
