package jsonenc

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "quote\" back\\ nl\n tab\t", "\x00\x01\x1f\b\f", "é ü 日本", "\u2028\u2029", "\xff\xfe bad", "<&>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		got := AppendString(nil, s)
		if !bytes.Equal(got, bytes.TrimSuffix(want.Bytes(), []byte("\n"))) {
			t.Fatalf("%q: got %s, encoding/json %s", s, got, want.Bytes())
		}
	})
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"a": [1, 2.5, -0, 1e400]}`, `"\ud83d\ude00 \ud800 \u2028 <&>"`, `[true, false, null, {}, [], ""]`,
		`{"a": 1, "a": 2}`, "\"\xff\"", `1e-7`, `123456789012345678901234`, `{"x": "\t\n\u0001"}`, ` [1,]`, `01`, `{"policy": "p", "input": {"a": {"b": [1]}}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		mine, errMine := Decode(data)
		var std any
		errStd := json.Unmarshal(data, &std)
		var se *SyntaxError
		if errors.As(errMine, &se) && strings.Contains(se.Msg, "nested more than") {
			return
		}
		if (errMine == nil) != (errStd == nil) {
			t.Fatalf("%q: Decode error %v, encoding/json error %v", data, errMine, errStd)
		}
		if errMine != nil {
			return
		}
		if !reflect.DeepEqual(mine, std) {
			t.Fatalf("%q: Decode %#v, encoding/json %#v", data, mine, std)
		}
		out, err := AppendValue(nil, mine)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(std); err != nil {
			t.Fatal(err)
		}
		if want := bytes.TrimSuffix(buf.Bytes(), []byte("\n")); !bytes.Equal(out, want) {
			t.Fatalf("%q: AppendValue %s, encoding/json %s", data, out, want)
		}
	})
}
