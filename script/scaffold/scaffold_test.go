package scaffold

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPolicyOptions(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string // error substring; empty for success
	}{
		{"defaults", Options{Name: "my_policy"}, ""},
		{"version and summary", Options{Name: "p2", Version: "1.2.3", Summary: "Adds a header."}, ""},
		{"upper case", Options{Name: "MyPolicy"}, "bad policy name"},
		{"dash", Options{Name: "my-policy"}, "bad policy name"},
		{"leading digit", Options{Name: "1p"}, "bad policy name"},
		{"empty", Options{}, "bad policy name"},
		{"path in version", Options{Name: "p", Version: "../1"}, "bad version"},
		{"builtin", Options{Name: "p", Version: "builtin"}, "builtin is reserved"},
		{"long summary", Options{Name: "p", Summary: strings.Repeat("x", 76)}, "at most 75"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Dir = t.TempDir()
			root, files, err := Policy(tt.opts)
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("error %v, want %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			version := tt.opts.Version
			if version == "" {
				version = DefaultVersion
			}
			if root != filepath.Join(tt.opts.Dir, tt.opts.Name, version) {
				t.Errorf("root %s", root)
			}
			if len(files) != 6 {
				t.Errorf("%d files: %v", len(files), files)
			}
			var m map[string]any
			b, _ := os.ReadFile(filepath.Join(root, "apicast-policy.json"))
			if err := json.Unmarshal(b, &m); err != nil || m["version"] != version || m["name"] != tt.opts.Name {
				t.Errorf("manifest %s: %v", b, err)
			}
			entry, _ := os.ReadFile(filepath.Join(root, "init.lua"))
			if string(entry) != "return require('"+tt.opts.Name+"')\n" {
				t.Errorf("init.lua = %q", entry)
			}
		})
	}
}

func TestPolicyKeepsOrForces(t *testing.T) {
	dir := t.TempDir()
	root, _, err := Policy(Options{Name: "p", Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	mine := filepath.Join(root, "p.lua")
	if err := os.WriteFile(mine, []byte("-- mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, files, err := Policy(Options{Name: "p", Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if f.Written {
			t.Errorf("%s was overwritten", f.Path)
		}
	}
	if b, _ := os.ReadFile(mine); string(b) != "-- mine" {
		t.Errorf("p.lua = %q", b)
	}
	if _, _, err := Policy(Options{Name: "p", Dir: dir, Force: true}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(mine); string(b) == "-- mine" {
		t.Error("--force kept p.lua")
	}
}
