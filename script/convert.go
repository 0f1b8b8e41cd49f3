package script

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// nullValue is the Go side of cjson.null.
type nullValue struct{}

// maxDepth bounds the nesting of values copied between Lua and Go.
const maxDepth = 100

// toLua copies a Go value into the state: JSON-like values (strings,
// numbers, booleans, maps with string keys, slices) become Lua values and
// tables; any other Go value is carried as an opaque userdata that
// copies back to the same Go value.
func (st *state) toLua(v any) lua.LValue {
	return st.toLuaDepth(v, 0)
}

func (st *state) toLuaDepth(v any, depth int) lua.LValue {
	L := st.L
	switch x := v.(type) {
	case nil:
		return lua.LNil
	case nullValue:
		return st.null
	case string:
		return lua.LString(x)
	case []byte:
		return lua.LString(x)
	case bool:
		return lua.LBool(x)
	case float64:
		return lua.LNumber(x)
	case float32:
		return lua.LNumber(x)
	case int:
		return lua.LNumber(x)
	case int64:
		return lua.LNumber(x)
	case int32:
		return lua.LNumber(x)
	case uint:
		return lua.LNumber(x)
	case uint64:
		return lua.LNumber(x)
	case uint32:
		return lua.LNumber(x)
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return lua.LString(x)
		}
		return lua.LNumber(f)
	}
	if depth >= maxDepth {
		return lua.LNil
	}
	switch x := v.(type) {
	case []any:
		t := L.CreateTable(len(x), 0)
		for _, e := range x {
			t.Append(st.toLuaDepth(e, depth+1))
		}
		return t
	case []string:
		t := L.CreateTable(len(x), 0)
		for _, e := range x {
			t.Append(lua.LString(e))
		}
		return t
	case map[string]any:
		t := L.CreateTable(0, len(x))
		for k, e := range x {
			t.RawSetString(k, st.toLuaDepth(e, depth+1))
		}
		return t
	case map[string]string:
		t := L.CreateTable(0, len(x))
		for k, e := range x {
			t.RawSetString(k, lua.LString(e))
		}
		return t
	case http.Header:
		return st.toLuaDepth(map[string][]string(x), depth)
	case url.Values:
		return st.toLuaDepth(map[string][]string(x), depth)
	case map[string][]string:
		t := L.CreateTable(0, len(x))
		for k, e := range x {
			t.RawSetString(k, st.toLuaDepth(e, depth+1))
		}
		return t
	}
	ud := L.NewUserData()
	ud.Value = v
	return ud
}

// errFunction is the error of a value that cannot leave its interpreter.
var errFunction = errors.New("a function cannot be shared with other policies; keep it on self or under a non-string key of context")

// toGo copies a Lua value out of the interpreter: a table whose keys are
// exactly 1..n becomes []any, any other table map[string]any (number keys
// written as text), numbers float64. Functions and threads are refused.
func toGo(v lua.LValue, depth int) (any, error) {
	switch x := v.(type) {
	case *lua.LNilType:
		return nil, nil
	case lua.LBool:
		return bool(x), nil
	case lua.LNumber:
		return float64(x), nil
	case lua.LString:
		return string(x), nil
	case *lua.LUserData:
		if _, ok := x.Value.(nullValue); ok {
			return nil, nil
		}
		return x.Value, nil
	case *lua.LTable:
		if depth >= maxDepth {
			return nil, fmt.Errorf("nested deeper than %d tables (a table that contains itself?)", maxDepth)
		}
		n := x.MaxN()
		count := 0
		var err error
		x.ForEach(func(lua.LValue, lua.LValue) { count++ })
		if n > 0 && n == count {
			out := make([]any, n)
			for i := 1; i <= n && err == nil; i++ {
				out[i-1], err = toGo(x.RawGetInt(i), depth+1)
			}
			return out, err
		}
		out := make(map[string]any, count)
		x.ForEach(func(k, e lua.LValue) {
			if err != nil {
				return
			}
			var key string
			switch kk := k.(type) {
			case lua.LString:
				key = string(kk)
			case lua.LNumber:
				key = kk.String()
			default:
				err = fmt.Errorf("a %s key cannot be shared", k.Type())
				return
			}
			var g any
			if g, err = toGo(e, depth+1); err != nil {
				err = fmt.Errorf("%s: %w", key, err)
				return
			}
			out[key] = g
		})
		return out, err
	case *lua.LFunction:
		return nil, errFunction
	}
	return nil, fmt.Errorf("a %s cannot be shared", v.Type())
}

// sameValue reports whether a and b are the same map or slice, so that a
// table copied to the context is known to be still the one it holds.
func sameValue(a, b any) bool {
	ra, rb := reflect.ValueOf(a), reflect.ValueOf(b)
	if ra.Kind() != rb.Kind() || ra.Type() != rb.Type() {
		return false
	}
	switch ra.Kind() {
	case reflect.Map:
		return ra.UnsafePointer() == rb.UnsafePointer()
	case reflect.Slice:
		return ra.Len() == rb.Len() && ra.UnsafePointer() == rb.UnsafePointer()
	}
	return false
}

// decodeJSON decodes a JSON document into a Lua value; JSON null becomes
// null (cjson.null).
func decodeJSON(L *lua.LState, data []byte, null *lua.LUserData) (lua.LValue, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return L.NewTable(), nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return lua.LNil, err
	}
	if dec.More() {
		return lua.LNil, errors.New("text after the JSON value")
	}
	return jsonToLua(L, v, null), nil
}

func jsonToLua(L *lua.LState, v any, null *lua.LUserData) lua.LValue {
	switch x := v.(type) {
	case nil:
		return null
	case bool:
		return lua.LBool(x)
	case string:
		return lua.LString(x)
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			return lua.LNumber(math.Inf(1))
		}
		return lua.LNumber(f)
	case []any:
		t := L.CreateTable(len(x), 0)
		for _, e := range x {
			t.Append(jsonToLua(L, e, null))
		}
		return t
	case map[string]any:
		t := L.CreateTable(0, len(x))
		for k, e := range x {
			t.RawSetString(k, jsonToLua(L, e, null))
		}
		return t
	}
	return lua.LNil
}

// joinArgs writes the arguments from index first on, as ngx.log and print
// do: strings and numbers as they are, nil and booleans by name, other
// values through tostring.
func joinArgs(L *lua.LState, first int, sep string) string {
	var b strings.Builder
	for i := first; i <= L.GetTop(); i++ {
		if i > first {
			b.WriteString(sep)
		}
		b.WriteString(L.ToStringMeta(L.Get(i)).String())
	}
	return b.String()
}

func sortStrings(s []string) []string {
	sort.Strings(s)
	return s
}
