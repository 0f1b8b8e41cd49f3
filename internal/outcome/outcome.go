// Package outcome turns a pdl decision into what an HTTP enforcement point
// does with it: allow, with header changes on the request sent upstream
// and on the response, or deny with a status, headers, a body or a
// redirect. It owns the one spelling of those header obligations
// (setRequestHeader, appendRequestHeader, removeRequestHeader,
// setResponseHeader, denyStatus, denyBody, redirect) shared by the authz
// front door and the gateway's authorize policy, so that one document
// serves both. Rendering an Outcome by a protocol's rules is left to them.
package outcome

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/verdict-policy/verdict/internal/httpx"
	"github.com/verdict-policy/verdict/pdl"
)

// The obligations an Outcome carries out. Any other obligation name is
// left alone by Read (Known tells them apart), so one document can serve
// other front doors too.
const (
	SetRequestHeader    = "setRequestHeader"
	AppendRequestHeader = "appendRequestHeader"
	RemoveRequestHeader = "removeRequestHeader"
	SetResponseHeader   = "setResponseHeader"
	DenyStatus          = "denyStatus"
	DenyBody            = "denyBody"
	Redirect            = "redirect"
)

// Names lists the obligations an Outcome carries out.
var Names = []string{SetRequestHeader, AppendRequestHeader, RemoveRequestHeader, SetResponseHeader, DenyStatus, DenyBody, Redirect}

// aliases are the earlier spellings of the gateway's authorize policy,
// still read: set_request_headers and set_response_headers.
var aliases = map[string]string{
	"set_request_headers":  SetRequestHeader,
	"set_response_headers": SetResponseHeader,
}

// Canonical returns the obligation name that name spells: itself, or the
// current name of an earlier spelling.
func Canonical(name string) string {
	if c, ok := aliases[name]; ok {
		return c
	}
	return name
}

// Known reports whether name (or an earlier spelling of it) is an
// obligation an Outcome carries out.
func Known(name string) bool {
	switch Canonical(name) {
	case SetRequestHeader, AppendRequestHeader, RemoveRequestHeader, SetResponseHeader, DenyStatus, DenyBody, Redirect:
		return true
	}
	return false
}

// Field is one header name and value.
type Field struct{ Name, Value string }

// Outcome is a decision turned into what a proxy can do with it: allow
// with header mutations on the upstream request, or deny with a status,
// headers and a body. Each adapter renders it by its protocol's rules.
type Outcome struct {
	Allow bool
	// SetRequest, AppendRequest and RemoveRequest change the upstream
	// request on allow.
	SetRequest, AppendRequest []Field
	RemoveRequest             []string
	// SetResponse adds headers to the client's response: the denial, or on
	// allow the proxied response where the protocol can carry it.
	SetResponse []Field
	// Status is the deny status: denyStatus, 302 for redirect, else 403.
	Status int
	// Location is the redirect target.
	Location string
	// Body is the deny body; JSONBody says it is a JSON document.
	Body     string
	JSONBody bool
	// Effect and Path describe the decision, for logs.
	Effect pdl.Effect
	Path   string

	statusSet, bodySet bool
}

// StatusGiven reports whether the decision chose the deny status
// (denyStatus, or redirect's 302), rather than Status holding the default.
func (o *Outcome) StatusGiven() bool { return o.statusSet }

// BodyGiven reports whether the decision chose the deny body (denyBody).
func (o *Outcome) BodyGiven() bool { return o.bodySet }

// Reset empties o for reuse, keeping its slices' storage.
func (o *Outcome) Reset() {
	*o = Outcome{
		SetRequest:    o.SetRequest[:0],
		AppendRequest: o.AppendRequest[:0],
		RemoveRequest: o.RemoveRequest[:0],
		SetResponse:   o.SetResponse[:0],
	}
}

// Read fills o from dec. Only permit allows: not_applicable and
// indeterminate deny. Obligations with parameters of the wrong shape are
// reported as an error and the request is denied.
func (o *Outcome) Read(dec *pdl.Decision) error {
	o.Reset()
	o.Effect, o.Path = dec.Effect, dec.Path
	o.Allow = dec.Effect == pdl.Permit
	o.Status = 403
	var firstErr error
	for i := range dec.Obligations {
		ob := &dec.Obligations[i]
		if err := o.apply(ob); err != nil && firstErr == nil {
			firstErr = fmt.Errorf("obligation %s: %w", ob.Name, err)
		}
	}
	if firstErr != nil {
		// A malformed obligation makes the whole answer untrustworthy: deny
		// plainly rather than half-apply it.
		o.Allow = false
		o.Status, o.Location, o.Body, o.JSONBody = 403, "", "", false
		o.SetResponse = o.SetResponse[:0]
	}
	return firstErr
}

func (o *Outcome) apply(ob *pdl.Obligation) error {
	var err error
	switch Canonical(ob.Name) {
	case SetRequestHeader:
		o.SetRequest, err = fields(o.SetRequest, ob.Params)
	case AppendRequestHeader:
		o.AppendRequest, err = fields(o.AppendRequest, ob.Params)
	case SetResponseHeader:
		o.SetResponse, err = fields(o.SetResponse, ob.Params)
	case RemoveRequestHeader:
		o.RemoveRequest, err = names(o.RemoveRequest, ob.Params)
	case DenyStatus:
		var n int
		if n, err = ParseStatus(ob.Params); err == nil && !o.statusSet {
			o.Status, o.statusSet = n, true
		}
	case DenyBody:
		if o.bodySet {
			return nil
		}
		o.bodySet = true
		switch p := ob.Params.(type) {
		case string:
			o.Body, o.JSONBody = p, false
		case map[string]any, []any:
			var b []byte
			if b, err = json.Marshal(p); err == nil {
				o.Body, o.JSONBody = string(b), true
			}
		default:
			err = fmt.Errorf("parameter must be a string or a JSON object, not %T", p)
		}
	case Redirect:
		s, ok := ob.Params.(string)
		if !ok || s == "" {
			return fmt.Errorf("parameter must be a URL string, not %T", ob.Params)
		}
		if o.Location == "" {
			o.Location = s
		}
		if !o.statusSet {
			o.Status, o.statusSet = 302, true
		}
	}
	return err
}

// fields appends the name: value pairs of an object parameter. A value
// that renders empty is skipped, so a template over a missing attribute
// sets nothing.
func fields(dst []Field, params any) ([]Field, error) {
	m, ok := params.(map[string]any)
	if !ok {
		return dst, fmt.Errorf("parameter must be an object of header name to value, not %T", params)
	}
	for name, v := range m {
		if !httpx.ValidFieldName(name) {
			return dst, fmt.Errorf("%q is not a header name", name)
		}
		s, err := text(v)
		if err != nil {
			return dst, fmt.Errorf("header %s: %w", name, err)
		}
		if s == "" {
			continue
		}
		dst = append(dst, Field{Name: name, Value: s})
	}
	return dst, nil
}

// names appends the header names of a string or a list of strings.
func names(dst []string, params any) ([]string, error) {
	switch p := params.(type) {
	case string:
		if !httpx.ValidFieldName(p) {
			return dst, fmt.Errorf("%q is not a header name", p)
		}
		return append(dst, p), nil
	case []any:
		for _, e := range p {
			s, ok := e.(string)
			if !ok || !httpx.ValidFieldName(s) {
				return dst, fmt.Errorf("%v is not a header name", e)
			}
			dst = append(dst, s)
		}
		return dst, nil
	}
	return dst, fmt.Errorf("parameter must be a header name or a list of them, not %T", params)
}

// text turns a header value parameter into a string. Line breaks are
// refused: a template must not be able to inject headers.
func text(v any) (string, error) {
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case float64:
		s = strconv.FormatFloat(x, 'f', -1, 64)
	case int:
		s = strconv.Itoa(x)
	case int64:
		s = strconv.FormatInt(x, 10)
	case bool:
		s = strconv.FormatBool(x)
	case nil:
		return "", nil
	default:
		return "", fmt.Errorf("value must be a string, number or boolean, not %T", v)
	}
	if strings.ContainsAny(s, "\r\n\x00") {
		return "", fmt.Errorf("value %q holds a line break", s)
	}
	return strings.TrimSpace(s), nil
}

// ParseStatus reads a denyStatus parameter: a whole number from 200 to
// 599, as a number or a string.
func ParseStatus(v any) (int, error) {
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case int:
		f = float64(x)
	case int64:
		f = float64(x)
	case string:
		n, err := strconv.Atoi(strings.TrimSpace(x))
		if err != nil {
			return 0, fmt.Errorf("%q is not a status code", x)
		}
		f = float64(n)
	default:
		return 0, fmt.Errorf("parameter must be a status code, not %T", v)
	}
	if f != math.Trunc(f) || f < 200 || f > 599 {
		return 0, fmt.Errorf("%v is not a status code from 200 to 599", v)
	}
	return int(f), nil
}
