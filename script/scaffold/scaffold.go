// Package scaffold writes the skeleton of a new custom Lua policy: the
// entry point, the policy module, a manifest with an example schema, a
// README, Lua unit specs and integration cases that pass as generated.
// Running those tests is package policytest's job.
package scaffold

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"
)

//go:embed template
var templates embed.FS

// DefaultVersion is the version of a generated policy unless told.
const DefaultVersion = "0.1"

// Options describe the policy to generate.
type Options struct {
	// Name is the policy's name: lower-case letters, digits and '_',
	// starting with a letter, so that it is also a Lua module name.
	Name string
	// Version is the policy's version folder; DefaultVersion when empty.
	Version string
	// Summary is the manifest's one-line summary.
	Summary string
	// Dir is the load path directory to write NAME/VERSION into.
	Dir string
	// Force overwrites files that exist; otherwise they are kept.
	Force bool
}

// File is one file of the skeleton and what happened to it.
type File struct {
	Path    string // where it is
	Written bool   // false when it existed and was kept
}

var (
	validName    = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	validVersion = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
)

// Policy writes the skeleton of a policy and returns its folder and files.
func Policy(o Options) (string, []File, error) {
	if !validName.MatchString(o.Name) || len(o.Name) > 64 {
		return "", nil, fmt.Errorf("bad policy name %q: use lower-case letters, digits and '_', starting with a letter", o.Name)
	}
	if o.Version == "" {
		o.Version = DefaultVersion
	}
	if !validVersion.MatchString(o.Version) || o.Version == "builtin" {
		return "", nil, fmt.Errorf("bad version %q: use letters, digits, '.', '_' and '-', such as 0.1 (builtin is reserved)", o.Version)
	}
	if o.Summary == "" {
		o.Summary = "TODO: say in one line what the policy does."
	}
	if len(o.Summary) > 75 {
		return "", nil, fmt.Errorf("the summary has %d characters; a manifest's summary has at most 75", len(o.Summary))
	}
	if o.Dir == "" {
		o.Dir = "."
	}
	root := filepath.Join(o.Dir, o.Name, o.Version)
	data := map[string]string{
		"Name": o.Name, "Version": o.Version, "Summary": o.Summary,
		"Dir": root, "LoadPath": o.Dir,
	}
	funcs := template.FuncMap{"json": func(s string) (string, error) {
		b, err := json.Marshal(s)
		return string(b), err
	}}
	var files []File
	err := fs.WalkDir(templates, "template", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		src, err := templates.ReadFile(p)
		if err != nil {
			return err
		}
		tmpl, err := template.New(p).Funcs(funcs).Parse(string(src))
		if err != nil {
			return fmt.Errorf("template %s: %w", p, err)
		}
		var out bytes.Buffer
		if err := tmpl.Execute(&out, data); err != nil {
			return fmt.Errorf("template %s: %w", p, err)
		}
		rel := strings.TrimSuffix(strings.TrimPrefix(p, "template/"), ".tmpl")
		rel = strings.ReplaceAll(rel, "NAME", o.Name)
		dst := filepath.Join(root, filepath.FromSlash(rel))
		if _, err := os.Stat(dst); err == nil && !o.Force {
			files = append(files, File{Path: dst})
			return nil
		} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(dst, out.Bytes(), 0o644); err != nil {
			return err
		}
		files = append(files, File{Path: dst, Written: true})
		return nil
	})
	if err != nil {
		return "", files, err
	}
	return root, files, nil
}
