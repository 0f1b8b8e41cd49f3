package script

import (
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	lua "github.com/yuin/gopher-lua"

	"github.com/verdict-policy/verdict/chain"
)

// SpecResult is the outcome of one it block of a Lua spec.
type SpecResult struct {
	File string // the spec file, relative to the policy folder
	Name string // the describe and it names, joined by spaces
	Err  error  // nil when it passed
}

// RunSpecs runs the Lua unit specs of a policy folder (dir is
// NAME/VERSION): every spec/*_spec.lua file, in the policy's sandbox, so
// require finds the policy's modules. A spec uses a small part of
// busted's vocabulary:
//
//	describe('my policy', function()
//	  before_each(function() ... end)
//	  it('keeps its configuration', function()
//	    assert.equal('x', require('my_policy').new({ a = 'x' }).a)
//	  end)
//	end)
//
// with assert.equal, assert.same (deep), assert.truthy, assert.falsy,
// assert.is_nil, assert.is_true, assert.is_false and assert.has_error.
// Each it block runs within its own fresh request (GET / from
// 127.0.0.1), so ngx.req, ngx.var and ngx.header work; a test may change
// the request with ngx.req functions before calling a phase method.
// Progress goes to out, one line per it block.
func RunSpecs(dir string, opts Options, out io.Writer) ([]SpecResult, error) {
	files, err := filepath.Glob(filepath.Join(dir, "spec", "*_spec.lua"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	name := filepath.Base(filepath.Dir(dir))
	version := filepath.Base(dir)
	f := &folder{name: name, version: version, dir: dir, protos: map[string]*lua.FunctionProto{}}
	p := &Policy{folder: f, opts: opts.withDefaults()}
	p.logger = p.opts.Logger.With("policy", name, "version", version)
	var results []SpecResult
	for _, file := range files {
		rel, _ := filepath.Rel(dir, file)
		rs, err := runSpecFile(p, file, filepath.ToSlash(rel), out)
		if err != nil {
			return results, err
		}
		results = append(results, rs...)
	}
	return results, nil
}

// specCase is one it block with the before_each functions above it.
type specCase struct {
	name   string
	before []*lua.LFunction
	fn     *lua.LFunction
}

func runSpecFile(p *Policy, file, rel string, out io.Writer) ([]SpecResult, error) {
	src, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	proto, err := compile(string(src), rel)
	if err != nil {
		return nil, err
	}
	st := &state{L: lua.NewState(lua.Options{SkipOpenLibs: true, CallStackSize: 200, MinimizeStackMemory: true}), p: p, loading: map[string]bool{}}
	defer st.L.Close()
	L := st.L
	st.budget = newBudget(p.opts.watch)
	defer st.budget.release()
	L.SetContext(st.budget)
	st.exit = L.NewUserData()
	st.null = L.NewUserData()
	st.null.Value = nullValue{}
	if err := st.openSandbox(); err != nil {
		return nil, err
	}

	// Collect the cases: describe runs its body at once, it records.
	var cases []specCase
	var names []string
	var befores [][]*lua.LFunction
	befores = append(befores, nil)
	g := L.G.Global
	g.RawSetString("describe", L.NewFunction(func(L *lua.LState) int {
		names = append(names, L.CheckString(1))
		befores = append(befores, nil)
		L.Push(L.CheckFunction(2))
		L.Call(0, 0)
		names = names[:len(names)-1]
		befores = befores[:len(befores)-1]
		return 0
	}))
	g.RawSetString("before_each", L.NewFunction(func(L *lua.LState) int {
		befores[len(befores)-1] = append(befores[len(befores)-1], L.CheckFunction(1))
		return 0
	}))
	g.RawSetString("it", L.NewFunction(func(L *lua.LState) int {
		var all []*lua.LFunction
		for _, b := range befores {
			all = append(all, b...)
		}
		cases = append(cases, specCase{
			name:   strings.Join(append(append([]string(nil), names...), L.CheckString(1)), " "),
			before: all,
			fn:     L.CheckFunction(2),
		})
		return 0
	}))
	g.RawSetString("assert", st.openAssert())

	err = st.protect(10*p.opts.Budget, 10*p.opts.Instructions, func() error {
		fn := L.NewFunctionFromProto(proto)
		if err := L.CallByParam(lua.P{Fn: fn, NRet: 0, Protect: true}); err != nil {
			return luaError(err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rel, err)
	}

	var results []SpecResult
	for _, c := range cases {
		st.bind(chain.NewContext(httptest.NewRequest("GET", "/", nil), "127.0.0.1", p.logger, nil))
		st.phase = chain.PhaseRewrite
		err := st.protect(p.opts.Budget*10, p.opts.Instructions*10, func() error {
			for _, fn := range append(c.before, c.fn) {
				if err := L.CallByParam(lua.P{Fn: fn, NRet: 0, Protect: true}); err != nil {
					var ae *lua.ApiError
					if errors.As(err, &ae) && ae.Object == st.exit {
						continue
					}
					return luaError(err)
				}
			}
			return nil
		})
		st.unbind()
		st.broken = false
		results = append(results, SpecResult{File: rel, Name: c.name, Err: err})
		if err != nil {
			fmt.Fprintf(out, "FAIL %s: %s\n    %v\n", rel, c.name, err)
		} else {
			fmt.Fprintf(out, "ok   %s: %s\n", rel, c.name)
		}
	}
	return results, nil
}

// openAssert builds the assert table of specs; calling it as a function
// is Lua's assert.
func (st *state) openAssert() *lua.LTable {
	L := st.L
	t := L.NewTable()
	fail := func(L *lua.LState, format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		if extra := L.OptString(3, ""); extra != "" {
			msg = extra + ": " + msg
		}
		L.RaiseError("%s", msg)
	}
	show := func(v lua.LValue) string {
		if s, ok := v.(lua.LString); ok {
			return fmt.Sprintf("%q", string(s))
		}
		if t, ok := v.(*lua.LTable); ok {
			g, err := toGo(t, 0)
			if err == nil {
				return fmt.Sprintf("%v", g)
			}
		}
		return v.String()
	}
	fns := map[string]lua.LGFunction{
		"equal": func(L *lua.LState) int {
			want, got := L.Get(1), L.Get(2)
			if !L.Equal(want, got) {
				fail(L, "expected %s, got %s", show(want), show(got))
			}
			return 0
		},
		"same": func(L *lua.LState) int {
			want, errW := toGo(L.Get(1), 0)
			got, errG := toGo(L.Get(2), 0)
			if errW != nil || errG != nil || !reflect.DeepEqual(want, got) {
				fail(L, "expected the same as %s, got %s", show(L.Get(1)), show(L.Get(2)))
			}
			return 0
		},
		"truthy": func(L *lua.LState) int {
			if !lua.LVAsBool(L.Get(1)) {
				fail(L, "expected a true value, got %s", show(L.Get(1)))
			}
			return 0
		},
		"falsy": func(L *lua.LState) int {
			if lua.LVAsBool(L.Get(1)) {
				fail(L, "expected false or nil, got %s", show(L.Get(1)))
			}
			return 0
		},
		"is_nil": func(L *lua.LState) int {
			if L.Get(1) != lua.LNil {
				fail(L, "expected nil, got %s", show(L.Get(1)))
			}
			return 0
		},
		"is_true": func(L *lua.LState) int {
			if L.Get(1) != lua.LTrue {
				fail(L, "expected true, got %s", show(L.Get(1)))
			}
			return 0
		},
		"is_false": func(L *lua.LState) int {
			if L.Get(1) != lua.LFalse {
				fail(L, "expected false, got %s", show(L.Get(1)))
			}
			return 0
		},
		"has_error": func(L *lua.LState) int {
			fn := L.CheckFunction(1)
			err := L.CallByParam(lua.P{Fn: fn, NRet: 0, Protect: true})
			if err == nil {
				fail(L, "expected an error")
			}
			if want := L.OptString(2, ""); want != "" && !strings.Contains(luaError(err).Error(), want) {
				L.RaiseError("expected an error containing %q, got %q", want, luaError(err).Error())
			}
			return 0
		},
	}
	for name, fn := range fns {
		t.RawSetString(name, L.NewFunction(fn))
	}
	mt := L.NewTable()
	mt.RawSetString("__call", L.NewFunction(func(L *lua.LState) int {
		// assert(v, message) called through the table: arguments shift by one.
		if !lua.LVAsBool(L.Get(2)) {
			msg := L.OptString(3, "assertion failed!")
			L.RaiseError("%s", msg)
		}
		return L.GetTop() - 1
	}))
	L.SetMetatable(t, mt)
	return t
}
