package rethink

import "github.com/verdict-policy/verdict/internal/jsonenc"

// A message is decoded into plain Go values once per request and encoded
// back once, without reflection (package jsonenc).

func decodeJSON(data []byte) (any, error) { return jsonenc.Decode(data) }

func appendJSON(b []byte, v any) ([]byte, error) {
	if m, ok := v.(Message); ok {
		v = map[string]any(m)
	}
	return jsonenc.AppendValue(b, v)
}

// appendString quotes s as encoding/json does without HTML escaping.
func appendString(b []byte, s string) []byte { return jsonenc.AppendString(b, s) }
