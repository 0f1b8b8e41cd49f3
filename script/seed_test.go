package script

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/verdict-policy/verdict/chain"
)

// seedDir holds the example policies of APIcast's policy guide, byte for
// byte.
const seedDir = "../examples/lua/seed"

func seed(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(seedDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// seedLoadPath lays out the guide's examples as policy folders. The
// fragments that show one method (context.lua, configuration.lua) run
// unchanged inside the few lines a module needs around them.
func seedLoadPath(t testing.TB) string {
	dir := t.TempDir()
	writePolicy(t, dir, "my_stuff", "1.0", map[string]string{
		"init.lua":     seed(t, "require_entry.lua"),
		"my_stuff.lua": seed(t, "phase_logger.lua"),
	})
	writePolicy(t, dir, "context_example", "1.0", map[string]string{
		"init.lua": "local policy = require('apicast.policy')\nlocal _M = policy.new('Context example')\n" +
			seed(t, "context.lua") + "\nreturn _M\n",
	})
	writePolicy(t, dir, "configured", "1.0", map[string]string{
		"init.lua": seed(t, "configuration.lua") +
			"\nfunction _M:rewrite(context)\n  context.option_a = self.option_a\n  context.option_b = self.option_b\nend\n\nreturn _M\n",
	})
	return dir
}

func TestSeedPhaseLogger(t *testing.T) {
	var logs logBuffer
	lg := newLogger(&logs)
	c, err := buildChain(t, []string{seedLoadPath(t)}, Options{Logger: lg}, entry("my_stuff", "1.0", ""))
	if err != nil {
		t.Fatal(err)
	}
	p := c.Policies()[0].(*Policy)
	if got := p.Phases(); len(got) != 2 || got[0] != chain.PhaseRewrite || got[1] != chain.PhaseHeaderFilter {
		t.Errorf("phases = %v, want rewrite and header_filter", got)
	}
	ctx := request(t, c, lg, "GET", "/hello", nil)
	if ctx.Failed() != nil {
		t.Fatal(ctx.Failed())
	}
	out := logs.String()
	contains(t, out, `level=INFO msg="Passing through the rewrite phase." policy=my_stuff version=1.0 phase=rewrite`)
	contains(t, out, `level=INFO msg="Passing through the header_filter phase" policy=my_stuff version=1.0 phase=header_filter`)
}

func TestSeedContext(t *testing.T) {
	c, err := buildChain(t, []string{seedLoadPath(t)}, Options{}, entry("context_example", "1.0", ""))
	if err != nil {
		t.Fatal(err)
	}
	ctx := request(t, c, nil, "GET", "/", func(ctx *chain.Context) { ctx.Set("something", "from Go") })
	if ctx.Failed() != nil {
		t.Fatal(ctx.Failed())
	}
	if v, _ := ctx.Get("b"); v != "something_useful_to_be_shared" {
		t.Errorf("context.b = %#v", v)
	}
}

func TestSeedConfiguration(t *testing.T) {
	c, err := buildChain(t, []string{seedLoadPath(t)}, Options{},
		entry("configured", "1.0", `{"option_a": "alpha", "option_b": [1, 2]}`))
	if err != nil {
		t.Fatal(err)
	}
	ctx := request(t, c, nil, "GET", "/", nil)
	if ctx.Failed() != nil {
		t.Fatal(ctx.Failed())
	}
	if v, _ := ctx.Get("option_a"); v != "alpha" {
		t.Errorf("option_a = %#v", v)
	}
	if v, _ := ctx.Get("option_b"); len(v.([]any)) != 2 {
		t.Errorf("option_b = %#v", v)
	}
}
