package script

import (
	"strings"
	"testing"
	"time"
)

// rewritePolicy is a policy whose rewrite runs body.
func rewritePolicy(body string) map[string]string {
	return map[string]string{"init.lua": `
local policy = require('apicast.policy')
local _M = policy.new('sandbox probe', '1.0')
function _M:rewrite(context)
` + body + `
end
return _M
`}
}

func TestSandboxRefuses(t *testing.T) {
	tests := []struct {
		name, body string
		want       string
	}{
		{"io.open", `io.open('/etc/passwd')`, "io.open is not available to Verdict policies"},
		{"os.execute", `os.execute('id')`, "os.execute is not available to Verdict policies"},
		{"os.getenv", `return os.getenv('HOME')`, "os.getenv is not available"},
		{"require os", `require('os')`, "module 'os' not found: require reaches only the policy's own files and Verdict's shared library"},
		{"require io", `require('io')`, "module 'io' not found"},
		{"require outside", `require('../other/x')`, "module '../other/x' is outside the policy's folder"},
		{"require absolute", `require('/etc/passwd')`, "is outside the policy's folder"},
		{"load", `load('return 1')`, "load is not available to Verdict policies"},
		{"loadstring", `loadstring('return 1')`, "loadstring is not available"},
		{"dofile", `dofile('/etc/passwd')`, "dofile is not available"},
		{"debug", `debug.getinfo(1)`, "debug.getinfo is not available to Verdict policies"},
		{"setfenv", `setfenv(1, {})`, "setfenv is not available"},
		{"coroutine", `coroutine.create(print)`, "coroutine.create is not available"},
		{"string.rep huge", `local s = string.rep('x', 2^40)`, "string.rep: a result of 1099511627776 bytes is over the limit"},
		{"method rep huge", `local s = ('abc'):rep(1e9)`, "is over the limit"},
		{"format width", `local s = string.format('%999999999d', 1)`, "width or precision too long"},
		{"string.dump", `string.dump(print)`, "attempt to call a non-function object"},
		{"ngx outside subset", `ngx.shared.cache:get('x')`, "ngx.shared is not available to Verdict policies"},
		{"ngx.req outside subset", `ngx.req.socket()`, "ngx.req.socket is not available to Verdict policies"},
		{"ngx.var outside subset", `local x = ngx.var.upstream_addr`, "ngx.var.upstream_addr is not available"},
		{"infinite loop", `while true do end`, "over its budget of 100000 instructions"},
		{"loop in pcall", `pcall(function() while true do end end) while true do end`, "over its budget of 100000 instructions"},
		{"deep recursion", `local function f() return 1 + f() end f()`, "stack overflow"},
		{"doubling string", `local s = 'x' while true do s = s .. s end`, "over its budget"},
		{"error", `error('policy says no')`, "policy says no"},
	}
	dir := t.TempDir()
	for i, tt := range tests {
		writePolicy(t, dir, "probe"+string(rune('a'+i)), "1.0", rewritePolicy(tt.body))
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := buildChain(t, []string{dir}, Options{Budget: 100 * time.Millisecond, Instructions: 100000}, entry("probe"+string(rune('a'+i)), "1.0", ""))
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			ctx := request(t, c, nil, "GET", "/", nil)
			if time.Since(start) > 2*time.Second {
				t.Errorf("took %s", time.Since(start))
			}
			err = ctx.Failed()
			if err == nil {
				t.Fatal("the request did not fail")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q lacks %q", err, tt.want)
			}
			if ctx.Response.Status != 503 {
				t.Errorf("status %d, want 503 (fail closed)", ctx.Response.Status)
			}
			// The policy keeps serving: a second request fails the same
			// way rather than hanging or crashing.
			if err := request(t, c, nil, "GET", "/", nil).Failed(); err == nil {
				t.Error("second request did not fail")
			}
		})
	}
}

func TestSandboxAllows(t *testing.T) {
	dir := t.TempDir()
	writePolicy(t, dir, "allowed", "1.0", rewritePolicy(`
  assert(type(os.time()) == 'number')
  assert(type(os.clock()) == 'number')
  assert(os.date('!%Y', 0) == '1970')
  assert(string.format('%5.2f', 1.5) == ' 1.50')
  assert(('ab'):rep(3) == 'ababab')
  assert(math.floor(2.5) == 2)
  assert(table.concat({'a', 'b'}, ',') == 'a,b')
  local ok, err = pcall(error, 'caught')
  assert(not ok and string.find(err, 'caught'))
  local ok2, msg = xpcall(function() error({code = 1}) end, function(e) return e.code end)
  assert(not ok2 and msg == 1)
  context.ok = true
`))
	c, err := buildChain(t, []string{dir}, Options{}, entry("allowed", "1.0", ""))
	if err != nil {
		t.Fatal(err)
	}
	ctx := request(t, c, nil, "GET", "/", nil)
	if ctx.Failed() != nil {
		t.Fatal(ctx.Failed())
	}
	if v, _ := ctx.Get("ok"); v != true {
		t.Errorf("context.ok = %v", v)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	writePolicy(t, dir, "syntax", "1.0", map[string]string{"init.lua": "return {"})
	writePolicy(t, dir, "notmodule", "1.0", map[string]string{"init.lua": "return 42"})
	writePolicy(t, dir, "nonew", "1.0", map[string]string{"init.lua": "return {}"})
	writePolicy(t, dir, "loops", "1.0", map[string]string{"init.lua": "while true do end"})
	writePolicy(t, dir, "badnew", "1.0", map[string]string{"init.lua": `
local _M = require('apicast.policy').new('badnew')
function _M.new(config) error('option_a is required') end
return _M`})
	writePolicy(t, dir, "wrongversion", "1.0", map[string]string{"init.lua": "return {}",
		ManifestFile: `{"name": "x", "summary": "s", "version": "2.0", "configuration": {}}`})
	writePolicy(t, dir, "badmanifest", "1.0", map[string]string{"init.lua": "return {}", ManifestFile: `{"name": `})
	writePolicy(t, dir, "schema", "1.0", map[string]string{
		"init.lua":   "local _M = require('apicast.policy').new('schema') return _M",
		ManifestFile: `{"name": "schema", "summary": "s", "version": "1.0", "configuration": {"type": "object", "properties": {"limit": {"type": "integer"}}, "required": ["limit"]}}`})
	writePolicy(t, dir, "requireloop", "1.0", map[string]string{"init.lua": "return require('a')", "a.lua": "return require('b')", "b.lua": "return require('a')"})
	writePolicy(t, dir, "exportfn", "1.0", map[string]string{"init.lua": `
local _M = require('apicast.policy').new('exportfn')
function _M:export() return { f = function() end } end
return _M`})

	tests := []struct {
		name, version, config string
		want                  string
	}{
		{"syntax", "1.0", "", "syntax/1.0/init.lua"},
		{"notmodule", "1.0", "", "init.lua returned number, not a policy module"},
		{"nonew", "1.0", "", "the policy module has no new function"},
		{"loops", "1.0", "", "over its budget of 1000000 instructions"},
		{"badnew", "1.0", "", "new: "},
		{"wrongversion", "1.0", "", `the manifest's version is "2.0" but the folder's is "1.0"`},
		{"badmanifest", "1.0", "", "manifest"},
		{"schema", "1.0", `{"limit": "ten"}`, "limit: "},
		{"schema", "1.0", `{}`, "limit"},
		{"requireloop", "1.0", "", "requires itself"},
		{"exportfn", "1.0", "", "export: f: a function cannot be shared"},
		{"absent", "1.0", "", `unknown policy "absent" version "1.0"`},
		{"../escape", "1.0", "", `unknown policy`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := buildChain(t, []string{dir}, Options{Budget: 100 * time.Millisecond, Instructions: 100000}, entry(tt.name, tt.version, tt.config))
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q lacks %q", err, tt.want)
			}
		})
	}
}

func TestRequireConfined(t *testing.T) {
	dir := t.TempDir()
	other := writePolicy(t, dir, "other", "1.0", map[string]string{"init.lua": "return {}", "x.lua": "return 'secret'"})
	_ = other
	writePolicy(t, dir, "mine", "1.0", map[string]string{
		"init.lua":              "return require('mine')",
		"mine.lua":              "local dep = require('vendor/dependency')\nlocal dot = require('vendor.dependency')\nlocal _M = require('apicast.policy').new('mine')\nfunction _M:rewrite(context) context.dep = dep.value; context.dot = dot.value end\nreturn _M",
		"vendor/dependency.lua": "return { value = 'vendored' }",
	})
	c, err := buildChain(t, []string{dir}, Options{}, entry("mine", "1.0", ""))
	if err != nil {
		t.Fatal(err)
	}
	ctx := request(t, c, nil, "GET", "/", nil)
	if ctx.Failed() != nil {
		t.Fatal(ctx.Failed())
	}
	if v, _ := ctx.Get("dep"); v != "vendored" {
		t.Errorf("dep = %v", v)
	}
	if v, _ := ctx.Get("dot"); v != "vendored" {
		t.Errorf("require('vendor.dependency') gave %v", v)
	}
}

func TestLoadPathOrder(t *testing.T) {
	first, second := t.TempDir(), t.TempDir()
	writePolicy(t, first, "dup", "1.0", rewritePolicy(`context.from = 'first'`))
	writePolicy(t, second, "dup", "1.0", rewritePolicy(`context.from = 'second'`))
	writePolicy(t, second, "only2", "1.0", rewritePolicy(`context.from = 'second'`))
	for _, tt := range []struct{ name, want string }{{"dup", "first"}, {"only2", "second"}} {
		c, err := buildChain(t, []string{first, second}, Options{}, entry(tt.name, "1.0", ""))
		if err != nil {
			t.Fatal(err)
		}
		if v, _ := request(t, c, nil, "GET", "/", nil).Get("from"); v != tt.want {
			t.Errorf("%s came from %v, want %s", tt.name, v, tt.want)
		}
	}
	if Find([]string{first, second}, "only2", "1.0") == "" || Find([]string{first}, "only2", "1.0") != "" {
		t.Error("Find disagrees with the load path")
	}
}

// TestRequireErrorThenRetry: a module that fails to load is not left
// half loaded; requiring it again runs it again.
func TestRequireErrorThenRetry(t *testing.T) {
	dir := t.TempDir()
	writePolicy(t, dir, "retry", "1.0", map[string]string{
		"init.lua": `
local _M = require('apicast.policy').new('retry')
function _M:rewrite(context)
  local ok, err = pcall(require, 'flaky')
  context.first = tostring(ok) .. ':' .. tostring(err):match('not yet') 
  ready = true
  context.second = require('flaky')
end
return _M`,
		"flaky.lua": "if not ready then error('not yet') end\nreturn 'loaded'",
	})
	c, err := buildChain(t, []string{dir}, Options{}, entry("retry", "1.0", ""))
	if err != nil {
		t.Fatal(err)
	}
	ctx := request(t, c, nil, "GET", "/", nil)
	if ctx.Failed() != nil {
		t.Fatal(ctx.Failed())
	}
	if a, _ := ctx.Get("first"); a != "false:not yet" {
		t.Errorf("first = %v", a)
	}
	if b, _ := ctx.Get("second"); b != "loaded" {
		t.Errorf("second = %v", b)
	}
}
