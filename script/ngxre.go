package script

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"

	lua "github.com/yuin/gopher-lua"
)

// regexCache holds compiled regular expressions by options and source,
// shared by the states of a policy. It stops growing at regexCacheSize.
type regexCache struct {
	mu sync.Mutex
	m  map[string]*regexp.Regexp
}

const regexCacheSize = 512

// compileRegex compiles an ngx.re pattern with its option letters. The
// engine is Go's (RE2): no backreferences or lookaround, and linear time.
func (c *regexCache) compile(pattern, opts string) (*regexp.Regexp, error) {
	key := opts + "\x00" + pattern
	c.mu.Lock()
	re, ok := c.m[key]
	c.mu.Unlock()
	if ok {
		return re, nil
	}
	var flags strings.Builder
	anchored := false
	for _, o := range opts {
		switch o {
		case 'i', 'm', 's':
			flags.WriteRune(o)
		case 'U':
			flags.WriteRune('U')
		case 'a':
			anchored = true
		case 'j', 'o', 'u', 'D', 'J':
			// JIT, compile-once, UTF-8 and duplicate names need nothing here.
		case 'x':
			return nil, fmt.Errorf("regex option x (extended) is not supported")
		default:
			return nil, fmt.Errorf("unknown regex option %q", o)
		}
	}
	src := pattern
	if anchored {
		src = `\A(?:` + src + `)`
	}
	if flags.Len() > 0 {
		src = "(?" + flags.String() + ")" + src
	}
	re, err := regexp.Compile(src)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string]*regexp.Regexp{}
	}
	if len(c.m) < regexCacheSize {
		c.m[key] = re
	}
	c.mu.Unlock()
	return re, nil
}

func (st *state) openNgxRe() *lua.LTable {
	L := st.L
	t := L.NewTable()
	for name, fn := range map[string]lua.LGFunction{
		"match":  st.reMatch,
		"find":   st.reFind,
		"gsub":   func(L *lua.LState) int { return st.reSub(L, -1) },
		"sub":    func(L *lua.LState) int { return st.reSub(L, 1) },
		"gmatch": st.reGmatch,
	} {
		t.RawSetString(name, L.NewFunction(fn))
	}
	setMissing(L, t, "ngx.re")
	return t
}

// startPos reads ctx.pos (1-based) when a ctx table is given.
func startPos(L *lua.LState, idx int, subject string) (int, *lua.LTable) {
	ctx, ok := L.Get(idx).(*lua.LTable)
	if !ok {
		return 0, nil
	}
	pos := 0
	if n, ok := ctx.RawGetString("pos").(lua.LNumber); ok && n > 1 {
		pos = int(n) - 1
	}
	if pos > len(subject) {
		pos = len(subject)
	}
	return pos, ctx
}

// captures builds OpenResty's match table: [0] the whole match, [n] the
// groups (false when a group did not take part), and named groups by name.
func captures(L *lua.LState, re *regexp.Regexp, subject string, loc []int) *lua.LTable {
	t := L.CreateTable(len(loc)/2, 0)
	names := re.SubexpNames()
	for i := 0; i*2 < len(loc); i++ {
		var v lua.LValue = lua.LFalse
		if loc[2*i] >= 0 {
			v = lua.LString(subject[loc[2*i]:loc[2*i+1]])
		}
		t.RawSetInt(i, v)
		if i < len(names) && names[i] != "" {
			t.RawSetString(names[i], v)
		}
	}
	return t
}

func (st *state) reMatch(L *lua.LState) int {
	subject, pattern, opts := L.CheckString(1), L.CheckString(2), L.OptString(3, "")
	re, err := st.p.regexes().compile(pattern, opts)
	if err != nil {
		L.Push(lua.LNil)
		L.Push(lua.LString(err.Error()))
		return 2
	}
	pos, ctx := startPos(L, 4, subject)
	loc := re.FindStringSubmatchIndex(subject[pos:])
	if loc == nil {
		L.Push(lua.LNil)
		return 1
	}
	for i := range loc {
		if loc[i] >= 0 {
			loc[i] += pos
		}
	}
	if ctx != nil {
		ctx.RawSetString("pos", lua.LNumber(loc[1]+1))
	}
	L.Push(captures(L, re, subject, loc))
	return 1
}

func (st *state) reFind(L *lua.LState) int {
	subject, pattern, opts := L.CheckString(1), L.CheckString(2), L.OptString(3, "")
	re, err := st.p.regexes().compile(pattern, opts)
	if err != nil {
		L.Push(lua.LNil)
		L.Push(lua.LNil)
		L.Push(lua.LString(err.Error()))
		return 3
	}
	pos, ctx := startPos(L, 4, subject)
	nth := L.OptInt(5, 0)
	loc := re.FindStringSubmatchIndex(subject[pos:])
	if loc == nil || nth*2+1 >= len(loc) || loc[nth*2] < 0 {
		L.Push(lua.LNil)
		return 1
	}
	if ctx != nil {
		ctx.RawSetString("pos", lua.LNumber(pos+loc[1]+1))
	}
	L.Push(lua.LNumber(pos + loc[nth*2] + 1))
	L.Push(lua.LNumber(pos + loc[nth*2+1]))
	return 2
}

// reSub replaces up to limit matches (-1: all) with a template ($0, $1,
// ${1}, $$) or the result of a function given the match table.
func (st *state) reSub(L *lua.LState, limit int) int {
	subject, pattern := L.CheckString(1), L.CheckString(2)
	repl := L.Get(3)
	opts := L.OptString(4, "")
	re, err := st.p.regexes().compile(pattern, opts)
	if err != nil {
		L.Push(lua.LNil)
		L.Push(lua.LNil)
		L.Push(lua.LString(err.Error()))
		return 3
	}
	var tmpl string
	fn, isFn := repl.(*lua.LFunction)
	if !isFn {
		s, ok := repl.(lua.LString)
		if !ok {
			if n, isNum := repl.(lua.LNumber); isNum {
				s = lua.LString(n.String())
			} else {
				L.ArgError(3, "a replacement string or function")
			}
		}
		tmpl = string(s)
	}
	var b strings.Builder
	last, n := 0, 0
	for _, loc := range re.FindAllStringSubmatchIndex(subject, limit) {
		b.WriteString(subject[last:loc[0]])
		if isFn {
			L.Push(fn)
			L.Push(captures(L, re, subject, loc))
			L.Call(1, 1)
			b.WriteString(L.ToStringMeta(L.Get(-1)).String())
			L.Pop(1)
		} else if err := expand(&b, tmpl, re, subject, loc); err != nil {
			L.Push(lua.LNil)
			L.Push(lua.LNil)
			L.Push(lua.LString(err.Error()))
			return 3
		}
		if b.Len() > st.p.opts.MaxBytes {
			L.RaiseError("ngx.re: a result over the limit of %d bytes", st.p.opts.MaxBytes)
		}
		last = loc[1]
		n++
	}
	b.WriteString(subject[last:])
	L.Push(lua.LString(b.String()))
	L.Push(lua.LNumber(n))
	return 2
}

// expand writes an ngx.re replacement template for one match.
func expand(b *strings.Builder, tmpl string, re *regexp.Regexp, subject string, loc []int) error {
	group := func(name string) error {
		i, err := strconv.Atoi(name)
		if err != nil {
			i = re.SubexpIndex(name)
		}
		if i < 0 || 2*i+1 >= len(loc) {
			return fmt.Errorf("the replacement refers to a missing group $%s", name)
		}
		if loc[2*i] >= 0 {
			b.WriteString(subject[loc[2*i]:loc[2*i+1]])
		}
		return nil
	}
	for i := 0; i < len(tmpl); i++ {
		c := tmpl[i]
		if c != '$' || i+1 == len(tmpl) {
			b.WriteByte(c)
			continue
		}
		i++
		switch {
		case tmpl[i] == '$':
			b.WriteByte('$')
		case tmpl[i] == '{':
			end := strings.IndexByte(tmpl[i:], '}')
			if end < 0 {
				return fmt.Errorf("unclosed ${ in the replacement")
			}
			if err := group(tmpl[i+1 : i+end]); err != nil {
				return err
			}
			i += end
		case tmpl[i] >= '0' && tmpl[i] <= '9':
			j := i
			for j < len(tmpl) && tmpl[j] >= '0' && tmpl[j] <= '9' {
				j++
			}
			if err := group(tmpl[i:j]); err != nil {
				return err
			}
			i = j - 1
		default:
			return fmt.Errorf("a $ in the replacement must be followed by a group or another $")
		}
	}
	return nil
}

func (st *state) reGmatch(L *lua.LState) int {
	subject, pattern, opts := L.CheckString(1), L.CheckString(2), L.OptString(3, "")
	re, err := st.p.regexes().compile(pattern, opts)
	if err != nil {
		L.Push(lua.LNil)
		L.Push(lua.LString(err.Error()))
		return 2
	}
	all := re.FindAllStringSubmatchIndex(subject, -1)
	i := 0
	L.Push(L.NewFunction(func(L *lua.LState) int {
		if i >= len(all) {
			L.Push(lua.LNil)
			return 1
		}
		L.Push(captures(L, re, subject, all[i]))
		i++
		return 1
	}))
	return 1
}
