package policytest

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/verdict-policy/verdict/script"
)

func write(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for rel, content := range files {
		p := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRun runs specs and cases of a deny policy: passing ones, a case
// with its own chain, a request that must not reach the upstream, and
// failures that are reported with what differed.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{
		"deny/1.0/init.lua": `
local _M = require('apicast.policy').new('deny', '1.0')
function _M.new(config)
  local self = setmetatable({}, { __index = _M })
  self.status = config.status or 403
  return self
end
function _M:access(context)
  if ngx.var.arg_deny then
    ngx.say('denied')
    return ngx.exit(self.status)
  end
end
return _M`,
		"deny/1.0/apicast-policy.json": `{"name": "deny", "summary": "s", "version": "1.0",
  "configuration": {"type": "object", "properties": {"status": {"type": "integer"}}}}`,
		"deny/1.0/spec/deny_spec.lua": `
local deny = require('init')
describe('deny', function()
  it('defaults to 403', function() assert.equal(403, deny.new({}).status) end)
  it('fails on purpose', function() assert.equal(1, 2) end)
end)`,
		"deny/1.0/t/deny.yaml": `
- name: lets through
  request: {path: /ok}
  expect: {status: 200, body: "upstream: GET /ok", upstream: {path: /ok}}
- name: denies before the upstream
  configuration: {status: 451}
  request: {path: "/x?deny=1"}
  expect: {status: 451, body: "denied\n", no_upstream: true}
- name: own chain
  chain: [{name: echo}, {name: self}]
  request: {path: /e}
  expect: {status: 200, no_upstream: true}
- name: wrong on purpose
  request: {path: /ok}
  expect: {status: 201, headers: {X-Missing: "yes"}}
`,
	})
	var out bytes.Buffer
	rep, err := Run(filepath.Join(dir, "deny", "1.0"), script.Options{}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Passed != 4 || rep.Failed != 2 {
		t.Errorf("passed %d, failed %d; want 4 and 2\n%s", rep.Passed, rep.Failed, out.String())
	}
	for _, want := range []string{
		"ok   spec/deny_spec.lua: deny defaults to 403",
		"FAIL spec/deny_spec.lua: deny fails on purpose",
		"expected 1, got 2",
		"ok   t/deny.yaml: denies before the upstream",
		"ok   t/deny.yaml: own chain",
		"FAIL t/deny.yaml: wrong on purpose",
		"status 200, want 201",
		`response header X-Missing = "", want "yes"`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestFoldersAndBadFiles(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{
		"a/1.0/init.lua": "return {}", "a/2.0/init.lua": "return {}", "b/0.1/init.lua": "return {}",
		"bad/1.0/init.lua": "return require('apicast.policy').new('bad')",
		"bad/1.0/t/x.yaml": "- name: x\n  unknown_field: 1\n",
	})
	got, err := Folders(dir)
	if err != nil || len(got) != 4 {
		t.Fatalf("Folders = %v, %v", got, err)
	}
	if got, _ := Folders(filepath.Join(dir, "a")); len(got) != 2 {
		t.Errorf("Folders(a) = %v", got)
	}
	if _, err := Folders(t.TempDir()); err == nil {
		t.Error("an empty directory has folders")
	}
	_, err = Run(filepath.Join(dir, "bad", "1.0"), script.Options{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "unknown_field") {
		t.Errorf("error %v, want one naming unknown_field", err)
	}
}

// TestExamples runs the tests of the example policies shipped in
// examples/lua/policies.
func TestExamples(t *testing.T) {
	var out bytes.Buffer
	rep, err := Run(filepath.Join("..", "..", "examples", "lua", "policies"), script.Options{}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failed != 0 || rep.Passed < 9 {
		t.Errorf("passed %d, failed %d:\n%s", rep.Passed, rep.Failed, out.String())
	}
	if !strings.Contains(out.String(), "# header_auth 1.0") {
		t.Errorf("no folder heading:\n%s", out.String())
	}
}
