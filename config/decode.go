package config

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Node is a node of the configuration file's YAML tree, as a section's
// decode function receives it.
type Node = yaml.Node

// Decoder walks the YAML node tree of a configuration file. It checks every
// field by hand rather than through struct tags so that each problem gets
// the line, column and dotted name of the field it is about, and so that
// decoding goes on after a problem to find the next one. A section's
// decode function reports its problems through the Decoder it is given.
type Decoder struct {
	file     string
	problems Problems
	// tolerant is set while decoding an APIcast file without strict: true;
	// what APIcast tolerates becomes a warning.
	tolerant bool
	warnings Problems
	// skipUnregistered leaves out the top-level keys no package
	// registered, rather than refusing them (the built-in file only).
	skipUnregistered bool
}

// File returns the name of the file being decoded.
func (d *Decoder) File() string { return d.file }

// Tolerant reports whether the file is an APIcast file loaded as APIcast
// loads it (no strict: true): a section may turn what APIcast tolerates
// into a warning (Warnf) rather than a problem.
func (d *Decoder) Tolerant() bool { return d.tolerant }

// Errorf records a problem at node n (nil for none) about field.
func (d *Decoder) Errorf(n *Node, field, format string, args ...any) {
	d.problems = append(d.problems, d.problem(n, field, format, args...))
}

// Warnf records a problem that a tolerant (APIcast) file may have: it is
// reported, and the file still loads.
func (d *Decoder) Warnf(n *Node, field, format string, args ...any) {
	d.warnings = append(d.warnings, d.problem(n, field, format, args...))
}

func (d *Decoder) problem(n *Node, field, format string, args ...any) Problem {
	p := Problem{File: d.file, Field: field, Message: fmt.Sprintf(format, args...)}
	if n != nil {
		p.Line, p.Column = n.Line, n.Column
	}
	return p
}

// Resolve follows YAML aliases (*name) to the node they stand for.
func Resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// IsNull reports whether n is absent or a YAML null.
func IsNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

// Join names the field key of parent: parent.key, or key at the top.
func Join(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// KindName describes the kind of n for a problem: "a mapping", "a list",
// "a string", "a number", "a boolean" or "null".
func KindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return "null"
		case "!!int", "!!float":
			return "a number"
		case "!!bool":
			return "a boolean"
		}
		return "a string"
	}
	return "an unsupported node"
}

// Entries calls each for every key of the mapping n, in order. It reports a
// value that is not a mapping, keys that are not strings, and keys given
// twice. A null value counts as an empty mapping.
func (d *Decoder) Entries(n *yaml.Node, field string, each func(key string, k, v *yaml.Node)) {
	n = Resolve(n)
	if IsNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.Errorf(n, field, "must be a mapping, not %s", KindName(n))
		return
	}
	seen := make(map[string]int, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := Resolve(n.Content[i]), n.Content[i+1]
		if k == nil || k.Kind != yaml.ScalarNode || k.Tag == "!!merge" {
			d.Errorf(n.Content[i], field, "keys must be plain names")
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.Errorf(k, Join(field, k.Value), "given twice (first on line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		each(k.Value, k, Resolve(v))
	}
}

// Fields decodes a mapping with a fixed set of keys; any other key is a
// problem naming it.
func (d *Decoder) Fields(n *yaml.Node, field string, known map[string]func(v *yaml.Node, field string)) {
	d.Entries(n, field, func(key string, k, v *yaml.Node) {
		f, ok := known[key]
		if !ok {
			d.Errorf(k, Join(field, key), "unknown field")
			return
		}
		f(v, Join(field, key))
	})
}

// Str decodes a scalar string. Numbers and booleans are rejected rather than
// turned into text, so a typo does not pass unnoticed.
func (d *Decoder) Str(n *yaml.Node, field string) (string, bool) {
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		d.Errorf(n, field, "must be a string, not %s", KindName(n))
		return "", false
	}
	return n.Value, true
}

// apicastKeys are the top-level keys of an APIcast configuration file,
// with strict, which only Verdict reads.
var apicastKeys = map[string]bool{"services": true, "oidc": true, "id": true, "provider_key": true, "timestamp": true, "strict": true}

// isAPIcastFile reports whether n, the top of a configuration file, is an
// APIcast file: a JSON object (APIcast reads JSON only) with services and
// no key but APIcast's.
func isAPIcastFile(n *yaml.Node) bool {
	if n == nil || n.Kind != yaml.MappingNode || n.Style&yaml.FlowStyle == 0 {
		return false
	}
	services := false
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := Resolve(n.Content[i])
		if k == nil || k.Kind != yaml.ScalarNode || !apicastKeys[k.Value] {
			return false
		}
		services = services || k.Value == "services"
	}
	return services
}

// strictValue returns the value of the top-level strict key, if any.
func strictValue(n *yaml.Node) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := Resolve(n.Content[i]); k != nil && k.Value == "strict" {
			return Resolve(n.Content[i+1])
		}
	}
	return nil
}

func (d *Decoder) config(n *yaml.Node, c *Config) {
	n = Resolve(n)
	apicast := isAPIcastFile(n)
	if apicast {
		// Known before services are decoded, wherever strict is written.
		c.APIcast = true
		strict := strictValue(n)
		d.tolerant = strict == nil || strict.Tag != "!!bool" || strict.Value != "true"
		c.Lenient = d.tolerant
	}
	ignore := func(*yaml.Node, string) {}
	known := map[string]func(*yaml.Node, string){
		"listen":   func(v *yaml.Node, f string) { d.listen(v, f, &c.Listen) },
		"limits":   func(v *yaml.Node, f string) { d.limits(v, f, &c.Limits) },
		"store":    func(v *yaml.Node, f string) { d.store(v, f, &c.Store) },
		"policies": func(v *yaml.Node, f string) { d.policies(v, f, &c.Policies) },
		"oidc":     func(v *yaml.Node, f string) { d.List(v, f, func(int, *yaml.Node, string) {}) },
		"strict": func(v *yaml.Node, f string) {
			strict, ok := d.Bool(v, f)
			if ok && !strict && !apicast {
				d.Errorf(v, f, "only an APIcast file (a JSON object of services) is loaded leniently; this file is always strict")
			}
		},
	}
	if apicast {
		// APIcast's own keys, read by 3scale and not by Verdict.
		known["id"], known["provider_key"], known["timestamp"] = ignore, ignore, ignore
	}
	var held []SectionInfo
	d.Entries(n, "", func(key string, k, v *Node) {
		if f, ok := known[key]; ok {
			f(v, key)
			return
		}
		s, ok := registeredSection(key)
		if !ok && d.skipUnregistered {
			return
		}
		if !ok {
			d.Errorf(k, key, "unknown field")
			return
		}
		held = append(held, s)
		if val := s.Decode(d, v, key); val != nil {
			c.SetSection(key, val)
		}
	})
	for _, s := range held {
		if v, ok := c.sections[s.Key]; ok && s.Validate != nil {
			s.Validate(d, c, v)
		}
	}
	c.Warnings = d.warnings
}

func (d *Decoder) listen(n *yaml.Node, field string, l *Listen) {
	addr := func(dst *string) func(*yaml.Node, string) {
		return func(v *yaml.Node, f string) {
			s, ok := d.Str(v, f)
			if !ok {
				return
			}
			if err := CheckAddr(s); err != nil {
				d.Errorf(v, f, "%v", err)
				return
			}
			*dst = s
		}
	}
	d.Fields(n, field, map[string]func(*yaml.Node, string){
		"policy":  addr(&l.Policy),
		"admin":   addr(&l.Admin),
		"grpc":    addr(&l.GRPC),
		"gateway": addr(&l.Gateway),
	})
	if l.Policy == l.Admin && !strings.HasSuffix(l.Policy, ":0") {
		d.Errorf(Resolve(n), field, "policy and admin share the address %s", l.Policy)
	}
}

// CheckAddr accepts host:port with a numeric port; the host may be empty
// (every interface) or a name or an IP address.
func CheckAddr(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("address %q is not host:port", s)
	}
	if strings.ContainsAny(host, " /\t") {
		return fmt.Errorf("address %q has a bad host", s)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil || (port != "0" && port[0] == '0') {
		return fmt.Errorf("address %q: port must be a number from 0 to 65535", s)
	}
	return nil
}

func (d *Decoder) limits(n *yaml.Node, field string, l *Limits) {
	d.Fields(n, field, map[string]func(*yaml.Node, string){
		"max_body_bytes": func(v *yaml.Node, f string) {
			if v.Kind == yaml.ScalarNode && v.Tag == "!!float" {
				d.Errorf(v, f, "must be a whole number of bytes, not %s", v.Value)
				return
			}
			if v.Kind != yaml.ScalarNode || v.Tag != "!!int" {
				d.Errorf(v, f, "must be a whole number of bytes, not %s", KindName(v))
				return
			}
			var size int64
			if err := v.Decode(&size); err != nil {
				d.Errorf(v, f, "must be a whole number of bytes: %q is out of range", v.Value)
				return
			}
			if size <= 0 {
				d.Errorf(v, f, "must be more than 0, not %d", size)
				return
			}
			l.MaxBodyBytes = size
		},
		"policy":  func(v *yaml.Node, f string) { d.listenerLimits(v, f, &l.Policy, true) },
		"gateway": func(v *yaml.Node, f string) { d.listenerLimits(v, f, &l.Gateway, true) },
		"admin":   func(v *yaml.Node, f string) { d.listenerLimits(v, f, &l.Admin, false) },
		"grpc":    func(v *yaml.Node, f string) { d.listenerLimits(v, f, &l.GRPC, false) },
	})
}

// listenerLimits decodes one listener's limits; bodies names the
// listeners served by Verdict's own HTTP server, which bound bodies.
func (d *Decoder) listenerLimits(n *yaml.Node, field string, l *ListenerLimits, bodies bool) {
	known := map[string]func(*yaml.Node, string){
		"max_connections": func(v *yaml.Node, f string) {
			if c, ok := d.Count(v, f, 1, MaxConnectionsLimit); ok {
				l.MaxConnections = c
			}
		},
	}
	if bodies {
		known["body_timeout"] = func(v *yaml.Node, f string) {
			if t, ok := d.Duration(v, f, 24*time.Hour); ok {
				l.BodyTimeout = t
			}
		}
		known["body_min_rate"] = func(v *yaml.Node, f string) {
			if c, ok := d.Count(v, f, 1, 1<<30); ok {
				l.BodyMinRate = int64(c)
			}
		}
	}
	d.Fields(n, field, known)
}

func (d *Decoder) policies(n *yaml.Node, field string, ps *[]Policy) {
	d.Entries(n, field, func(name string, k, v *yaml.Node) {
		f := Join(field, name)
		if !ValidName(name) {
			d.Errorf(k, f, "bad document name %q: use letters, digits, '_', '.' and '-'", name)
			return
		}
		p := Policy{Name: name, Line: k.Line, Column: k.Column}
		switch {
		case v.Kind == yaml.ScalarNode && v.Tag == "!!str":
			p.Path = v.Value
		case v.Kind == yaml.MappingNode:
			d.Fields(v, f, map[string]func(*yaml.Node, string){
				"path": func(v *yaml.Node, f string) { p.Path, _ = d.Str(v, f) },
				"vocabulary": func(v *yaml.Node, f string) {
					s, ok := d.Str(v, f)
					if !ok {
						return
					}
					if _, err := Vocabulary(s); err != nil && !d.skipUnregistered {
						d.Errorf(v, f, "%v", err)
						return
					}
					p.Vocabulary = s
				},
			})
		default:
			d.Errorf(v, f, "must be a path or a mapping with path and vocabulary, not %s", KindName(v))
			return
		}
		if p.Path == "" {
			d.Errorf(v, Join(f, "path"), "a path to a policy file or directory is required")
			return
		}
		*ps = append(*ps, p)
	})
}

// ValidName reports whether s is a usable document name: one or more of
// A-Z, a-z, 0-9, '_', '.' and '-'.
func ValidName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// OneOf decodes a string that must be one of choices.
func (d *Decoder) OneOf(n *Node, field string, choices ...string) (string, bool) {
	s, ok := d.Str(n, field)
	if !ok {
		return "", false
	}
	if !slices.Contains(choices, s) {
		d.Errorf(n, field, "%q is not one of %s", s, strings.Join(choices, ", "))
		return "", false
	}
	return s, true
}

// Duration decodes a Go duration string, more than 0 and below limit.
func (d *Decoder) Duration(n *Node, field string, limit time.Duration) (time.Duration, bool) {
	s, ok := d.Str(n, field)
	if !ok {
		return 0, false
	}
	t, err := time.ParseDuration(s)
	if err != nil {
		d.Errorf(n, field, "must be a duration such as 500ms or 2s, not %q", s)
		return 0, false
	}
	if t <= 0 || t >= limit {
		d.Errorf(n, field, "must be more than 0 and less than %s, not %s", limit, t)
		return 0, false
	}
	return t, true
}

// Count decodes a whole number in [lo, hi].
func (d *Decoder) Count(n *Node, field string, lo, hi int) (int, bool) {
	var v int
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag != "!!int" || n.Decode(&v) != nil {
		d.Errorf(n, field, "must be a whole number, not %s", KindName(n))
		return 0, false
	}
	if v < lo || v > hi {
		d.Errorf(n, field, "must be from %d to %d, not %d", lo, hi, v)
		return 0, false
	}
	return v, true
}

// List calls each for every element of the sequence n. Null is an empty list.
func (d *Decoder) List(n *Node, field string, each func(i int, v *Node, f string)) {
	n = Resolve(n)
	if IsNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.Errorf(n, field, "must be a list, not %s", KindName(n))
		return
	}
	for i, v := range n.Content {
		each(i, Resolve(v), field+"["+strconv.Itoa(i)+"]")
	}
}

// Lenient is Fields for APIcast objects: the keys in known are checked,
// every other key is accepted and ignored.
func (d *Decoder) Lenient(n *Node, field string, known map[string]func(v *Node, field string)) {
	d.Entries(n, field, func(key string, k, v *Node) {
		if f, ok := known[key]; ok && !IsNull(v) {
			f(v, Join(field, key))
		}
	})
}

// Bool decodes true or false.
func (d *Decoder) Bool(n *Node, field string) (bool, bool) {
	var b bool
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || n.Decode(&b) != nil {
		d.Errorf(n, field, "must be true or false, not %s", KindName(n))
		return false, false
	}
	return b, true
}
