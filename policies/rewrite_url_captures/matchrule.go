package rewriteurlcaptures

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
)

// segmentChars is what a {name} placeholder matches: one or more
// characters of a path segment, the class APIcast's mapping rules use.
const segmentChars = `[\w\-.~%!$&'()*+,;=@:]+`

// groupPrefix names the regexp groups of the placeholders, so that groups
// the match rule writes itself do not shift them.
const groupPrefix = "verdictcapture"

// matchRule is a compiled match_rule: a regular expression searched in
// the path, whose placeholders capture path segments.
type matchRule struct {
	re *regexp.Regexp
	// names are the placeholders in the order they appear, "{name}" each,
	// and groups the regexp group of each.
	names  []string
	groups []int
}

// placeholders calls f with the start and end (just past the closing
// brace) of every {name} in s. A name is the shortest non-empty run of
// characters before a "}", as APIcast reads it; a "{" with no "}" after it
// is text.
func placeholders(s string, f func(start, end int)) {
	for i := 0; i < len(s); i++ {
		if s[i] != '{' || i+2 >= len(s) {
			continue
		}
		j := strings.IndexByte(s[i+2:], '}')
		if j < 0 {
			continue
		}
		end := i + 2 + j + 1
		f(i, end)
		i = end - 1
	}
}

// parseMatchRule compiles a match_rule such as "/{org}/users/{id}". The
// text around the placeholders is a regular expression (RE2), searched
// anywhere in the path as APIcast does: "^" and "$" anchor it.
func parseMatchRule(rule string) (*matchRule, error) {
	m := &matchRule{}
	var b strings.Builder
	last := 0
	placeholders(rule, func(start, end int) {
		b.WriteString(rule[last:start])
		b.WriteString("(?P<" + groupPrefix + strconv.Itoa(len(m.names)) + ">" + segmentChars + ")")
		m.names = append(m.names, rule[start:end])
		last = end
	})
	b.WriteString(rule[last:])
	re, err := regexp.Compile(b.String())
	if err != nil {
		// The parser's message would quote the expression built here;
		// the user wrote the rule.
		var se *syntax.Error
		if errors.As(err, &se) {
			if strings.Contains(se.Expr, "(?P<"+groupPrefix) {
				return nil, fmt.Errorf("%q is not a valid match rule: %s", rule, se.Code)
			}
			return nil, fmt.Errorf("%q is not a valid match rule: %s: `%s`", rule, se.Code, se.Expr)
		}
		return nil, fmt.Errorf("%q is not a valid match rule: %w", rule, err)
	}
	m.re = re
	m.groups = make([]int, len(m.names))
	for i := range m.groups {
		m.groups[i] = -1
	}
	for g, name := range re.SubexpNames() {
		if !strings.HasPrefix(name, groupPrefix) {
			continue
		}
		k, err := strconv.Atoi(name[len(groupPrefix):])
		if err != nil || k >= len(m.groups) || m.groups[k] >= 0 {
			return nil, fmt.Errorf("%q: the group name %s is reserved", rule, name)
		}
		m.groups[k] = g
	}
	return m, nil
}

// part is a piece of a template: literal text, or the value of a
// placeholder of the match rule.
type part struct {
	text    string
	capture int // the index of the placeholder in matchRule.names; -1 for text
}

// parts splits template text into literal text and the placeholders of
// names ("{name}" each) it holds; other braces are text. Where a name
// appears twice in the match rule, the first capture is used.
func parts(s string, names []string) []part {
	var out []part
	last := 0
	for i := 0; i < len(s); i++ {
		if s[i] != '{' {
			continue
		}
		for k, name := range names {
			if !strings.HasPrefix(s[i:], name) {
				continue
			}
			if i > last {
				out = append(out, part{text: s[last:i], capture: -1})
			}
			out = append(out, part{capture: k})
			last = i + len(name)
			i = last - 1
			break
		}
	}
	if last < len(s) || len(out) == 0 {
		out = append(out, part{text: s[last:], capture: -1})
	}
	return out
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}
