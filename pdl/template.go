package pdl

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/osteele/liquid"
)

// template is an obligation parameter written as a Liquid template. vars
// holds the attribute slots of the names it mentions, so rendering reads
// only those attributes.
type template struct {
	tpl   *liquid.Template
	names []string
	slots []int
}

var (
	quoted     = regexp.MustCompile(`"[^"]*"|'[^']*'`)
	identifier = regexp.MustCompile(`(^|[^\w.\-])([A-Za-z_][\w\-]*)`)
	liquidTag  = regexp.MustCompile(`(?s)\{\{.*?\}\}|\{%.*?%\}`)
	keywords   = map[string]bool{
		"if": true, "elsif": true, "else": true, "endif": true, "unless": true, "endunless": true,
		"for": true, "endfor": true, "in": true, "and": true, "or": true, "not": true, "contains": true,
		"assign": true, "capture": true, "endcapture": true, "case": true, "when": true, "endcase": true,
		"true": true, "false": true, "nil": true, "null": true, "empty": true, "blank": true,
		"raw": true, "endraw": true, "comment": true, "endcomment": true, "cycle": true, "break": true, "continue": true,
		"limit": true, "offset": true, "reversed": true, "with": true, "forloop": true,
	}
)

// isTemplate reports whether a string parameter uses Liquid markup.
func isTemplate(s string) bool { return strings.Contains(s, "{{") || strings.Contains(s, "{%") }

// params compiles an obligation's parameters, turning every string with
// Liquid markup into a template. It reports whether any was found.
func (c *compiler) params(n *node, path string) (any, bool) {
	switch n.kind {
	case kString:
		if !isTemplate(n.str) {
			return n.str, false
		}
		if c.liquid == nil {
			c.liquid = liquid.NewEngine()
		}
		tpl, err := c.liquid.ParseString(n.str)
		if err != nil {
			c.errorf(n, path, "bad template %q: %v", n.str, err)
			return n.str, false
		}
		t := &template{tpl: tpl}
		seen := map[string]bool{}
		for _, tag := range liquidTag.FindAllString(n.str, -1) {
			tag = quoted.ReplaceAllString(tag, `""`)
			for _, m := range identifier.FindAllStringSubmatch(tag, -1) {
				name := m[2]
				if keywords[name] || seen[name] {
					continue
				}
				seen[name] = true
				t.names = append(t.names, name)
				t.slots = append(t.slots, c.slot(c.attrName(name)))
			}
		}
		return t, true
	case kArray:
		out := make([]any, len(n.items))
		dyn := false
		for i, it := range n.items {
			var d bool
			out[i], d = c.params(it, fmt.Sprintf("%s[%d]", path, i))
			dyn = dyn || d
		}
		return out, dyn
	case kObject:
		out := make(map[string]any, len(n.keys))
		dyn := false
		for i, k := range n.keys {
			var d bool
			out[k], d = c.params(n.items[i], join(path, k))
			dyn = dyn || d
		}
		return out, dyn
	}
	return n.value(), false
}

// render replaces the templates in compiled parameters with their output.
func render(s *state, v any) (any, error) {
	switch x := v.(type) {
	case *template:
		b := make(liquid.Bindings, len(x.names))
		for i, name := range x.names {
			if val := s.get(x.slots[i]); val != nil {
				b[name] = val
			}
		}
		if s.err != nil {
			return nil, s.err
		}
		out, err := x.tpl.RenderString(b)
		if err != nil {
			return nil, err
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			r, err := render(s, e)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			r, err := render(s, e)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	}
	return v, nil
}
