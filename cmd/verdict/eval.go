package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/verdict-policy/verdict/config"
	"github.com/verdict-policy/verdict/pdl"
)

func runEval(e env, args []string) int {
	fs := newFlagSet(e, "eval", "--policy FILE [--vocabulary rethink] --input FILE|- [--explain] [--fail-on DECISION,...]")
	policy := fs.String("policy", "", "the policy `file`, or a directory of them compiled as one document")
	vocabulary := fs.String("vocabulary", "", "check attribute names against this `vocabulary` (rethink)")
	inputPath := fs.String("input", "", "the input `file`, a JSON object of attributes; - reads standard input")
	explain := fs.Bool("explain", false, "add a trace of every step to the decision")
	failOn := fs.String("fail-on", "", "exit 1 when the decision is one of these comma-separated `decisions` (permit, deny, not_applicable, indeterminate)")
	if code := parseFlags(e, fs, args); code >= 0 {
		return code
	}
	failing, err := parseDecisions(*failOn)
	if err != nil {
		fmt.Fprintf(e.stderr, "verdict eval: --fail-on: %v\n", err)
		return exitUsage
	}
	if *policy == "" || *inputPath == "" {
		fmt.Fprintln(e.stderr, "verdict eval: --policy and --input are required")
		fs.Usage()
		return exitUsage
	}
	opts, err := config.Vocabulary(*vocabulary)
	if err != nil {
		fmt.Fprintf(e.stderr, "verdict eval: %v\n", err)
		return exitUsage
	}

	srcs, err := config.ReadSources(*policy)
	if err != nil {
		fmt.Fprintf(e.stderr, "verdict eval: %v\n", err)
		return exitUsage
	}
	doc, err := pdl.Compile(opts, srcs...)
	if err != nil {
		printProblems(e.stderr, err)
		return exitUsage
	}

	input, err := readInput(e, *inputPath)
	if err != nil {
		fmt.Fprintf(e.stderr, "verdict eval: %v\n", err)
		return exitUsage
	}
	var d pdl.Decision
	if *explain {
		d = doc.Explain(input)
	} else {
		d = doc.Decide(input)
	}
	out, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		fmt.Fprintf(e.stderr, "verdict eval: encode the decision: %v\n", err)
		return exitProblems
	}
	fmt.Fprintf(e.stdout, "%s\n", out)
	if failing[d.Effect] {
		fmt.Fprintf(e.stderr, "verdict eval: the decision is %s, which --fail-on lists\n", d.Effect)
		return exitProblems
	}
	return exitOK
}

// parseDecisions reads a comma-separated list of decisions into a set
// indexed by pdl.Effect; an empty list is an empty set.
func parseDecisions(list string) ([4]bool, error) {
	var set [4]bool
	if strings.TrimSpace(list) == "" {
		return set, nil
	}
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		var eff pdl.Effect
		if err := eff.UnmarshalText([]byte(name)); err != nil {
			return set, fmt.Errorf("unknown decision %q: use permit, deny, not_applicable or indeterminate", name)
		}
		set[eff] = true
	}
	return set, nil
}

// readInput reads one JSON object from the file at path, or from standard
// input when path is "-".
func readInput(e env, path string) (pdl.Input, error) {
	var (
		data []byte
		err  error
		name = path
	)
	if path == "-" {
		name = "standard input"
		data, err = io.ReadAll(e.stdin)
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("read input: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var v any
	if err := dec.Decode(&v); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return nil, fmt.Errorf("input %s: invalid JSON at byte offset %d: %v", name, syn.Offset, err)
		}
		return nil, fmt.Errorf("input %s: %v", name, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("input %s: unexpected data after the JSON object at byte offset %d", name, dec.InputOffset())
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("input %s: must be a JSON object of attributes", name)
	}
	return pdl.Input(m), nil
}
