package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/verdict-policy/verdict/pdl"
)

// Document is one compiled policy document of a configuration.
type Document struct {
	// Name is the name the configuration gives the document.
	Name string
	// Vocabulary is the attribute vocabulary it was checked against, or "".
	Vocabulary string
	// Sources are the files it was compiled from, in order.
	Sources []string
	// Document is the compiled document.
	Document *pdl.Document
}

// Compile reads and compiles every policy document of c. It returns the
// documents that compiled, sorted by name, and, when any did not, Problems
// listing every problem of every document: a pdl.Problem for an error inside
// a policy file, a Problem (positioned in the configuration file) for a
// document whose files cannot be read.
func (c *Config) Compile() ([]Document, error) {
	var (
		docs     []Document
		problems Problems
	)
	for _, p := range c.Policies {
		doc, err := c.compile(p)
		if err != nil {
			var le *pdl.LoadError
			if errors.As(err, &le) {
				for _, lp := range le.Problems {
					problems = append(problems, lp)
				}
			} else {
				problems = append(problems, Problem{File: c.File, Line: p.Line, Column: p.Column,
					Field: "policies." + p.Name, Message: err.Error()})
			}
			continue
		}
		docs = append(docs, doc)
	}
	slices.SortFunc(docs, func(a, b Document) int { return strings.Compare(a.Name, b.Name) })
	if len(problems) > 0 {
		return docs, problems
	}
	return docs, nil
}

func (c *Config) compile(p Policy) (Document, error) {
	opts, err := Vocabulary(p.Vocabulary)
	if err != nil && !c.Embedded {
		return Document{}, err
	}
	// The built-in file names the vocabularies of the whole program; one
	// this program does not link compiles the document unchecked.
	srcs, err := readSources(c.fsys, c.PolicyPath(p))
	if err != nil {
		return Document{}, err
	}
	doc, err := pdl.Compile(opts, srcs...)
	if err != nil {
		var le *pdl.LoadError
		if errors.As(err, &le) && len(le.Problems) > 0 {
			return Document{}, err
		}
		return Document{}, fmt.Errorf("compile: %w", err)
	}
	names := make([]string, len(srcs))
	for i, s := range srcs {
		names[i] = s.Name
	}
	return Document{Name: p.Name, Vocabulary: p.Vocabulary, Sources: names, Document: doc}, nil
}

// ReadSources reads the policy files at path from disk: the file itself or,
// for a directory, every policy file (IsPolicyFile) directly in it, sorted
// by name. Names starting with a dot are skipped, as editors use them for
// scratch files.
func ReadSources(path string) ([]pdl.Source, error) { return readSources(nil, path) }

func readSources(fsys fs.FS, name string) ([]pdl.Source, error) {
	stat, readDir, readFile := os.Stat, os.ReadDir, os.ReadFile
	joinPath := filepath.Join
	if fsys != nil {
		stat = func(n string) (fs.FileInfo, error) { return fs.Stat(fsys, n) }
		readDir = func(n string) ([]fs.DirEntry, error) { return fs.ReadDir(fsys, n) }
		readFile = func(n string) ([]byte, error) { return fs.ReadFile(fsys, n) }
		joinPath = path.Join
	}
	info, err := stat(name)
	if err != nil {
		return nil, fmt.Errorf("policy path: %w", err)
	}
	files := []string{name}
	if info.IsDir() {
		entries, err := readDir(name)
		if err != nil {
			return nil, fmt.Errorf("policy directory: %w", err)
		}
		files = files[:0]
		for _, e := range entries {
			if e.IsDir() || strings.HasPrefix(e.Name(), ".") || !IsPolicyFile(e.Name()) {
				continue
			}
			files = append(files, joinPath(name, e.Name()))
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("policy directory %s holds no .json, .yaml or .yml file", name)
		}
	}
	srcs := make([]pdl.Source, 0, len(files))
	for _, f := range files {
		data, err := readFile(f)
		if err != nil {
			return nil, fmt.Errorf("read policy file: %w", err)
		}
		srcs = append(srcs, pdl.Source{Name: f, Data: data})
	}
	return srcs, nil
}

// IsPolicyFile reports whether name has one of the extensions a policy
// directory is read for: .json, .yaml or .yml. Test files of policies
// (NAME_test.json, NAME_test.yaml, NAME_test.yml, run by verdict test)
// live beside them and are not policy files.
func IsPolicyFile(name string) bool {
	ext := strings.ToLower(filepath.Ext(name))
	switch ext {
	case ".json", ".yaml", ".yml":
		return !strings.HasSuffix(strings.ToLower(name), "_test"+ext)
	}
	return false
}
