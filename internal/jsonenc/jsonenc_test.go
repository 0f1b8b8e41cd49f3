package jsonenc

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
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

// FuzzDecoder holds a reused Decoder to Decode: the same values and the
// same errors, whatever the document before, and members that lie where
// their values are written.
func FuzzDecoder(f *testing.F) {
	for _, s := range []string{`{"a": [1, 2.5, -0, 1e400]}`, `{"a": {"b": {"c": 1}}, "d": 1023, "e": 1024, "f": -3}`,
		`[{"x": 1}, {"x": "\u0041"}]`, `{"a\u0062": 1, "a": 2, "a": 3}`, "{\"\xff\": \"\xfe\"}", `12345678901234567`, `0.5e3`,
		`-`, `01`, `{"id": 007}`, `1e`} {
		f.Add([]byte(s), []byte(`{"id": 5, "body": {"auth": true}}`))
	}
	var r Decoder
	r.Depth = 1
	f.Fuzz(func(t *testing.T, first, data []byte) {
		r.Decode(first)
		got, errGot := r.Decode(data)
		want, errWant := Decode(data)
		if (errGot == nil) != (errWant == nil) || errGot != nil && errGot.Error() != errWant.Error() {
			t.Fatalf("%q: Decoder error %v, Decode error %v", data, errGot, errWant)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: Decoder %#v, Decode %#v", data, got, want)
		}
		if errGot != nil {
			return
		}
		for _, m := range r.Members() {
			o := r.Objects()[m.Object]
			if o.Depth > r.Depth || m.Start < o.Start || m.End > o.End {
				t.Fatalf("%q: member %+v outside its object %+v", data, m, o)
			}
			v, err := Decode(data[m.Start:m.End])
			if err != nil || !reflect.DeepEqual(v, o.Map[m.Key]) && !o.Repeated {
				t.Fatalf("%q: member %q spans %q, decoded %#v", data, m.Key, data[m.Start:m.End], o.Map[m.Key])
			}
		}
		for _, o := range r.Objects() {
			if o.Repeated != (o.Members != len(o.Map)) {
				t.Fatalf("%q: object %+v: repeated keys misreported", data, o)
			}
		}
		if r.ValidUTF8() && !utf8.Valid(data) {
			t.Fatalf("%q: invalid UTF-8 not noticed", data)
		}
	})
}

func BenchmarkAppendString(b *testing.B) {
	s := "hyperty-catalogue://catalogue.hjiang-rethink.com/.well-known/hyperty/Connector"
	buf := make([]byte, 0, 256)
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		buf = AppendString(buf[:0], s)
	}
}
