package script

import (
	"fmt"

	lua "github.com/yuin/gopher-lua"
)

// contextProxy returns the table passed to phase methods as context. It
// holds nothing itself: string keys read and write the request's
// chain.Context, so Go policies and the Lua policies of other pools see
// the same values; other keys (such as context[self]) stay in this state
// for the request.
func (st *state) contextProxy() *lua.LTable {
	if st.context != nil {
		return st.context
	}
	L := st.L
	t := L.NewTable()
	mt := L.NewTable()
	mt.RawSetString("__index", L.NewFunction(st.contextGet))
	mt.RawSetString("__newindex", L.NewFunction(st.contextSet))
	mt.RawSetString("__tostring", L.NewFunction(func(L *lua.LState) int {
		L.Push(lua.LString("context"))
		return 1
	}))
	L.SetMetatable(t, mt)
	st.context = t
	return t
}

func (st *state) contextGet(L *lua.LState) int {
	key := L.Get(2)
	if st.req == nil {
		if st.local != nil {
			L.Push(st.local.RawGet(key))
			return 1
		}
		L.Push(lua.LNil)
		return 1
	}
	k, ok := key.(lua.LString)
	if !ok {
		if st.local == nil {
			L.Push(lua.LNil)
			return 1
		}
		L.Push(st.local.RawGet(key))
		return 1
	}
	v, found := st.req.Get(string(k))
	if !found || v == nil {
		L.Push(lua.LNil)
		return 1
	}
	if sh, ok := st.shared[string(k)]; ok && sameValue(sh.val, v) {
		L.Push(sh.t)
		return 1
	}
	lv := st.toLua(v)
	if t, ok := lv.(*lua.LTable); ok && (isMapOrSlice(v)) {
		st.share(string(k), t, v)
	}
	L.Push(lv)
	return 1
}

func (st *state) contextSet(L *lua.LState) int {
	key, val := L.Get(2), L.Get(3)
	k, ok := key.(lua.LString)
	if !ok || st.req == nil {
		if key == lua.LNil {
			L.RaiseError("context: a nil key")
		}
		if st.local == nil {
			st.local = L.NewTable()
		}
		st.local.RawSet(key, val)
		return 0
	}
	name := string(k)
	if val == lua.LNil {
		st.req.Delete(name)
		delete(st.shared, name)
		return 0
	}
	g, err := toGo(val, 0)
	if err != nil {
		L.RaiseError("context.%s: %v", name, err)
	}
	st.req.Set(name, g)
	if t, ok := val.(*lua.LTable); ok {
		st.share(name, t, g)
	} else {
		delete(st.shared, name)
	}
	return 0
}

func (st *state) share(key string, t *lua.LTable, v any) {
	if st.shared == nil {
		st.shared = make(map[string]*sharedTable, 2)
	}
	st.shared[key] = &sharedTable{t: t, val: v}
}

// flushShared copies the context's tables that this state handed out
// back to the context, so changes made in place are seen by the others.
func (st *state) flushShared() error {
	for key, sh := range st.shared {
		cur, ok := st.req.Get(key)
		if !ok || !sameValue(cur, sh.val) {
			delete(st.shared, key)
			continue
		}
		g, err := toGo(sh.t, 0)
		if err != nil {
			return fmt.Errorf("context.%s: %w", key, err)
		}
		st.req.Set(key, g)
		sh.val = g
	}
	return nil
}

func isMapOrSlice(v any) bool {
	switch v.(type) {
	case map[string]any, []any:
		return true
	}
	return false
}
