package manifest

import (
	"encoding/json"
	"strings"
	"testing"
)

const sample = `{
  "$schema": "http://apicast.io/policy-v1/schema#manifest#",
  "name": "sample", "summary": "s", "description": ["a", "b"], "version": "builtin",
  "configuration": {
    "type": "object",
    "properties": {
      "allow_origin": {"type": "string"},
      "rules": {"type": "array", "items": {"type": "object", "required": ["op"], "properties": {"op": {"enum": ["add", "set"]}}}}
    },
    "additionalProperties": false
  }
}`

func TestValidate(t *testing.T) {
	m, err := Parse([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, config string
		want         []string // substrings; none means valid
	}{
		{"valid", `{"allow_origin": "*", "rules": [{"op": "add"}]}`, nil},
		{"empty", `{}`, nil},
		{"wrong type", `{"allow_origin": 1}`, []string{"allow_origin:", "string"}},
		{"nested", `{"rules": [{"op": "remove"}]}`, []string{"rules.0.op:"}},
		{"missing required", `{"rules": [{}]}`, []string{"rules.0:", "op"}},
		{"unknown field", `{"bogus": true}`, []string{"bogus"}},
		{"several at once", `{"allow_origin": 1, "rules": [{"op": "x"}]}`, []string{"allow_origin:", "rules.0.op:"}},
		{"not json", `{`, []string{"not valid JSON"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := m.Validate(json.RawMessage(tt.config))
			if tt.want == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, bad := range []string{`{}`, `{"name": "x", "version": "1", "extra": 1}`, `{"name": "x", "version": "1", "configuration": {"type": 12}}`, `[`} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("Parse(%s): no error", bad)
		}
	}
}

func TestNamesWithSpaces(t *testing.T) {
	m, err := Parse([]byte(`{"name": "Header Modification", "version": "1.0 beta", "configuration": {"type": "object", "properties": {"a": {"type": "string"}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Validate(json.RawMessage(`{"a": 1}`)); err == nil {
		t.Error("the schema of a manifest whose name has spaces does not validate")
	}
}
