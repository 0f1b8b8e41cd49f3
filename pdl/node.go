package pdl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// kind is the JSON type of a parsed node.
type kind uint8

const (
	kNull kind = iota
	kBool
	kNumber
	kString
	kArray
	kObject
)

func (k kind) String() string {
	return [...]string{"null", "boolean", "number", "string", "array", "object"}[k]
}

// node is a parsed JSON or YAML value that remembers where it was written,
// so that every load error can name its line and column. Objects keep their
// keys in document order.
type node struct {
	kind      kind
	line, col int
	str       string  // string value, or the literal text of a number
	num       float64 // number value
	b         bool
	keys      []string // object keys, in order
	keyPos    [][2]int // line and column of each key
	items     []*node  // object values (aligned with keys) or array items
}

// get returns the value of key k of an object node, or nil.
func (n *node) get(k string) *node {
	for i, key := range n.keys {
		if key == k {
			return n.items[i]
		}
	}
	return nil
}

// value converts n into a plain Go value as encoding/json would produce.
func (n *node) value() any {
	switch n.kind {
	case kBool:
		return n.b
	case kNumber:
		return n.num
	case kString:
		return n.str
	case kArray:
		out := make([]any, len(n.items))
		for i, it := range n.items {
			out[i] = it.value()
		}
		return out
	case kObject:
		out := make(map[string]any, len(n.keys))
		for i, k := range n.keys {
			out[k] = n.items[i].value()
		}
		return out
	}
	return nil
}

// syntaxError is a parse failure at a position.
type syntaxError struct {
	line, col int
	msg       string
}

func (e *syntaxError) Error() string { return fmt.Sprintf("%d:%d: %s", e.line, e.col, e.msg) }

// maxDepth bounds nesting so that hostile input cannot exhaust the stack.
const maxDepth = 500

// parseSource parses a JSON or YAML document. The extension .yaml or .yml
// selects YAML; otherwise text starting with { or [ is read as JSON and
// anything else as YAML.
func parseSource(name string, data []byte) (*node, error) {
	lower := strings.ToLower(name)
	if strings.HasSuffix(lower, ".yaml") || strings.HasSuffix(lower, ".yml") {
		return parseYAML(data)
	}
	trimmed := bytes.TrimLeft(data, " \t\r\n\ufeff")
	if len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') {
		return parseJSON(data)
	}
	if strings.HasSuffix(lower, ".json") {
		return parseJSON(data)
	}
	return parseYAML(data)
}

// jsonParser is a small recursive-descent JSON parser that records line and
// column of every value and keeps object key order.
type jsonParser struct {
	data      []byte
	pos       int
	line      int
	lineStart int
	// colPos and colRunes cache the last column computed, so that
	// columns on long lines cost the distance from the previous one.
	colPos, colRunes int
}

func parseJSON(data []byte) (*node, error) {
	p := &jsonParser{data: data, line: 1}
	if bytes.HasPrefix(data, []byte("\ufeff")) {
		p.pos = 3
		p.lineStart = 3
	}
	p.skipSpace()
	if p.pos >= len(p.data) {
		return nil, p.errorf("empty document")
	}
	n, err := p.parseValue(0)
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos < len(p.data) {
		return nil, p.errorf("unexpected %s after the document", p.describe())
	}
	return n, nil
}

func (p *jsonParser) col() int {
	if p.colPos < p.lineStart || p.colPos > p.pos {
		p.colPos, p.colRunes = p.lineStart, 0
	}
	p.colRunes += utf8.RuneCount(p.data[p.colPos:p.pos])
	p.colPos = p.pos
	return p.colRunes + 1
}

func (p *jsonParser) errorf(format string, args ...any) error {
	return &syntaxError{line: p.line, col: p.col(), msg: fmt.Sprintf(format, args...)}
}

func (p *jsonParser) describe() string {
	if p.pos >= len(p.data) {
		return "end of input"
	}
	r, _ := utf8.DecodeRune(p.data[p.pos:])
	return strconv.QuoteRune(r)
}

func (p *jsonParser) skipSpace() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case '\n':
			p.line++
			p.pos++
			p.lineStart = p.pos
		case ' ', '\t', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *jsonParser) parseValue(depth int) (*node, error) {
	if depth > maxDepth {
		return nil, p.errorf("nesting deeper than %d levels", maxDepth)
	}
	if p.pos >= len(p.data) {
		return nil, p.errorf("unexpected end of input")
	}
	n := &node{line: p.line, col: p.col()}
	switch c := p.data[p.pos]; {
	case c == '{':
		p.pos++
		n.kind = kObject
		p.skipSpace()
		if p.pos < len(p.data) && p.data[p.pos] == '}' {
			p.pos++
			return n, nil
		}
		for {
			p.skipSpace()
			if p.pos >= len(p.data) || p.data[p.pos] != '"' {
				return nil, p.errorf("expected a string key, found %s", p.describe())
			}
			kl, kc := p.line, p.col()
			key, err := p.parseString()
			if err != nil {
				return nil, err
			}
			for _, k := range n.keys {
				if k == key {
					return nil, &syntaxError{line: kl, col: kc, msg: fmt.Sprintf("duplicate key %q", key)}
				}
			}
			p.skipSpace()
			if p.pos >= len(p.data) || p.data[p.pos] != ':' {
				return nil, p.errorf("expected ':' after key %q, found %s", key, p.describe())
			}
			p.pos++
			p.skipSpace()
			v, err := p.parseValue(depth + 1)
			if err != nil {
				return nil, err
			}
			n.keys = append(n.keys, key)
			n.keyPos = append(n.keyPos, [2]int{kl, kc})
			n.items = append(n.items, v)
			p.skipSpace()
			if p.pos < len(p.data) && p.data[p.pos] == ',' {
				p.pos++
				continue
			}
			if p.pos < len(p.data) && p.data[p.pos] == '}' {
				p.pos++
				return n, nil
			}
			return nil, p.errorf("expected ',' or '}' in object, found %s", p.describe())
		}
	case c == '[':
		p.pos++
		n.kind = kArray
		p.skipSpace()
		if p.pos < len(p.data) && p.data[p.pos] == ']' {
			p.pos++
			return n, nil
		}
		for {
			p.skipSpace()
			v, err := p.parseValue(depth + 1)
			if err != nil {
				return nil, err
			}
			n.items = append(n.items, v)
			p.skipSpace()
			if p.pos < len(p.data) && p.data[p.pos] == ',' {
				p.pos++
				continue
			}
			if p.pos < len(p.data) && p.data[p.pos] == ']' {
				p.pos++
				return n, nil
			}
			return nil, p.errorf("expected ',' or ']' in array, found %s", p.describe())
		}
	case c == '"':
		s, err := p.parseString()
		if err != nil {
			return nil, err
		}
		n.kind, n.str = kString, s
		return n, nil
	case c == '-' || (c >= '0' && c <= '9'):
		start := p.pos
		for p.pos < len(p.data) && strings.IndexByte("+-0123456789.eE", p.data[p.pos]) >= 0 {
			p.pos++
		}
		lit := string(p.data[start:p.pos])
		if !json.Valid(p.data[start:p.pos]) {
			p.pos = start
			return nil, p.errorf("bad number %q", lit)
		}
		f, err := strconv.ParseFloat(lit, 64)
		if err != nil {
			p.pos = start
			return nil, p.errorf("bad number %q", lit)
		}
		n.kind, n.num, n.str = kNumber, f, lit
		return n, nil
	default:
		for _, w := range [...]struct {
			lit string
			k   kind
			b   bool
		}{{"true", kBool, true}, {"false", kBool, false}, {"null", kNull, false}} {
			if bytes.HasPrefix(p.data[p.pos:], []byte(w.lit)) {
				p.pos += len(w.lit)
				n.kind, n.b = w.k, w.b
				return n, nil
			}
		}
		return nil, p.errorf("unexpected %s", p.describe())
	}
}

// parseString reads a JSON string starting at the opening quote.
func (p *jsonParser) parseString() (string, error) {
	start := p.pos
	p.pos++
	escaped := false
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		switch {
		case c == '\\':
			escaped = true
			p.pos += 2
			continue
		case c == '"':
			p.pos++
			raw := p.data[start:p.pos]
			if !escaped && utf8.Valid(raw) {
				return string(raw[1 : len(raw)-1]), nil
			}
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				p.pos = start
				return "", p.errorf("bad string: %v", err)
			}
			return s, nil
		case c < 0x20:
			return "", p.errorf("control character in string")
		}
		p.pos++
	}
	p.pos = start
	return "", p.errorf("unterminated string")
}

// maxYAMLNodes bounds alias expansion.
const maxYAMLNodes = 1 << 20

func parseYAML(data []byte) (*node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, yamlError(err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, &syntaxError{line: 1, col: 1, msg: "empty document"}
	}
	budget := maxYAMLNodes
	return fromYAML(doc.Content[0], 0, &budget)
}

// yamlError turns a yaml.v3 error ("yaml: line 3: ...") into a positioned one.
func yamlError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	var line int
	if _, scanErr := fmt.Sscanf(msg, "line %d:", &line); scanErr == nil {
		if i := strings.Index(msg, ": "); i >= 0 {
			msg = msg[i+2:]
		}
	}
	return &syntaxError{line: line, col: 0, msg: msg}
}

func fromYAML(y *yaml.Node, depth int, budget *int) (*node, error) {
	*budget--
	if depth > maxDepth || *budget < 0 {
		return nil, &syntaxError{line: y.Line, col: y.Column, msg: "document too deep or too large"}
	}
	n := &node{line: y.Line, col: y.Column}
	switch y.Kind {
	case yaml.AliasNode:
		return fromYAML(y.Alias, depth+1, budget)
	case yaml.DocumentNode:
		if len(y.Content) == 0 {
			return n, nil
		}
		return fromYAML(y.Content[0], depth, budget)
	case yaml.MappingNode:
		n.kind = kObject
		for i := 0; i+1 < len(y.Content); i += 2 {
			k, v := y.Content[i], y.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				return nil, &syntaxError{line: k.Line, col: k.Column, msg: "object keys must be strings"}
			}
			if k.Tag == "!!merge" {
				return nil, &syntaxError{line: k.Line, col: k.Column, msg: "merge keys (<<) are not supported"}
			}
			for _, seen := range n.keys {
				if seen == k.Value {
					return nil, &syntaxError{line: k.Line, col: k.Column, msg: fmt.Sprintf("duplicate key %q", k.Value)}
				}
			}
			child, err := fromYAML(v, depth+1, budget)
			if err != nil {
				return nil, err
			}
			n.keys = append(n.keys, k.Value)
			n.keyPos = append(n.keyPos, [2]int{k.Line, k.Column})
			n.items = append(n.items, child)
		}
	case yaml.SequenceNode:
		n.kind = kArray
		for _, it := range y.Content {
			child, err := fromYAML(it, depth+1, budget)
			if err != nil {
				return nil, err
			}
			n.items = append(n.items, child)
		}
	case yaml.ScalarNode:
		switch y.ShortTag() {
		case "!!null":
			n.kind = kNull
		case "!!bool":
			var b bool
			if err := y.Decode(&b); err != nil {
				return nil, &syntaxError{line: y.Line, col: y.Column, msg: err.Error()}
			}
			n.kind, n.b = kBool, b
		case "!!int", "!!float":
			var f float64
			if err := y.Decode(&f); err != nil {
				return nil, &syntaxError{line: y.Line, col: y.Column, msg: fmt.Sprintf("bad number %q", y.Value)}
			}
			n.kind, n.num, n.str = kNumber, f, y.Value
		default:
			n.kind, n.str = kString, y.Value
		}
	default:
		return nil, &syntaxError{line: y.Line, col: y.Column, msg: "unsupported YAML node"}
	}
	return n, nil
}
