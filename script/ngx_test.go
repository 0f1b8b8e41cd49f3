package script

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/verdict-policy/verdict/chain"
)

// phasePolicy is a policy acting in the given phases with the given bodies.
func phasePolicy(phases map[string]string) map[string]string {
	var b strings.Builder
	b.WriteString("local _M = require('apicast.policy').new('probe', '1.0')\n")
	for ph, body := range phases {
		fmt.Fprintf(&b, "function _M:%s(context)\n%s\nend\n", ph, body)
	}
	b.WriteString("return _M\n")
	return map[string]string{"init.lua": b.String()}
}

func runPolicy(t *testing.T, phases map[string]string, method, target string, prepare func(*chain.Context)) *chain.Context {
	t.Helper()
	dir := t.TempDir()
	writePolicy(t, dir, "probe", "1.0", phasePolicy(phases))
	c, err := buildChain(t, []string{dir}, Options{}, entry("probe", "1.0", ""))
	if err != nil {
		t.Fatal(err)
	}
	return request(t, c, nil, method, target, prepare)
}

func TestNgxRequest(t *testing.T) {
	ctx := runPolicy(t, map[string]string{"rewrite": `
  local v = ngx.var
  context.uri = v.uri
  context.request_uri = v.request_uri
  context.host = v.host
  context.args = v.args
  context.method = v.request_method
  context.scheme = v.scheme
  context.remote_addr = v.remote_addr
  context.header = v.http_x_custom_thing
  context.arg_a = v.arg_a
  context.missing_arg = v.arg_zzz == nil
  local h = ngx.req.get_headers()
  context.h1 = h['X-Custom-Thing']
  context.h2 = h.x_custom_thing
  context.multi = h['x-multi']
  context.get_method = ngx.req.get_method()
  local args = ngx.req.get_uri_args()
  context.q_a = args.a
  context.q_flag = args.flag
  context.q_list = args.l
  ngx.req.set_header('X-Added', 'yes')
  ngx.req.clear_header('X-Remove-Me')
  ngx.req.set_uri('/rewritten')
  ngx.req.set_uri_args({ b = '2', c = {'x', 'y'} })
`}, "GET", "http://API.example.com:8080/p/a%20th?a=1%202&flag&l=1&l=2", func(ctx *chain.Context) {
		ctx.Request.Header.Set("X-Custom-Thing", "custom")
		ctx.Request.Header.Add("X-Multi", "one")
		ctx.Request.Header.Add("X-Multi", "two")
		ctx.Request.Header.Set("X-Remove-Me", "bye")
	})
	if ctx.Failed() != nil {
		t.Fatal(ctx.Failed())
	}
	want := map[string]any{
		"uri": "/p/a th", "request_uri": "/p/a%20th?a=1%202&flag&l=1&l=2", "host": "api.example.com",
		"args": "a=1%202&flag&l=1&l=2", "method": "GET", "scheme": "http", "remote_addr": "192.0.2.7",
		"header": "custom", "arg_a": "1%202", "missing_arg": true, "h1": "custom", "h2": "custom",
		"get_method": "GET", "q_a": "1 2", "q_flag": true,
	}
	for k, w := range want {
		if v, _ := ctx.Get(k); v != w {
			t.Errorf("%s = %#v, want %#v", k, v, w)
		}
	}
	if v, _ := ctx.Get("multi"); fmt.Sprint(v) != "[one two]" {
		t.Errorf("multi = %#v", v)
	}
	if v, _ := ctx.Get("q_list"); fmt.Sprint(v) != "[1 2]" {
		t.Errorf("q_list = %#v", v)
	}
	r := ctx.Request
	if r.Header.Get("X-Added") != "yes" || r.Header.Get("X-Remove-Me") != "" {
		t.Errorf("headers = %v", r.Header)
	}
	if r.URL.Path != "/rewritten" || r.URL.RawQuery != "b=2&c=x&c=y" {
		t.Errorf("url = %s", r.URL)
	}
}

func TestNgxResponse(t *testing.T) {
	tests := []struct {
		name       string
		phases     map[string]string
		status     int
		body       string
		header     http.Header
		wantPhases string
	}{
		{
			name:   "exit with a status and a printed body",
			phases: map[string]string{"access": "ngx.status = 403\nngx.say('IP address not allowed')\nreturn ngx.exit(403)"},
			status: 403, body: "IP address not allowed\n",
		},
		{
			name:   "exit without a body",
			phases: map[string]string{"rewrite": "ngx.exit(ngx.HTTP_UNAUTHORIZED)\nerror('not reached')"},
			status: 401,
		},
		{
			name:   "print in content produces the response",
			phases: map[string]string{"content": "ngx.header['Content-Type'] = 'application/json'\nngx.print('{\"ok\":', true, '}')"},
			status: 200, body: `{"ok":true}`, header: http.Header{"Content-Type": {"application/json"}},
		},
		{
			name: "header_filter changes the response",
			phases: map[string]string{"header_filter": `
ngx.header['X-Served-By'] = 'lua'
ngx.header.x_list = {'a', 'b'}
ngx.header['Content-Type'] = nil
if ngx.status == 200 then ngx.status = 202 end`},
			status: 202, header: http.Header{"X-Served-By": {"lua"}, "X-List": {"a", "b"}},
		},
		{
			name:   "exit(ngx.OK) ends the phase only",
			phases: map[string]string{"rewrite": "ngx.exit(ngx.OK)", "access": "context.access_ran = true"},
			status: 200,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := runPolicy(t, tt.phases, "GET", "/", nil)
			if ctx.Failed() != nil {
				t.Fatal(ctx.Failed())
			}
			if ctx.Response.Status != tt.status {
				t.Errorf("status %d, want %d", ctx.Response.Status, tt.status)
			}
			if string(ctx.Response.Body) != tt.body {
				t.Errorf("body %q, want %q", ctx.Response.Body, tt.body)
			}
			for k, vs := range tt.header {
				if got := ctx.Response.Header.Values(k); fmt.Sprint(got) != fmt.Sprint(vs) {
					t.Errorf("header %s = %v, want %v", k, got, vs)
				}
			}
		})
	}
}

func TestNgxExitPhaseContinues(t *testing.T) {
	ctx := runPolicy(t, map[string]string{"rewrite": "ngx.exit(ngx.OK)", "access": "context.access_ran = true"}, "GET", "/", nil)
	if v, _ := ctx.Get("access_ran"); v != true {
		t.Error("access did not run after ngx.exit(ngx.OK) in rewrite")
	}
}

func TestNgxHelpers(t *testing.T) {
	ctx := runPolicy(t, map[string]string{"rewrite": `
  local m = ngx.re.match('/users/42/orders', [[^/users/(\d+)/(?<what>\w+)$]])
  context.id = m[1]
  context.what = m.what
  context.whole = m[0]
  context.nomatch = ngx.re.match('abc', '^x') == nil
  local from, to = ngx.re.find('hello world', 'wor')
  context.find = from .. '-' .. to
  context.gsub = ngx.re.gsub('a1b22c333', [[\d+]], '<$0>')
  context.gsub_fn = ngx.re.gsub('abc', '[a-c]', function(m) return m[0]:upper() end)
  context.sub = ngx.re.sub('aaa', 'a', 'b')
  context.ci = ngx.re.match('HELLO', 'hello', 'i')[0]
  local _, err = ngx.re.match('x', '(')
  context.bad_re = err ~= nil
  context.b64 = ngx.encode_base64('hello?')
  context.unb64 = ngx.decode_base64('aGVsbG8/')
  context.bad_b64 = ngx.decode_base64('!!!') == nil
  context.md5 = ngx.md5('abc')
  context.now = type(ngx.now()) == 'number' and ngx.now() > 1e9
  context.time = ngx.time() >= os.time() - 1
  ngx.ctx.kept = 'across phases'
  local cjson = require('cjson')
  context.json = cjson.encode({ b = { 1, 2, 3 }, a = 'x', n = cjson.null, f = 1.5, t = true })
  local d = cjson.decode('{"list": [1, "two", null], "obj": {"k": false}}')
  context.decoded = d.list[2] .. tostring(d.obj.k) .. tostring(d.list[3] == cjson.null)
  local safe = require('cjson.safe')
  local v, derr = safe.decode('{bad')
  context.safe = v == nil and derr ~= nil
  context.strict = not pcall(cjson.decode, '{bad')
  context.phase = ngx.get_phase()
`, "access": "context.kept = ngx.ctx.kept"}, "GET", "/", nil)
	if ctx.Failed() != nil {
		t.Fatal(ctx.Failed())
	}
	want := map[string]any{
		"id": "42", "what": "orders", "whole": "/users/42/orders", "nomatch": true, "find": "7-9",
		"gsub": "a<1>b<22>c<333>", "gsub_fn": "ABC", "sub": "baa", "ci": "HELLO", "bad_re": true,
		"b64": "aGVsbG8/", "unb64": "hello?", "bad_b64": true, "md5": "900150983cd24fb0d6963f7d28e17f72",
		"now": true, "time": true, "kept": "across phases",
		"json":    `{"a":"x","b":[1,2,3],"f":1.5,"n":null,"t":true}`,
		"decoded": "twofalsetrue", "safe": true, "strict": true, "phase": "rewrite",
	}
	for k, w := range want {
		if v, _ := ctx.Get(k); v != w {
			t.Errorf("%s = %#v, want %#v", k, v, w)
		}
	}
}

func TestNgxBody(t *testing.T) {
	dir := t.TempDir()
	writePolicy(t, dir, "body", "1.0", phasePolicy(map[string]string{
		"rewrite": `
  ngx.req.read_body()
  context.body = ngx.req.get_body_data()
  context.form = ngx.req.get_post_args().name`,
		"body_filter": `
  if ngx.arg[1] ~= '' then ngx.arg[1] = string.upper(ngx.arg[1]) end
  if ngx.arg[2] then context.eof_seen = true end`,
	}))
	c, err := buildChain(t, []string{dir}, Options{}, entry("body", "1.0", ""))
	if err != nil {
		t.Fatal(err)
	}
	if !c.HasBodyFilters() {
		t.Fatal("a policy with body_filter is not a body filter")
	}
	r, _ := http.NewRequest("POST", "http://localhost/", strings.NewReader("name=ada&x=1"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	ctx := chain.NewContext(r, "127.0.0.1", nil, nil)
	c.Rewrite(ctx)
	if ctx.Failed() != nil {
		t.Fatal(ctx.Failed())
	}
	if v, _ := ctx.Get("body"); v != "name=ada&x=1" {
		t.Errorf("body = %#v", v)
	}
	if v, _ := ctx.Get("form"); v != "ada" {
		t.Errorf("form = %#v", v)
	}
	rest := make([]byte, 64)
	n, _ := ctx.Request.Body.Read(rest)
	if string(rest[:n]) != "name=ada&x=1" {
		t.Errorf("the upstream would get %q", rest[:n])
	}
	out, err := c.BodyFilter(ctx, []byte("chunk"), false)
	if err != nil || string(out) != "CHUNK" {
		t.Errorf("body_filter gave %q, %v", out, err)
	}
	if _, err := c.BodyFilter(ctx, nil, true); err != nil {
		t.Fatal(err)
	}
	if v, _ := ctx.Get("eof_seen"); v != true {
		t.Error("ngx.arg[2] was not true on the last chunk")
	}
	c.Log(ctx)

	// Without a body filter the chain keeps streaming bodies untouched.
	plain, err := buildChain(t, []string{seedLoadPath(t)}, Options{}, entry("my_stuff", "1.0", ""))
	if err != nil {
		t.Fatal(err)
	}
	if plain.HasBodyFilters() {
		t.Error("a policy without body_filter filters bodies")
	}
}

// goPolicy is a builtin policy that reads what Lua wrote and writes what
// Lua reads, through the same chain.Context.
type goPolicy struct{}

func (goPolicy) Access(c *chain.Context) error {
	v, _ := c.Get("from_lua")
	m, _ := v.(map[string]any)
	if m == nil || m["n"] != float64(2) {
		return fmt.Errorf("from_lua = %#v", v)
	}
	c.Set("from_go", map[string]any{"list": []any{"x", 3.0}, "flag": true})
	return nil
}

var registerGo sync.Once

func TestContextSharedWithGo(t *testing.T) {
	registerGo.Do(func() {
		chain.Register(chain.Factory{Name: "script_test_go", Version: chain.BuiltinVersion,
			New: func(json.RawMessage, chain.Env) (chain.Policy, error) { return goPolicy{}, nil }})
	})
	dir := t.TempDir()
	writePolicy(t, dir, "writer", "1.0", phasePolicy(map[string]string{
		"rewrite": `
  context.from_lua = { n = 1 }
  context.from_lua.n = 2 -- changed in place, seen after the call
  context[self] = 'private'`,
		"header_filter": `
  local g = context.from_go
  ngx.header['X-From-Go'] = g.list[1] .. tostring(g.list[2]) .. tostring(g.flag)
  ngx.header['X-Private'] = context[self]`,
	}))
	writePolicy(t, dir, "reader", "1.0", phasePolicy(map[string]string{
		"header_filter": `ngx.header['X-Reader'] = tostring(context.from_lua.n) .. tostring(context[self])`,
	}))
	c, err := buildChain(t, []string{dir}, Options{},
		entry("writer", "1.0", ""), entry("script_test_go", "", ""), entry("reader", "1.0", ""))
	if err != nil {
		t.Fatal(err)
	}
	ctx := request(t, c, nil, "GET", "/", nil)
	if ctx.Failed() != nil {
		t.Fatal(ctx.Failed())
	}
	h := ctx.Response.Header
	if h.Get("X-From-Go") != "x3true" || h.Get("X-Private") != "private" || h.Get("X-Reader") != "2nil" {
		t.Errorf("headers = %v", h)
	}
}

// TestParallelRequests runs many requests at once through one policy:
// each request keeps its own interpreter across its phases.
func TestParallelRequests(t *testing.T) {
	dir := t.TempDir()
	writePolicy(t, dir, "par", "1.0", phasePolicy(map[string]string{
		"rewrite":       "ngx.ctx.id = ngx.var.arg_id\ncontext.id = ngx.var.arg_id",
		"header_filter": "ngx.header['X-Id'] = ngx.ctx.id .. '/' .. context.id",
	}))
	c, err := buildChain(t, []string{dir}, Options{PoolSize: 4, Budget: 10 * time.Second}, entry("par", "1.0", ""))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 20 {
				id := fmt.Sprint(i*100 + j)
				ctx := request(t, c, nil, "GET", "/?id="+id, nil)
				if got := ctx.Response.Header.Get("X-Id"); got != id+"/"+id {
					t.Errorf("request %s got %q (%v)", id, got, ctx.Failed())
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestRequestStateDoesNotLeak: what one request leaves in the context,
// ngx.ctx or under private keys is gone for the next request served by
// the same interpreter.
func TestRequestStateDoesNotLeak(t *testing.T) {
	dir := t.TempDir()
	writePolicy(t, dir, "leak", "1.0", phasePolicy(map[string]string{"rewrite": `
  context.seen = tostring(rawget(context, 'raw')) .. ',' .. tostring(ngx.ctx.mark) .. ',' .. tostring(context[self]) .. ',' .. tostring(context.shared)
  rawset(context, 'raw', 'left')
  ngx.ctx.mark = 'left'
  context[self] = 'left'
  context.shared = 'left'`}))
	c, err := buildChain(t, []string{dir}, Options{PoolSize: 1}, entry("leak", "1.0", ""))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		ctx := request(t, c, nil, "GET", "/", nil)
		if v, _ := ctx.Get("seen"); v != "nil,nil,nil,nil" {
			t.Errorf("request %d saw %v", i, v)
		}
	}
}

// TestExitAcrossPolicies: ngx.exit acts on the whole chain, as in
// APIcast: a final status skips the later request phases of every policy
// while header_filter and log still run; ngx.OK skips the rest of the
// current phase only.
func TestExitAcrossPolicies(t *testing.T) {
	tests := []struct {
		name, exit string
		status     int
		want       map[string]any // context values after the request
	}{
		{"final status", "ngx.exit(418)", 418, map[string]any{"second_rewrite": nil, "second_access": nil, "second_header_filter": true, "second_log": true}},
		{"ngx.OK", "ngx.exit(ngx.OK)", 200, map[string]any{"second_rewrite": nil, "second_access": true, "second_header_filter": true, "second_log": true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writePolicy(t, dir, "first", "1.0", phasePolicy(map[string]string{"rewrite": tt.exit}))
			writePolicy(t, dir, "second", "1.0", phasePolicy(map[string]string{
				"rewrite":       "context.second_rewrite = true",
				"access":        "context.second_access = true",
				"header_filter": "context.second_header_filter = true",
				"log":           "context.second_log = true",
			}))
			c, err := buildChain(t, []string{dir}, Options{}, entry("first", "1.0", ""), entry("second", "1.0", ""))
			if err != nil {
				t.Fatal(err)
			}
			ctx := request(t, c, nil, "GET", "/", nil)
			if ctx.Failed() != nil {
				t.Fatal(ctx.Failed())
			}
			if ctx.Response.Status != tt.status {
				t.Errorf("status %d, want %d", ctx.Response.Status, tt.status)
			}
			for k, w := range tt.want {
				if v, _ := ctx.Get(k); v != w {
					t.Errorf("%s = %v, want %v", k, v, w)
				}
			}
		})
	}
}
