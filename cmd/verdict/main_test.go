package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// seedPolicies is the bundled example, read from the repository.
var seedPolicies = filepath.Join("..", "..", "examples", "rethink", "policies.json")

func writeFile(t *testing.T, dir, name, data string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// runInProcess runs the command line in this process and returns the exit
// code, standard output and standard error.
func runInProcess(stdin string, args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(env{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errOut}, args)
	return code, out.String(), errOut.String()
}

func TestCommandLine(t *testing.T) {
	dir := t.TempDir()
	badPolicy := writeFile(t, dir, "bad.json", "[\n  {\"effect\": \"maybe\"},\n  {\"condition\": {\"x\": {\"nope\": 1}}, \"effect\": \"deny\"}\n]\n")
	input := writeFile(t, dir, "input.json", `{"msgType": "registration", "actType": "create", "valueExpires": 7200}`)
	notObject := writeFile(t, dir, "list.json", `[1, 2]`)
	goodCfg := writeFile(t, dir, "good.yaml", "policies:\n  rethink: {path: "+absPath(t, seedPolicies)+", vocabulary: rethink}\n")
	badCfg := writeFile(t, dir, "bad.yaml", "listen: {policy: nowhere}\npolicies:\n  broken: bad.json\n  gone: gone.json\n")
	badDocsCfg := writeFile(t, dir, "baddocs.yaml", "policies:\n  broken: bad.json\n  ok: "+absPath(t, seedPolicies)+"\n")
	writeFile(t, dir, "vmrs.csv", "alias,pin\nroom-1,1234\nroom-1,5678\n")
	badTableCfg := writeFile(t, dir, "badtable.yaml", "policies:\n  ok: "+absPath(t, seedPolicies)+"\npexip:\n  policy: ok\n  tables:\n    vmr: {path: vmrs.csv, key: alias}\n")
	missingTableCfg := writeFile(t, dir, "notable.yaml", "policies:\n  ok: "+absPath(t, seedPolicies)+"\npexip:\n  policy: ok\n  tables:\n    vmr: {path: none.csv}\n")

	tests := []struct {
		name      string
		stdin     string
		args      []string
		code      int
		stdoutHas []string
		stderrHas []string
	}{
		{"no command", "", nil, 2, nil, []string{"usage: verdict"}},
		{"unknown command", "", []string{"frobnicate"}, 2, nil, []string{`unknown command "frobnicate"`, "usage: verdict"}},
		{"help", "", []string{"help"}, 0, []string{"usage: verdict", "serve"}, nil},
		{"unknown flag", "", []string{"eval", "--bogus"}, 2, nil, []string{"-bogus", "usage: verdict eval"}},
		{"stray argument", "", []string{"check", "extra"}, 2, nil, []string{`unexpected argument "extra"`}},
		{"version", "", []string{"version"}, 0, []string{"verdict ", runtime.Version()}, nil},

		{"eval deny", "", []string{"eval", "--policy", seedPolicies, "--vocabulary", "rethink", "--input", input}, 0,
			[]string{`"decision": "deny"`, `"path": "PolicySet 1 | Policy 1 | Rule limit-registration"`}, nil},
		{"eval from stdin", `{"msgType": "addressAllocation", "actType": "response", "valueAllocated": ["a", "b"]}`,
			[]string{"eval", "--policy", seedPolicies, "--vocabulary", "rethink", "--input", "-"}, 0,
			[]string{`"decision": "permit"`, `"name": "limitNumber"`}, nil},
		// Without the reTHINK vocabulary the rule's valueAllocate is not an
		// alias of valueAllocated, so it reads a missing attribute.
		{"eval without the vocabulary", `{"msgType": "addressAllocation", "actType": "response", "valueAllocated": ["a", "b"]}`,
			[]string{"eval", "--policy", seedPolicies, "--input", "-"}, 0,
			[]string{`"decision": "not_applicable"`}, nil},
		{"eval not applicable", `{"msgType": "discovery"}`, []string{"eval", "--policy", seedPolicies, "--input", "-"}, 0,
			[]string{`"decision": "not_applicable"`}, nil},
		{"eval explain", `{"msgType": "discovery"}`, []string{"eval", "--policy", seedPolicies, "--input", "-", "--explain"}, 0,
			[]string{`"trace": [`}, nil},
		{"eval load errors", "{}", []string{"eval", "--policy", badPolicy, "--input", "-"}, 2, nil,
			[]string{badPolicy + ":2:", badPolicy + ":3:"}},
		{"eval missing policy file", "{}", []string{"eval", "--policy", filepath.Join(dir, "nope.json"), "--input", "-"}, 2, nil,
			[]string{"nope.json"}},
		{"eval unknown vocabulary", "{}", []string{"eval", "--policy", seedPolicies, "--vocabulary", "pexip", "--input", "-"}, 2, nil,
			[]string{`unknown vocabulary "pexip"`}},
		{"eval input not an object", "", []string{"eval", "--policy", seedPolicies, "--input", notObject}, 2, nil,
			[]string{"must be a JSON object"}},
		{"eval input invalid JSON", `{"a": `, []string{"eval", "--policy", seedPolicies, "--input", "-"}, 2, nil,
			[]string{"standard input"}},
		{"eval input unreadable", "", []string{"eval", "--policy", seedPolicies, "--input", filepath.Join(dir, "missing.json")}, 2, nil,
			[]string{"missing.json"}},
		{"eval without flags", "", []string{"eval"}, 2, nil, []string{"--policy and --input are required"}},
		{"eval fails on a listed decision", "", []string{"eval", "--policy", seedPolicies, "--vocabulary", "rethink", "--input", input, "--fail-on", "deny"}, 1,
			[]string{`"decision": "deny"`}, []string{"verdict eval: the decision is deny, which --fail-on lists"}},
		{"eval fails on one of several", `{"msgType": "discovery"}`, []string{"eval", "--policy", seedPolicies, "--input", "-", "--fail-on", "deny, notApplicable,indeterminate"}, 1,
			[]string{`"decision": "not_applicable"`}, []string{"the decision is not_applicable"}},
		{"eval passes a decision not listed", "", []string{"eval", "--policy", seedPolicies, "--vocabulary", "rethink", "--input", input, "--fail-on", "indeterminate,not_applicable"}, 0,
			[]string{`"decision": "deny"`}, nil},
		{"eval with an empty --fail-on", "", []string{"eval", "--policy", seedPolicies, "--vocabulary", "rethink", "--input", input, "--fail-on", ""}, 0,
			[]string{`"decision": "deny"`}, nil},
		{"eval with an unknown --fail-on decision", "{}", []string{"eval", "--policy", seedPolicies, "--input", "-", "--fail-on", "deny,refuse"}, 2, nil,
			[]string{`verdict eval: --fail-on: unknown decision "refuse": use permit, deny, not_applicable or indeterminate`}},

		{"check built-in", "", []string{"check"}, 0, []string{"rethink: 1 policy set, 1 policy, 3 rules"}, nil},
		{"check explain", "", []string{"check", "--explain"}, 0,
			[]string{"(built in)", "listen policy 127.0.0.1:3000, admin 127.0.0.1:9421", "vocabulary: rethink", "source: rethink/policies.json",
				"limits policy: max_connections from the open-file limit, body_timeout 1m0s", "limits admin: max_connections 64"}, nil},
		{"check good file", "", []string{"check", "--config", goodCfg}, 0, []string{"rethink: 1 policy set"}, nil},
		{"check bad config", "", []string{"check", "--config", badCfg}, 1, nil,
			[]string{badCfg + ":1:18: listen.policy:"}},
		{"check bad documents", "", []string{"check", "--config", badDocsCfg}, 1,
			[]string{"ok: 1 policy set"}, []string{"bad.json:2:", "bad.json:3:"}},
		{"check missing config", "", []string{"check", "--config", filepath.Join(dir, "none.yaml")}, 1, nil,
			[]string{"none.yaml"}},

		{"check table with a duplicate key", "", []string{"check", "--config", badTableCfg}, 1, nil,
			[]string{"pexip.tables.vmr", "vmrs.csv", "room-1"}},
		{"check missing table file", "", []string{"check", "--config", missingTableCfg}, 1, nil,
			[]string{"pexip.tables.vmr", "none.csv"}},

		{"serve bad log level", "", []string{"serve", "--log-level", "loud"}, 2, nil, []string{"--log-level"}},
		{"serve bad log format", "", []string{"serve", "--log-format", "xml"}, 2, nil, []string{"--log-format"}},
		{"serve bad log flush", "", []string{"serve", "--log-flush", "-1s"}, 2, nil, []string{"--log-flush"}},
		{"serve log flush not a duration", "", []string{"serve", "--log-flush", "soon"}, 2, nil, []string{"log-flush"}},
		{"serve bad config", "", []string{"serve", "--config", badCfg}, 1, nil, []string{"listen.policy"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runInProcess(tt.stdin, tt.args...)
			if code != tt.code {
				t.Errorf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, stdout, stderr)
			}
			for _, want := range tt.stdoutHas {
				if !strings.Contains(stdout, want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout)
				}
			}
			for _, want := range tt.stderrHas {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
		})
	}
}

func absPath(t *testing.T, p string) string {
	t.Helper()
	abs, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// buildBinary compiles the verdict command into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "verdict")
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	cmd := exec.Command(goTool, "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// freePort asks the kernel for a loopback port that is free right now.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)

	t.Run("exit codes", func(t *testing.T) {
		dir := t.TempDir()
		bad := writeFile(t, dir, "bad.json", `[{"effect": "maybe"}]`)
		tests := []struct {
			args []string
			code int
		}{
			{[]string{"version"}, 0},
			{[]string{"check"}, 0},
			{[]string{"check", "--config", writeFile(t, dir, "bad.yaml", "store: {redis: {}}\n")}, 1},
			{[]string{"eval", "--policy", seedPolicies, "--input", writeFile(t, dir, "in.json", `{"msgType": "discovery"}`)}, 0},
			{[]string{"eval", "--policy", bad, "--input", writeFile(t, dir, "in2.json", `{}`)}, 2},
			{[]string{"eval", "--policy", seedPolicies, "--input", filepath.Join(dir, "in.json"), "--fail-on", "not_applicable"}, 1},
			{[]string{"eval", "--policy", seedPolicies, "--input", filepath.Join(dir, "in.json"), "--fail-on", "deny,permit"}, 0},
			{[]string{"test", filepath.Join(shopTests, "reports_test.json")}, 0},
			{[]string{"test", shopTests}, 1},
			{[]string{"test", filepath.Join("testdata", "test", "bad")}, 2},
			{[]string{"test", dir}, 2},
			{[]string{"nonsense"}, 2},
		}
		for _, tt := range tests {
			err := exec.Command(bin, tt.args...).Run()
			code := 0
			var exitErr *exec.ExitError
			if errors.As(err, &exitErr) {
				code = exitErr.ExitCode()
			} else if err != nil {
				t.Fatalf("%v: %v", tt.args, err)
			}
			if code != tt.code {
				t.Errorf("verdict %s: exit %d, want %d", strings.Join(tt.args, " "), code, tt.code)
			}
		}
	})

	t.Run("test", func(t *testing.T) {
		out, err := exec.Command(bin, "test", shopTests).Output()
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) || exitErr.ExitCode() != 1 {
			t.Fatalf("verdict test: %v, want exit 1", err)
		}
		golden(t, "test_shop.txt", string(out))
	})

	t.Run("serve", func(t *testing.T) {
		dir := t.TempDir()
		policyAddr, adminAddr := freePort(t), freePort(t)
		cfg := writeFile(t, dir, "verdict.yaml", fmt.Sprintf(
			"listen: {policy: %q, admin: %q}\npolicies:\n  rethink: {path: %s, vocabulary: rethink}\n",
			policyAddr, adminAddr, absPath(t, seedPolicies)))

		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, "serve", "--config", cfg, "--log-format", "json")
		var logs bytes.Buffer
		cmd.Stderr = &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()

		deadline := time.Now().Add(15 * time.Second)
		for {
			resp, err := http.Get("http://" + adminAddr + "/healthz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					break
				}
			}
			select {
			case err := <-exited:
				t.Fatalf("verdict serve exited early: %v\n%s", err, logs.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("verdict serve did not become healthy\n%s", logs.String())
			}
			time.Sleep(50 * time.Millisecond)
		}

		resp, err := http.Post("http://"+policyAddr+"/v1/decide", "application/json", strings.NewReader(
			`{"policy": "rethink", "input": {"msgType": "addressAllocation", "actType": "create", "valueNumber": 2}}`))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var d struct {
			Decision string `json:"decision"`
		}
		if err := json.Unmarshal(body, &d); err != nil || resp.StatusCode != 200 || d.Decision != "deny" {
			t.Errorf("decide: status %d, body %s", resp.StatusCode, body)
		}

		if runtime.GOOS == "windows" {
			_ = cmd.Process.Kill()
			<-exited
			return
		}
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("verdict serve ended with %v after SIGTERM\n%s", err, logs.String())
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("verdict serve did not stop after SIGTERM\n%s", logs.String())
		}
		if !strings.Contains(logs.String(), `"msg":"shutting down"`) {
			t.Errorf("no shutdown in the logs:\n%s", logs.String())
		}
	})

	t.Run("serve with few open files", func(t *testing.T) { testFewOpenFiles(t, bin) })
	t.Run("serve with the example secret", func(t *testing.T) { testExampleSecret(t, bin) })
}
