package script

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"hash/crc32"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/verdict-policy/verdict/chain"
)

// nginx's log levels, as ngx.STDERR … ngx.DEBUG.
const (
	levelStderr = iota
	levelEmerg
	levelAlert
	levelCrit
	levelErr
	levelWarn
	levelNotice
	levelInfo
	levelDebug
)

// openNgx builds the ngx table: the part of OpenResty's API that policies
// use most, acting on the request the state serves. Reading a name
// outside the subset raises an error naming it.
func (st *state) openNgx() *lua.LTable {
	L := st.L
	ngx := L.NewTable()
	for name, v := range map[string]int{
		"STDERR": levelStderr, "EMERG": levelEmerg, "ALERT": levelAlert, "CRIT": levelCrit,
		"ERR": levelErr, "WARN": levelWarn, "NOTICE": levelNotice, "INFO": levelInfo, "DEBUG": levelDebug,
		"OK": 0, "ERROR": -1, "AGAIN": -2, "DONE": -4, "DECLINED": -5,
		"HTTP_CONTINUE": 100, "HTTP_SWITCHING_PROTOCOLS": 101,
		"HTTP_OK": 200, "HTTP_CREATED": 201, "HTTP_ACCEPTED": 202, "HTTP_NO_CONTENT": 204, "HTTP_PARTIAL_CONTENT": 206,
		"HTTP_SPECIAL_RESPONSE": 300, "HTTP_MOVED_PERMANENTLY": 301, "HTTP_MOVED_TEMPORARILY": 302,
		"HTTP_SEE_OTHER": 303, "HTTP_NOT_MODIFIED": 304, "HTTP_TEMPORARY_REDIRECT": 307, "HTTP_PERMANENT_REDIRECT": 308,
		"HTTP_BAD_REQUEST": 400, "HTTP_UNAUTHORIZED": 401, "HTTP_PAYMENT_REQUIRED": 402, "HTTP_FORBIDDEN": 403,
		"HTTP_NOT_FOUND": 404, "HTTP_NOT_ALLOWED": 405, "HTTP_NOT_ACCEPTABLE": 406, "HTTP_REQUEST_TIMEOUT": 408,
		"HTTP_CONFLICT": 409, "HTTP_GONE": 410, "HTTP_UPGRADE_REQUIRED": 426, "HTTP_TOO_MANY_REQUESTS": 429,
		"HTTP_CLOSE": 444, "HTTP_ILLEGAL": 451, "HTTP_INTERNAL_SERVER_ERROR": 500, "HTTP_METHOD_NOT_IMPLEMENTED": 501,
		"HTTP_BAD_GATEWAY": 502, "HTTP_SERVICE_UNAVAILABLE": 503, "HTTP_GATEWAY_TIMEOUT": 504,
		"HTTP_VERSION_NOT_SUPPORTED": 505, "HTTP_INSUFFICIENT_STORAGE": 507,
	} {
		ngx.RawSetString(name, lua.LNumber(v))
	}
	for name, m := range map[string]string{
		"HTTP_GET": "GET", "HTTP_HEAD": "HEAD", "HTTP_PUT": "PUT", "HTTP_POST": "POST",
		"HTTP_DELETE": "DELETE", "HTTP_OPTIONS": "OPTIONS", "HTTP_PATCH": "PATCH", "HTTP_TRACE": "TRACE",
	} {
		ngx.RawSetString(name, lua.LString(m))
	}
	ngx.RawSetString("null", st.null)
	fns := map[string]lua.LGFunction{
		"log":           st.ngxLog,
		"say":           func(L *lua.LState) int { return st.ngxPrint(L, true) },
		"print":         func(L *lua.LState) int { return st.ngxPrint(L, false) },
		"exit":          st.ngxExit,
		"now":           func(L *lua.LState) int { L.Push(lua.LNumber(float64(time.Now().UnixMilli()) / 1000)); return 1 },
		"time":          func(L *lua.LState) int { L.Push(lua.LNumber(time.Now().Unix())); return 1 },
		"update_time":   func(*lua.LState) int { return 0 },
		"today":         func(L *lua.LState) int { L.Push(lua.LString(time.Now().Format("2006-01-02"))); return 1 },
		"localtime":     func(L *lua.LState) int { L.Push(lua.LString(time.Now().Format(time.DateTime))); return 1 },
		"utctime":       func(L *lua.LState) int { L.Push(lua.LString(time.Now().UTC().Format(time.DateTime))); return 1 },
		"http_time":     st.ngxHTTPTime,
		"get_phase":     func(L *lua.LState) int { L.Push(lua.LString(st.phase.String())); return 1 },
		"encode_base64": ngxEncodeBase64,
		"decode_base64": ngxDecodeBase64,
		"md5": func(L *lua.LState) int {
			s := md5.Sum([]byte(L.CheckString(1)))
			L.Push(lua.LString(hex.EncodeToString(s[:])))
			return 1
		},
		"md5_bin":      func(L *lua.LState) int { s := md5.Sum([]byte(L.CheckString(1))); L.Push(lua.LString(s[:])); return 1 },
		"sha1_bin":     func(L *lua.LState) int { s := sha1.Sum([]byte(L.CheckString(1))); L.Push(lua.LString(s[:])); return 1 },
		"hmac_sha1":    ngxHMACSHA1,
		"crc32_short":  ngxCRC32,
		"crc32_long":   ngxCRC32,
		"escape_uri":   func(L *lua.LState) int { L.Push(lua.LString(url.QueryEscape(L.CheckString(1)))); return 1 },
		"unescape_uri": ngxUnescapeURI,
		"encode_args":  st.ngxEncodeArgs,
		"decode_args":  func(L *lua.LState) int { L.Push(st.argsTable(L.CheckString(1))); return 1 },
	}
	for name, fn := range fns {
		ngx.RawSetString(name, L.NewFunction(fn))
	}
	ngx.RawSetString("req", st.openNgxReq())
	ngx.RawSetString("re", st.openNgxRe())
	ngx.RawSetString("var", st.dynamicTable("ngx.var", st.varGet, st.varSet))
	ngx.RawSetString("header", st.dynamicTable("ngx.header", st.headerGet, st.headerSet))
	ngx.RawSetString("arg", st.dynamicTable("ngx.arg", st.argGet, st.argSet))

	// status and ctx change with the request: they are served by the
	// metatable, as is the error for a name outside the subset.
	mt := L.NewTable()
	mt.RawSetString("__index", L.NewFunction(func(L *lua.LState) int {
		switch name := L.CheckString(2); name {
		case "status":
			L.Push(lua.LNumber(st.currentStatus()))
		case "ctx":
			if st.ngxCtx == nil {
				st.ngxCtx = L.NewTable()
			}
			L.Push(st.ngxCtx)
		case "headers_sent":
			L.Push(lua.LBool(st.phase >= chain.PhaseHeaderFilter))
		default:
			L.RaiseError("ngx.%s is not available to Verdict policies (see the ngx subset in docs/custom-policies.md)", name)
		}
		return 1
	}))
	mt.RawSetString("__newindex", L.NewFunction(func(L *lua.LState) int {
		switch name := L.CheckString(2); name {
		case "status":
			st.setStatus(L.CheckInt(3))
		case "ctx":
			st.ngxCtx = L.CheckTable(3)
		default:
			L.RaiseError("ngx.%s cannot be set", name)
		}
		return 0
	}))
	L.SetMetatable(ngx, mt)
	return ngx
}

// dynamicTable returns an empty table whose reads and writes call get and
// set.
func (st *state) dynamicTable(name string, get, set lua.LGFunction) *lua.LTable {
	L := st.L
	t := L.NewTable()
	mt := L.NewTable()
	mt.RawSetString("__index", L.NewFunction(get))
	mt.RawSetString("__newindex", L.NewFunction(set))
	mt.RawSetString("__tostring", L.NewFunction(func(L *lua.LState) int { L.Push(lua.LString(name)); return 1 }))
	L.SetMetatable(t, mt)
	return t
}

// request returns the request being served, raising an error outside one.
func (st *state) request(what string) *chain.Context {
	if st.req == nil || st.req.Request == nil {
		st.L.RaiseError("%s is available only while serving a request", what)
	}
	return st.req
}

func (st *state) logger() *slog.Logger {
	if st.req != nil && st.req.Logger != nil {
		return st.req.Logger.With("policy", st.p.folder.name, "version", st.p.folder.version)
	}
	return st.p.logger
}

func (st *state) log(level int, msg string) {
	var lv slog.Level
	switch {
	case level <= levelErr:
		lv = slog.LevelError
	case level == levelWarn:
		lv = slog.LevelWarn
	case level == levelDebug:
		lv = slog.LevelDebug
	default:
		lv = slog.LevelInfo
	}
	lg := st.logger()
	if !lg.Enabled(context.Background(), lv) {
		return
	}
	lg.Log(context.Background(), lv, msg, "phase", st.phase.String())
}

func (st *state) ngxLog(L *lua.LState) int {
	level := L.CheckInt(1)
	if level < levelStderr || level > levelDebug {
		L.ArgError(1, "not a log level (use ngx.ERR, ngx.WARN, ngx.INFO, ngx.DEBUG …)")
	}
	st.log(level, joinArgs(L, 2, ""))
	return 0
}

// ngxPrint appends its arguments to the response body: strings, numbers,
// booleans, nil, ngx.null and (nested) arrays of them.
func (st *state) ngxPrint(L *lua.LState, newline bool) int {
	if st.phase > chain.PhaseContent {
		L.RaiseError("ngx.say and ngx.print are not allowed in %s", st.phase)
	}
	st.request("ngx.say")
	for i := 1; i <= L.GetTop(); i++ {
		st.appendOut(L, L.Get(i), 0)
	}
	if newline {
		st.out = append(st.out, '\n')
	}
	if len(st.out) > st.p.opts.MaxBytes {
		L.RaiseError("the response body is over the limit of %d bytes", st.p.opts.MaxBytes)
	}
	st.printed = true
	L.Push(lua.LNumber(1))
	return 1
}

func (st *state) appendOut(L *lua.LState, v lua.LValue, depth int) {
	switch x := v.(type) {
	case lua.LString:
		st.out = append(st.out, x...)
	case lua.LNumber:
		st.out = append(st.out, x.String()...)
	case lua.LBool:
		st.out = strconv.AppendBool(st.out, bool(x))
	case *lua.LNilType:
		st.out = append(st.out, "nil"...)
	case *lua.LTable:
		if depth > maxDepth {
			L.RaiseError("ngx.say: tables nested too deeply")
		}
		for i := 1; i <= x.Len(); i++ {
			st.appendOut(L, x.RawGetInt(i), depth+1)
		}
	default:
		if v == st.null {
			st.out = append(st.out, "null"...)
			return
		}
		L.RaiseError("ngx.say: cannot print a %s", v.Type())
	}
	if len(st.out) > st.p.opts.MaxBytes {
		L.RaiseError("the response body is over the limit of %d bytes", st.p.opts.MaxBytes)
	}
}

// ngxExit ends the phase handler. In rewrite, access and content a status
// of 200 or more ends the request with that status and what was printed;
// ngx.OK (0) ends the current phase for every policy.
func (st *state) ngxExit(L *lua.LState) int {
	status := L.CheckInt(1)
	switch st.phase {
	case chain.PhaseRewrite, chain.PhaseAccess, chain.PhaseContent:
		req := st.request("ngx.exit")
		switch {
		case status >= 200:
			req.Exit(status, string(st.out))
			st.out, st.printed = st.out[:0], false
		case status == 0:
			if st.printed {
				st.finishOutput()
			} else {
				req.ExitPhase()
			}
		case status < 0:
			L.RaiseError("ngx.exit(%d): the policy ended the request with an error", status)
		default:
			L.ArgError(1, "not a final HTTP status")
		}
	}
	L.Error(st.exit, 0)
	return 0
}

func (st *state) currentStatus() int {
	if st.req != nil && st.phase >= chain.PhaseHeaderFilter {
		return st.req.Response.Status
	}
	return st.status
}

func (st *state) setStatus(n int) {
	if n < 100 || n > 999 {
		st.L.ArgError(3, "not an HTTP status")
	}
	st.status = n
	if st.req != nil && st.phase >= chain.PhaseHeaderFilter {
		st.req.Response.Status = n
	}
}

func (st *state) ngxHTTPTime(L *lua.LState) int {
	sec := L.CheckNumber(1)
	L.Push(lua.LString(time.Unix(int64(sec), 0).UTC().Format(http.TimeFormat)))
	return 1
}

func ngxEncodeBase64(L *lua.LState) int {
	s := L.CheckString(1)
	enc := base64.StdEncoding
	if L.OptBool(2, false) {
		enc = base64.RawStdEncoding
	}
	L.Push(lua.LString(enc.EncodeToString([]byte(s))))
	return 1
}

func ngxDecodeBase64(L *lua.LState) int {
	s := L.CheckString(1)
	enc := base64.StdEncoding
	if len(s)%4 != 0 {
		enc = base64.RawStdEncoding
	}
	b, err := enc.DecodeString(s)
	if err != nil {
		L.Push(lua.LNil)
		return 1
	}
	L.Push(lua.LString(b))
	return 1
}

func ngxHMACSHA1(L *lua.LState) int {
	m := hmac.New(sha1.New, []byte(L.CheckString(1)))
	m.Write([]byte(L.CheckString(2)))
	L.Push(lua.LString(m.Sum(nil)))
	return 1
}

func ngxCRC32(L *lua.LState) int {
	L.Push(lua.LNumber(crc32.ChecksumIEEE([]byte(L.CheckString(1)))))
	return 1
}

func ngxUnescapeURI(L *lua.LState) int {
	s := L.CheckString(1)
	if u, err := url.QueryUnescape(s); err == nil {
		s = u
	}
	L.Push(lua.LString(s))
	return 1
}

func (st *state) ngxEncodeArgs(L *lua.LState) int {
	L.Push(lua.LString(encodeArgs(L, L.CheckTable(1))))
	return 1
}

// encodeArgs writes a query string from a table: key=value, a bare key
// for true, nothing for false, a repeated key for an array; keys sorted.
func encodeArgs(L *lua.LState, t *lua.LTable) string {
	var keys []string
	t.ForEach(func(k, _ lua.LValue) {
		if s, ok := k.(lua.LString); ok {
			keys = append(keys, string(s))
		}
	})
	sort.Strings(keys)
	var b strings.Builder
	add := func(k string, v lua.LValue) {
		switch x := v.(type) {
		case lua.LBool:
			if !x {
				return
			}
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			b.WriteString(url.QueryEscape(k))
		case lua.LString, lua.LNumber:
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			b.WriteString(url.QueryEscape(k))
			b.WriteByte('=')
			b.WriteString(url.QueryEscape(x.String()))
		default:
			L.RaiseError("query argument %q: a %s cannot be encoded", k, v.Type())
		}
	}
	for _, k := range keys {
		v := t.RawGetString(k)
		if arr, ok := v.(*lua.LTable); ok {
			for i := 1; i <= arr.Len(); i++ {
				add(k, arr.RawGetInt(i))
			}
			continue
		}
		add(k, v)
	}
	return b.String()
}

// argsTable parses a query string the way ngx.req.get_uri_args does: a
// bare key is true, a repeated key an array of its values.
func (st *state) argsTable(q string) *lua.LTable {
	L := st.L
	t := L.NewTable()
	for q != "" {
		var part string
		part, q, _ = strings.Cut(q, "&")
		if part == "" {
			continue
		}
		k, v, hasValue := strings.Cut(part, "=")
		if uk, err := url.QueryUnescape(k); err == nil {
			k = uk
		}
		var lv lua.LValue = lua.LTrue
		if hasValue {
			if uv, err := url.QueryUnescape(v); err == nil {
				v = uv
			}
			lv = lua.LString(v)
		}
		switch cur := t.RawGetString(k).(type) {
		case *lua.LNilType:
			t.RawSetString(k, lv)
		case *lua.LTable:
			cur.Append(lv)
		default:
			arr := L.NewTable()
			arr.Append(cur)
			arr.Append(lv)
			t.RawSetString(k, arr)
		}
	}
	return t
}

// openNgxReq builds ngx.req.
func (st *state) openNgxReq() *lua.LTable {
	L := st.L
	t := L.NewTable()
	for name, fn := range map[string]lua.LGFunction{
		"get_headers":  st.reqGetHeaders,
		"set_header":   st.reqSetHeader,
		"clear_header": st.reqClearHeader,
		"get_method": func(L *lua.LState) int {
			L.Push(lua.LString(st.request("ngx.req.get_method").Request.Method))
			return 1
		},
		"set_method": st.reqSetMethod,
		"get_uri_args": func(L *lua.LState) int {
			L.Push(st.argsTable(st.request("ngx.req.get_uri_args").Request.URL.RawQuery))
			return 1
		},
		"set_uri_args":  st.reqSetURIArgs,
		"set_uri":       st.reqSetURI,
		"read_body":     st.reqReadBody,
		"get_body_data": st.reqGetBodyData,
		"get_post_args": st.reqGetPostArgs,
		"discard_body":  func(*lua.LState) int { return 0 },
		"http_version": func(L *lua.LState) int {
			r := st.request("ngx.req.http_version").Request
			L.Push(lua.LNumber(float64(r.ProtoMajor) + float64(r.ProtoMinor)/10))
			return 1
		},
		"start_time": func(L *lua.LState) int {
			L.Push(lua.LNumber(float64(st.request("ngx.req.start_time").Start.UnixMilli()) / 1000))
			return 1
		},
	} {
		t.RawSetString(name, L.NewFunction(fn))
	}
	setMissing(L, t, "ngx.req")
	return t
}

// headerName turns a Lua header name into the canonical HTTP form;
// underscores stand for hyphens, as in OpenResty.
func headerName(s string) string {
	return http.CanonicalHeaderKey(strings.ReplaceAll(s, "_", "-"))
}

func (st *state) reqGetHeaders(L *lua.LState) int {
	r := st.request("ngx.req.get_headers").Request
	t := L.CreateTable(0, len(r.Header)+1)
	set := func(k string, vs []string) {
		k = strings.ToLower(k)
		if len(vs) == 1 {
			t.RawSetString(k, lua.LString(vs[0]))
			return
		}
		arr := L.CreateTable(len(vs), 0)
		for _, v := range vs {
			arr.Append(lua.LString(v))
		}
		t.RawSetString(k, arr)
	}
	if r.Host != "" {
		set("host", []string{r.Host})
	}
	for k, vs := range r.Header {
		set(k, vs)
	}
	mt := L.NewTable()
	mt.RawSetString("__index", L.NewFunction(func(L *lua.LState) int {
		k := strings.ToLower(strings.ReplaceAll(L.CheckString(2), "_", "-"))
		L.Push(t.RawGetString(k))
		return 1
	}))
	L.SetMetatable(t, mt)
	L.Push(t)
	return 1
}

func (st *state) reqSetHeader(L *lua.LState) int {
	r := st.request("ngx.req.set_header").Request
	name := headerName(L.CheckString(1))
	v := L.Get(2)
	if name == "Host" {
		if s, ok := v.(lua.LString); ok {
			r.Host = string(s)
			return 0
		}
	}
	switch x := v.(type) {
	case *lua.LNilType:
		r.Header.Del(name)
	case *lua.LTable:
		r.Header.Del(name)
		for i := 1; i <= x.Len(); i++ {
			r.Header.Add(name, L.ToStringMeta(x.RawGetInt(i)).String())
		}
	case lua.LString, lua.LNumber, lua.LBool:
		r.Header.Set(name, x.String())
	default:
		L.ArgError(2, "a header value must be a string, a number or a table of them")
	}
	return 0
}

func (st *state) reqClearHeader(L *lua.LState) int {
	st.request("ngx.req.clear_header").Request.Header.Del(headerName(L.CheckString(1)))
	return 0
}

func (st *state) reqSetMethod(L *lua.LState) int {
	r := st.request("ngx.req.set_method").Request
	m := L.CheckString(1)
	if m == "" || strings.ContainsAny(m, " \t\r\n") {
		L.ArgError(1, "not an HTTP method")
	}
	r.Method = m
	return 0
}

func (st *state) reqSetURIArgs(L *lua.LState) int {
	r := st.request("ngx.req.set_uri_args").Request
	switch x := L.Get(1).(type) {
	case lua.LString:
		r.URL.RawQuery = string(x)
	case *lua.LTable:
		r.URL.RawQuery = encodeArgs(L, x)
	default:
		L.ArgError(1, "a query string or a table of arguments")
	}
	r.URL.ForceQuery = false
	return 0
}

func (st *state) reqSetURI(L *lua.LState) int {
	r := st.request("ngx.req.set_uri").Request
	uri := L.CheckString(1)
	if uri == "" {
		L.ArgError(1, "an empty URI")
	}
	if !strings.HasPrefix(uri, "/") {
		uri = "/" + uri
	}
	r.URL.Path = uri
	r.URL.RawPath = ""
	return 0
}

func (st *state) reqReadBody(L *lua.LState) int {
	req := st.request("ngx.req.read_body")
	if st.bodyRead {
		return 0
	}
	st.bodyRead = true
	r := req.Request
	if r.Body == nil || r.Body == http.NoBody {
		return 0
	}
	max := st.p.opts.MaxBytes
	data, err := io.ReadAll(io.LimitReader(r.Body, int64(max)+1))
	if err != nil {
		L.RaiseError("ngx.req.read_body: %v", err)
	}
	if len(data) > max {
		// Too big to hold: the body streams on untouched and
		// get_body_data returns nil, as when nginx buffers to a file.
		st.bodyBig = true
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(data), r.Body), r.Body}
		return 0
	}
	_ = r.Body.Close()
	st.body = data
	r.Body = io.NopCloser(bytes.NewReader(data))
	r.ContentLength = int64(len(data))
	return 0
}

func (st *state) reqGetBodyData(L *lua.LState) int {
	st.request("ngx.req.get_body_data")
	if !st.bodyRead || st.bodyBig || len(st.body) == 0 {
		L.Push(lua.LNil)
		return 1
	}
	L.Push(lua.LString(st.body))
	return 1
}

func (st *state) reqGetPostArgs(L *lua.LState) int {
	req := st.request("ngx.req.get_post_args")
	if !st.bodyRead {
		L.RaiseError("ngx.req.get_post_args: call ngx.req.read_body first")
	}
	if ct := req.Request.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") || st.bodyBig {
		L.Push(L.NewTable())
		return 1
	}
	L.Push(st.argsTable(string(st.body)))
	return 1
}

// varGet serves ngx.var.NAME for the variables of the subset.
func (st *state) varGet(L *lua.LState) int {
	name := L.CheckString(2)
	req := st.request("ngx.var")
	r := req.Request
	var v lua.LValue = lua.LNil
	str := func(s string) {
		if s != "" {
			v = lua.LString(s)
		}
	}
	switch name {
	case "uri":
		v = lua.LString(r.URL.Path)
	case "request_uri":
		v = lua.LString(req.Original.URI)
	case "host":
		h := r.Host
		if host, _, err := net.SplitHostPort(h); err == nil {
			h = host
		}
		v = lua.LString(strings.ToLower(h))
	case "args", "query_string":
		str(r.URL.RawQuery)
	case "is_args":
		if r.URL.RawQuery != "" {
			v = lua.LString("?")
		} else {
			v = lua.LString("")
		}
	case "remote_addr":
		str(req.ClientIP)
	case "remote_port":
		if _, port, err := net.SplitHostPort(r.RemoteAddr); err == nil {
			str(port)
		}
	case "request_method":
		v = lua.LString(r.Method)
	case "scheme":
		v = lua.LString(req.Original.Scheme)
	case "server_addr", "server_port":
		if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
			if host, port, err := net.SplitHostPort(a.String()); err == nil {
				if name == "server_addr" {
					str(host)
				} else {
					str(port)
				}
			}
		}
	case "content_length":
		str(r.Header.Get("Content-Length"))
	case "content_type":
		str(r.Header.Get("Content-Type"))
	case "server_protocol":
		v = lua.LString(r.Proto)
	case "status":
		if req.Response.Status != 0 {
			v = lua.LString(strconv.Itoa(req.Response.Status))
		}
	case "request_time":
		v = lua.LNumber(float64(time.Since(req.Start).Milliseconds()) / 1000)
	default:
		switch {
		case strings.HasPrefix(name, "http_"):
			h := headerName(name[len("http_"):])
			if h == "Host" {
				str(r.Host)
			} else if vs := r.Header.Values(h); len(vs) > 0 {
				v = lua.LString(strings.Join(vs, ", "))
			}
		case strings.HasPrefix(name, "arg_"):
			str(firstArg(r.URL.RawQuery, name[len("arg_"):]))
		case strings.HasPrefix(name, "cookie_"):
			if c, err := r.Cookie(name[len("cookie_"):]); err == nil {
				v = lua.LString(c.Value)
			}
		default:
			L.RaiseError("ngx.var.%s is not available to Verdict policies (see the ngx subset in docs/custom-policies.md)", name)
		}
	}
	L.Push(v)
	return 1
}

// firstArg returns the first value of the query argument name, not
// unescaped, as nginx's $arg_name is.
func firstArg(q, name string) string {
	for q != "" {
		var part string
		part, q, _ = strings.Cut(q, "&")
		k, v, _ := strings.Cut(part, "=")
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

func (st *state) varSet(L *lua.LState) int {
	name := L.CheckString(2)
	r := st.request("ngx.var").Request
	switch name {
	case "args", "query_string":
		r.URL.RawQuery = L.OptString(3, "")
	default:
		L.RaiseError("ngx.var.%s cannot be written by Verdict policies", name)
	}
	return 0
}

// headerGet serves ngx.header.NAME: the response's headers.
func (st *state) headerGet(L *lua.LState) int {
	req := st.request("ngx.header")
	vs := req.Response.Header.Values(headerName(L.CheckString(2)))
	switch len(vs) {
	case 0:
		L.Push(lua.LNil)
	case 1:
		L.Push(lua.LString(vs[0]))
	default:
		t := L.CreateTable(len(vs), 0)
		for _, v := range vs {
			t.Append(lua.LString(v))
		}
		L.Push(t)
	}
	return 1
}

func (st *state) headerSet(L *lua.LState) int {
	req := st.request("ngx.header")
	if req.Response.Header == nil {
		req.Response.Header = make(http.Header)
	}
	h := req.Response.Header
	name := headerName(L.CheckString(2))
	switch x := L.Get(3).(type) {
	case *lua.LNilType:
		h.Del(name)
	case *lua.LTable:
		h.Del(name)
		for i := 1; i <= x.Len(); i++ {
			h.Add(name, L.ToStringMeta(x.RawGetInt(i)).String())
		}
	case lua.LString, lua.LNumber, lua.LBool:
		h.Set(name, x.String())
	default:
		L.ArgError(3, "a header value must be a string, a number or a table of them")
	}
	return 0
}

// argGet serves ngx.arg[1] (the body chunk) and ngx.arg[2] (the end flag)
// in body_filter.
func (st *state) argGet(L *lua.LState) int {
	if st.phase != chain.PhaseBodyFilter {
		L.RaiseError("ngx.arg is available only in body_filter")
	}
	switch L.CheckInt(2) {
	case 1:
		if st.chunkSet {
			L.Push(lua.LString(st.newChunk))
		} else {
			L.Push(lua.LString(st.chunk))
		}
	case 2:
		L.Push(lua.LBool(st.eof))
	default:
		L.Push(lua.LNil)
	}
	return 1
}

func (st *state) argSet(L *lua.LState) int {
	if st.phase != chain.PhaseBodyFilter {
		L.RaiseError("ngx.arg is available only in body_filter")
	}
	switch L.CheckInt(2) {
	case 1:
		switch x := L.Get(3).(type) {
		case *lua.LNilType:
			st.newChunk = ""
		case lua.LString, lua.LNumber:
			st.newChunk = x.String()
		default:
			L.ArgError(3, "the body chunk must be a string")
		}
		if len(st.newChunk) > st.p.opts.MaxBytes {
			L.RaiseError("ngx.arg[1]: a chunk over the limit of %d bytes", st.p.opts.MaxBytes)
		}
		st.chunkSet = true
	case 2:
		st.eof = lua.LVAsBool(L.Get(3))
	default:
		L.ArgError(2, "ngx.arg has only 1 and 2")
	}
	return 0
}
