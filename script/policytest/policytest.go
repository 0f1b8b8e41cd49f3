// Package policytest runs the tests of custom Lua policy folders: the Lua
// unit specs under spec/ (through script.RunSpecs) and the integration
// cases under t/, each a request run through the policy's chain in the
// gateway's order of phases (chain.Chain.Begin) and proxied over a
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

	"github.com/verdict-policy/verdict/chain"
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

// runCase runs one case through a chain of its own, phase by phase in the
// gateway's order, proxying to a recording upstream on a loopback port; it
// returns the log when the case fails.
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
	self := chain.Entry{Name: name, Version: version}
	if c.Configuration != nil {
		raw, err := json.Marshal(c.Configuration)
		if err != nil {
			return "", fmt.Errorf("configuration: %w", err)
		}
		self.Configuration = raw
	}
	entries := []chain.Entry{self, {Name: "apicast"}}
	if c.Chain != nil {
		entries = nil
		for i, e := range c.Chain {
			if e["name"] == "self" {
				entries = append(entries, self)
				continue
			}
			raw, err := json.Marshal(e)
			if err != nil {
				return "", fmt.Errorf("chain[%d]: %w", i, err)
			}
			var entry chain.Entry
			if err := json.Unmarshal(raw, &entry); err != nil || entry.Name == "" {
				return "", fmt.Errorf("chain[%d]: an entry is {name, version, configuration}", i)
			}
			entries = append(entries, entry)
		}
	}

	var logs bytes.Buffer
	var logMu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts.Logger = logger
	env := chain.Env{
		Logger:    logger,
		ServiceID: "1",
		Service:   &chain.Service{ID: "1", Hosts: []string{"localhost"}, APIBackend: up.URL},
		Dir:       folder,
		Resolve:   script.Resolver([]string{filepath.Dir(filepath.Dir(folder))}, opts),
	}
	ch, err := chain.Build(entries, env)
	if err != nil {
		return "", fmt.Errorf("the chain did not build: %w", err)
	}
	defer ch.Close()

	method := c.Request.Method
	if method == "" {
		method = "GET"
	}
	path := c.Request.Path
	if path == "" {
		path = "/"
	}
	req, err := http.NewRequest(method, "http://localhost"+path, strings.NewReader(c.Request.Body))
	if err != nil {
		return "", fmt.Errorf("request: %w", err)
	}
	for k, v := range c.Request.Headers {
		req.Header.Set(k, v)
	}
	status, header, body := serve(ch, req, logger)

	var problems []string
	e := c.Expect
	if e.Status != 0 && status != e.Status {
		problems = append(problems, fmt.Sprintf("status %d, want %d", status, e.Status))
	}
	if e.Body != nil && string(body) != *e.Body {
		problems = append(problems, fmt.Sprintf("body %q, want %q", body, *e.Body))
	}
	problems = append(problems, headerProblems("response header", header, e.Headers)...)
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

// serve runs r through ch as the gateway does: the request phases, then
// the upstream's answer or the local one through the filters, then
// post_action and log. It returns what the client would get.
func serve(ch *chain.Chain, r *http.Request, logger *slog.Logger) (int, http.Header, []byte) {
	c := chain.NewContext(r, "127.0.0.1", logger, ch.Exports())
	defer ch.Finish(c, nil)
	ch.Begin(c, nil)
	if !ch.Route(c, nil) {
		body := ch.AnswerLocal(c, nil)
		return c.Response.Status, c.Response.Header, body
	}
	body, err := proxy(c)
	if err != nil {
		logger.Error("the upstream could not be reached", "error", err)
		c.Response.Status = http.StatusBadGateway
		c.Response.Header = http.Header{"Content-Type": {"text/plain; charset=utf-8"}}
		c.Response.Body = []byte("the upstream could not be reached\n")
		body := ch.AnswerLocal(c, nil)
		return c.Response.Status, c.Response.Header, body
	}
	ch.FilterHeader(c, nil)
	if c.Failed() != nil {
		return c.Response.Status, c.Response.Header, c.Response.Body
	}
	if ch.HasBodyFilters() {
		if body, err = ch.BodyFilter(c, body, true); err != nil {
			return c.Response.Status, c.Response.Header, c.Response.Body
		}
	}
	return c.Response.Status, c.Response.Header, body
}

// proxy sends the request in c to the upstream the chain chose and puts
// the answer's status and header in c.Response; it returns the body.
func proxy(c *chain.Context) ([]byte, error) {
	u := c.Upstream.URL
	target := *c.Request.URL
	target.Scheme, target.Host = u.Scheme, u.Host
	if p := strings.TrimSuffix(u.Path, "/"); p != "" {
		target.Path = p + target.Path
		target.RawPath = ""
	}
	out, err := http.NewRequest(c.Request.Method, target.String(), c.Request.Body)
	if err != nil {
		return nil, err
	}
	out.Header = c.Request.Header.Clone()
	out.Header.Set("X-Real-Ip", c.ClientIP)
	out.Host = u.Host
	if c.Upstream.Host != "" {
		out.Host = c.Upstream.Host
	}
	res, err := http.DefaultTransport.RoundTrip(out)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	c.Response.Status = res.StatusCode
	c.Response.Header = res.Header
	c.Response.Body = nil
	return body, nil
}
