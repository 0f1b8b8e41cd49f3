package main

import (
	"fmt"

	"github.com/verdict-policy/verdict/script/scaffold"
)

// runGenerate writes skeletons; its only kind so far is policy.
func runGenerate(e env, args []string) int {
	if len(args) == 0 || args[0] != "policy" {
		fmt.Fprintln(e.stderr, "usage: verdict generate policy NAME [--dir DIR] [--version V] [--summary TEXT] [--force]")
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			return exitOK
		}
		return exitUsage
	}
	fs := newFlagSet(e, "generate policy", "NAME [--dir DIR] [--version V] [--summary TEXT] [--force]")
	dir := fs.String("dir", "policies", "the policy load path `directory` to write NAME/VERSION into")
	version := fs.String("version", scaffold.DefaultVersion, "the policy's `version`")
	summary := fs.String("summary", "", "the manifest's one-line `summary`")
	force := fs.Bool("force", false, "overwrite files that exist")
	// The name comes first, as in APIcast's generator; flags may follow.
	rest := args[1:]
	var name string
	if len(rest) > 0 && len(rest[0]) > 0 && rest[0][0] != '-' {
		name, rest = rest[0], rest[1:]
	}
	if code := parseFlags(e, fs, rest); code >= 0 {
		return code
	}
	if name == "" {
		fmt.Fprintln(e.stderr, "verdict generate policy: the policy NAME is missing")
		fs.Usage()
		return exitUsage
	}
	root, files, err := scaffold.Policy(scaffold.Options{Name: name, Version: *version, Summary: *summary, Dir: *dir, Force: *force})
	for _, f := range files {
		what := "create"
		if !f.Written {
			what = "exists"
		}
		fmt.Fprintf(e.stdout, "%s %s\n", what, f.Path)
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "verdict generate policy: %v\n", err)
		return exitUsage
	}
	fmt.Fprintf(e.stdout, "\nTest it with: verdict test-policy %s\n", root)
	return exitOK
}
