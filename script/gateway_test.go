package script_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/verdict-policy/verdict/gateway/gatewaytest"
)

// examples is the folder of example policies shipped with Verdict.
const examples = "../examples/lua"

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeFiles(t testing.TB, root string, files map[string]string) {
	t.Helper()
	for rel, content := range files {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func manifest(name, version string) string {
	return `{"name": "` + name + `", "summary": "test", "version": "` + version + `", "configuration": {"type": "object"}}`
}

// seedPolicies lays the policy guide's examples (byte for byte) out as
// policy folders in a new load path directory.
func seedPolicies(t testing.TB) string {
	dir := t.TempDir()
	seed := func(name string) string { return readFile(t, filepath.Join(examples, "seed", name)) }
	writeFiles(t, dir, map[string]string{
		"my_stuff/1.0/init.lua":            seed("require_entry.lua"),
		"my_stuff/1.0/my_stuff.lua":        seed("phase_logger.lua"),
		"my_stuff/1.0/apicast-policy.json": manifest("my_stuff", "1.0"),
		"context_example/1.0/init.lua": "local policy = require('apicast.policy')\nlocal _M = policy.new('Context example')\n" +
			seed("context.lua") + "\nreturn _M\n",
		"context_example/1.0/apicast-policy.json": manifest("context_example", "1.0"),
		"configured/1.0/init.lua": seed("configuration.lua") +
			"\nfunction _M:rewrite(context)\n  context.option_a = self.option_a\n  context.option_b = self.option_b\nend\n\nreturn _M\n",
		"configured/1.0/apicast-policy.json": manifest("configured", "1.0"),
	})
	return dir
}

func grep(lines []string, subs ...string) bool {
	for _, l := range lines {
		all := true
		for _, s := range subs {
			all = all && strings.Contains(l, s)
		}
		if all {
			return true
		}
	}
	return false
}

// TestSeedExamplesThroughGateway runs the guide's examples in a real
// gateway: their log lines in rewrite and header_filter, what they write
// to the context (shown by the context_headers example), and new(config).
func TestSeedExamplesThroughGateway(t *testing.T) {
	up := gatewaytest.StartUpstream(t, nil)
	abs, err := filepath.Abs(filepath.Join(examples, "policies"))
	if err != nil {
		t.Fatal(err)
	}
	gw := gatewaytest.Start(t, fmt.Sprintf(`
policy_load_path: [%s, %s]
services:
  - id: 7
    proxy:
      api_backend: %s
      policy_chain:
        - {name: my_stuff, version: "1.0"}
        - {name: context_example, version: "1.0"}
        - {name: configured, version: "1.0", configuration: {option_a: alpha, option_b: 2}}
        - {name: context_headers, version: "1.0", configuration: {keys: [b, option_a, option_b]}}
        - {name: apicast}
`, seedPolicies(t), abs, up.URL))
	res := gw.Do(t, gw.NewRequest("GET", "/hello", nil))
	if res.Status != 200 || res.Body != "upstream: GET /hello" {
		t.Fatalf("got %d %q", res.Status, res.Body)
	}
	for h, want := range map[string]string{
		"X-Context-B": "something_useful_to_be_shared", "X-Context-Option-A": "alpha", "X-Context-Option-B": "2",
	} {
		if got := res.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q (headers %v)", h, got, want, res.Header)
		}
	}
	logs := gw.Logs()
	if !grep(logs, "level=INFO", `msg="Passing through the rewrite phase."`, "policy=my_stuff", "phase=rewrite") ||
		!grep(logs, "level=INFO", `msg="Passing through the header_filter phase"`, "policy=my_stuff", "phase=header_filter") {
		t.Errorf("the phase logger's lines are missing from:\n%s", strings.Join(logs, "\n"))
	}
}

// TestExamplePoliciesThroughGateway runs the other shipped examples.
func TestExamplePoliciesThroughGateway(t *testing.T) {
	up := gatewaytest.StartUpstream(t, nil)
	abs, err := filepath.Abs(filepath.Join(examples, "policies"))
	if err != nil {
		t.Fatal(err)
	}
	gw := gatewaytest.Start(t, fmt.Sprintf(`
policy_load_path: %s
services:
  - id: 1
    proxy:
      api_backend: %s
      policy_chain:
        - {name: request_id, version: "1.0"}
        - {name: header_auth, version: "1.0", configuration: {keys: [{value: s3cret, label: team-a}]}}
        - {name: context_headers, version: "1.0", configuration: {keys: [api_key_label]}}
        - {name: apicast}
`, abs, up.URL))
	tests := []struct {
		name   string
		header map[string]string
		status int
		body   string
	}{
		{"no key", nil, 401, `{"error":{"message":"missing X-Api-Key","status":401}}`},
		{"unknown key", map[string]string{"X-Api-Key": "nope"}, 403, `{"error":{"message":"unknown key","status":403}}`},
		{"known key", map[string]string{"X-Api-Key": "s3cret", "X-Request-Id": "abc-123"}, 200, "upstream: GET /x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := gw.NewRequest("GET", "/x", nil)
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			res := gw.Do(t, r)
			if res.Status != tt.status || res.Body != tt.body {
				t.Fatalf("got %d %q, want %d %q", res.Status, res.Body, tt.status, tt.body)
			}
			if res.Header.Get("X-Request-Id") == "" {
				t.Error("no X-Request-Id in the response")
			}
		})
	}
	last := up.Last(t)
	if last.Header.Get("X-Api-Key") != "" || last.Header.Get("X-Request-Id") != "abc-123" {
		t.Errorf("upstream got headers %v", last.Header)
	}
	if len(up.Requests()) != 1 {
		t.Errorf("the upstream got %d requests, want only the authenticated one", len(up.Requests()))
	}
}

// TestSandboxThroughGateway: each forbidden thing is refused or stopped
// with a clear error, the request fails closed, and the gateway keeps
// serving the other services.
func TestSandboxThroughGateway(t *testing.T) {
	cases := []struct {
		name, body, log string
	}{
		{"io_open", `io.open('/etc/passwd')`, "io.open is not available to Verdict policies"},
		{"os_execute", `os.execute('id')`, "os.execute is not available to Verdict policies"},
		{"require_os", `require('os')`, "module 'os' not found"},
		{"require_outside", `require('../other/x')`, "module '../other/x' is outside the policy's folder"},
		{"load", `load('return 1')()`, "load is not available to Verdict policies"},
		{"infinite_loop", `while true do end`, "over its budget of 200000 instructions"},
		{"huge_string", `local s = string.rep('x', 2^40)`, "string.rep: a result of 1099511627776 bytes is over the limit"},
		{"doubling_string", `local s = 'x' while true do s = s .. s end`, "over its budget of 300ms"},
	}
	dir := t.TempDir()
	var services strings.Builder
	for i, c := range cases {
		writeFiles(t, dir, map[string]string{
			c.name + "/1.0/init.lua": "local _M = require('apicast.policy').new('" + c.name + "')\n" +
				"function _M:access(context)\n" + c.body + "\nend\nreturn _M\n",
			c.name + "/1.0/apicast-policy.json": manifest(c.name, "1.0"),
		})
		fmt.Fprintf(&services, "  - {id: %d, proxy: {hosts: [%s.test], api_backend: UP, policy_chain: [{name: %s, version: \"1.0\"}, {name: apicast}]}}\n",
			i+1, strings.ReplaceAll(c.name, "_", "-"), c.name)
	}
	up := gatewaytest.StartUpstream(t, nil)
	cfg := fmt.Sprintf("policy_load_path: {paths: [%s], instructions: 200000, budget: 300ms}\nservices:\n", dir) +
		strings.ReplaceAll(services.String(), "UP", up.URL) +
		fmt.Sprintf("  - {id: 100, proxy: {hosts: [ok.test], api_backend: %s}}\n", up.URL)
	gw := gatewaytest.Start(t, cfg)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := gw.NewRequest("GET", "/", nil)
			r.Host = strings.ReplaceAll(c.name, "_", "-") + ".test"
			res := gw.Do(t, r)
			if res.Status != 503 {
				t.Errorf("status %d, want 503", res.Status)
			}
			if !grep(gw.Logs(), "policy failed", "policy="+c.name, c.log) {
				t.Errorf("no log line with %q in:\n%s", c.log, strings.Join(gw.Logs(), "\n"))
			}
			ok := gw.NewRequest("GET", "/still", nil)
			ok.Host = "ok.test"
			if res := gw.Do(t, ok); res.Status != 200 || res.Body != "upstream: GET /still" {
				t.Errorf("the gateway stopped serving: %d %q", res.Status, res.Body)
			}
		})
	}
	if n := len(up.Requests()); n != len(cases) {
		t.Errorf("the upstream got %d requests, want %d (only the healthy service's)", n, len(cases))
	}
}

// TestNgxThroughGateway reads the request variables a real server gives.
func TestNgxThroughGateway(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"vars/1.0/init.lua": `
local _M = require('apicast.policy').new('vars', '1.0')
function _M:rewrite(context)
  local v = ngx.var
  context.seen = table.concat({ v.scheme, v.host, v.server_addr, v.remote_addr, v.request_method,
    v.request_uri, v.uri, v.args or '', v.http_user_agent, v.arg_q, tostring(v.server_port ~= nil) }, '|')
  ngx.req.set_uri('/rewritten')
end
function _M:header_filter(context)
  ngx.header['X-Seen'] = context.seen
  ngx.header['X-Upstream-Status'] = ngx.status
  ngx.status = 299
end
return _M`,
		"vars/1.0/apicast-policy.json": manifest("vars", "1.0"),
	})
	up := gatewaytest.StartUpstream(t, nil)
	gw := gatewaytest.Start(t, fmt.Sprintf(`
policy_load_path: [%s]
services:
  - {id: 1, proxy: {api_backend: %s, policy_chain: [{name: vars, version: "1.0"}, {name: apicast}]}}
`, dir, up.URL))
	r := gw.NewRequest("GET", "/a%20b?q=x%201", nil)
	r.Header.Set("User-Agent", "probe/1")
	res := gw.Do(t, r)
	want := "http|localhost|127.0.0.1|127.0.0.1|GET|/a%20b?q=x%201|/a b|q=x%201|probe/1|x%201|true"
	if res.Status != 299 || res.Header.Get("X-Seen") != want || res.Header.Get("X-Upstream-Status") != "200" {
		t.Errorf("got %d, X-Seen %q, X-Upstream-Status %q; want 299 and %q", res.Status, res.Header.Get("X-Seen"), res.Header.Get("X-Upstream-Status"), want)
	}
	if got := up.Last(t); got.Path != "/rewritten" || got.RawQuery != "q=x%201" {
		t.Errorf("upstream got %s?%s", got.Path, got.RawQuery)
	}
}

// TestBodyFilterThroughGateway changes a proxied body as it streams and
// reads a posted body before it goes upstream.
func TestBodyFilterThroughGateway(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"shout/1.0/init.lua": `
local _M = require('apicast.policy').new('shout', '1.0')
function _M:rewrite(context)
  ngx.req.read_body()
  context.posted = ngx.req.get_body_data()
end
function _M:header_filter(context)
  ngx.header['Content-Length'] = nil
  ngx.header['X-Posted'] = context.posted
end
function _M:body_filter(context)
  ngx.arg[1] = string.upper(ngx.arg[1])
  if ngx.arg[2] then ngx.arg[1] = ngx.arg[1] .. '!' end
end
return _M`,
		"shout/1.0/apicast-policy.json": manifest("shout", "1.0"),
	})
	up := gatewaytest.StartUpstream(t, nil)
	gw := gatewaytest.Start(t, fmt.Sprintf(`
policy_load_path: [%s]
services:
  - {id: 1, proxy: {api_backend: %s, policy_chain: [{name: shout, version: "1.0"}, {name: apicast}]}}
`, dir, up.URL))
	res := gw.Do(t, gw.NewRequest("POST", "/quiet", strings.NewReader("hello body")))
	if res.Status != 200 || res.Body != "UPSTREAM: POST /QUIET!" || res.Header.Get("X-Posted") != "hello body" {
		t.Errorf("got %d %q, X-Posted %q", res.Status, res.Body, res.Header.Get("X-Posted"))
	}
	if got := up.Last(t); got.Body != "hello body" {
		t.Errorf("upstream got body %q", got.Body)
	}
}
