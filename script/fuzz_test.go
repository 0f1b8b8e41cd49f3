package script

import (
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"
)

// fuzzState returns a state of a trivial policy, to run library code in.
func fuzzState(t testing.TB) *state {
	t.Helper()
	dir := t.TempDir()
	writePolicy(t, dir, "fuzz", "1.0", map[string]string{"init.lua": "return require('apicast.policy').new('fuzz')"})
	f := locate([]string{dir}, "fuzz", "1.0")
	if err := f.load(); err != nil {
		t.Fatal(err)
	}
	p := &Policy{folder: f, opts: Options{}.withDefaults()}
	p.logger = p.opts.Logger
	st, err := p.newState()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.close)
	return st
}

// runChunk runs src with the given string globals under the budget. A Lua
// error is fine, unless it is a failed check (a message starting with
// "check:"); a Go panic or a hang is not.
func runChunk(t *testing.T, st *state, src string, globals map[string]string) {
	proto, err := compile(src, "fuzz")
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range globals {
		st.L.SetGlobal(k, lua.LString(v))
	}
	err = st.protect(st.p.opts.Budget, st.p.opts.Instructions, func() error {
		return st.L.CallByParam(lua.P{Fn: st.L.NewFunctionFromProto(proto), NRet: 0, Protect: true})
	})
	st.broken = false
	if err != nil && strings.Contains(err.Error(), "check:") {
		t.Fatal(err)
	}
}

// FuzzCJSON decodes arbitrary text with cjson; whatever decodes must
// encode, and decode again to something that encodes the same.
func FuzzCJSON(f *testing.F) {
	for _, s := range []string{`{"a": [1, 2, {"b": null}]}`, `[]`, `"\u00e9"`, `1e400`, `{"1": 2, "x": true}`, `[1,,]`, `{`} {
		f.Add(s)
	}
	st := fuzzState(f)
	f.Fuzz(func(t *testing.T, s string) {
		runChunk(t, st, `
local cjson = require('cjson.safe')
local v = cjson.decode(input)
if v ~= nil then
  local e, err = cjson.encode(v)
  if e then
    local again = cjson.encode(cjson.decode(e))
    if again ~= e then error('check: not stable: ' .. e .. ' then ' .. tostring(again)) end
  end
end`, map[string]string{"input": s})
	})
}

// FuzzNgxRe runs ngx.re functions with arbitrary patterns, options,
// subjects and templates: bad ones come back as errors, never panics.
func FuzzNgxRe(f *testing.F) {
	f.Add(`(\d+)-(?<name>\w+)`, "i", "12-ab 34-cd", "$2:${1}:$$:${name}")
	f.Add(`(`, "x", "a", "$9")
	f.Add(`a*`, "ajo", "", "${")
	st := fuzzState(f)
	f.Fuzz(func(t *testing.T, pattern, opts, subject, tmpl string) {
		runChunk(t, st, `
local m = ngx.re.match(subject, pattern, opts)
local from, to = ngx.re.find(subject, pattern, opts)
local s, n, err = ngx.re.gsub(subject, pattern, tmpl, opts)
local s1 = ngx.re.sub(subject, pattern, tmpl, opts)
local it = ngx.re.gmatch(subject, pattern, opts)
if it then for i = 1, 3 do if not it() then break end end end`,
			map[string]string{"pattern": pattern, "opts": opts, "subject": subject, "tmpl": tmpl})
	})
}

// FuzzArgs parses arbitrary query strings the way ngx.req.get_uri_args
// does and writes them back with ngx.encode_args.
func FuzzArgs(f *testing.F) {
	for _, s := range []string{"a=1&b&c=&a=2", "%zz=%&&=x", "k=v+w%20x"} {
		f.Add(s)
	}
	st := fuzzState(f)
	f.Fuzz(func(t *testing.T, q string) {
		runChunk(t, st, `
local args = ngx.decode_args(q)
local back = ngx.encode_args(args)
local again = ngx.encode_args(ngx.decode_args(back))
if again ~= back then error('check: not stable: ' .. back .. ' then ' .. again) end`, map[string]string{"q": q})
	})
}
