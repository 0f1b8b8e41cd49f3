package liquidctx

import (
	"net/http"
	"strings"

	"github.com/osteele/liquid/values"
)

// Headers presents request or response headers to templates. Look-ups
// ignore case, as HTTP does: headers['x-foo'], headers['X-Foo'] and
// headers.X-Foo are one header. Several values are joined with ", ".
func Headers(h http.Header) values.Value { return headerValue{h} }

type headerValue struct{ h http.Header }

var _ values.Value = headerValue{}

func (v headerValue) get(key values.Value) values.Value {
	name, ok := key.Interface().(string)
	if !ok {
		return values.ValueOf(nil)
	}
	vs := v.h.Values(name)
	switch len(vs) {
	case 0:
		return values.ValueOf(nil)
	case 1:
		return values.ValueOf(vs[0])
	}
	return values.ValueOf(strings.Join(vs, ", "))
}

func (v headerValue) Interface() any { return map[string][]string(v.h) }
func (v headerValue) Int() int       { return 0 }
func (v headerValue) Equal(o values.Value) bool {
	return false
}
func (v headerValue) Less(values.Value) bool { return false }
func (v headerValue) Contains(key values.Value) bool {
	name, ok := key.Interface().(string)
	return ok && len(v.h.Values(name)) > 0
}
func (v headerValue) IndexValue(key values.Value) values.Value { return v.get(key) }
func (v headerValue) PropertyValue(key values.Value) values.Value {
	if s, ok := key.Interface().(string); ok && s == "size" {
		return values.ValueOf(len(v.h))
	}
	return v.get(key)
}
func (v headerValue) Test() bool { return true }
