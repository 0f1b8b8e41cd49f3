// Package liquidctx compiles the Liquid templates that builtin chain
// policies accept in their configuration (value_type: liquid) and renders
// them over a request's chain.Context. Templates are parsed once, when a
// chain is built; rendering computes only the request variables a template
// names. As in APIcast, a value that is not a valid template renders as
// the empty string. The policies decide where templates are allowed.
package liquidctx

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/osteele/liquid"

	"github.com/verdict-policy/verdict/chain"
)

// Type names how a configured value is read: as is, or as a Liquid
// template. These are the values of APIcast's *_type fields.
const (
	Plain  = "plain"
	Liquid = "liquid"
)

// engine is configured once at start-up and only read afterwards.
var engine = newEngine()

// Template is a configured value: plain text, or a compiled Liquid
// template. A Template is immutable and safe for concurrent use.
type Template struct {
	source string
	tpl    *liquid.Template
	names  []string // the variables the template mentions, once each
	// invalid says why a Liquid value is not a valid template; such a
	// template renders as the empty string, as in APIcast.
	invalid error
	warned  sync.Once
}

// Compile prepares value for rendering. valueType is Plain (or empty) for
// text used as is, Liquid for a template; any other type is an error.
//
// A Liquid value that is not a valid template (see Validate) is not an
// error: as APIcast does, it renders as the empty string, and the first
// rendering logs why. Invalid reports it, for callers that want to refuse
// such a value when the configuration loads.
func Compile(value, valueType string) (*Template, error) {
	switch valueType {
	case "", Plain:
		return &Template{source: value}, nil
	case Liquid:
	default:
		return nil, fmt.Errorf("unknown value type %q (want plain or liquid)", valueType)
	}
	tpl, err := parse(value)
	if err != nil {
		return &Template{source: value, invalid: err}, nil
	}
	return &Template{source: value, tpl: tpl, names: mentioned(value)}, nil
}

// Validate reports why value is not a valid Liquid template, or nil when
// it is one: it does not parse, it leaves a {{ or {% tag open, it uses a
// filter the engine does not have, or it loops over a range whose bounds
// are not numbers written in it (or longer than MaxRange).
func Validate(value string) error {
	_, err := parse(value)
	return err
}

// parse compiles value, with the checks Validate lists.
func parse(value string) (*liquid.Template, error) {
	// The engine takes an unclosed tag for text and would render it as it
	// is written; APIcast's engine refuses it.
	if err := checkClosed(value); err != nil {
		return nil, fmt.Errorf("invalid Liquid template %q: %w", value, err)
	}
	tpl, err := engine.ParseString(value)
	if err != nil {
		return nil, fmt.Errorf("invalid Liquid template %q: %w", value, err)
	}
	// The engine finds unknown filters only when it renders them.
	for _, name := range filtersUsed(value) {
		if !knownFilters[name] {
			return nil, fmt.Errorf("invalid Liquid template %q: unknown filter %q", value, name)
		}
	}
	if err := checkRanges(value); err != nil {
		return nil, fmt.Errorf("invalid Liquid template %q: %w", value, err)
	}
	return tpl, nil
}

// MustCompile is Compile for templates written in Go code; it panics on
// an error or an invalid template.
func MustCompile(value, valueType string) *Template {
	t, err := Compile(value, valueType)
	if err == nil {
		err = t.invalid
	}
	if err != nil {
		panic(err)
	}
	return t
}

// IsPlain reports whether the value is used as is, without rendering. An
// invalid template is not plain: it renders as the empty string.
func (t *Template) IsPlain() bool { return t.tpl == nil && t.invalid == nil }

// Invalid returns why a Liquid value is not a valid template, nil for a
// valid template and for plain text.
func (t *Template) Invalid() error { return t.invalid }

// Mentions reports whether the template uses the variable name.
func (t *Template) Mentions(name string) bool { return contains(t.names, name) }

// Source returns the value as configured.
func (t *Template) Source() string { return t.source }

// Render returns the value for the request of c. A plain value costs
// nothing; a template sees the variables Variable describes.
func (t *Template) Render(c *chain.Context) (string, error) {
	if t.tpl == nil && t.invalid == nil {
		return t.source, nil
	}
	return t.RenderWith(c, nil)
}

// RenderWith renders like Render, with extra variables that take
// precedence over the request's (for instance a policy's own view of the
// upstream).
func (t *Template) RenderWith(c *chain.Context, extra map[string]any) (string, error) {
	if t.invalid != nil {
		t.warn(c)
		return "", nil
	}
	if t.tpl == nil {
		return t.source, nil
	}
	b := make(liquid.Bindings, len(t.names))
	for _, name := range t.names {
		if v, ok := extra[name]; ok {
			b[name] = v
			continue
		}
		if v, ok := Variable(c, name); ok {
			b[name] = v
		}
	}
	out, err := t.tpl.Render(b)
	if err != nil {
		return "", fmt.Errorf("rendering %q: %w", t.source, err)
	}
	return string(out), nil
}

// warn logs, once per template, that an invalid template renders as the
// empty string.
func (t *Template) warn(c *chain.Context) {
	if c == nil || c.Logger == nil {
		return
	}
	t.warned.Do(func() {
		c.Logger.Error("invalid Liquid template renders as the empty string", "error", t.invalid)
	})
}

// Variable returns the value of one template variable for the request of
// c. The request variables, named as nginx names them, come first:
//
//	uri, path          the path as policies left it so far
//	host, scheme       the client's Host (lower case, no port) and scheme
//	http_method        the method
//	query              the raw query string
//	remote_addr/_port  the client's address and port
//	server_addr/_port  the local address that took the connection
//	headers            the request's headers, any case: headers['X-Foo']
//	request_id         the X-Request-Id header, else a random id
//	original_request   method, scheme, host, path, query, uri and headers
//	                   as the client sent them
//
// Any other name is a value policies shared in the context (Context.Get),
// such as jwt or credentials; service is the service's id, system_name,
// hosts and api_backend.
func Variable(c *chain.Context, name string) (any, bool) {
	r := c.Request
	switch name {
	case "uri", "path":
		return r.URL.Path, true
	case "host":
		return c.Original.Host, true
	case "http_method":
		return r.Method, true
	case "scheme":
		return c.Original.Scheme, true
	case "remote_addr":
		return c.ClientIP, true
	case "remote_port":
		_, port, _ := net.SplitHostPort(r.RemoteAddr)
		return port, true
	case "server_addr", "server_port":
		addr, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
		if addr == nil {
			return "", true
		}
		host, port, _ := net.SplitHostPort(addr.String())
		if name == "server_addr" {
			return host, true
		}
		return port, true
	case "query":
		return r.URL.RawQuery, true
	case "headers":
		return Headers(r.Header), true
	case "request_id":
		return requestID(c), true
	case "original_request":
		o := &c.Original
		return map[string]any{
			"method": o.Method, "scheme": o.Scheme, "host": o.Host, "path": o.Path,
			"query": o.RawQuery, "uri": o.URI, "headers": Headers(o.Header),
		}, true
	}
	if v, ok := c.Get(name); ok {
		return v, true
	}
	if name == "service" {
		if svc := c.Service; svc != nil {
			// Not the secret token: templates end up in headers and logs.
			return map[string]any{"id": svc.ID, "system_name": svc.SystemName, "hosts": svc.Hosts, "api_backend": svc.APIBackend}, true
		}
		if c.ServiceID != "" {
			return map[string]any{"id": c.ServiceID}, true
		}
	}
	return nil, false
}

// requestID returns the request's id, making one the first time it is
// asked for: the X-Request-Id header when the client sent one, else 32
// random hex digits. It is kept in the context, so every template of the
// request sees the same id.
func requestID(c *chain.Context) string {
	if v, ok := c.Get("request_id"); ok {
		if s, ok := v.(string); ok {
			return s
		}
	}
	id := c.Request.Header.Get("X-Request-Id")
	if id == "" {
		var b [16]byte
		_, _ = rand.Read(b[:])
		id = hex.EncodeToString(b[:])
	}
	c.Set("request_id", id)
	return id
}

// filtersUsed lists the names that follow a "|" in the template's tags.
func filtersUsed(src string) []string {
	var out []string
	eachTag(src, func(tag string) {
		var quote byte
		for i := 0; i < len(tag); i++ {
			ch := tag[i]
			switch {
			case quote != 0:
				if ch == quote {
					quote = 0
				}
			case ch == '"' || ch == '\'':
				quote = ch
			case ch == '|':
				j := i + 1
				for j < len(tag) && (tag[j] == ' ' || tag[j] == '\t' || tag[j] == '\n') {
					j++
				}
				k := j
				for k < len(tag) && isIdentPart(tag[k]) {
					k++
				}
				if k > j {
					out = append(out, tag[j:k])
				}
				i = k - 1
			}
		}
	})
	return out
}

// endRaw ends a raw block, whose text is not Liquid.
var endRaw = regexp.MustCompile(`\{%-?\s*endraw\s*-?%\}`)

// checkClosed refuses a template with a {{ or {% tag that is not closed.
// The text of a raw block is not looked at.
func checkClosed(src string) error {
	for i := 0; i+1 < len(src); i++ {
		if src[i] != '{' || (src[i+1] != '{' && src[i+1] != '%') {
			continue
		}
		closing := "}}"
		if src[i+1] == '%' {
			closing = "%}"
		}
		end := strings.Index(src[i+2:], closing)
		if end < 0 {
			return fmt.Errorf("the tag %s at byte %d is not closed with %s", src[i:i+2], i, closing)
		}
		next := i + 2 + end + 2
		if src[i+1] == '%' && strings.Trim(src[i+2:i+2+end], " \t\n\r-") == "raw" {
			loc := endRaw.FindStringIndex(src[next:])
			if loc == nil {
				return nil // the engine reports the unterminated block
			}
			next += loc[1]
		}
		i = next - 1
	}
	return nil
}

// MaxRange is the longest range a template's for loop may walk.
const MaxRange = 10000

// rangeExpr finds (from..to) ranges in a tag.
var rangeExpr = regexp.MustCompile(`\(\s*([^.()]*?)\s*\.\.\s*([^()]*?)\s*\)`)

// checkRanges refuses ranges (what for and tablerow loops walk) whose
// bounds are not numbers written in the template, or that are longer than
// MaxRange: a bound taken from the request would let a client make the
// gateway loop.
func checkRanges(src string) error {
	var err error
	eachTag(src, func(tag string) {
		for _, m := range rangeExpr.FindAllStringSubmatch(tag, -1) {
			if err != nil {
				return
			}
			from, err1 := strconv.Atoi(m[1])
			to, err2 := strconv.Atoi(m[2])
			switch {
			case err1 != nil || err2 != nil:
				err = fmt.Errorf("the range (%s..%s) needs whole numbers as bounds", m[1], m[2])
			case to-from > MaxRange:
				err = fmt.Errorf("the range (%s..%s) is longer than %d", m[1], m[2], MaxRange)
			}
		}
	})
	return err
}

// eachTag calls f with the inside of every {{ }} and {% %} tag of src.
func eachTag(src string, f func(tag string)) {
	for {
		start := strings.Index(src, "{")
		if start < 0 || start+1 >= len(src) {
			return
		}
		open := src[start+1]
		if open != '{' && open != '%' {
			src = src[start+1:]
			continue
		}
		closing := "}}"
		if open == '%' {
			closing = "%}"
		}
		end := strings.Index(src[start+2:], closing)
		if end < 0 {
			end = len(src) - start - 2
		}
		f(src[start+2 : start+2+end])
		src = src[start+2+end:]
	}
}

// mentioned lists the identifiers a template's tags use, so rendering
// looks up only those. It errs on the side of listing too much (filter
// names, keywords): a name with no value is simply left unbound.
func mentioned(src string) []string {
	var names []string
	eachTag(src, func(tag string) { names = identifiers(tag, names) })
	return names
}

// identifiers appends to names the identifiers of tag that start a
// variable reference: not after a dot and not inside quotes.
func identifiers(tag string, names []string) []string {
	var quote byte
	for i := 0; i < len(tag); i++ {
		ch := tag[i]
		if quote != 0 {
			if ch == quote {
				quote = 0
			}
			continue
		}
		if ch == '"' || ch == '\'' {
			quote = ch
			continue
		}
		if !isIdentStart(ch) || (i > 0 && (isIdentPart(tag[i-1]) || tag[i-1] == '.')) {
			continue
		}
		j := i + 1
		for j < len(tag) && isIdentPart(tag[j]) {
			j++
		}
		name := tag[i:j]
		if !contains(names, name) {
			names = append(names, name)
		}
		i = j - 1
	}
	return names
}

func isIdentStart(ch byte) bool {
	return ch == '_' || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
}

func isIdentPart(ch byte) bool {
	return isIdentStart(ch) || ch == '-' || (ch >= '0' && ch <= '9')
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// knownFilters names the filters the engine has: Liquid's standard ones
// and those newEngine adds.
var knownFilters = map[string]bool{}

func init() {
	for _, name := range strings.Fields(`default json compact concat join map reverse sort
		first last uniq date abs ceil floor modulo minus plus times divided_by round size
		append capitalize downcase escape escape_once newline_to_br prepend remove
		remove_first replace replace_first sort_natural slice split strip_html
		strip_newlines strip lstrip rstrip truncate truncatewords upcase url_encode
		url_decode inspect type`) {
		knownFilters[name] = true
	}
	for _, name := range extraFilters {
		knownFilters[name] = true
	}
}

// extraFilters are the nginx helpers newEngine registers.
var extraFilters = []string{
	"escape_uri", "unescape_uri", "encode_base64", "decode_base64", "md5", "md5_bin",
	"sha1_bin", "hmac_sha1", "crc32_short", "crc32_long", "quote_sql_str", "now", "time",
	"today", "localtime", "utctime", "http_time", "cookie_time", "parse_http_time",
}

// newEngine returns a Liquid engine with the nginx helper filters that
// APIcast templates use.
func newEngine() *liquid.Engine {
	e := liquid.NewEngine()
	e.RegisterFilter("escape_uri", url.QueryEscape)
	e.RegisterFilter("unescape_uri", func(s string) string {
		if u, err := url.QueryUnescape(s); err == nil {
			return u
		}
		return s
	})
	e.RegisterFilter("encode_base64", func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) })
	e.RegisterFilter("decode_base64", func(s string) (string, error) {
		b, err := base64.StdEncoding.DecodeString(s)
		return string(b), err
	})
	e.RegisterFilter("md5", func(s string) string { sum := md5.Sum([]byte(s)); return hex.EncodeToString(sum[:]) })
	e.RegisterFilter("md5_bin", func(s string) string { sum := md5.Sum([]byte(s)); return string(sum[:]) })
	e.RegisterFilter("sha1_bin", func(s string) string { sum := sha1.Sum([]byte(s)); return string(sum[:]) })
	e.RegisterFilter("hmac_sha1", func(s, key string) string {
		m := hmac.New(sha1.New, []byte(key))
		m.Write([]byte(s))
		return string(m.Sum(nil))
	})
	e.RegisterFilter("crc32_short", func(s string) uint32 { return crc32.ChecksumIEEE([]byte(s)) })
	e.RegisterFilter("crc32_long", func(s string) uint32 { return crc32.ChecksumIEEE([]byte(s)) })
	e.RegisterFilter("quote_sql_str", func(s string) string {
		return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\x00", `\0`, "\n", `\n`, "\r", `\r`).Replace(s) + "'"
	})
	// The time filters ignore their input, as nginx's functions take none.
	e.RegisterFilter("now", func(any) float64 { return float64(time.Now().UnixMicro()) / 1e6 })
	e.RegisterFilter("time", func(any) int64 { return time.Now().Unix() })
	e.RegisterFilter("today", func(any) string { return time.Now().Format("2006-01-02") })
	e.RegisterFilter("localtime", func(any) string { return time.Now().Format("2006-01-02 15:04:05") })
	e.RegisterFilter("utctime", func(any) string { return time.Now().UTC().Format("2006-01-02 15:04:05") })
	e.RegisterFilter("http_time", func(any) string { return time.Now().UTC().Format(http.TimeFormat) })
	e.RegisterFilter("cookie_time", func(any) string { return time.Now().UTC().Format("Mon, 02-Jan-06 15:04:05 GMT") })
	// As nginx's, parse_http_time gives the Unix time of an HTTP date, and
	// nothing for text that is not one.
	e.RegisterFilter("parse_http_time", func(s string) any {
		t, err := http.ParseTime(s)
		if err != nil {
			return nil
		}
		return t.Unix()
	})
	return e
}
