package script

import (
	"errors"
	"fmt"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// openSandbox fills the state's globals with what a policy may use: the
// base functions without the loaders and environment functions, table,
// string (with bounded rep and format), math, os reduced to time, clock
// and date, a confined require, ngx and cjson.
func (st *state) openSandbox() error {
	L := st.L
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.StringLibName, lua.OpenString},
		{lua.MathLibName, lua.OpenMath},
		{lua.OsLibName, lua.OpenOs},
	} {
		if err := L.CallByParam(lua.P{Fn: L.NewFunction(lib.open), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			return fmt.Errorf("open %s: %w", lib.name, err)
		}
	}
	g := L.G.Global
	for _, name := range []string{"_printregs", "newproxy", "_GOPHER_LUA_VERSION"} {
		g.RawSetString(name, lua.LNil)
	}
	// What a policy may not use is there to say so when called.
	for _, name := range []string{"dofile", "load", "loadfile", "loadstring", "getfenv", "setfenv", "module", "collectgarbage"} {
		g.RawSetString(name, L.NewFunction(func(L *lua.LState) int {
			L.RaiseError("%s is not available to Verdict policies: they cannot load code at run time or change environments", name)
			return 0
		}))
	}
	for _, name := range []string{"io", "debug", "coroutine", "channel"} {
		t := L.NewTable()
		setMissing(L, t, name)
		g.RawSetString(name, t)
	}

	// os: only the clock.
	full := L.GetGlobal("os").(*lua.LTable)
	os := L.NewTable()
	for _, name := range []string{"time", "clock", "date"} {
		os.RawSetString(name, full.RawGetString(name))
	}
	setMissing(L, os, "os")
	g.RawSetString("os", os)

	// string: bounded rep and format, no dump.
	str := L.GetGlobal("string").(*lua.LTable)
	format := str.RawGetString("format").(*lua.LFunction)
	str.RawSetString("rep", L.NewFunction(st.stringRep))
	str.RawSetString("format", L.NewFunction(func(L *lua.LState) int {
		if err := checkFormat(L.CheckString(1)); err != nil {
			L.ArgError(1, err.Error())
		}
		L.Insert(format, 1)
		L.Call(L.GetTop()-1, 1)
		return 1
	}))
	str.RawSetString("dump", lua.LNil)

	g.RawSetString("pcall", L.NewFunction(st.pcall))
	g.RawSetString("xpcall", L.NewFunction(st.xpcall))
	g.RawSetString("print", L.NewFunction(func(L *lua.LState) int {
		st.log(levelNotice, joinArgs(L, 1, "\t"))
		return 0
	}))

	st.loaded = L.NewTable()
	pkg := L.NewTable()
	pkg.RawSetString("loaded", st.loaded)
	g.RawSetString("package", pkg)
	g.RawSetString("require", L.NewFunction(st.require))

	ngx := st.openNgx()
	g.RawSetString("ngx", ngx)
	st.loaded.RawSetString("ngx", ngx)
	return nil
}

// setMissing makes reading an absent field of t an error naming it, so a
// call to something outside the subset says what is missing.
func setMissing(L *lua.LState, t *lua.LTable, prefix string) {
	mt := L.NewTable()
	mt.RawSetString("__index", L.NewFunction(func(L *lua.LState) int {
		L.RaiseError("%s.%s is not available to Verdict policies", prefix, L.ToStringMeta(L.Get(2)).String())
		return 0
	}))
	L.SetMetatable(t, mt)
}

func (st *state) stringRep(L *lua.LState) int {
	s := L.CheckString(1)
	n := L.CheckInt(2)
	if n <= 0 || len(s) == 0 {
		L.Push(lua.LString(""))
		return 1
	}
	if n > st.p.opts.MaxBytes/len(s) {
		L.RaiseError("string.rep: a result of %d bytes is over the limit of %d", int64(n)*int64(len(s)), st.p.opts.MaxBytes)
	}
	L.Push(lua.LString(strings.Repeat(s, n)))
	return 1
}

// checkFormat refuses format widths and precisions over two digits, as
// Lua's own string.format does, so one call cannot build a huge string.
func checkFormat(f string) error {
	for i := 0; i < len(f); i++ {
		if f[i] != '%' {
			continue
		}
		i++
		if i < len(f) && f[i] == '%' {
			continue
		}
		for i < len(f) && strings.IndexByte("-+ #0", f[i]) >= 0 {
			i++
		}
		digits := 0
		for i < len(f) && f[i] >= '0' && f[i] <= '9' {
			i++
			digits++
		}
		if i < len(f) && f[i] == '.' {
			i++
			p := 0
			for i < len(f) && f[i] >= '0' && f[i] <= '9' {
				i++
				p++
			}
			digits = max(digits, p)
		}
		if digits > 2 {
			return errors.New("invalid format (width or precision too long)")
		}
	}
	return nil
}

// pcall is Lua's pcall, except that ngx.exit and an exhausted budget pass
// through it: they end the phase handler whatever catches errors.
func (st *state) pcall(L *lua.LState) int {
	L.CheckAny(1)
	nargs := L.GetTop() - 1
	if err := L.PCall(nargs, lua.MultRet, nil); err != nil {
		obj := st.errorObject(err)
		st.rethrow(obj)
		L.Push(lua.LFalse)
		L.Push(obj)
		return 2
	}
	L.Insert(lua.LTrue, 1)
	return L.GetTop()
}

func (st *state) xpcall(L *lua.LState) int {
	fn := L.CheckAny(1)
	handler := L.CheckFunction(2)
	L.SetTop(0)
	L.Push(fn)
	if err := L.PCall(0, lua.MultRet, nil); err != nil {
		obj := st.errorObject(err)
		st.rethrow(obj)
		L.SetTop(0)
		L.Push(lua.LFalse)
		L.Push(handler)
		L.Push(obj)
		L.Call(1, 1)
		return 2
	}
	L.Insert(lua.LTrue, 1)
	return L.GetTop()
}

func (st *state) errorObject(err error) lua.LValue {
	var ae *lua.ApiError
	if errors.As(err, &ae) {
		return ae.Object
	}
	return lua.LString(err.Error())
}

func (st *state) rethrow(obj lua.LValue) {
	if obj == st.exit {
		st.L.Error(st.exit, 0)
	}
	if st.budget.expired() {
		st.L.RaiseError("%v", st.budget.Err())
	}
}

// require loads a module from the policy's own folder first (a.b and a/b
// both mean a/b.lua, or a/b/init.lua), then from the shared library, and
// from nowhere else.
func (st *state) require(L *lua.LState) int {
	name := L.CheckString(1)
	if v := st.loaded.RawGetString(name); v != lua.LNil {
		L.Push(v)
		return 1
	}
	if st.loading[name] {
		L.RaiseError("module '%s' requires itself (a loop through require)", name)
	}
	if strings.Contains(name, "..") || strings.HasPrefix(name, "/") || strings.ContainsAny(name, "\\\x00") || name == "" {
		L.RaiseError("module '%s' is outside the policy's folder: require reaches only the policy's own files and Verdict's shared library", name)
	}
	rel := strings.ReplaceAll(name, ".", "/")
	proto, err := st.p.folder.proto(rel + ".lua")
	if errors.Is(err, errNoModule) {
		proto, err = st.p.folder.proto(rel + "/init.lua")
	}
	if errors.Is(err, errNoModule) {
		proto, err = library[name], nil
	}
	if err != nil {
		L.RaiseError("module '%s': %v", name, err)
	}
	var value lua.LValue
	switch {
	case proto != nil:
		st.loading[name] = true
		fn := L.NewFunctionFromProto(proto)
		L.Push(fn)
		L.Push(lua.LString(name))
		err := L.PCall(1, 1, nil)
		delete(st.loading, name)
		if err != nil {
			obj := st.errorObject(err)
			st.rethrow(obj)
			L.Error(obj, 0)
		}
		value = L.Get(-1)
		L.Pop(1)
	case name == "cjson":
		value = st.openCJSON(false)
	case name == "cjson.safe":
		value = st.openCJSON(true)
	default:
		L.RaiseError("module '%s' not found: require reaches only the policy's own files and Verdict's shared library (%s)",
			name, strings.Join(sharedModules(), ", "))
	}
	if value == lua.LNil {
		value = lua.LTrue
	}
	st.loaded.RawSetString(name, value)
	L.Push(value)
	return 1
}

// sharedModules names the modules of the shared library.
func sharedModules() []string {
	out := []string{"cjson", "cjson.safe", "ngx"}
	for name := range library {
		out = append(out, name)
	}
	return sortStrings(out)
}
