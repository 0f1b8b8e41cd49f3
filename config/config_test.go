package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/verdict-policy/verdict/pdl"
)

func writeFile(t *testing.T, dir, name, data string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadGood(t *testing.T) {
	tests := []struct {
		name string
		file string
		data string
		want Config
	}{
		{
			name: "empty file takes every default",
			file: "verdict.yaml",
			data: "",
			want: Config{
				Listen: Listen{Policy: DefaultPolicyAddr, Admin: DefaultAdminAddr},
				Limits: Limits{MaxBodyBytes: DefaultMaxBodyBytes},
				Store:  Store{Backend: "memory"},
			},
		},
		{
			name: "every field in YAML",
			file: "verdict.yaml",
			data: `
listen: {policy: "0.0.0.0:8000", admin: "[::1]:9000"}
limits: {max_body_bytes: 4096}
store: {memory: {}}
policies:
  rethink: {path: rethink/policies.json, vocabulary: testvocab}
  api: policies/api.yaml
  many.v2: policies/dir/
`,
			want: Config{
				Listen: Listen{Policy: "0.0.0.0:8000", Admin: "[::1]:9000"},
				Limits: Limits{MaxBodyBytes: 4096},
				Store:  Store{Backend: "memory"},
				Policies: []Policy{
					{Name: "rethink", Path: "rethink/policies.json", Vocabulary: "testvocab", Line: 6, Column: 3},
					{Name: "api", Path: "policies/api.yaml", Line: 7, Column: 3},
					{Name: "many.v2", Path: "policies/dir/", Line: 8, Column: 3},
				},
			},
		},
		{
			name: "listener limits",
			file: "verdict.yaml",
			data: `
limits:
  max_body_bytes: 2048
  policy: {max_connections: 500, body_timeout: 30s}
  gateway: {max_connections: 2000, body_timeout: 1m, body_min_rate: 512}
  admin: {max_connections: 16}
  grpc: {max_connections: 100}
`,
			want: Config{
				Listen: Listen{Policy: DefaultPolicyAddr, Admin: DefaultAdminAddr},
				Limits: Limits{
					MaxBodyBytes: 2048,
					Policy:       ListenerLimits{MaxConnections: 500, BodyTimeout: 30 * time.Second},
					Gateway:      ListenerLimits{MaxConnections: 2000, BodyTimeout: time.Minute, BodyMinRate: 512},
					Admin:        ListenerLimits{MaxConnections: 16},
					GRPC:         ListenerLimits{MaxConnections: 100},
				},
				Store: Store{Backend: "memory"},
			},
		},
		{
			name: "JSON with tabs",
			file: "verdict.json",
			data: "{\n\t\"listen\": {\"admin\": \":0\", \"policy\": \":0\"},\n\t\"policies\": {\"a-b_c\": {\"path\": \"a.json\"}}\n}\n",
			want: Config{
				Listen:   Listen{Policy: ":0", Admin: ":0"},
				Limits:   Limits{MaxBodyBytes: DefaultMaxBodyBytes},
				Store:    Store{Backend: "memory"},
				Policies: []Policy{{Name: "a-b_c", Path: "a.json", Line: 3, Column: 15}},
			},
		},
		{
			name: "null sections take their defaults",
			file: "verdict.yaml",
			data: "listen:\nlimits:\nstore:\npolicies:\n",
			want: Config{
				Listen: Listen{Policy: DefaultPolicyAddr, Admin: DefaultAdminAddr},
				Limits: Limits{MaxBodyBytes: DefaultMaxBodyBytes},
				Store:  Store{Backend: "memory"},
			},
		},
		{
			name: "anchors and aliases",
			file: "verdict.yaml",
			data: "policies:\n  a: &p shared.json\n  b: *p\n",
			want: Config{
				Listen: Listen{Policy: DefaultPolicyAddr, Admin: DefaultAdminAddr},
				Limits: Limits{MaxBodyBytes: DefaultMaxBodyBytes},
				Store:  Store{Backend: "memory"},
				Policies: []Policy{
					{Name: "a", Path: "shared.json", Line: 2, Column: 3},
					{Name: "b", Path: "shared.json", Line: 3, Column: 3},
				},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), tt.file, tt.data)
			got, err := Load(path)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			tt.want.File = path
			tt.want.dir = filepath.Dir(path)
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("Load =\n %+v\nwant\n %+v", *got, tt.want)
			}
		})
	}
}

func TestLoadProblems(t *testing.T) {
	tests := []struct {
		name string
		data string
		want []string // each problem as file:line:col: field: message, file left out
	}{
		{"unknown top-level field", "listen: {}\nlisten_on: x\n",
			[]string{"2:1: listen_on: unknown field"}},
		{"unknown listen field", "listen:\n  policy: 127.0.0.1:1\n  dashboard: 127.0.0.1:2\n",
			[]string{"3:3: listen.dashboard: unknown field"}},
		{"address without port", "listen: {policy: localhost}\n",
			[]string{`1:18: listen.policy: address "localhost" is not host:port`}},
		{"address with bad port", "listen: {admin: \"127.0.0.1:http\"}\n",
			[]string{`1:17: listen.admin: address "127.0.0.1:http": port must be a number from 0 to 65535`}},
		{"port out of range", "listen: {admin: \"127.0.0.1:70000\"}\n",
			[]string{`1:17: listen.admin: address "127.0.0.1:70000": port must be a number from 0 to 65535`}},
		{"address as a number", "listen: {admin: 9421}\n",
			[]string{"1:17: listen.admin: must be a string, not a number"}},
		{"shared address", "listen: {admin: \"127.0.0.1:5\", policy: \"127.0.0.1:5\"}\n",
			[]string{"1:9: listen: policy and admin share the address 127.0.0.1:5"}},
		{"zero body limit", "limits: {max_body_bytes: 0}\n",
			[]string{"1:26: limits.max_body_bytes: must be more than 0, not 0"}},
		{"negative body limit", "limits:\n  max_body_bytes: -5\n",
			[]string{"2:19: limits.max_body_bytes: must be more than 0, not -5"}},
		{"body limit as text", "limits: {max_body_bytes: 1MiB}\n",
			[]string{"1:26: limits.max_body_bytes: must be a whole number of bytes, not a string"}},
		{"body limit too big", "limits: {max_body_bytes: 99999999999999999999}\n",
			[]string{"1:26: limits.max_body_bytes: must be a whole number of bytes, not 99999999999999999999"}},
		{"no connections", "limits:\n  gateway: {max_connections: 0}\n",
			[]string{"2:30: limits.gateway.max_connections: must be from 1 to 10000000, not 0"}},
		{"connections as text", "limits:\n  policy: {max_connections: many}\n",
			[]string{"2:29: limits.policy.max_connections: must be a whole number, not a string"}},
		{"body timeout without unit", "limits:\n  gateway: {body_timeout: 60}\n",
			[]string{"2:27: limits.gateway.body_timeout: must be a string, not a number"}},
		{"body timeout zero", "limits:\n  gateway: {body_timeout: 0s}\n",
			[]string{"2:27: limits.gateway.body_timeout: must be more than 0 and less than 24h0m0s, not 0s"}},
		{"negative body rate", "limits:\n  policy: {body_min_rate: -1}\n",
			[]string{"2:27: limits.policy.body_min_rate: must be from 1 to 1073741824, not -1"}},
		{"body timeout on the admin listener", "limits:\n  admin: {body_timeout: 5s}\n",
			[]string{"2:11: limits.admin.body_timeout: unknown field"}},
		{"unknown listener", "limits:\n  pexip: {max_connections: 5}\n",
			[]string{"2:3: limits.pexip: unknown field"}},
		{"redis store with a bad url", "store:\n  redis: {url: http://x}\n",
			[]string{`2:16: store.redis.url: URL "http://x" must start with redis:// or rediss://`}},
		{"memory store with settings", "store: {memory: {size: 5}}\n",
			[]string{"1:18: store.memory.size: unknown field"}},
		{"store as a list", "store: [memory]\n",
			[]string{"1:8: store: must be a mapping, not a list"}},
		{"bad document name", "policies:\n  \"a b\": x.json\n",
			[]string{`2:3: policies.a b: bad document name "a b": use letters, digits, '_', '.' and '-'`}},
		{"empty document name", "policies:\n  \"\": x.json\n",
			[]string{`2:3: policies.: bad document name "": use letters, digits, '_', '.' and '-'`}},
		{"document without path", "policies:\n  api: {vocabulary: testvocab}\n",
			[]string{"2:8: policies.api.path: a path to a policy file or directory is required"}},
		{"document with empty path", "policies:\n  api: \"\"\n",
			[]string{"2:8: policies.api.path: a path to a policy file or directory is required"}},
		{"unknown vocabulary", "policies:\n  api: {path: a.json, vocabulary: pexip}\n",
			[]string{`2:35: policies.api.vocabulary: unknown vocabulary "pexip": known are testvocab`}},
		{"unknown document field", "policies:\n  api: {path: a.json, vocab: rethink}\n",
			[]string{"2:23: policies.api.vocab: unknown field"}},
		{"document as a list", "policies:\n  api: [a.json]\n",
			[]string{"2:8: policies.api: must be a path or a mapping with path and vocabulary, not a list"}},
		{"document given twice", "policies:\n  api: a.json\n  api: b.json\n",
			[]string{"3:3: policies.api: given twice (first on line 2)"}},
		{"policies as a list", "policies: [a.json]\n",
			[]string{"1:11: policies: must be a mapping, not a list"}},
		{"top level is a list", "- a\n",
			[]string{"1:1: must be a mapping, not a list"}},
		{"syntax error", "listen: {policy: [\n",
			[]string{"1: syntax error: did not find expected node content"}},
		{"two documents", "listen: {}\n---\nlimits: {}\n",
			[]string{"2:1: the file holds more than one YAML document"}},
		{"every problem at once", "listen: {policy: x, admin: 1}\nlimits: {max_body_bytes: 0}\nstore: {disk: {}}\nextra: 1\n",
			[]string{
				`1:18: listen.policy: address "x" is not host:port`,
				"1:28: listen.admin: must be a string, not a number",
				"2:26: limits.max_body_bytes: must be more than 0, not 0",
				`3:9: store.disk: unsupported store "disk": choose memory or redis`,
				"4:1: extra: unknown field",
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "verdict.yaml", tt.data)
			cfg, err := Load(path)
			if err == nil {
				t.Fatalf("Load succeeded with %+v", cfg)
			}
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("error %T %v is not Problems", err, err)
			}
			var got []string
			for _, p := range ps {
				got = append(got, strings.TrimPrefix(p.Error(), path+":"))
				var cp Problem
				if !errors.As(p, &cp) || cp.File != path {
					t.Errorf("problem %v does not name the file %s", p, path)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("problems:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Load of a missing file: %v, want a not-exist error", err)
	}
}

func TestDefault(t *testing.T) {
	cfg, err := Default()
	if err != nil {
		t.Fatalf("Default: %v", err)
	}
	if !cfg.Embedded {
		t.Error("Default is not marked embedded")
	}
	if cfg.Listen != (Listen{Policy: "127.0.0.1:3000", Admin: "127.0.0.1:9421"}) {
		t.Errorf("Listen = %+v", cfg.Listen)
	}
	if cfg.Limits.MaxBodyBytes != 1<<20 {
		t.Errorf("MaxBodyBytes = %d", cfg.Limits.MaxBodyBytes)
	}
	want := []Policy{{Name: "rethink", Path: "rethink/policies.json", Vocabulary: "rethink", Line: 11, Column: 3}}
	// Other front doors add their example documents after rethink.
	if len(cfg.Policies) == 0 || !reflect.DeepEqual(cfg.Policies[:1], want) {
		t.Errorf("Policies = %+v, want %+v", cfg.Policies, want)
	}
	if paths := cfg.WatchPaths(); len(paths) != 0 {
		t.Errorf("WatchPaths of the embedded config = %v, want none", paths)
	}
	srcs, err := readSources(cfg.fsys, cfg.PolicyPath(cfg.Policies[0]))
	if err != nil || len(srcs) != 1 || len(srcs[0].Data) == 0 {
		t.Fatalf("reading the embedded policies: %v, %d sources", err, len(srcs))
	}
	again, err := cfg.Reload()
	if err != nil || !again.Embedded {
		t.Fatalf("Reload of the default: %v", err)
	}
}

// TestDefaultCompiles needs the policy engine: the embedded default must
// compile into the three seed rules.
func TestDefaultCompiles(t *testing.T) {
	cfg, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	docs, err := cfg.Compile()
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	i := slices.IndexFunc(docs, func(d Document) bool { return d.Name == "rethink" })
	if i < 0 {
		t.Fatalf("documents = %+v, want one named rethink", docs)
	}
	if s, p, r := docs[i].Document.Counts(); s != 1 || p != 1 || r != 3 {
		t.Errorf("Counts = %d sets, %d policies, %d rules; want 1, 1, 3", s, p, r)
	}
	if !reflect.DeepEqual(docs[i].Sources, []string{"rethink/policies.json"}) {
		t.Errorf("Sources = %v", docs[i].Sources)
	}
}

func TestReadSources(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "d/b.yaml", "- {effect: deny}\n")
	writeFile(t, dir, "d/a.json", `[{"effect": "permit"}]`)
	writeFile(t, dir, "d/c.yml", "- {effect: permit}\n")
	writeFile(t, dir, "d/notes.txt", "not a policy")
	writeFile(t, dir, "d/.a.json.swp", "scratch")
	writeFile(t, dir, "d/a_test.yaml", "policy: a.json\ncases: [{name: x, decision: permit}]\n") // for verdict test
	writeFile(t, dir, "d/B_TEST.JSON", `{"policy": "a.json"}`)
	writeFile(t, dir, "d/sub/x.json", "[]")
	writeFile(t, dir, "empty/readme.md", "nothing")

	srcs, err := ReadSources(filepath.Join(dir, "d"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range srcs {
		names = append(names, filepath.Base(s.Name))
	}
	if want := []string{"a.json", "b.yaml", "c.yml"}; !reflect.DeepEqual(names, want) {
		t.Errorf("sources = %v, want %v", names, want)
	}

	if _, err := ReadSources(filepath.Join(dir, "empty")); err == nil || !strings.Contains(err.Error(), "holds no .json, .yaml or .yml file") {
		t.Errorf("empty directory: %v", err)
	}
	if _, err := ReadSources(filepath.Join(dir, "missing.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestCompileProblems(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "bad.json", `[{"target": {"msgType": {"equals": "x"}}, "effect": "maybe"}]`)
	writeFile(t, dir, "unknown.json", `[{"condition": {"colour": {"equals": "red"}}, "effect": "deny"}]`)
	cfgPath := writeFile(t, dir, "verdict.yaml", `
policies:
  missing: nothere.json
  bad: bad.json
  unknown: {path: unknown.json, vocabulary: testvocab}
`)
	cfg, err := Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	docs, err := cfg.Compile()
	if len(docs) != 0 {
		t.Errorf("documents compiled despite their problems: %+v", docs)
	}
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("Compile error %T %v is not Problems", err, err)
	}
	// The missing file is reported against the configuration, the others
	// by the engine against their own files.
	var missing Problem
	if !errors.As(ps[0], &missing) || missing.File != cfgPath || missing.Line != 3 || missing.Field != "policies.missing" {
		t.Errorf("first problem = %#v, want the missing file at %s:3", ps[0], cfgPath)
	}
	seen := map[string]bool{}
	for _, p := range ps[1:] {
		var pp pdl.Problem
		if !errors.As(p, &pp) {
			t.Errorf("problem %v is not a pdl.Problem", p)
			continue
		}
		seen[filepath.Base(pp.File)] = true
		if pp.Line == 0 {
			t.Errorf("problem %v has no line", pp)
		}
	}
	if !seen["bad.json"] || !seen["unknown.json"] {
		t.Errorf("problems %v miss one of the bad documents", ps)
	}
}

func TestCompileDirectory(t *testing.T) {
	dir := t.TempDir()
	// Each file holds one policy set; only the first set whose target holds
	// is evaluated, so each set carries its own target.
	writeFile(t, dir, "many/1.json", `{"id": "one", "target": {"a": {"equals": 1}}, "policies": [{"rules": [{"effect": "permit"}]}]}`)
	writeFile(t, dir, "many/2.yaml", "id: two\ntarget: {a: {equals: 2}}\npolicies:\n  - rules: [{effect: deny}]\n")
	cfgPath := writeFile(t, dir, "verdict.yaml", "policies:\n  many: many/\n")
	cfg, err := Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	docs, err := cfg.Compile()
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	if len(docs) != 1 || len(docs[0].Sources) != 2 {
		t.Fatalf("documents = %+v", docs)
	}
	if s, _, r := docs[0].Document.Counts(); s != 2 || r != 2 {
		t.Errorf("Counts = %d sets, %d rules; want 2 sets (one a file), 2 rules", s, r)
	}
	if got := docs[0].Document.Decide(pdl.Input{"a": 1.0}).Effect; got != pdl.Permit {
		t.Errorf("a=1 decided %v, want permit from the first file", got)
	}
	if got := docs[0].Document.Decide(pdl.Input{"a": 2.0}).Effect; got != pdl.Deny {
		t.Errorf("a=2 decided %v, want deny from the second file", got)
	}
	wantWatch := []string{cfgPath, filepath.Join(dir, "many")}
	if got := cfg.WatchPaths(); !reflect.DeepEqual(got, wantWatch) {
		t.Errorf("WatchPaths = %v, want %v", got, wantWatch)
	}
}

func TestVocabulary(t *testing.T) {
	if opts, err := Vocabulary(""); err != nil || opts.Known != nil {
		t.Errorf(`Vocabulary("") = %+v, %v; want the generic options`, opts, err)
	}
	if opts, err := Vocabulary("testvocab"); err != nil || opts.Known == nil || !opts.Known("msgType") || opts.Known("other") {
		t.Errorf(`Vocabulary("testvocab") = %+v, %v`, opts, err)
	}
	if _, err := Vocabulary("nope"); err == nil {
		t.Error(`Vocabulary("nope") succeeded`)
	}
}

func TestProblemError(t *testing.T) {
	tests := []struct {
		p    Problem
		want string
	}{
		{Problem{File: "v.yaml", Line: 3, Column: 4, Field: "listen.admin", Message: "bad"}, "v.yaml:3:4: listen.admin: bad"},
		{Problem{File: "v.yaml", Line: 3, Message: "bad"}, "v.yaml:3: bad"},
		{Problem{File: "v.yaml", Message: "bad"}, "v.yaml: bad"},
	}
	for _, tt := range tests {
		if got := tt.p.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

func TestReloadRefusesAFileWithoutConfiguration(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "verdict.yaml", "limits: {max_body_bytes: 10}\n")
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, data string
		empty      bool
	}{
		{"empty", "", true},
		{"blanks", " \n\t\n\r\n", true},
		{"comments and a tab", "# soon\n\t\n  # more\n", true},
		{"null", "null\n", true},
		{"tilde", "~", true},
		{"an empty mapping is a choice", "{}\n", false},
		{"a real file", "limits: {max_body_bytes: 20}\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			writeFile(t, dir, "verdict.yaml", tc.data)
			got, err := cfg.Reload()
			if !tc.empty {
				if err != nil {
					t.Fatalf("Reload: %v", err)
				}
				if got.dir != dir {
					t.Errorf("dir %q, want %q", got.dir, dir)
				}
				return
			}
			var ps Problems
			if !errors.As(err, &ps) || len(ps) != 1 || !strings.Contains(ps[0].Error(), path+": the file holds no configuration") {
				t.Fatalf("Reload: %v, want one problem saying the file holds no configuration", err)
			}
			// At start-up an empty file takes every default, as before.
			if _, err := Load(path); tc.data == "" && err != nil {
				t.Errorf("Load: %v", err)
			}
		})
	}
}
