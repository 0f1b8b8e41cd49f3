package script

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/verdict-policy/verdict/chain"
)

// state is one Lua interpreter holding one instance of a policy. It serves
// one request at a time.
type state struct {
	L        *lua.LState
	p        *Policy
	budget   *budget
	instance lua.LValue
	methods  [phaseCount]lua.LValue // nil where the policy does not act
	loaded   *lua.LTable            // package.loaded
	loading  map[string]bool
	context  *lua.LTable // the proxy passed to phase methods
	exit     *lua.LUserData
	null     *lua.LUserData // cjson.null and ngx.null
	noop     lua.LValue     // apicast.policy's no-op phase method
	broken   bool           // stopped over budget: not reused
	closed   atomic.Bool

	// Per request.
	req      *chain.Context
	phase    chain.Phase
	local    *lua.LTable // context values under keys that are not strings
	ngxCtx   *lua.LTable
	shared   map[string]*sharedTable
	out      []byte
	printed  bool
	status   int
	body     []byte
	bodyRead bool
	bodyBig  bool

	// Per body_filter call.
	chunk    []byte
	newChunk string
	chunkSet bool
	eof      bool
}

// sharedTable is a Lua table stored in, or read from, the request
// context: the Go value it was last copied to, so in-place changes are
// copied again at the end of the phase call.
type sharedTable struct {
	t   *lua.LTable
	val any
}

func (p *Policy) newState() (*state, error) {
	L := lua.NewState(lua.Options{
		SkipOpenLibs:        true,
		CallStackSize:       200,
		RegistrySize:        1024,
		RegistryMaxSize:     128 * 1024,
		MinimizeStackMemory: true,
	})
	st := &state{L: L, p: p, loading: map[string]bool{}}
	st.budget = newBudget(p.opts.watch)
	L.SetContext(st.budget)
	st.exit = L.NewUserData()
	st.null = L.NewUserData()
	st.null.Value = nullValue{}
	nullMT := L.NewTable()
	nullMT.RawSetString("__tostring", L.NewFunction(func(L *lua.LState) int {
		L.Push(lua.LString("null"))
		return 1
	}))
	st.null.Metatable = nullMT

	if err := st.openSandbox(); err != nil {
		st.close()
		return nil, err
	}
	if err := st.loadInstance(); err != nil {
		st.close()
		return nil, err
	}
	return st, nil
}

// close frees the interpreter; closing twice is harmless.
func (st *state) close() {
	if st.closed.Swap(true) {
		return
	}
	st.budget.release()
	st.L.Close()
}

func (st *state) isClosed() bool { return st.closed.Load() }

// protect runs f under a budget of limit and steps instructions, turning
// a Lua error or an exhausted budget into an error. A state stopped by
// its budget is not used again.
func (st *state) protect(limit time.Duration, steps int64, f func() error) error {
	st.budget.start(limit, steps)
	err := f()
	if over := st.budget.stop(); over != nil {
		st.broken = true
		return over
	}
	return err
}

// loadBudget bounds loading a policy and running its new and export:
// once per state, off the request path, so it is more generous than the
// budget of a phase call.
func (st *state) loadBudget() (time.Duration, int64) {
	return max(4*st.p.opts.Budget, time.Second), 10 * st.p.opts.Instructions
}

// loadInstance runs init.lua and the module's new(config).
func (st *state) loadInstance() error {
	L := st.L
	lb, ls := st.loadBudget()
	var mod lua.LValue
	err := st.protect(lb, ls, func() error {
		proto, err := st.p.folder.proto(EntryFile)
		if err != nil {
			return err
		}
		fn := L.NewFunctionFromProto(proto)
		if err := L.CallByParam(lua.P{Fn: fn, NRet: 1, Protect: true}, lua.LString(st.p.folder.name)); err != nil {
			return luaError(err)
		}
		mod = L.Get(-1)
		L.Pop(1)
		return nil
	})
	if err != nil {
		return err
	}
	modTable, ok := mod.(*lua.LTable)
	if !ok {
		return fmt.Errorf("%s returned %s, not a policy module (a table with new)", EntryFile, mod.Type())
	}
	newFn, ok := L.GetField(modTable, "new").(*lua.LFunction)
	if !ok {
		return fmt.Errorf("%s: the policy module has no new function", EntryFile)
	}
	cfg, err := decodeJSON(L, st.p.config, st.null)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	err = st.protect(lb, ls, func() error {
		if err := L.CallByParam(lua.P{Fn: newFn, NRet: 1, Protect: true}, cfg); err != nil {
			return fmt.Errorf("new: %w", luaError(err))
		}
		st.instance = L.Get(-1)
		L.Pop(1)
		return nil
	})
	if err != nil {
		return err
	}
	if st.instance.Type() != lua.LTTable && st.instance.Type() != lua.LTUserData {
		return fmt.Errorf("new returned %s, not a policy instance", st.instance.Type())
	}
	if pol, ok := st.loaded.RawGetString("apicast.policy").(*lua.LTable); ok {
		st.noop = pol.RawGetString("noop")
	}
	for _, ph := range chain.Phases() {
		m := L.GetField(st.instance, ph.String())
		if fn, ok := m.(*lua.LFunction); ok && m != st.noop {
			st.methods[ph] = fn
		}
	}
	return nil
}

// exports calls the instance's export(), if it has one, and copies the
// data it returns.
func (st *state) exports() (map[string]any, error) {
	fn, ok := st.L.GetField(st.instance, "export").(*lua.LFunction)
	if !ok || fn == st.noop {
		return nil, nil
	}
	var out map[string]any
	lb, ls := st.loadBudget()
	err := st.protect(lb, ls, func() error {
		if err := st.L.CallByParam(lua.P{Fn: fn, NRet: 1, Protect: true}, st.instance); err != nil {
			return luaError(err)
		}
		v := st.L.Get(-1)
		st.L.Pop(1)
		t, ok := v.(*lua.LTable)
		if !ok {
			if v == lua.LNil {
				return nil
			}
			return fmt.Errorf("returned %s, not a table", v.Type())
		}
		out = map[string]any{}
		var ferr error
		t.ForEach(func(k, v lua.LValue) {
			ks, ok := k.(lua.LString)
			if !ok || ferr != nil {
				return
			}
			g, err := toGo(v, 0)
			if err != nil {
				ferr = fmt.Errorf("%s: %w", ks, err)
				return
			}
			out[string(ks)] = g
		})
		return ferr
	})
	return out, err
}

// bind makes ctx the request the state serves.
func (st *state) bind(ctx *chain.Context) { st.req = ctx }

// unbind forgets the request.
func (st *state) unbind() {
	st.req = nil
	if st.context != nil {
		// rawset on context bypasses the chain context; such values must
		// not outlive the request.
		if k, _ := st.context.Next(lua.LNil); k != lua.LNil {
			st.context = nil
		}
	}
	st.local = nil
	st.ngxCtx = nil
	clear(st.shared)
	st.out = st.out[:0]
	st.printed = false
	st.status = 0
	st.body = nil
	st.bodyRead, st.bodyBig = false, false
}

// callPhase calls instance:phase(context) under the budget and applies
// what the call did to the request: an exit, printed output, tables
// changed in place in the context.
func (st *state) callPhase(ph chain.Phase) error {
	fn := st.methods[ph]
	if fn == nil {
		return nil
	}
	L := st.L
	st.phase = ph
	var exited bool
	err := st.protect(st.p.opts.Budget, st.p.opts.Instructions, func() error {
		L.Push(fn)
		L.Push(st.instance)
		L.Push(st.contextProxy())
		if err := L.PCall(2, 0, nil); err != nil {
			var ae *lua.ApiError
			if errors.As(err, &ae) && ae.Object == st.exit {
				exited = true
				return nil
			}
			return luaError(err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s: %w", ph, err)
	}
	if st.req == nil {
		return nil
	}
	if err := st.flushShared(); err != nil {
		return fmt.Errorf("%s: %w", ph, err)
	}
	if !exited && st.printed {
		st.finishOutput()
	}
	return nil
}

// finishOutput turns what the phase printed without calling ngx.exit into
// the response, as nginx sends what a handler printed.
func (st *state) finishOutput() {
	status := st.status
	if status == 0 {
		status = 200
	}
	switch st.phase {
	case chain.PhaseContent:
		st.req.Respond(status, nil, append([]byte(nil), st.out...))
	case chain.PhaseRewrite, chain.PhaseAccess:
		st.req.Exit(status, string(st.out))
	}
	st.out = st.out[:0]
	st.printed = false
}

// luaError turns an error from the interpreter into a plain error
// carrying the Lua message with its position, without the Go stack.
func luaError(err error) error {
	var ae *lua.ApiError
	if errors.As(err, &ae) {
		msg := ae.Object.String()
		if ae.Cause != nil && ae.Type == lua.ApiErrorSyntax {
			msg = ae.Cause.Error()
		}
		return errors.New(strings.TrimSpace(msg))
	}
	return err
}
