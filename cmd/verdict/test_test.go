package main

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/verdict-policy/verdict/pdl/pdltest"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// shopTests holds the test files of a small document; two of their cases
// fail on purpose.
var shopTests = filepath.Join("testdata", "test", "shop")

// golden compares got with the golden file name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s:\n--- got\n%s\n--- want\n%s", p, got, want)
	}
}

func TestTestCommand(t *testing.T) {
	empty := t.TempDir()
	tests := []struct {
		name      string
		args      []string
		code      int
		golden    string // the file standard output must equal
		stdoutHas []string
		stderrHas []string
	}{
		{"text", []string{"test", shopTests}, 1, "test_shop.txt", nil, nil},
		{"explain", []string{"test", "-v", shopTests}, 1, "test_shop_explain.txt", nil, nil},
		{"json with coverage", []string{"test", "--format", "json", "--coverage", shopTests}, 1, "test_shop.json", nil, nil},
		{"json with a trace", []string{"test", shopTests, "--format=json", "--explain", "--run", "stranger"}, 1, "test_shop_stranger.json", nil, nil},
		{"some cases, their coverage", []string{"test", shopTests, "--run", "admin|report", "--coverage"}, 0, "test_shop_run_coverage.txt", nil, nil},
		{"one file", []string{"test", filepath.Join(shopTests, "reports_test.json")}, 0, "", []string{"2 passed, 0 failed in 1 file\n"}, nil},
		{"paths after --", []string{"test", "--run", "report", "--", filepath.Join(shopTests, "reports_test.json")}, 0, "",
			[]string{"2 passed, 0 failed in 1 file\n"}, nil},
		{"no case matches --run", []string{"test", shopTests, "--run", "^nothing$"}, 0, "",
			[]string{"0 passed, 0 failed, 6 skipped in 2 files\nno case matched --run\n"}, nil},

		{"a bad test file", []string{"test", filepath.Join("testdata", "test", "bad")}, 2, "", nil, []string{
			filepath.Join("testdata", "test", "bad", "bad_test.yaml") + ":3:5: cases[0].decision: every case needs the decision it wants",
			filepath.Join("testdata", "test", "bad", "bad_test.yaml") + `:6:15: cases[1].decision: unknown decision "allow"`}},
		{"no test file", []string{"test", empty}, 2, "", nil, []string{"verdict test: no test file found (*_test.yaml, *_test.yml, *_test.json)"}},
		{"a missing path", []string{"test", filepath.Join(empty, "nowhere")}, 2, "", nil, []string{"nowhere"}},
		{"a bad --run", []string{"test", "--run", "(", shopTests}, 2, "", nil, []string{"verdict test: --run: error parsing regexp"}},
		{"a bad --format", []string{"test", "--format", "xml", shopTests}, 2, "", nil, []string{`--format must be text or json, not "xml"`}},
		{"an unknown flag", []string{"test", "--colour", shopTests}, 2, "", nil, []string{"-colour", "usage: verdict test"}},
		{"help", []string{"test", "-h"}, 0, "", nil, []string{"usage: verdict test", "-coverage", "-run"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runInProcess("", tt.args...)
			if code != tt.code {
				t.Errorf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, stdout, stderr)
			}
			if tt.golden != "" {
				golden(t, tt.golden, stdout)
			}
			for _, want := range tt.stdoutHas {
				if !strings.Contains(stdout, want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout)
				}
			}
			for _, want := range tt.stderrHas {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
			if len(tt.stderrHas) == 0 && stderr != "" {
				t.Errorf("stderr: %s", stderr)
			}
		})
	}
}

// TestExamples runs the test files of the bundled examples, so that a
// change to an example policy that breaks its cases fails here.
func TestExamples(t *testing.T) {
	examples := filepath.Join("..", "..", "examples")
	code, stdout, stderr := runInProcess("", "test", "--coverage", "--format", "json", examples)
	if code != 0 {
		t.Fatalf("verdict test %s: exit %d\n%s%s", examples, code, stdout, stderr)
	}
	var rep pdltest.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, f := range rep.Files {
		rel, err := filepath.Rel(examples, f)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, filepath.ToSlash(rel))
	}
	want := []string{"authz/authzen_test.yaml", "authz/proxy_test.yaml", "pexip/demo_test.yaml", "pexip/policies_test.yaml",
		"rethink/pcp/policies_test.json", "rethink/policies_test.yaml"}
	if !reflect.DeepEqual(files, want) {
		t.Errorf("test files %q, want %q", files, want)
	}
	if rep.Failed != 0 || rep.Passed == 0 || rep.Coverage == nil {
		t.Fatalf("passed %d, failed %d", rep.Passed, rep.Failed)
	}
	for _, d := range rep.Coverage.Documents {
		for _, u := range d.Uncovered {
			t.Logf("%s:%d: rule %s: no case fires it (%s)", u.File, u.Line, u.ID, u.Reason)
		}
	}
	t.Logf("%d cases passed; %d of %d rules fired (%.1f%%)", rep.Passed, rep.Coverage.Covered, rep.Coverage.Rules, rep.Coverage.Percent)
}
