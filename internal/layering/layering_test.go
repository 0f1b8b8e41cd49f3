// Package layering holds the test of Verdict's import rules: which
// packages may import which. It has no code of its own.
package layering

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/verdict-policy/verdict"

// frontDoors are the packages that serve a protocol of their own. Nothing
// imports them but the process wiring (server), the command line (cmd)
// and their own sub-packages (gateway/gatewaytest).
var frontDoors = []string{"pexip", "rethink", "pdp", "authz", "gateway"}

type listed struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

// packages lists every package of the module with its imports and its
// dependencies, tests left out: the rules are about what a program links.
func packages(t *testing.T) []listed {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps=false", "-json", module+"/...")
	cmd.Dir = "../.."
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("go list: %v\n%s", err, errOut.String())
	}
	var pkgs []listed
	dec := json.NewDecoder(&out)
	for dec.More() {
		var p listed
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 20 {
		t.Fatalf("go list found %d packages; is the test run from its folder?", len(pkgs))
	}
	return pkgs
}

func rel(path string) string { return strings.TrimPrefix(strings.TrimPrefix(path, module), "/") }

func under(path, dir string) bool { return path == dir || strings.HasPrefix(path, dir+"/") }

func TestImportRules(t *testing.T) {
	for _, p := range packages(t) {
		name := rel(p.ImportPath)
		for _, dep := range p.Deps {
			d := rel(dep)
			if !strings.HasPrefix(dep, module+"/") {
				continue
			}
			for _, door := range frontDoors {
				if d != door || under(name, door) || under(name, "server") || under(name, "cmd") {
					continue
				}
				t.Errorf("%s depends on the front door %s: only server and cmd may", name, door)
			}
			if d == "config" && (under(name, "policies") || under(name, "chain") || name == "pdl" || under(name, "store")) {
				t.Errorf("%s depends on config: policies, chain, pdl (pdltest reads configuration files) and store must not", name)
			}
		}
		if under(name, "config") {
			for _, dep := range p.Deps {
				for _, door := range append(frontDoors, "script") {
					if rel(dep) == door {
						t.Errorf("config depends on %s: the frame knows no section's owner", door)
					}
				}
			}
		}
	}
}
