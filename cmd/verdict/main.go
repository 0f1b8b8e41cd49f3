// Command verdict is the Verdict policy server and its tools: serve runs
// the server, eval decides one input against a policy file, test runs the
// test files of policy documents, check validates a configuration and its
// documents, and version prints the build. The work is done by the library packages; this command parses
// flags and reports.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// env is what a subcommand may touch of the process, so tests can run it
// in process.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// command is one subcommand.
type command struct {
	summary string
	run     func(e env, args []string) int
}

// Exit codes shared by the subcommands.
const (
	exitOK       = 0
	exitProblems = 1 // check found problems; a test failed; eval met a --fail-on decision; serve could not start
	exitUsage    = 2 // bad command line, unreadable input, a document that does not load
)

var commands = map[string]command{
	"serve":       {"run the policy server", runServe},
	"eval":        {"decide one input against a policy file", runEval},
	"check":       {"validate a configuration and every policy document", runCheck},
	"version":     {"print the version", runVersion},
	"generate":    {"write the skeleton of a custom Lua policy (generate policy NAME)", runGenerate},
	"test":        {"run the test files of policy documents (*_test.yaml)", runTest},
	"test-policy": {"run the tests of custom Lua policy folders", runTestPolicy},
}

func main() {
	os.Exit(run(env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}, os.Args[1:]))
}

func run(e env, args []string) int {
	if len(args) == 0 {
		usage(e.stderr)
		return exitUsage
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		usage(e.stdout)
		return exitOK
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(e.stderr, "verdict: unknown command %q\n\n", args[0])
		usage(e.stderr)
		return exitUsage
	}
	return cmd.run(e, args[1:])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: verdict <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(w, "  %-8s %s\n", name, commands[name].summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'verdict <command> -h' for the flags of a command.")
}

// newFlagSet returns a flag set that reports to e.stderr with a usage line
// for the subcommand.
func newFlagSet(e env, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "usage: verdict %s %s\n\nflags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args and refuses positional arguments. It returns the
// exit code to end with, or -1 to go on.
func parseFlags(e env, fs *flag.FlagSet, args []string) int {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.stderr, "verdict %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		fs.Usage()
		return exitUsage
	}
	return -1
}

// printProblems writes an error to stderr, one line per problem.
func printProblems(w io.Writer, err error) {
	for _, line := range strings.Split(err.Error(), "\n") {
		fmt.Fprintln(w, line)
	}
}
