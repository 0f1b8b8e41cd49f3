package pdl

import (
	"fmt"
	"os"
	"strings"
)

// Options adjust how a document is compiled.
type Options struct {
	// Known reports whether name is an attribute of the vocabulary the
	// document is written against. Condition keys that are neither known
	// attributes, aliases nor anyOf/allOf/not are load errors. Nil accepts
	// every name.
	Known func(name string) bool
	// Aliases maps alternative attribute names to their canonical names,
	// e.g. valueAllocate to valueAllocated.
	Aliases map[string]string
	// Advice lists the obligation names returned as advice rather than as
	// obligations. Nil means ["info"].
	Advice []string
}

// Source is one policy file: its name (used in error positions; its
// extension .yaml or .yml selects YAML, anything else is sniffed) and bytes.
type Source struct {
	Name string
	Data []byte
}

// Problem is one load error with its position.
type Problem struct {
	File   string `json:"file"`
	Line   int    `json:"line"`
	Column int    `json:"column"`
	// Path is the JSON path of the offending element, e.g.
	// policySets[0].policies[1].rules[2].condition.time.between.
	Path    string `json:"path"`
	Message string `json:"message"`
}

// Error formats p as file:line:column: path: message.
func (p Problem) Error() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
		if p.Column > 0 {
			fmt.Fprintf(&b, ":%d", p.Column)
		}
	}
	if p.Path != "" {
		b.WriteString(": ")
		b.WriteString(p.Path)
	}
	b.WriteString(": ")
	b.WriteString(p.Message)
	return b.String()
}

// LoadError lists every problem found while loading a document.
type LoadError struct {
	Problems []Problem
}

// Error joins the problems, one a line.
func (e *LoadError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Error()
	}
	return strings.Join(parts, "\n")
}

// CompileFile reads and compiles one policy file.
func CompileFile(path string, opts Options) (*Document, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read policy file: %w", err)
	}
	return Compile(opts, Source{Name: path, Data: data})
}
