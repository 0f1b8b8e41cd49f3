package script_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/config"
	"github.com/verdict-policy/verdict/gateway"
	_ "github.com/verdict-policy/verdict/policies/all"
	"github.com/verdict-policy/verdict/script"
)

// luaHeaders does what the builtin headers policy does with
// {request: [{op: set, header: X-Gateway, value: verdict}],
// response: [{op: set, header: X-Served-By, value: verdict}]}.
const luaHeaders = `
local _M = require('apicast.policy').new('lua_headers', '1.0')

function _M:rewrite(context)
  ngx.req.set_header('X-Gateway', 'verdict')
end

function _M:header_filter(context)
  ngx.header['X-Served-By'] = 'verdict'
end

return _M
`

const builtinHeaders = `{"request": [{"op": "set", "header": "X-Gateway", "value": "verdict"}],
 "response": [{"op": "set", "header": "X-Served-By", "value": "verdict"}]}`

func benchLoadPath(b *testing.B) string {
	dir := b.TempDir()
	writeFiles(b, dir, map[string]string{
		"lua_headers/1.0/init.lua":            luaHeaders,
		"lua_headers/1.0/apicast-policy.json": manifest("lua_headers", "1.0"),
	})
	return dir
}

// benchChains are the chains compared: the same header edits done by a
// Lua policy and by the builtin headers policy, and the chain without
// either, in front of apicast.
func benchChains(b *testing.B) map[string]*chain.Chain {
	resolve := script.Resolver([]string{benchLoadPath(b)}, script.Options{})
	out := map[string]*chain.Chain{}
	for name, entries := range map[string][]chain.Entry{
		"apicast_only": {{Name: "apicast"}},
		"headers":      {{Name: "headers", Configuration: json.RawMessage(builtinHeaders)}, {Name: "apicast"}},
		"lua":          {{Name: "lua_headers", Version: "1.0"}, {Name: "apicast"}},
	} {
		c, err := chain.Build(entries, chain.Env{Resolve: resolve, ServiceID: "1",
			Service: &chain.Service{ID: "1", APIBackend: "http://127.0.0.1:9"}})
		if err != nil {
			b.Fatal(err)
		}
		out[name] = c
	}
	return out
}

func runChain(b *testing.B, c *chain.Chain, r *http.Request, want string) {
	ctx := chain.AcquireContext(r, "127.0.0.1", nil, c.Exports())
	defer ctx.Release()
	ctx.ServiceID = "1"
	c.Rewrite(ctx)
	c.Access(ctx)
	c.Content(ctx)
	c.Balance(ctx)
	ctx.Response.Status = 200
	ctx.Response.Header.Set("Content-Type", "application/json")
	c.HeaderFilter(ctx)
	c.PostAction(ctx)
	c.Log(ctx)
	if ctx.Failed() != nil {
		b.Fatal(ctx.Failed())
	}
	if got := ctx.Response.Header.Get("X-Served-By"); got != want {
		b.Fatalf("X-Served-By = %q, want %q", got, want)
	}
}

// cpuTime returns the CPU time the process has used. On a shared machine
// the CPU time per operation is steadier than the wall time, which counts
// the time other processes hold the cores.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

// BenchmarkChain runs every request phase of a chain in process, as the
// gateway does for a proxied request (without the upstream exchange).
// Run with -cpu 1,2 to see the parallel form scale across cores.
func BenchmarkChain(b *testing.B) {
	chains := benchChains(b)
	for _, name := range []string{"apicast_only", "headers", "lua"} {
		c := chains[name]
		want := "verdict"
		if name == "apicast_only" {
			want = ""
		}
		b.Run(name, func(b *testing.B) {
			r := httptest.NewRequest("GET", "http://localhost/v2/items?page=2", nil)
			b.ReportAllocs()
			start := cpuTime()
			for b.Loop() {
				runChain(b, c, r, want)
			}
			reportCPU(b, start)
		})
		b.Run(name+"_parallel", func(b *testing.B) {
			b.ReportAllocs()
			start := cpuTime()
			b.RunParallel(func(pb *testing.PB) {
				r := httptest.NewRequest("GET", "http://localhost/v2/items?page=2", nil)
				for pb.Next() {
					runChain(b, c, r, want)
				}
			})
			reportCPU(b, start)
		})
	}
}

// BenchmarkServeProxied sends whole requests through a real gateway on a
// loopback port to an upstream, for the Lua policy and for the builtin
// headers policy doing the same.
func BenchmarkServeProxied(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"hello": "world"}`)
	}))
	defer up.Close()
	dir := benchLoadPath(b)
	for _, bc := range []struct{ name, entry string }{
		{"headers", `{name: headers, configuration: ` + builtinHeaders + `}`},
		{"lua", `{name: lua_headers, version: "1.0"}`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			g, err := gateway.New(gateway.Options{})
			if err != nil {
				b.Fatal(err)
			}
			cfg, err := config.Parse(filepath.Join(b.TempDir(), "bench.yaml"), []byte("policy_load_path: ["+dir+"]\nservices:\n  - id: 1\n    proxy:\n      api_backend: "+up.URL+
				"\n      policy_chain: ["+bc.entry+", {name: apicast}]\n"))
			if err != nil {
				b.Fatal(err)
			}
			install, err := g.Prepare(cfg, nil)
			if err != nil {
				b.Fatal(err)
			}
			install()
			gw := httptest.NewServer(g)
			defer gw.Close()
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			req, _ := http.NewRequest("GET", gw.URL+"/v2/items", nil)
			req.Host = "localhost"
			b.ReportAllocs()
			start := cpuTime()
			for b.Loop() {
				res, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != 200 || res.Header.Get("X-Served-By") != "verdict" {
					b.Fatalf("status %d, headers %v", res.StatusCode, res.Header)
				}
			}
			reportCPU(b, start)
		})
	}
}
