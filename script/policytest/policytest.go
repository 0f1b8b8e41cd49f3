// Package policytest runs the tests of custom Lua policy folders: the Lua
// unit specs under spec/ (through script.RunSpecs) and the integration
// cases under t/, each a request proxied through a real gateway on a
// loopback port to a recording upstream. It is what `verdict test-policy`
// runs.
package policytest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/verdict-policy/verdict/config"
	"github.com/verdict-policy/verdict/gateway"
	_ "github.com/verdict-policy/verdict/policies/all" // the builtin policies a case's chain may name
	"github.com/verdict-policy/verdict/script"
)

// Case is one integration case of a t/*.yaml file.
type Case struct {
	Name string `yaml:"name"`
	// Configuration is the policy's configuration in the chain entry.
	Configuration map[string]any `yaml:"configuration"`
	// Chain, when set, replaces the service chain [policy, apicast]; the
	// entry named "self" stands for the policy under test.
	Chain   []map[string]any `yaml:"chain"`
	Request struct {
		Method  string            `yaml:"method"`
		Path    string            `yaml:"path"`
		Headers map[string]string `yaml:"headers"`
		Body    string            `yaml:"body"`
	} `yaml:"request"`
	Expect struct {
		Status int     `yaml:"status"`
		Body   *string `yaml:"body"`
		// Headers the response must have; an empty value means absent.
		Headers  map[string]string `yaml:"headers"`
		Upstream *struct {
			Method  string            `yaml:"method"`
			Path    string            `yaml:"path"`
			Query   *string           `yaml:"query"`
			Headers map[string]string `yaml:"headers"`
			Body    *string           `yaml:"body"`
		} `yaml:"upstream"`
		// NoUpstream says the request must not reach the upstream.
		NoUpstream bool `yaml:"no_upstream"`
	} `yaml:"expect"`
}

// Report counts the results of a run.
type Report struct {
	Passed, Failed int
}

// Folders returns the policy folders under dir: dir itself when it holds
// init.lua, else its NAME/VERSION or VERSION subfolders that do.
func Folders(dir string) ([]string, error) {
	if _, err := os.Stat(filepath.Join(dir, script.EntryFile)); err == nil {
		return []string{dir}, nil
	}
	var out []string
	for _, pattern := range []string{"*/" + script.EntryFile, "*/*/" + script.EntryFile} {
		m, err := filepath.Glob(filepath.Join(dir, filepath.FromSlash(pattern)))
		if err != nil {
			return nil, err
		}
		for _, f := range m {
			out = append(out, filepath.Dir(f))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s holds no policy folder (NAME/VERSION with %s)", dir, script.EntryFile)
	}
	sort.Strings(out)
	return out, nil
}

// Run runs every test of every policy folder under dir, writing one line
// per test to out.
func Run(dir string, opts script.Options, out io.Writer) (Report, error) {
	var rep Report
	folders, err := Folders(dir)
	if err != nil {
		return rep, err
	}
	for _, f := range folders {
		abs, err := filepath.Abs(f)
		if err != nil {
			return rep, err
		}
		if len(folders) > 1 {
			fmt.Fprintf(out, "# %s %s\n", filepath.Base(filepath.Dir(abs)), filepath.Base(abs))
		}
		results, err := script.RunSpecs(abs, opts, out)
		if err != nil {
			return rep, err
		}
		for _, r := range results {
			if r.Err != nil {
				rep.Failed++
			} else {
				rep.Passed++
			}
		}
		cases, err := filepath.Glob(filepath.Join(abs, "t", "*.yaml"))
		if err != nil {
			return rep, err
		}
		sort.Strings(cases)
		for _, file := range cases {
			if err := runCases(abs, file, opts, out, &rep); err != nil {
				return rep, err
			}
		}
	}
	return rep, nil
}

func runCases(folder, file string, opts script.Options, out io.Writer, rep *Report) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var cases []Case
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cases); err != nil && err != io.EOF {
		return fmt.Errorf("%s: %w", file, err)
	}
	rel, _ := filepath.Rel(folder, file)
	for i, c := range cases {
		name := c.Name
		if name == "" {
			name = fmt.Sprintf("case %d", i+1)
		}
		logs, err := runCase(folder, c, opts)
		if err != nil {
			rep.Failed++
			fmt.Fprintf(out, "FAIL %s: %s\n    %s\n", rel, name, strings.ReplaceAll(err.Error(), "\n", "\n    "))
			if logs != "" {
				fmt.Fprintf(out, "    gateway log:\n      %s\n", strings.ReplaceAll(strings.TrimSpace(logs), "\n", "\n      "))
			}
			continue
		}
		rep.Passed++
		fmt.Fprintf(out, "ok   %s: %s\n", rel, name)
	}
	return nil
}

// received is what the upstream got.
type received struct {
	method, path, query, body string
	header                    http.Header
}

// runCase runs one case through a new gateway and returns the gateway's
// log when it fails.
func runCase(folder string, c Case, opts script.Options) (string, error) {
	var mu sync.Mutex
	var got []received
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, received{r.Method, r.URL.Path, r.URL.RawQuery, string(body), r.Header.Clone()})
		mu.Unlock()
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "upstream: "+r.Method+" "+r.RequestURI)
	}))
	defer up.Close()

	name, version := filepath.Base(filepath.Dir(folder)), filepath.Base(folder)
	self := map[string]any{"name": name, "version": version}
	if c.Configuration != nil {
		self["configuration"] = c.Configuration
	}
	chainEntries := []map[string]any{self, {"name": "apicast"}}
	if c.Chain != nil {
		chainEntries = nil
		for _, e := range c.Chain {
			if e["name"] == "self" {
				e = self
			}
			chainEntries = append(chainEntries, e)
		}
	}
	cfgDoc := map[string]any{
		"policy_load_path": map[string]any{"paths": []string{filepath.Dir(filepath.Dir(folder))}},
		"services": []any{map[string]any{"id": 1, "proxy": map[string]any{
			"api_backend": up.URL, "policy_chain": chainEntries,
		}}},
	}
	lp := cfgDoc["policy_load_path"].(map[string]any)
	if opts.Budget > 0 {
		lp["budget"] = opts.Budget.String()
	}
	cfgJSON, err := json.Marshal(cfgDoc)
	if err != nil {
		return "", err
	}
	cfg, err := config.Parse(filepath.Join(folder, "t", "verdict.yaml"), cfgJSON)
	if err != nil {
		return "", fmt.Errorf("configuration: %w", err)
	}
	docs, err := cfg.Compile()
	if err != nil {
		return "", err
	}
	var logs bytes.Buffer
	var logMu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	gw, err := gateway.New(gateway.Options{Logger: logger})
	if err != nil {
		return "", err
	}
	install, err := gw.Prepare(cfg, docs)
	if err != nil {
		return "", fmt.Errorf("the gateway did not load the policy: %w", err)
	}
	install()
	srv := httptest.NewServer(gw)
	defer srv.Close()

	method := c.Request.Method
	if method == "" {
		method = "GET"
	}
	path := c.Request.Path
	if path == "" {
		path = "/"
	}
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(c.Request.Body))
	if err != nil {
		return "", fmt.Errorf("request: %w", err)
	}
	req.Host = "localhost"
	for k, v := range c.Request.Headers {
		req.Header.Set(k, v)
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		return "", fmt.Errorf("request: %w", err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()

	var problems []string
	e := c.Expect
	if e.Status != 0 && res.StatusCode != e.Status {
		problems = append(problems, fmt.Sprintf("status %d, want %d", res.StatusCode, e.Status))
	}
	if e.Body != nil && string(body) != *e.Body {
		problems = append(problems, fmt.Sprintf("body %q, want %q", body, *e.Body))
	}
	problems = append(problems, headerProblems("response header", res.Header, e.Headers)...)
	mu.Lock()
	defer mu.Unlock()
	switch {
	case e.NoUpstream && len(got) > 0:
		problems = append(problems, fmt.Sprintf("the upstream got %s %s, want no request", got[0].method, got[0].path))
	case e.Upstream != nil && len(got) == 0:
		problems = append(problems, "the upstream got no request")
	case e.Upstream != nil:
		u, w := got[0], e.Upstream
		if w.Method != "" && u.method != w.Method {
			problems = append(problems, fmt.Sprintf("upstream method %s, want %s", u.method, w.Method))
		}
		if w.Path != "" && u.path != w.Path {
			problems = append(problems, fmt.Sprintf("upstream path %q, want %q", u.path, w.Path))
		}
		if w.Query != nil && u.query != *w.Query {
			problems = append(problems, fmt.Sprintf("upstream query %q, want %q", u.query, *w.Query))
		}
		if w.Body != nil && u.body != *w.Body {
			problems = append(problems, fmt.Sprintf("upstream body %q, want %q", u.body, *w.Body))
		}
		problems = append(problems, headerProblems("upstream header", u.header, w.Headers)...)
	}
	if len(problems) > 0 {
		logMu.Lock()
		defer logMu.Unlock()
		return logs.String(), fmt.Errorf("%s", strings.Join(problems, "\n"))
	}
	return "", nil
}

func headerProblems(what string, h http.Header, want map[string]string) []string {
	var out []string
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if got := strings.Join(h.Values(k), ", "); got != want[k] {
			if want[k] == "" {
				out = append(out, fmt.Sprintf("%s %s = %q, want it absent", what, k, got))
			} else {
				out = append(out, fmt.Sprintf("%s %s = %q, want %q", what, k, got, want[k]))
			}
		}
	}
	return out
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
