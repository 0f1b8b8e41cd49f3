package rethink

import (
	"slices"
	"testing"

	"github.com/verdict-policy/verdict/config"
)

func TestAttributeTableIsSorted(t *testing.T) {
	if !slices.IsSorted(attributeNames[:]) {
		t.Fatal("attributeNames must stay sorted: IsAttribute searches it")
	}
	if len(slices.Compact(slices.Clone(attributeNames[:]))) != len(attributeNames) {
		t.Fatal("attributeNames holds a name twice")
	}
}

func TestOptions(t *testing.T) {
	opts := Options()
	tests := []struct {
		name  string
		known bool
	}{
		{"msgType", true},
		{"valueAllocated", true},
		{"weekday", true},
		{"msgDirection", true},
		{"isInterDomain", true},
		{"valueAllocate", false}, // an alias, not an attribute
		{"MsgType", false},
		{"", false},
		{"user.name", false},
	}
	for _, tt := range tests {
		if got := opts.Known(tt.name); got != tt.known {
			t.Errorf("Known(%q) = %v, want %v", tt.name, got, tt.known)
		}
	}
	if got := opts.Aliases["valueAllocate"]; got != "valueAllocated" {
		t.Errorf(`Aliases["valueAllocate"] = %q, want "valueAllocated"`, got)
	}
	for alias, canonical := range opts.Aliases {
		if !opts.Known(canonical) {
			t.Errorf("alias %q points at %q, which is not an attribute", alias, canonical)
		}
	}
	// Options hands out a fresh map each time: a caller may not change the
	// vocabulary of another.
	opts.Aliases["x"] = "y"
	if _, ok := Options().Aliases["x"]; ok {
		t.Error("Options shares its alias map between calls")
	}
}

// The policies section of the configuration knows the vocabulary by name.
func TestVocabularyRegistered(t *testing.T) {
	opts, err := config.Vocabulary("rethink")
	if err != nil || opts.Known == nil || !opts.Known("msgType") || opts.Known("msgTyp") {
		t.Errorf(`config.Vocabulary("rethink") = %+v, %v`, opts, err)
	}
}
