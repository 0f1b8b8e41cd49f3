package pdl

import "strings"

// Attributes supplies the attribute values of one decision. Each front door
// implements it over its own input (an HTTP request, a Pexip query, a
// reTHINK message). The engine asks for each attribute at most once per
// decision.
//
// Attribute returns nil when the attribute is missing. A non-nil error makes
// the decision Indeterminate. Values are JSON-like: string, float64 (or any
// Go integer or float type), bool, []any, []string, map[string]any, or nil.
type Attributes interface {
	Attribute(name string) (any, error)
}

// Input is the generic Attributes over a decoded JSON object. A name is
// looked up as a key first; when that key is absent and the name contains
// dots, it is read as a path through nested objects (user.roles).
type Input map[string]any

// Attribute implements Attributes.
func (in Input) Attribute(name string) (any, error) {
	if v, ok := in[name]; ok {
		return v, nil
	}
	if strings.IndexByte(name, '.') < 0 {
		return nil, nil
	}
	var cur any = map[string]any(in)
	for name != "" {
		seg := name
		if i := strings.IndexByte(name, '.'); i >= 0 {
			seg, name = name[:i], name[i+1:]
		} else {
			name = ""
		}
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, nil
		}
		if cur, ok = m[seg]; !ok {
			return nil, nil
		}
	}
	return cur, nil
}
