package keycloakrolecheck

import (
	"fmt"
	"strings"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/policies/internal/liquidctx"
)

// resource is a scope's path pattern in mapping-rule syntax: {name}
// matches one or more characters of one path segment, a trailing $ asks
// for the whole path, otherwise the pattern is a prefix; a query part is
// ignored.
//
// A Liquid resource has its placeholders marked before the template is
// compiled, so that braces a rendered value brings in (a claim such as
// "{x}") are literal text and cannot widen the pattern to other paths.
type resource struct {
	plain string // a plain pattern, with {name} placeholders
	tpl   *liquidctx.Template
	// holes is the number of placeholders of a Liquid pattern.
	holes int
}

// hole stands for a placeholder in a rendered Liquid pattern; no URL path
// holds it.
const hole = '\x00'

func compileResource(src, srcType string) (*resource, error) {
	if srcType != liquidctx.Liquid {
		t, err := liquidctx.Compile(src, srcType)
		if err != nil {
			return nil, err
		}
		if err := checkPattern(src); err != nil {
			return nil, err
		}
		return &resource{plain: t.Source()}, nil
	}
	marked, holes, err := markHoles(src)
	if err != nil {
		return nil, err
	}
	t, err := liquidctx.Compile(marked, liquidctx.Liquid)
	if err != nil {
		return nil, err
	}
	return &resource{tpl: t, holes: holes}, nil
}

// matches reports whether the request's path matches the pattern.
func (r *resource) matches(c *chain.Context, path string) (bool, error) {
	if r.tpl == nil {
		return matchPattern(r.plain, path, false), nil
	}
	p, err := r.tpl.Render(c)
	if err != nil {
		return false, err
	}
	if strings.Count(p, string(hole)) != r.holes {
		// A rendered value held the marker itself: refuse to guess.
		return false, fmt.Errorf("the rendered resource holds a NUL character")
	}
	if !strings.HasPrefix(p, "/") {
		return false, nil
	}
	return matchPattern(p, path, true), nil
}

// checkPattern checks a plain pattern: it starts with / and its braces
// pair up without nesting, around names without / or ?.
func checkPattern(pattern string) error {
	if !strings.HasPrefix(pattern, "/") {
		return fmt.Errorf("%q does not start with /", pattern)
	}
	open := false
	for i := 0; i < len(pattern); i++ {
		switch pattern[i] {
		case '{':
			if open {
				return fmt.Errorf("nested { in %q", pattern)
			}
			open = true
		case '}':
			if !open {
				return fmt.Errorf("} without { in %q", pattern)
			}
			open = false
		case '/', '?':
			if open {
				return fmt.Errorf("%c inside a placeholder in %q", pattern[i], pattern)
			}
		case hole:
			return fmt.Errorf("NUL character in %q", pattern)
		}
	}
	if open {
		return fmt.Errorf("unclosed { in %q", pattern)
	}
	return nil
}

// markHoles replaces the mapping-rule placeholders of a Liquid source
// ({name}, outside {{ }} and {% %}) with the hole marker, and counts them.
func markHoles(src string) (string, int, error) {
	if strings.IndexByte(src, hole) >= 0 {
		return "", 0, fmt.Errorf("NUL character in %q", src)
	}
	var b strings.Builder
	holes := 0
	for i := 0; i < len(src); {
		rest := src[i:]
		var end string
		switch {
		case strings.HasPrefix(rest, "{{"):
			end = "}}"
		case strings.HasPrefix(rest, "{%"):
			end = "%}"
		case rest[0] == '{':
			n := strings.IndexByte(rest, '}')
			if n < 0 {
				return "", 0, fmt.Errorf("unclosed { in %q", src)
			}
			if strings.ContainsAny(rest[1:n], "{%/?") {
				return "", 0, fmt.Errorf("a placeholder in %q holds Liquid, / or ?", src)
			}
			b.WriteByte(hole)
			holes++
			i += n + 1
			continue
		default:
			b.WriteByte(src[i])
			i++
			continue
		}
		n := strings.Index(rest[2:], end)
		if n < 0 {
			// Left for the Liquid compiler to refuse.
			b.WriteString(rest)
			break
		}
		b.WriteString(rest[:2+n+2])
		i += 2 + n + 2
	}
	return b.String(), holes, nil
}

// matchPattern matches path against pattern segment by segment, since a
// placeholder never crosses a /. With marked, placeholders are hole
// markers and braces are literal; otherwise they are {name}.
func matchPattern(pattern, path string, marked bool) bool {
	pattern, _, _ = strings.Cut(pattern, "?")
	exact := strings.HasSuffix(pattern, "$")
	pattern = strings.TrimSuffix(pattern, "$")
	for {
		pseg, prest, pmore := strings.Cut(pattern, "/")
		sseg, srest, smore := strings.Cut(path, "/")
		if !pmore {
			if exact {
				return !smore && matchSegment(pseg, sseg, false, marked)
			}
			return matchSegment(pseg, sseg, true, marked)
		}
		if !smore || !matchSegment(pseg, sseg, false, marked) {
			return false
		}
		pattern, path = prest, srest
	}
}

// matchSegment matches one path segment against one pattern segment, in
// time proportional to the product of their lengths at worst: a
// placeholder is "one character, then any number", and only the last
// placeholder seen is ever widened, which suffices when placeholders can
// match any character. With prefix, the pattern needs to match the start
// of s only.
func matchSegment(p, s string, prefix, marked bool) bool {
	pi, si := 0, 0
	starP, starS := -1, -1
	for si < len(s) {
		if pi == len(p) && prefix {
			return true
		}
		if pi < len(p) {
			if n := placeholderLen(p[pi:], marked); n > 0 {
				pi += n
				si++ // the one character a placeholder needs
				starP, starS = pi, si
				continue
			}
			if p[pi] == s[si] {
				pi++
				si++
				continue
			}
		}
		if starP < 0 {
			return false
		}
		starS++
		pi, si = starP, starS
	}
	return pi == len(p)
}

// placeholderLen returns the length of the placeholder p starts with, or
// 0.
func placeholderLen(p string, marked bool) int {
	if marked {
		if p[0] == hole {
			return 1
		}
		return 0
	}
	if p[0] != '{' {
		return 0
	}
	return strings.IndexByte(p, '}') + 1
}
