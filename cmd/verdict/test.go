package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"regexp"

	"github.com/verdict-policy/verdict/pdl/pdltest"
)

// runTest runs the test files of policy documents under the given paths.
func runTest(e env, args []string) int {
	fs := newFlagSet(e, "test", "[--run REGEX] [-v|--explain] [--coverage] [--format text|json] [--config FILE] [PATH...]")
	format := fs.String("format", "text", "the report `format`: text or json")
	runPattern := fs.String("run", "", "run only the cases whose name matches this regular `expression`")
	var explain bool
	fs.BoolVar(&explain, "explain", false, "show the explanation trace of every failing case")
	fs.BoolVar(&explain, "v", false, "the same as --explain")
	coverage := fs.Bool("coverage", false, "report the rules no case fires, and the share of rules fired")
	cfgPath := fs.String("config", "", "the configuration `file` in which test files naming a document without a config of their own find it")
	paths, code := parseWithPaths(e, fs, args)
	if code >= 0 {
		return code
	}
	if *format != "text" && *format != "json" {
		fmt.Fprintf(e.stderr, "verdict test: --format must be text or json, not %q\n", *format)
		return exitUsage
	}
	opts := pdltest.Options{Config: *cfgPath, Explain: explain, Coverage: *coverage}
	if *runPattern != "" {
		re, err := regexp.Compile(*runPattern)
		if err != nil {
			fmt.Fprintf(e.stderr, "verdict test: --run: %v\n", err)
			return exitUsage
		}
		opts.Run = re
	}
	if len(paths) == 0 {
		paths = []string{"."}
	}

	rep, err := pdltest.Run(paths, opts)
	if err != nil {
		if errors.Is(err, pdltest.ErrNoTestFiles) {
			fmt.Fprintf(e.stderr, "verdict test: %v\n", err)
		} else {
			printProblems(e.stderr, err)
		}
		return exitUsage
	}
	if *format == "json" {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false) // paths and attribute references hold < and >
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintf(e.stderr, "verdict test: write the report: %v\n", err)
			return exitUsage
		}
	} else if err := rep.WriteText(e.stdout); err != nil {
		fmt.Fprintf(e.stderr, "verdict test: %v\n", err)
		return exitUsage
	}
	if rep.Failed > 0 {
		return exitProblems
	}
	return exitOK
}

// parseWithPaths parses args in which flags and paths may be mixed, as in
// `verdict test policies -v`; everything after "--" is a path. It returns
// the paths, and the exit code to end with or -1 to go on.
func parseWithPaths(e env, fs *flag.FlagSet, args []string) ([]string, int) {
	var paths []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, exitOK
			}
			return nil, exitUsage
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return paths, -1
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(paths, rest...), -1
		}
		paths = append(paths, rest[0])
		args = rest[1:]
	}
}
