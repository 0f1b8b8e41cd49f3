package keycloakrolecheck

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestMatchPattern(t *testing.T) {
	tests := []struct {
		pattern, path string
		want          bool
	}{
		{"/", "/", true},
		{"/", "/anything/at/all", true},
		{"/resource1", "/resource1", true},
		{"/resource1", "/resource1/sub", true},
		{"/resource1", "/resource10", true}, // a prefix, as mapping rules are
		{"/resource1$", "/resource10", false},
		{"/resource1$", "/resource1", true},
		{"/resource1$", "/resource1/", false},
		{"/resource1/", "/resource1", false},
		{"/users/{id}", "/users/7", true},
		{"/users/{id}", "/users/7/keys", true},
		{"/users/{id}", "/users/", false},
		{"/users/{id}$", "/users/7/keys", false},
		{"/users/{id}/keys$", "/users/7/keys", true},
		{"/users/{id}/keys", "/users/7/8/keys", false},
		{"/files/{name}.json$", "/files/a.b.json", true},
		{"/files/{name}.json$", "/files/.json", false},
		{"/{a}{b}$", "/xy", true},
		{"/{a}{b}$", "/x", false},
		{"/{a}-{b}$", "/x-y-z", true},
		{"/orders?status={s}", "/orders/1", true},
		{"/a/b/c", "/a/b", false},
		{"/a", "/b", false},
	}
	for _, tt := range tests {
		if got := matchPattern(tt.pattern, tt.path, false); got != tt.want {
			t.Errorf("matchPattern(%q, %q) = %v", tt.pattern, tt.path, got)
		}
	}
}

func TestMarkHoles(t *testing.T) {
	tests := []struct {
		src, marked string
		holes       int
		err         bool
	}{
		{"/users/{{ jwt.sub }}", "/users/{{ jwt.sub }}", 0, false},
		{"/users/{{ jwt.sub }}/keys/{id}", "/users/{{ jwt.sub }}/keys/\x00", 1, false},
		{"/{% if jwt.admin %}admin{% endif %}/{a}/{b}", "/{% if jwt.admin %}admin{% endif %}/\x00/\x00", 2, false},
		{"/a/{b", "", 0, true},
		{"/a/{b{{ c }}}", "", 0, true},
		{"/a/{{ c", "/a/{{ c", 0, false}, // for the Liquid compiler to judge
		{"/a\x00", "", 0, true},
	}
	for _, tt := range tests {
		got, holes, err := markHoles(tt.src)
		if (err != nil) != tt.err || (!tt.err && (got != tt.marked || holes != tt.holes)) {
			t.Errorf("markHoles(%q) = %q, %d, %v", tt.src, got, holes, err)
		}
	}
}

// TestMarkedBracesAreLiteral: in a rendered Liquid pattern, braces are
// text and only hole markers are placeholders.
func TestMarkedBracesAreLiteral(t *testing.T) {
	if matchPattern("/users/{x}$", "/users/bob", true) {
		t.Fatal("braces from a rendered value matched another user's path")
	}
	if !matchPattern("/users/{x}$", "/users/{x}", true) {
		t.Fatal("literal braces did not match themselves")
	}
	if !matchPattern("/users/\x00/keys", "/users/bob/keys", true) {
		t.Fatal("a marked placeholder did not match")
	}
}

// reference compiles a plain pattern the way mapping rules are usually
// compiled, into a regular expression, for the fuzz test to compare with.
func reference(pattern string) *regexp.Regexp {
	pattern, _, _ = strings.Cut(pattern, "?")
	exact := strings.HasSuffix(pattern, "$")
	pattern = strings.TrimSuffix(pattern, "$")
	var b strings.Builder
	b.WriteString("^")
	for pattern != "" {
		i := strings.IndexByte(pattern, '{')
		if i < 0 {
			b.WriteString(regexp.QuoteMeta(pattern))
			break
		}
		j := strings.IndexByte(pattern[i:], '}')
		b.WriteString(regexp.QuoteMeta(pattern[:i]))
		b.WriteString("[^/]+")
		pattern = pattern[i+j+1:]
	}
	if exact {
		b.WriteString("$")
	}
	return regexp.MustCompile(b.String())
}

// FuzzMatchPattern checks the segment matcher against a regular
// expression built from the same pattern.
func FuzzMatchPattern(f *testing.F) {
	f.Add("/files/{name}.json$", "/files/a.b.json")
	f.Add("/{a}{b}-{c}", "/xy-z/w")
	f.Add("/users/{id}/keys", "/users/7/8/keys")
	f.Fuzz(func(t *testing.T, pattern, path string) {
		if checkPattern(pattern) != nil || !strings.HasPrefix(path, "/") || !utf8.ValidString(pattern) || !utf8.ValidString(path) {
			return
		}
		want := reference(pattern).MatchString(path)
		if got := matchPattern(pattern, path, false); got != want {
			t.Fatalf("matchPattern(%q, %q) = %v, the regular expression says %v", pattern, path, got, want)
		}
	})
}
