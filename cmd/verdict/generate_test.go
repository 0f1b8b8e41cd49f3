package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGenerateThenTestPolicy generates a policy and runs its generated
// tests, which must pass as they are; then breaks it and sees them fail.
func TestGenerateThenTestPolicy(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := runInProcess("", "generate", "policy", "greeter", "--dir", dir, "--summary", "Says hello in a header.")
	if code != exitOK {
		t.Fatalf("generate: exit %d\n%s%s", code, out, errOut)
	}
	root := filepath.Join(dir, "greeter", "0.1")
	for _, f := range []string{"init.lua", "greeter.lua", "apicast-policy.json", "README.md", "spec/greeter_spec.lua", "t/greeter.yaml"} {
		if !strings.Contains(out, "create "+filepath.Join(root, filepath.FromSlash(f))) {
			t.Errorf("generate did not report creating %s:\n%s", f, out)
		}
	}
	manifest, err := os.ReadFile(filepath.Join(root, "apicast-policy.json"))
	if err != nil || !strings.Contains(string(manifest), `"summary": "Says hello in a header."`) {
		t.Errorf("manifest: %s %v", manifest, err)
	}

	code, out, errOut = runInProcess("", "test-policy", root)
	if code != exitOK || !strings.Contains(out, "6 passed, 0 failed") {
		t.Fatalf("test-policy on the generated policy: exit %d\n%s%s", code, out, errOut)
	}
	// The load path directory finds the same folder.
	if code, out, _ = runInProcess("", "test-policy", dir); code != exitOK || !strings.Contains(out, "6 passed") {
		t.Fatalf("test-policy on the load path: exit %d\n%s", code, out)
	}

	// Generating again keeps the user's files.
	code, out, _ = runInProcess("", "generate", "policy", "greeter", "--dir", dir)
	if code != exitOK || !strings.Contains(out, "exists "+filepath.Join(root, "greeter.lua")) {
		t.Errorf("second generate: exit %d\n%s", code, out)
	}

	// A broken policy fails its tests, each failure named.
	src := filepath.Join(root, "greeter.lua")
	b, _ := os.ReadFile(src)
	if err := os.WriteFile(src, []byte(strings.Replace(string(b), "config.value or 'greeter'", "config.value or 'bye'", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ = runInProcess("", "test-policy", root)
	if code != exitProblems || !strings.Contains(out, "FAIL spec/greeter_spec.lua: greeter has defaults without configuration") ||
		!strings.Contains(out, `FAIL t/greeter.yaml: without configuration the defaults apply`) ||
		!strings.Contains(out, `response header X-Custom-Policy = "bye", want "greeter"`) {
		t.Errorf("test-policy on a broken policy: exit %d\n%s", code, out)
	}
}

func TestGenerateAndTestPolicyUsage(t *testing.T) {
	empty := t.TempDir()
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"no kind", []string{"generate"}, exitUsage, "usage: verdict generate policy NAME"},
		{"unknown kind", []string{"generate", "service"}, exitUsage, "usage: verdict generate policy NAME"},
		{"no name", []string{"generate", "policy"}, exitUsage, "the policy NAME is missing"},
		{"bad name", []string{"generate", "policy", "Bad-Name", "--dir", empty}, exitUsage, `bad policy name "Bad-Name"`},
		{"bad version", []string{"generate", "policy", "ok", "--dir", empty, "--version", "../x"}, exitUsage, `bad version "../x"`},
		{"builtin version", []string{"generate", "policy", "ok", "--dir", empty, "--version", "builtin"}, exitUsage, "builtin is reserved"},
		{"no dir", []string{"test-policy"}, exitUsage, "the policy DIR is missing"},
		{"empty dir", []string{"test-policy", empty}, exitUsage, "holds no policy folder"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runInProcess("", tt.args...)
			if code != tt.code || !strings.Contains(errOut, tt.stderr) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, errOut, tt.code, tt.stderr)
			}
		})
	}
}
