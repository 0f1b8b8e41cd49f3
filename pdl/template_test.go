package pdl

import (
	"testing"
)

// TestPlainTemplatesAgreeWithLiquid renders the same templates through the
// plain path and through Liquid and wants the same text.
func TestPlainTemplatesAgreeWithLiquid(t *testing.T) {
	input := Input{
		"name": "alice", "n": 3.0, "f": 2.5, "i": 7, "yes": true, "no": false,
		"jwt":  map[string]any{"sub": "bob", "role": "admin", "nested": map[string]any{"x": 1.0}},
		"list": []any{"a", "b"}, "null": nil,
	}
	templates := []string{
		"{{ name }}", "hello {{name}}!", "{{ n }}/{{ f }}/{{ i }}", "{{ yes }} {{ no }}",
		"Bearer {{ jwt.sub }}", "{{ jwt.role }}-{{ jwt.nested.x }}", "{{ missing }}x", "{{ jwt.missing.deeper }}",
		"{{ name.first }}", "{{ null }}", "{{ list }}", "{{ jwt }}", "a {{ name }} b {{ n }} c",
	}
	for _, src := range templates {
		c := &compiler{doc: &Document{}, slots: map[string]int{}}
		v, dyn := c.params(&node{kind: kString, str: src}, "t")
		if len(c.problems) > 0 || !dyn {
			t.Fatalf("%q: %v", src, c.problems)
		}
		tpl := v.(*template)
		d := c.doc
		d.states.New = func() any {
			return &state{doc: d, vals: make([]any, len(d.attrNames)), gen: make([]uint32, len(d.attrNames))}
		}
		s := d.acquire(input)
		got, err := render(s, tpl)
		d.release(s)
		if err != nil {
			t.Fatalf("%q: %v", src, err)
		}
		slow := *tpl
		slow.pieces = nil
		s = d.acquire(input)
		want, err := render(s, &slow)
		d.release(s)
		if err != nil {
			t.Fatalf("%q through Liquid: %v", src, err)
		}
		if got != want {
			t.Errorf("%q: plain %q, Liquid %q", src, got, want)
		}
	}
}
