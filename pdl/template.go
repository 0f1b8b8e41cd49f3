package pdl

import (
	"fmt"
	"regexp"
	"strconv"
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
	// pieces, when set, renders the template without Liquid: it only
	// substitutes attribute values (plain {{ a.b }} tags, no filters or
	// tags), which is what most obligation templates do.
	pieces []piece
}

// piece is literal text, or an attribute value to substitute when slot >= 0.
type piece struct {
	text string
	slot int
	path []string // fields below the attribute's value
}

var plainVariable = regexp.MustCompile(`^\s*([A-Za-z_][\w\-]*(?:\.[A-Za-z_][\w\-]*)*)\s*$`)

// plainPieces splits a template made only of text and {{ name.field }}
// tags; it returns nil for anything else.
func (c *compiler) plainPieces(src string) []piece {
	if strings.Contains(src, "{%") {
		return nil
	}
	var out []piece
	for src != "" {
		i := strings.Index(src, "{{")
		if i < 0 {
			out = append(out, piece{text: src, slot: -1})
			break
		}
		if i > 0 {
			out = append(out, piece{text: src[:i], slot: -1})
		}
		j := strings.Index(src[i:], "}}")
		if j < 0 {
			return nil
		}
		m := plainVariable.FindStringSubmatch(src[i+2 : i+j])
		if m == nil {
			return nil
		}
		parts := strings.Split(m[1], ".")
		for _, p := range parts[1:] {
			if p == "size" || p == "first" || p == "last" {
				return nil // Liquid's own properties
			}
		}
		out = append(out, piece{slot: c.slot(c.attrName(parts[0])), path: parts[1:]})
		src = src[i+j+2:]
	}
	return out
}

// renderPlain renders plain pieces; ok is false when a value is not a
// scalar, which Liquid renders in its own way.
func renderPlain(s *state, pieces []piece) (string, bool) {
	var b strings.Builder
	for _, p := range pieces {
		if p.slot < 0 {
			b.WriteString(p.text)
			continue
		}
		v := s.get(p.slot)
		for _, f := range p.path {
			m, isMap := v.(map[string]any)
			if !isMap {
				v = nil
				break
			}
			v = m[f]
		}
		switch x := v.(type) {
		case nil:
		case string:
			b.WriteString(x)
		case bool:
			b.WriteString(strconv.FormatBool(x))
		default:
			t, ok := text(v)
			if !ok || !isNumeric(v) {
				return "", false
			}
			b.WriteString(t)
		}
	}
	return b.String(), true
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
		t := &template{tpl: tpl, pieces: c.plainPieces(n.str)}
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
		if x.pieces != nil {
			out, ok := renderPlain(s, x.pieces)
			if s.err != nil {
				return nil, s.err
			}
			if ok {
				return out, nil
			}
		}
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
