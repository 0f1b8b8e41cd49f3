package httpx

import (
	"net/http"
	"slices"
	"testing"
)

func TestIsToken(t *testing.T) {
	cases := []struct {
		in   string
		want bool
	}{
		{"GET", true},
		{"X-Request-Id", true},
		{"a!#$%&'*+-.^_`|~z09", true},
		{"", false},
		{"X Request", false},
		{"X:Y", false},
		{"caf\xc3\xa9", false},
		{"a\x00", false},
		{"(comment)", false},
		{"a/b", false},
		{"a\"b", false},
	}
	for _, c := range cases {
		if got := IsToken(c.in); got != c.want {
			t.Errorf("IsToken(%q) = %v, want %v", c.in, got, c.want)
		}
		if got := IsToken([]byte(c.in)); got != c.want {
			t.Errorf("IsToken([]byte(%q)) = %v, want %v", c.in, got, c.want)
		}
		if got := ValidFieldName(c.in); got != c.want {
			t.Errorf("ValidFieldName(%q) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestValidFieldValue(t *testing.T) {
	cases := []struct {
		in   string
		want bool
	}{
		{"", true},
		{"text/plain; charset=utf-8", true},
		{"a\tb", true},
		{"caf\xc3\xa9", true},
		{"a\r\nX-Evil: 1", false},
		{"a\nb", false},
		{"a\x00", false},
		{"a\x01", false},
		{"a\x7f", false},
	}
	for _, c := range cases {
		if got := ValidFieldValue(c.in); got != c.want {
			t.Errorf("ValidFieldValue(%q) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestRemoveHopByHop(t *testing.T) {
	h := http.Header{}
	for _, k := range HopByHop {
		h.Set(k, "x")
		if !IsHopByHop(k) {
			t.Errorf("IsHopByHop(%q) = false", k)
		}
	}
	h.Set("X-Keep", "1")
	RemoveHopByHop(h)
	if len(h) != 1 || h.Get("X-Keep") != "1" {
		t.Errorf("left %v, want only X-Keep", h)
	}
	if IsHopByHop("Content-Length") {
		t.Error("Content-Length is not hop-by-hop")
	}
}

func TestRemoveConnectionNamed(t *testing.T) {
	h := http.Header{
		"Connection": {"close, x-secret", " Keep-Alive ,,X-Other"},
		"X-Secret":   {"1"},
		"X-Other":    {"2"},
		"Keep-Alive": {"timeout=5"},
		"X-Kept":     {"3"},
	}
	RemoveConnectionNamed(h)
	var got []string
	for k := range h {
		got = append(got, k)
	}
	slices.Sort(got)
	want := []string{"Connection", "Keep-Alive", "X-Kept"}
	if !slices.Equal(got, want) {
		t.Errorf("left %v, want %v", got, want)
	}
	RemoveConnectionNamed(http.Header{}) // no Connection header: nothing to do
}

func TestHeaderValue(t *testing.T) {
	h := http.Header{"X-Role": {"reader"}, "Accept": {"a/b", "c/d"}, "X-Empty": {}}
	cases := []struct {
		name, want string
		ok         bool
	}{
		{"X-Role", "reader", true},
		{"x-role", "reader", true},
		{"ACCEPT", "a/b, c/d", true},
		{"X-Empty", "", false},
		{"X-Missing", "", false},
	}
	for _, c := range cases {
		if got, ok := HeaderValue(h, c.name); got != c.want || ok != c.ok {
			t.Errorf("HeaderValue(%q) = %q, %v; want %q, %v", c.name, got, ok, c.want, c.ok)
		}
	}
	if n := testing.AllocsPerRun(100, func() { HeaderValue(h, "x-role") }); n != 0 {
		t.Errorf("HeaderValue of one line allocates %v times", n)
	}
	obj := HeaderObject(h)
	if len(obj) != 2 || obj["x-role"] != "reader" || obj["accept"] != "a/b, c/d" {
		t.Errorf("HeaderObject = %v", obj)
	}
}
