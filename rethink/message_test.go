package rethink

import (
	"errors"
	"strings"
	"testing"
)

func TestParseMessage(t *testing.T) {
	tests := []struct {
		in, err string
	}{
		{`{"id": 1, "type": "create", "from": "a://b/c", "to": "a://b/d"}`, ""},
		{`  {"id": 1}  `, ""},
		{``, "the message is empty"},
		{`[1]`, "a message must be a JSON object"},
		{`"x"`, "a message must be a JSON object"},
		{`{"id": 1`, "the JSON ends before it is complete"},
		{`{"id": 1} {}`, "unexpected data after the JSON value"},
		{`{"id": 01}`, "invalid JSON at byte offset 8"},
		{`{"id": "a` + "\x01" + `"}`, "control character"},
		{strings.Repeat("[", 600) + strings.Repeat("]", 600), "a message must be a JSON object"},
		{`{"a":` + strings.Repeat("[", 600) + strings.Repeat("]", 600) + `}`, "nested more than 512 deep"},
	}
	for _, tt := range tests {
		m, err := ParseMessage([]byte(tt.in))
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("%.40q: %v", tt.in, err)
		case tt.err == "" && m == nil:
			t.Errorf("%.40q: no message", tt.in)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("%.40q: error %v, want one containing %q", tt.in, err, tt.err)
		}
	}
	if _, err := ParseMessage([]byte(`[]`)); !errors.Is(err, ErrNotObject) {
		t.Errorf("a list: %v, want ErrNotObject", err)
	}
}

func TestDirection(t *testing.T) {
	for in, want := range map[string]Direction{"": Ingress, "ingress": Ingress, "egress": Egress} {
		got, err := ParseDirection(in)
		if err != nil || got != want {
			t.Errorf("ParseDirection(%q) = %v, %v", in, got, err)
		}
		if in != "" && got.String() != in {
			t.Errorf("%v.String() = %q", got, got.String())
		}
	}
	if _, err := ParseDirection("Ingress"); err == nil {
		t.Error("directions are lower case")
	}
}
