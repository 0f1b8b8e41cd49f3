package main

import (
	"fmt"
	"time"

	"github.com/verdict-policy/verdict/script"
	"github.com/verdict-policy/verdict/script/policytest"
)

// runTestPolicy runs the Lua specs and the integration cases of custom
// policy folders.
func runTestPolicy(e env, args []string) int {
	fs := newFlagSet(e, "test-policy", "DIR [--budget DURATION]")
	budget := fs.Duration("budget", 0, "the time `budget` of one phase call (default the runtime's)")
	var dir string
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		dir, args = args[0], args[1:]
	}
	if code := parseFlags(e, fs, args); code >= 0 {
		return code
	}
	if dir == "" {
		fmt.Fprintln(e.stderr, "verdict test-policy: the policy DIR is missing (a NAME/VERSION folder, or a directory holding some)")
		fs.Usage()
		return exitUsage
	}
	start := time.Now()
	rep, err := policytest.Run(dir, script.Options{Budget: *budget}, e.stdout)
	if err != nil {
		fmt.Fprintf(e.stderr, "verdict test-policy: %v\n", err)
		return exitUsage
	}
	fmt.Fprintf(e.stdout, "\n%d passed, %d failed in %s\n", rep.Passed, rep.Failed, time.Since(start).Round(time.Millisecond))
	if rep.Failed > 0 || rep.Passed == 0 {
		if rep.Passed == 0 && rep.Failed == 0 {
			fmt.Fprintln(e.stderr, "verdict test-policy: no test found (spec/*_spec.lua, t/*.yaml)")
		}
		return exitProblems
	}
	return exitOK
}
