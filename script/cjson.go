package script

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"unicode/utf8"

	lua "github.com/yuin/gopher-lua"
)

// openCJSON builds the cjson module (or cjson.safe, whose functions
// return nil and a message instead of raising an error).
func (st *state) openCJSON(safe bool) *lua.LTable {
	L := st.L
	t := L.NewTable()
	wrap := func(f lua.LGFunction) lua.LGFunction {
		if !safe {
			return f
		}
		return func(L *lua.LState) int {
			top := L.GetTop()
			L.Insert(L.NewFunction(f), 1)
			if err := L.PCall(top, 1, nil); err != nil {
				L.Push(lua.LNil)
				L.Push(st.errorObject(err))
				return 2
			}
			return 1
		}
	}
	t.RawSetString("encode", L.NewFunction(wrap(st.cjsonEncode)))
	t.RawSetString("decode", L.NewFunction(wrap(st.cjsonDecode)))
	t.RawSetString("null", st.null)
	t.RawSetString("empty_array", L.NewTable())
	return t
}

func (st *state) cjsonEncode(L *lua.LState) int {
	e := jsonEncoder{st: st}
	if err := e.value(L.CheckAny(1), 0); err != nil {
		L.RaiseError("cjson.encode: %v", err)
	}
	L.Push(lua.LString(e.buf))
	return 1
}

func (st *state) cjsonDecode(L *lua.LState) int {
	s := L.CheckString(1)
	v, err := decodeJSON(L, []byte(s), st.null)
	if err != nil {
		L.RaiseError("cjson.decode: %v", err)
	}
	L.Push(v)
	return 1
}

// jsonEncoder writes a Lua value as JSON: a table whose keys are exactly
// 1..n is an array, any other table an object with its keys sorted.
type jsonEncoder struct {
	st  *state
	buf []byte
}

func (e *jsonEncoder) value(v lua.LValue, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("nested deeper than %d tables", maxDepth)
	}
	if len(e.buf) > e.st.p.opts.MaxBytes {
		return fmt.Errorf("output over the limit of %d bytes", e.st.p.opts.MaxBytes)
	}
	switch x := v.(type) {
	case *lua.LNilType:
		e.buf = append(e.buf, "null"...)
	case lua.LBool:
		e.buf = strconv.AppendBool(e.buf, bool(x))
	case lua.LNumber:
		f := float64(x)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("cannot encode %v", f)
		}
		if f == math.Trunc(f) && math.Abs(f) < 1e15 {
			e.buf = strconv.AppendInt(e.buf, int64(f), 10)
		} else {
			e.buf = strconv.AppendFloat(e.buf, f, 'g', 14, 64)
		}
	case lua.LString:
		e.str(string(x))
	case *lua.LUserData:
		if v == e.st.null {
			e.buf = append(e.buf, "null"...)
			return nil
		}
		return fmt.Errorf("cannot encode a userdata")
	case *lua.LTable:
		return e.table(x, depth)
	default:
		return fmt.Errorf("cannot encode a %s", v.Type())
	}
	return nil
}

func (e *jsonEncoder) table(t *lua.LTable, depth int) error {
	n, count := t.MaxN(), 0
	t.ForEach(func(lua.LValue, lua.LValue) { count++ })
	if n > 0 && n == count {
		e.buf = append(e.buf, '[')
		for i := 1; i <= n; i++ {
			if i > 1 {
				e.buf = append(e.buf, ',')
			}
			if err := e.value(t.RawGetInt(i), depth+1); err != nil {
				return err
			}
		}
		e.buf = append(e.buf, ']')
		return nil
	}
	type kv struct {
		k string
		v lua.LValue
	}
	pairs := make([]kv, 0, count)
	var err error
	t.ForEach(func(k, v lua.LValue) {
		switch kk := k.(type) {
		case lua.LString:
			pairs = append(pairs, kv{string(kk), v})
		case lua.LNumber:
			pairs = append(pairs, kv{kk.String(), v})
		default:
			err = fmt.Errorf("cannot encode a table with a %s key", k.Type())
		}
	})
	if err != nil {
		return err
	}
	sort.Slice(pairs, func(i, j int) bool { return pairs[i].k < pairs[j].k })
	e.buf = append(e.buf, '{')
	for i, p := range pairs {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		e.str(p.k)
		e.buf = append(e.buf, ':')
		if err := e.value(p.v, depth+1); err != nil {
			return err
		}
	}
	e.buf = append(e.buf, '}')
	return nil
}

const hexDigits = "0123456789abcdef"

func (e *jsonEncoder) str(s string) {
	e.buf = append(e.buf, '"')
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			e.buf = append(e.buf, '\\', c)
			i++
		case c < 0x20:
			switch c {
			case '\n':
				e.buf = append(e.buf, '\\', 'n')
			case '\r':
				e.buf = append(e.buf, '\\', 'r')
			case '\t':
				e.buf = append(e.buf, '\\', 't')
			default:
				e.buf = append(e.buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
		case c < utf8.RuneSelf:
			e.buf = append(e.buf, c)
			i++
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				e.buf = append(e.buf, `\ufffd`...)
			} else {
				e.buf = append(e.buf, s[i:i+size]...)
			}
			i += size
		}
	}
	e.buf = append(e.buf, '"')
}
