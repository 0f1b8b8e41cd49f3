package pdltest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/verdict-policy/verdict/pdl"
)

// Mismatch is one way a decision differs from what its case wants.
type Mismatch struct {
	// Field names what differs: decision, path, error, obligations,
	// advice, or a place inside them such as obligations[0].params.user.
	Field string `json:"field"`
	// Message says how, e.g. `want permit, got deny`.
	Message string `json:"message"`
	// Want and Got are the values compared, as JSON values; the side
	// of a missing or an unexpected element is null.
	Want any `json:"want"`
	Got  any `json:"got"`
}

// maxMismatches bounds the differences reported for one list of
// obligations, so that a wrong rule does not print pages.
const maxMismatches = 10

// check compares decision d with what c wants.
func check(c *Case, d pdl.Decision) []Mismatch {
	var out []Mismatch
	if d.Effect != c.Decision {
		msg := fmt.Sprintf("want %s, got %s", c.Decision, d.Effect)
		if d.Effect == pdl.Indeterminate && d.Error != "" {
			msg += " (" + d.Error + ")"
		}
		out = append(out, Mismatch{Field: "decision", Message: msg, Want: c.Decision.String(), Got: d.Effect.String()})
	}
	if c.Path != nil && d.Path != *c.Path {
		out = append(out, Mismatch{Field: "path", Message: fmt.Sprintf("want %q, got %q", *c.Path, d.Path), Want: *c.Path, Got: d.Path})
	}
	if c.PathPrefix != nil && !strings.HasPrefix(d.Path, *c.PathPrefix) {
		out = append(out, Mismatch{Field: "path", Message: fmt.Sprintf("want a path starting with %q, got %q", *c.PathPrefix, d.Path),
			Want: *c.PathPrefix, Got: d.Path})
	}
	if c.Error != nil && !strings.Contains(d.Error, *c.Error) {
		msg := fmt.Sprintf("want an error containing %q, got %q", *c.Error, d.Error)
		if d.Error == "" {
			msg = fmt.Sprintf("want an error containing %q, got none", *c.Error)
		}
		out = append(out, Mismatch{Field: "error", Message: msg, Want: *c.Error, Got: d.Error})
	}
	if c.Obligations != nil {
		out = append(out, checkObligations("obligations", c.Obligations, d.Obligations)...)
	}
	if c.Advice != nil {
		out = append(out, checkObligations("advice", c.Advice, d.Advice)...)
	}
	return out
}

// plainObligation is an obligation as JSON values, to compare and print.
type plainObligation struct {
	Name   string `json:"name"`
	Params any    `json:"params"`
}

// plain turns a decision's obligations into JSON values: what a client of
// the decision API reads, so that 1 and 1.0, or a []string and a []any,
// compare equal.
func plain(obs []pdl.Obligation) []plainObligation {
	out := make([]plainObligation, len(obs))
	for i, o := range obs {
		out[i] = plainObligation{Name: o.Name, Params: jsonValue(o.Params)}
	}
	return out
}

func jsonValue(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return string(b)
	}
	return out
}

// compact renders v as one line of JSON.
func compact(v any) string {
	b, err := marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// marshal is json.Marshal without escaping <, > and &, so that attribute
// references ("<user>") read as written.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func wantList(e *Expected) []any {
	out := make([]any, len(e.Items))
	for i, o := range e.Items {
		if o.AnyParams {
			out[i] = map[string]any{"name": o.Name}
		} else {
			out[i] = plainObligation{Name: o.Name, Params: o.Params}
		}
	}
	return out
}

func checkObligations(field string, want *Expected, got []pdl.Obligation) []Mismatch {
	g := plain(got)
	if want.Include {
		return checkIncluded(field, want, g)
	}
	var out []Mismatch
	for i := 0; i < len(want.Items) || i < len(g); i++ {
		f := field + "[" + strconv.Itoa(i) + "]"
		switch {
		case i >= len(g):
			w := plainObligation{Name: want.Items[i].Name, Params: want.Items[i].Params}
			out = append(out, Mismatch{Field: f, Message: "missing: want " + compact(w), Want: w})
		case i >= len(want.Items):
			out = append(out, Mismatch{Field: f, Message: "unexpected: got " + compact(g[i]), Got: g[i]})
		case want.Items[i].Name != g[i].Name:
			w := plainObligation{Name: want.Items[i].Name, Params: want.Items[i].Params}
			out = append(out, Mismatch{Field: f, Message: fmt.Sprintf("want %s, got %s", compact(w), compact(g[i])), Want: w, Got: g[i]})
		default:
			diff(&out, f+".params", want.Items[i].Params, g[i].Params)
		}
		if len(out) >= maxMismatches {
			out = append(out[:maxMismatches], Mismatch{Field: field, Message: "more differences not shown",
				Want: wantList(want), Got: g})
			break
		}
	}
	return out
}

// checkIncluded matches every wanted obligation to a different one of the
// decision's, in any order.
func checkIncluded(field string, want *Expected, got []plainObligation) []Mismatch {
	// fits[i] lists the obligations of the decision that wanted item i
	// may stand for.
	fits := make([][]int, len(want.Items))
	var out []Mismatch
	for i, w := range want.Items {
		for j, g := range got {
			if g.Name == w.Name && (w.AnyParams || contains(w.Params, g.Params)) {
				fits[i] = append(fits[i], j)
			}
		}
		if len(fits[i]) == 0 {
			var msg string
			if w.AnyParams {
				msg = fmt.Sprintf("no obligation named %q", w.Name)
			} else {
				msg = "nothing matches " + compact(plainObligation{Name: w.Name, Params: w.Params})
			}
			var same []string
			for _, g := range got {
				if g.Name == w.Name {
					same = append(same, compact(g.Params))
				}
			}
			if len(same) > 0 {
				msg += fmt.Sprintf("; %s has params %s", w.Name, strings.Join(same, ", "))
			} else {
				msg += "; got " + compact(got)
			}
			out = append(out, Mismatch{Field: field + "[" + strconv.Itoa(i) + "]", Message: msg, Want: wantList(want)[i], Got: got})
		}
	}
	if len(out) > 0 {
		return out
	}
	used := make([]bool, len(got))
	if !assign(fits, used, 0) {
		return []Mismatch{{Field: field, Message: fmt.Sprintf("the %d listed need as many different obligations; got %s", len(want.Items), compact(got)),
			Want: wantList(want), Got: got}}
	}
	return nil
}

// assign reports whether wanted items i, i+1, ... can each take a
// different unused obligation among those that fit them.
func assign(fits [][]int, used []bool, i int) bool {
	if i == len(fits) {
		return true
	}
	for _, j := range fits[i] {
		if used[j] {
			continue
		}
		used[j] = true
		if assign(fits, used, i+1) {
			return true
		}
		used[j] = false
	}
	return false
}

// contains reports whether got holds want: a mapping holds the keys of the
// wanted one with values that hold theirs, a list holds as many elements
// each holding the wanted one at its place, and any other value is equal.
func contains(want, got any) bool {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return false
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok || !contains(wv, gv) {
				return false
			}
		}
		return true
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range w {
			if !contains(w[i], g[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(want, got)
}

// diff appends, for every place where got differs from want, a mismatch
// naming it.
func diff(out *[]Mismatch, field string, want, got any) {
	if len(*out) >= maxMismatches {
		return
	}
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			break
		}
		keys := make([]string, 0, len(w)+len(g))
		for k := range w {
			keys = append(keys, k)
		}
		for k := range g {
			if _, ok := w[k]; !ok {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			f := field + "." + k
			wv, inWant := w[k]
			gv, inGot := g[k]
			switch {
			case !inGot:
				*out = append(*out, Mismatch{Field: f, Message: "missing: want " + compact(wv), Want: wv})
			case !inWant:
				*out = append(*out, Mismatch{Field: f, Message: "unexpected: got " + compact(gv), Got: gv})
			default:
				diff(out, f, wv, gv)
			}
		}
		return
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			break
		}
		for i := range w {
			diff(out, field+"["+strconv.Itoa(i)+"]", w[i], g[i])
		}
		return
	}
	if !reflect.DeepEqual(want, got) {
		*out = append(*out, Mismatch{Field: field, Message: fmt.Sprintf("want %s, got %s", compact(want), compact(got)), Want: want, Got: got})
	}
}
