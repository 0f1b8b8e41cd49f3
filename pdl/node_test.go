package pdl

import (
	"strings"
	"testing"
)

func TestParseJSONPositions(t *testing.T) {
	src := "{\n  \"a\": [1, \"x\"],\n  \"b\": {\"c\": true}\n}"
	n, err := parseJSON([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		got       *node
		kind      kind
		line, col int
	}{
		{"root", n, kObject, 1, 1},
		{"a", n.get("a"), kArray, 2, 8},
		{"a[1]", n.get("a").items[1], kString, 2, 12},
		{"b.c", n.get("b").get("c"), kBool, 3, 14},
	}
	for _, tt := range tests {
		if tt.got.kind != tt.kind || tt.got.line != tt.line || tt.got.col != tt.col {
			t.Errorf("%s: got %s at %d:%d, want %s at %d:%d", tt.name, tt.got.kind, tt.got.line, tt.got.col, tt.kind, tt.line, tt.col)
		}
	}
	if got := n.keys; len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Errorf("keys out of order: %v", got)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, file, src string
		line            int
		msg             string
	}{
		{"trailing comma", "x.json", "{\"a\": 1,\n}", 2, "expected a string key"},
		{"unterminated", "x.json", "[\"abc", 1, "unterminated string"},
		{"garbage after", "x.json", "{}\n{}", 2, "after the document"},
		{"duplicate key", "x.json", "{\"a\": 1,\n \"a\": 2}", 2, "duplicate key"},
		{"bad number", "x.json", "[1.2.3]", 1, "bad number"},
		{"empty", "x.json", "   ", 1, "empty document"},
		{"bad literal", "x.json", "[tru]", 1, "unexpected"},
		{"yaml syntax", "x.yaml", "a: [1, 2\nb: 3\n", 0, ""},
		{"yaml duplicate", "x.yaml", "a: 1\na: 2\n", 2, "duplicate key"},
		{"yaml empty", "x.yaml", "", 1, "empty document"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseSource(tt.file, []byte(tt.src))
			if err == nil {
				t.Fatal("no error")
			}
			se, ok := err.(*syntaxError)
			if !ok {
				t.Fatalf("error %T %v", err, err)
			}
			if tt.line > 0 && se.line != tt.line {
				t.Errorf("line %d, want %d (%v)", se.line, tt.line, err)
			}
			if !strings.Contains(se.msg, tt.msg) {
				t.Errorf("message %q, want it to contain %q", se.msg, tt.msg)
			}
		})
	}
}

func TestParseDepthLimit(t *testing.T) {
	deep := strings.Repeat("[", maxDepth+10) + strings.Repeat("]", maxDepth+10)
	if _, err := parseJSON([]byte(deep)); err == nil || !strings.Contains(err.Error(), "nesting") {
		t.Fatalf("want a nesting error, got %v", err)
	}
}

func TestParseYAMLMatchesJSON(t *testing.T) {
	j, err := parseJSON([]byte(`{"s": "x", "n": 1.5, "b": false, "z": null, "l": [1, "2"]}`))
	if err != nil {
		t.Fatal(err)
	}
	y, err := parseYAML([]byte("s: x\nn: 1.5\nb: false\nz: null\nl: [1, \"2\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	jv, yv := j.value().(map[string]any), y.value().(map[string]any)
	for k, v := range jv {
		if !equal(yv[k], v, false) && !(v == nil && yv[k] == nil) {
			t.Errorf("%s: yaml %#v, json %#v", k, yv[k], v)
		}
	}
}
