package script

import (
	"errors"
	"github.com/verdict-policy/verdict/config"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestPolicyLoadPath(t *testing.T) {
	t.Setenv(LoadPathEnv, "")
	tests := []struct {
		name, data string
		want       LoadPath
		dirs       []string
	}{
		{"list", "policy_load_path: [policies, /opt/p]\n",
			LoadPath{Paths: []string{"policies", "/opt/p"}, Line: 1, Column: 19},
			[]string{"/etc/verdict/policies", "/opt/p"}},
		{"colon string", "policy_load_path: \"a:b::/c\"\n",
			LoadPath{Paths: []string{"a", "b", "/c"}, Line: 1, Column: 19},
			[]string{"/etc/verdict/a", "/etc/verdict/b", "/c"}},
		{"mapping", "policy_load_path:\n  paths: [p]\n  budget: 30ms\n  instructions: 5000\n  max_bytes: 4096\n  pool_size: 8\n",
			LoadPath{Paths: []string{"p"}, Budget: 30 * time.Millisecond, Instructions: 5000, MaxBytes: 4096, PoolSize: 8, Line: 2, Column: 3},
			[]string{"/etc/verdict/p"}},
		{"absent", "", LoadPath{}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Parse("/etc/verdict/verdict.yaml", []byte(tt.data))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(LoadPathOf(c), tt.want) {
				t.Errorf("got %+v, want %+v", LoadPathOf(c), tt.want)
			}
			if got := Dirs(c); len(got) != len(tt.dirs) || len(got) > 0 && !reflect.DeepEqual(got, tt.dirs) {
				t.Errorf("dirs = %v, want %v", got, tt.dirs)
			}
		})
	}
}

func TestPolicyDirsFromFileAndEnv(t *testing.T) {
	c, err := config.Parse(filepath.FromSlash("/etc/verdict/verdict.yaml"), []byte("policy_load_path: [policies, /opt/p]\n"))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(LoadPathEnv, "/x:rel")
	if got := Dirs(c); !reflect.DeepEqual(got, []string{"/x", "rel"}) {
		t.Errorf("from the environment: %v", got)
	}
	t.Setenv(LoadPathEnv, "")
	if got := Dirs(c); !reflect.DeepEqual(got, []string{"/etc/verdict/policies", "/opt/p"}) {
		t.Errorf("from the file: %v", got)
	}
}

func TestPolicyLoadPathProblems(t *testing.T) {
	tests := []struct{ name, data, field, want string }{
		{"number", "policy_load_path: 3\n", "policy_load_path", "must be a list of directories"},
		{"empty string", "policy_load_path: \":\"\n", "policy_load_path", "names no directory"},
		{"element", "policy_load_path: [a, 1]\n", "policy_load_path.1", "must be a string"},
		{"blank element", "policy_load_path: [a, \" \"]\n", "policy_load_path.1", "an empty directory name"},
		{"budget", "policy_load_path: {paths: [a], budget: soon}\n", "policy_load_path.budget", "must be a duration"},
		{"budget too long", "policy_load_path: {paths: [a], budget: 2h}\n", "policy_load_path.budget", "at most 1m"},
		{"instructions", "policy_load_path: {paths: [a], instructions: -1}\n", "policy_load_path.instructions", "above 0"},
		{"pool", "policy_load_path: {paths: [a], pool_size: many}\n", "policy_load_path.pool_size", "above 0"},
		{"unknown", "policy_load_path: {paths: [a], budgets: 1s}\n", "policy_load_path.budgets", "unknown field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse("v.yaml", []byte(tt.data))
			var ps config.Problems
			if !errors.As(err, &ps) || len(ps) != 1 {
				t.Fatalf("problems = %v", err)
			}
			var p config.Problem
			if !errors.As(ps[0], &p) || p.Field != tt.field || p.Line != 1 || !strings.Contains(p.Message, tt.want) {
				t.Errorf("problem %+v, want field %s and %q", p, tt.field, tt.want)
			}
		})
	}
}

func TestWatchPathsIncludePolicyFiles(t *testing.T) {
	dir := t.TempDir()
	files := []string{"greeter/0.1/init.lua", "greeter/0.1/apicast-policy.json", "greeter/0.1/vendor/dep.lua", "greeter/0.1/README.md"}
	for _, f := range files {
		p := filepath.Join(dir, "policies", filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv(LoadPathEnv, "")
	c, err := config.Parse(filepath.Join(dir, "verdict.yaml"), []byte("policy_load_path: [policies]\n"))
	if err != nil {
		t.Fatal(err)
	}
	watched := map[string]bool{}
	for _, p := range c.WatchPaths() {
		watched[filepath.ToSlash(p)] = true
	}
	for i, f := range files {
		want := i < 3 // the README is not a policy file
		if got := watched[filepath.ToSlash(filepath.Join(dir, "policies", f))]; got != want {
			t.Errorf("%s watched = %v, want %v", f, got, want)
		}
	}
}
