package pdltest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ErrNoTestFiles is returned by Find and Run when the paths hold no test
// file.
var ErrNoTestFiles = errors.New("no test file found (*_test.yaml, *_test.yml, *_test.json)")

// IsTestFile reports whether name is a test file's name: it ends in
// _test.yaml, _test.yml or _test.json.
func IsTestFile(name string) bool {
	base := strings.ToLower(filepath.Base(name))
	for _, ext := range []string{"_test.yaml", "_test.yml", "_test.json"} {
		if strings.HasSuffix(base, ext) {
			return true
		}
	}
	return false
}

// Find returns the test files the paths name, in order and each once. A
// file is taken whatever its name, when it ends in .yaml, .yml or .json; a
// directory is searched recursively for test files (IsTestFile), in
// lexical order, skipping directories named testdata or starting with "."
// or "_", which hold fixtures and scratch files.
func Find(paths ...string) ([]string, error) {
	var (
		out  []string
		seen = map[string]bool{}
	)
	add := func(p string) {
		key := p
		if abs, err := filepath.Abs(p); err == nil {
			key = abs
		}
		if !seen[key] {
			seen[key] = true
			out = append(out, p)
		}
	}
	for _, root := range paths {
		info, err := os.Stat(root)
		if err != nil {
			return nil, fmt.Errorf("test path: %w", err)
		}
		if !info.IsDir() {
			switch strings.ToLower(filepath.Ext(root)) {
			case ".yaml", ".yml", ".json":
				add(filepath.Clean(root))
			default:
				return nil, fmt.Errorf("test path %s: a test file is .yaml, .yml or .json", root)
			}
			continue
		}
		err = filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if e.IsDir() {
				name := e.Name()
				if p != root && (name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
					return filepath.SkipDir
				}
				return nil
			}
			if IsTestFile(e.Name()) && !strings.HasPrefix(e.Name(), ".") {
				add(p)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("search %s for test files: %w", root, err)
		}
	}
	if len(out) == 0 {
		return nil, ErrNoTestFiles
	}
	return out, nil
}
