package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/verdict-policy/verdict/config"
)

// The seed rules, as shipped in examples/rethink/policies.json.
const seedRules = `[
  {"id": "limit-address-request",
   "target": {"msgType": {"equals": "addressAllocation"}},
   "condition": {"actType": {"equals": "create"}, "valueNumber": {"moreThan": 1}},
   "effect": "deny"},
  {"id": "limit-address-response",
   "target": {"msgType": {"equals": "addressAllocation"}},
   "condition": {"actType": {"equals": "response"}, "valueAllocate": {"moreThan": 1}},
   "effect": "permit",
   "obligations": {"limitNumber": {"valueAllocated": 1}}}
]`

const (
	permitRead = `[{"id": "read", "target": {"action": {"equals": "read"}}, "effect": "permit"}]`
	denyRead   = `[{"id": "read", "target": {"action": {"equals": "read"}}, "effect": "deny"}]`
	badEffect  = "[\n  {\"id\": \"read\", \"effect\": \"maybe\"}\n]\n"
)

type testServer struct {
	t      *testing.T
	dir    string
	policy string // http://host:port of the policy listener
	admin  string
	stop   func() error
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	// Write then rename, as deploy tools do, so a watcher never reads half a file.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// start writes files (path relative to a temporary directory → content) and
// a config naming policies, then runs a server on loopback ports.
func start(t *testing.T, policies string, files map[string]string) *testServer {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		writeFile(t, filepath.Join(dir, name), data)
	}
	cfgPath := filepath.Join(dir, "verdict.yaml")
	writeFile(t, cfgPath, "listen: {policy: \"127.0.0.1:0\", admin: \"127.0.0.1:0\"}\npolicies:\n"+policies)
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	ts := &testServer{t: t, dir: dir, policy: "http://" + s.PolicyAddr(), admin: "http://" + s.AdminAddr()}
	var once bool
	ts.stop = func() error {
		if once {
			return nil
		}
		once = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(15 * time.Second):
			return errors.New("Run did not return after cancel")
		}
	}
	t.Cleanup(func() {
		if err := ts.stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return ts
}

func (ts *testServer) do(method, url, body string) (int, string) {
	ts.t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		ts.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		ts.t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		ts.t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// decision posts input to /v1/decide and returns the decision.
func (ts *testServer) decision(policy, input string) string {
	ts.t.Helper()
	got, err := ts.tryDecision(policy, input)
	if err != nil {
		ts.t.Fatal(err)
	}
	return got
}

func (ts *testServer) tryDecision(policy, input string) (string, error) {
	status, body := ts.do("POST", ts.policy+"/v1/decide", `{"policy": "`+policy+`", "input": `+input+`}`)
	if status != 200 {
		return "", fmt.Errorf("decide: status %d, body %s", status, body)
	}
	var d struct {
		Decision string `json:"decision"`
	}
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		return "", fmt.Errorf("decode %s: %v", body, err)
	}
	return d.Decision, nil
}

// eventually polls the decision until it is want or five seconds pass.
func (ts *testServer) eventually(policy, input, want string) {
	ts.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := ts.tryDecision(policy, input)
		if err == nil && got == want {
			return
		}
		if time.Now().After(deadline) {
			ts.t.Fatalf("decision stayed %q (%v), want %q", got, err, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestServe(t *testing.T) {
	ts := start(t, "  rethink: {path: rethink.json, vocabulary: rethink}\n", map[string]string{"rethink.json": seedRules})

	tests := []struct {
		name   string
		method string
		url    string
		body   string
		status int
		has    string
	}{
		{"healthz", "GET", ts.admin + "/healthz", "", 200, `"ok"`},
		{"readyz", "GET", ts.admin + "/readyz", "", 200, `"ready"`},
		{"decide deny", "POST", ts.policy + "/v1/decide",
			`{"policy": "rethink", "input": {"msgType": "addressAllocation", "actType": "create", "valueNumber": 2}}`,
			200, `"decision":"deny"`},
		{"decide permit with obligation", "POST", ts.policy + "/v1/decide",
			`{"policy": "rethink", "input": {"msgType": "addressAllocation", "actType": "response", "valueAllocated": ["a", "b"]}}`,
			200, `"obligations":[{"name":"limitNumber","params":{"valueAllocated":1}}]`},
		{"decide unknown document", "POST", ts.policy + "/v1/decide", `{"policy": "nope", "input": {}}`, 404, `"unknown_policy"`},
		{"policies", "GET", ts.policy + "/v1/policies", "", 200, `"name":"rethink"`},
		{"policy listener unknown path", "GET", ts.policy + "/metrics", "", 404, `"not_found"`},
		{"admin unknown path", "GET", ts.admin + "/v1/decide", "", 404, `"not_found"`},
		{"reload needs POST", "GET", ts.admin + "/v1/reload", "", 405, `"method_not_allowed"`},
		{"metrics", "GET", ts.admin + "/metrics", "", 200, `verdict_decisions_total{decision="deny",document="rethink"} 1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := ts.do(tt.method, tt.url, tt.body)
			if status != tt.status || !strings.Contains(body, tt.has) {
				t.Errorf("status %d, body %s; want %d with %s", status, body, tt.status, tt.has)
			}
		})
	}

	_, metrics := ts.do("GET", ts.admin+"/metrics", "")
	for _, want := range []string{
		`verdict_decisions_total{decision="permit",document="rethink"} 1`,
		`verdict_decision_duration_seconds_count{document="rethink"} 2`,
		`verdict_reloads_total{result="success"} 0`,
		`verdict_reloads_total{result="failure"} 0`,
		`verdict_config_last_reload_success_timestamp_seconds `,
		`go_goroutines `,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestReloadEndpoint(t *testing.T) {
	ts := start(t, "  api: api.json\n", map[string]string{"api.json": permitRead})
	read := `{"action": "read"}`
	if got := ts.decision("api", read); got != "permit" {
		t.Fatalf("before reload: %s", got)
	}

	// A good change, and a new document in the config.
	writeFile(t, filepath.Join(ts.dir, "api.json"), denyRead)
	writeFile(t, filepath.Join(ts.dir, "more", "a.yaml"), "- {effect: permit}\n")
	writeFile(t, filepath.Join(ts.dir, "verdict.yaml"),
		"listen: {policy: \"127.0.0.1:0\", admin: \"127.0.0.1:0\"}\npolicies:\n  api: api.json\n  more: more/\n")
	status, body := ts.do("POST", ts.admin+"/v1/reload", "")
	if status != 200 || !strings.Contains(body, `"name":"api"`) || !strings.Contains(body, `"name":"more"`) {
		t.Fatalf("good reload: status %d, body %s", status, body)
	}
	if got := ts.decision("api", read); got != "deny" {
		t.Errorf("after reload: %s, want deny", got)
	}
	if got := ts.decision("more", `{}`); got != "permit" {
		t.Errorf("new document: %s, want permit", got)
	}

	// A bad file: 422 naming the file and line, and the running documents stay.
	writeFile(t, filepath.Join(ts.dir, "api.json"), badEffect)
	status, body = ts.do("POST", ts.admin+"/v1/reload", "")
	var eb struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &eb); err != nil {
		t.Fatalf("bad reload body %s: %v", body, err)
	}
	if status != 422 || eb.Error.Code != "reload_failed" || !strings.Contains(eb.Error.Message, "api.json:2:") {
		t.Errorf("bad reload: status %d, body %s; want 422 reload_failed naming api.json:2", status, body)
	}
	if got := ts.decision("api", read); got != "deny" {
		t.Errorf("after a failed reload: %s, want the old deny", got)
	}
	_, metrics := ts.do("GET", ts.admin+"/metrics", "")
	if !strings.Contains(metrics, `verdict_reloads_total{result="failure"}`) ||
		strings.Contains(metrics, `verdict_reloads_total{result="failure"} 0`) {
		t.Errorf("the failed reload was not counted:\n%s", grep(metrics, "verdict_reloads_total"))
	}
}

func grep(text, prefix string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestFileChangeReload(t *testing.T) {
	ts := start(t, "  api: api.json\n  dir: policies/\n", map[string]string{
		"api.json":          permitRead,
		"policies/a.json":   `{"target": {"n": {"equals": 1}}, "policies": [{"rules": [{"effect": "permit"}]}]}`,
		"policies/notes.md": "not a policy",
	})
	read := `{"action": "read"}`
	if got := ts.decision("api", read); got != "permit" {
		t.Fatalf("at start: %s", got)
	}

	writeFile(t, filepath.Join(ts.dir, "api.json"), denyRead)
	ts.eventually("api", read, "deny")

	// A broken file is refused; the last good version keeps answering.
	writeFile(t, filepath.Join(ts.dir, "api.json"), badEffect)
	time.Sleep(400 * time.Millisecond)
	if got := ts.decision("api", read); got != "deny" {
		t.Errorf("after a broken write: %s, want the old deny", got)
	}

	// A new file in a policy directory joins its document.
	if got := ts.decision("dir", `{"n": 2}`); got != "not_applicable" {
		t.Fatalf("n=2 before: %s", got)
	}
	writeFile(t, filepath.Join(ts.dir, "api.json"), permitRead)
	writeFile(t, filepath.Join(ts.dir, "policies", "b.yaml"), "target: {n: {equals: 2}}\npolicies:\n  - rules: [{effect: deny}]\n")
	ts.eventually("dir", `{"n": 2}`, "deny")
	ts.eventually("api", read, "permit")

	// The config file itself is watched too.
	writeFile(t, filepath.Join(ts.dir, "verdict.yaml"),
		"listen: {policy: \"127.0.0.1:0\", admin: \"127.0.0.1:0\"}\npolicies:\n  renamed: api.json\n")
	ts.eventually("renamed", read, "permit")
}

func TestNewRejectsBadDocuments(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "bad.json"), badEffect)
	cfgPath := filepath.Join(dir, "verdict.yaml")
	writeFile(t, cfgPath, "policies:\n  bad: bad.json\n  gone: gone.json\n")
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(cfg, nil)
	var ps config.Problems
	if !errors.As(err, &ps) || len(ps) != 2 {
		t.Fatalf("New: %v; want two problems", err)
	}
}

func TestDefaultConfigServes(t *testing.T) {
	cfg, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}
	// Serve the built-in documents on spare ports.
	cfg.Listen = config.Listen{Policy: "127.0.0.1:0", Admin: "127.0.0.1:0"}
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- s.Run(ctx) }()
	resp, err := http.Post("http://"+s.PolicyAddr()+"/v1/decide", "application/json",
		bytes.NewBufferString(`{"policy": "rethink", "input": {"msgType": "registration", "actType": "create", "valueExpires": 7200}}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"decision":"deny"`) {
		t.Errorf("example 3 on the default config: %s", body)
	}
	// A path with doubled slashes is routed, not redirected: Pexip
	// Infinity does not follow redirects.
	noRedirects := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = noRedirects.Get("http://" + s.PolicyAddr() + "//policy/v1//service/configuration?local_alias=sip:my-vmr-conference@example.com")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"pin":"2931"`) {
		t.Errorf("doubled slashes: %d %s", resp.StatusCode, body)
	}
	// The built-in configuration reloads from the binary.
	resp, err = http.Post("http://"+s.AdminAddr()+"/v1/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("reload of the default: %d", resp.StatusCode)
	}

	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	if _, err := http.Get("http://" + s.AdminAddr() + "/healthz"); err == nil {
		t.Error("the admin listener still answers after shutdown")
	}
}

// TestReloadMovesPexipBasePath serves the Pexip API under a new base path
// after a reload, without a restart, and the old one no longer.
func TestReloadMovesPexipBasePath(t *testing.T) {
	demo := `[{"id": "vmr", "target": {"local_alias": {"startsWith": "my-vmr-"}}, "effect": "permit",
	  "obligations": {"result": {"service_type": "conference", "name": "{{ local_alias }}"}}}]`
	ts := start(t, "  pexip: pexip.json\n", map[string]string{"pexip.json": demo})
	config := func(base string) string {
		return "listen: {policy: \"127.0.0.1:0\", admin: \"127.0.0.1:0\"}\npolicies:\n  pexip: pexip.json\npexip:\n  policy: pexip\n  base_path: " + base + "\n"
	}
	ask := func(base string) (int, string) {
		return ts.do("GET", ts.policy+base+"/policy/v1/service/configuration?local_alias=my-vmr-1", "")
	}
	writeFile(t, filepath.Join(ts.dir, "verdict.yaml"), config("/a"))
	if status, body := ts.do("POST", ts.admin+"/v1/reload", ""); status != 200 {
		t.Fatalf("reload to /a: %d %s", status, body)
	}
	if status, body := ask("/a"); status != 200 || !strings.Contains(body, `"name":"my-vmr-1"`) {
		t.Fatalf("under /a: %d %s", status, body)
	}
	writeFile(t, filepath.Join(ts.dir, "verdict.yaml"), config("/b"))
	if status, body := ts.do("POST", ts.admin+"/v1/reload", ""); status != 200 {
		t.Fatalf("reload to /b: %d %s", status, body)
	}
	if status, body := ask("/b"); status != 200 || !strings.Contains(body, `"name":"my-vmr-1"`) {
		t.Errorf("under /b after the reload: %d %s", status, body)
	}
	if status, body := ask("/a"); status != 404 || strings.Contains(body, "my-vmr-1") {
		t.Errorf("under the old /a: %d %s, want 404", status, body)
	}
}

// TestDoorsShareTheStore holds the reTHINK state, the gateway's counters
// and the Pexip store tables to one store per store configuration.
func TestDoorsShareTheStore(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "rules.json"), seedRules)
	cfgPath := filepath.Join(dir, "verdict.yaml")
	writeFile(t, cfgPath, "listen: {policy: \"127.0.0.1:0\", admin: \"127.0.0.1:0\"}\nstore: {memory: {}}\n"+
		"policies:\n  rethink: {path: rules.json, vocabulary: rethink}\nmessages: {policy: rethink, domain: example.com}\n")
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.stores.close() }()
	s.stores.mu.Lock()
	n := len(s.stores.open)
	s.stores.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d shared stores open after start, want the one the reTHINK door uses", n)
	}
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	s.stores.mu.Lock()
	n = len(s.stores.open)
	s.stores.mu.Unlock()
	if n != 1 {
		t.Errorf("%d shared stores open after a reload with the same settings, want 1", n)
	}
}
