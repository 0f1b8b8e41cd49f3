package condition

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/policies/internal/liquidctx"
)

// Value is a configured value (plain text or a Liquid template) that
// renders the commonest templates, those that only name one request
// variable such as {{ uri }} or {{ headers['X-Key'] }}, by reading the
// variable directly instead of running the Liquid engine: same text, no
// allocation. A Value is immutable and safe for concurrent use.
type Value struct {
	t *liquidctx.Template
	// name is the variable a direct template reads; get reads it.
	name string
	get  func(c *chain.Context) string
	// bare is set when the template is {{ name }} alone: an extra variable
	// of that name that is a string or an int is written without Liquid.
	bare bool
}

var (
	bareVariable = regexp.MustCompile(`^\{\{\s*([a-z_]+)\s*\}\}$`)
	headerLookup = regexp.MustCompile(`^\{\{\s*headers\[\s*(?:'([^'\\]+)'|"([^"\\]+)")\s*\]\s*\}\}$`)
)

// direct are the request variables a template may name to be read
// without Liquid; each reads what liquidctx.Variable returns for it.
var direct = map[string]func(c *chain.Context) string{
	"uri":         func(c *chain.Context) string { return c.Request.URL.Path },
	"path":        func(c *chain.Context) string { return c.Request.URL.Path },
	"host":        func(c *chain.Context) string { return c.Original.Host },
	"http_method": func(c *chain.Context) string { return c.Request.Method },
	"scheme":      func(c *chain.Context) string { return c.Original.Scheme },
	"remote_addr": func(c *chain.Context) string { return c.ClientIP },
	"query":       func(c *chain.Context) string { return c.Request.URL.RawQuery },
}

// CompileValue prepares value; valueType is plain (or empty) or liquid.
func CompileValue(value, valueType string) (*Value, error) {
	t, err := liquidctx.Compile(value, valueType)
	if err != nil {
		return nil, err
	}
	v := &Value{t: t}
	if t.IsPlain() || t.Invalid() != nil {
		return v, nil
	}
	if m := bareVariable.FindStringSubmatch(value); m != nil {
		v.name, v.get, v.bare = m[1], direct[m[1]], true
	} else if m := headerLookup.FindStringSubmatch(value); m != nil {
		name := m[1] + m[2]
		v.name, v.get = "headers", func(c *chain.Context) string { return headerValue(c, name) }
	}
	return v, nil
}

// headerValue is a request header as templates see it: several values
// joined with ", ", none as "".
func headerValue(c *chain.Context, name string) string {
	vs := c.Request.Header.Values(name)
	switch len(vs) {
	case 0:
		return ""
	case 1:
		return vs[0]
	}
	return strings.Join(vs, ", ")
}

// IsPlain reports whether the value is used as is.
func (v *Value) IsPlain() bool { return v.t.IsPlain() }

// Mentions reports whether the template uses the variable name.
func (v *Value) Mentions(name string) bool { return v.t.Mentions(name) }

// Render returns the value for the request of c; extra variables take
// precedence over the request's.
func (v *Value) Render(c *chain.Context, extra map[string]any) (string, error) {
	if v.name != "" {
		x, shadowed := extra[v.name]
		switch {
		case !shadowed && v.get != nil:
			return v.get(c), nil
		case shadowed && v.bare:
			switch x := x.(type) {
			case string:
				return x, nil
			case int:
				return strconv.Itoa(x), nil
			}
		}
	}
	return v.t.RenderWith(c, extra)
}
