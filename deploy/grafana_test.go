package deploy

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/verdict-policy/verdict/internal/processtest"
	"github.com/verdict-policy/verdict/internal/redistest"
)

// dashboard is the part of a Grafana dashboard the test reads.
type dashboard struct {
	UID        string       `json:"uid"`
	Title      string       `json:"title"`
	Panels     []dashPanel  `json:"panels"`
	Templating dashTemplate `json:"templating"`
}

type dashPanel struct {
	ID         int         `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	Datasource *dashSource `json:"datasource"`
	GridPos    struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
	Panels []dashPanel `json:"panels"`
}

type dashSource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type dashTemplate struct {
	List []struct {
		Name  string `json:"name"`
		Type  string `json:"type"`
		Query any    `json:"query"`
	} `json:"list"`
}

// promIdent finds what may be a metric name in PromQL: the names
// Verdict, the Go runtime and the process collector export.
var promIdent = regexp.MustCompile(`\b(?:verdict|go|process)_[a-zA-Z0-9_]+\b`)

// promLabels finds label names in `by (...)` clauses and selectors.
var (
	promBy       = regexp.MustCompile(`\bby \(([^)]*)\)`)
	promSelector = regexp.MustCompile(`\{([^}]*)\}`)
	promMatcher  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)`)
)

// family returns the metric family a sample name in an expression
// belongs to, as /metrics declares it.
func family(name string, families map[string]string) (string, bool) {
	if _, ok := families[name]; ok {
		return name, true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && (families[base] == "histogram" || families[base] == "summary") {
			return base, true
		}
	}
	return "", false
}

// metricsServer starts verdict serve with every front door, the gateway
// with a Lua policy that fails and a rate limit in a Redis store, and
// drives a request through each so that every metric family has a
// series; Redis is stopped before the last gateway request so that the
// store fails too. It returns the admin listener's address.
func metricsServer(t *testing.T) string {
	t.Helper()
	root := processtest.ModuleRoot(t)
	examples := filepath.Join(root, "examples")
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "lua", "boom", "0.1", "init.lua"), `local policy = require('apicast.policy')
local _M = policy.new('Boom', '0.1')
function _M:access(context)
  error('boom')
end
return _M
`)
	writeTestFile(t, filepath.Join(dir, "lua", "boom", "0.1", "apicast-policy.json"),
		`{"$schema": "http://apicast.io/policy-v1.1/schema#manifest#", "name": "Boom", "summary": "Fails in access.", "version": "0.1", "configuration": {"type": "object"}}`)
	rds := redistest.Start(t)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "upstream")
	}))
	t.Cleanup(upstream.Close)

	policy, admin, gateway := processtest.FreeAddr(t), processtest.FreeAddr(t), processtest.FreeAddr(t)
	cfg := fmt.Sprintf(`listen: {policy: %q, admin: %q, gateway: %q}
store:
  redis: {url: %q, dial_timeout: 200ms, read_timeout: 200ms, write_timeout: 200ms}
policies:
  rethink: {path: %q, vocabulary: rethink}
  authz: %q
  authzen: %q
  pexip: %q
authz:
  policy: authz
  authzen: {policy: authzen}
pexip: {policy: pexip}
messages: {policy: rethink, domain: hjiang-rethink.com}
policy_load_path: [lua]
services:
  - id: api
    proxy:
      hosts: [api.example.com]
      api_backend: %q
      policy_chain:
        - name: rate_limit
          configuration:
            on_store_error: allow
            fixed_window_limiters: [{key: {name: api}, count: 1000, window: 60}]
        - name: apicast
  - id: broken
    proxy:
      hosts: [broken.example.com]
      api_backend: %q
      policy_chain:
        - {name: boom, version: "0.1"}
        - name: apicast
`, policy, admin, gateway, rds.URL(),
		filepath.Join(examples, "rethink", "policies.json"), filepath.Join(examples, "authz", "proxy.yaml"),
		filepath.Join(examples, "authz", "authzen.yaml"), filepath.Join(examples, "pexip", "demo.yaml"),
		upstream.URL, upstream.URL)
	file := filepath.Join(dir, "verdict.yaml")
	writeTestFile(t, file, cfg)
	p := processtest.Start(t, verdict.Path(t), file, admin)

	send := func(method, url, host, body string) int {
		t.Helper()
		req, err := http.NewRequest(method, url, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if host != "" {
			req.Host = host
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", method, url, err, p.Logs())
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	pol, gw := "http://"+policy, "http://"+gateway
	for _, r := range []struct {
		method, url, host, body string
		status                  int
	}{
		{"POST", pol + "/v1/decide", "", `{"policy": "rethink", "input": {"msgType": "discovery"}}`, 200},
		{"GET", pol + "/v1/authz/forward", "", "", 200},
		{"POST", pol + "/access/v1/evaluation", "", `{"subject": {"type": "user", "id": "a"}, "action": {"name": "read"}, "resource": {"type": "r", "id": "1"}}`, 200},
		{"GET", pol + "/policy/v1/service/configuration?local_alias=my-vmr-x", "", "", 200},
		{"POST", pol + "/v1/messages/decide", "", rethinkMessage, 200},
		{"GET", gw + "/items", "api.example.com", "", 200},
		{"GET", gw + "/items", "broken.example.com", "", 503},
	} {
		if got := send(r.method, r.url, r.host, r.body); got != r.status {
			t.Fatalf("%s %s (host %q): %d, want %d\n%s", r.method, r.url, r.host, got, r.status, p.Logs())
		}
	}
	rds.Stop()
	if got := send("GET", gw+"/items", "api.example.com", ""); got != 200 {
		t.Fatalf("with Redis stopped and on_store_error: allow, the gateway answered %d\n%s", got, p.Logs())
	}
	if exited, err := p.Exited(); exited {
		t.Fatalf("verdict serve exited: %v\n%s", err, p.Logs())
	}
	return admin
}

const rethinkMessage = `{"direction": "egress", "message": {"id": 1, "type": "response",
  "from": "domain://msg-node.hjiang-rethink.com/address-allocation",
  "to": "runtime://hjiang-rethink.com/aa783972-3fd5-21d1-adb5-3bdcac0908bd/address-allocation",
  "body": {"code": 200, "value": {"allocated": ["hyperty://hjiang-rethink.com/a"]}}}}`

// TestGrafanaDashboard parses the dashboard and checks every query
// against the /metrics of a real server with every front door and the
// gateway in use: each metric an expression names is a family the server
// exports, each label it groups or selects by is a label of that
// metric's series (job and instance are the scraper's), and the panels
// are laid out on Grafana's 24-column grid with the dashboard's data
// source variable.
func TestGrafanaDashboard(t *testing.T) {
	var d dashboard
	if err := json.Unmarshal(readRepoFile(t, "deploy/grafana/verdict.json"), &d); err != nil {
		t.Fatalf("verdict.json: %v", err)
	}
	if d.UID == "" || d.Title == "" {
		t.Error("the dashboard needs a uid and a title")
	}
	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
	}

	page := scrapePage(t, metricsServer(t))
	labelsOf := map[string]map[string]bool{}
	for _, s := range page.samples {
		fam, ok := family(s.name, page.families)
		if !ok {
			fam = s.name
		}
		if labelsOf[fam] == nil {
			labelsOf[fam] = map[string]bool{}
		}
		for l := range s.labels {
			labelsOf[fam][l] = true
		}
		if strings.HasSuffix(s.name, "_bucket") {
			labelsOf[fam]["le"] = true
		}
	}

	var exprs []string
	for _, v := range d.Templating.List {
		if q, ok := v.Query.(map[string]any); ok {
			if s, ok := q["query"].(string); ok {
				exprs = append(exprs, s)
			}
		}
	}
	ids := map[int]bool{}
	var walk func([]dashPanel)
	walk = func(panels []dashPanel) {
		for _, p := range panels {
			if ids[p.ID] {
				t.Errorf("panel %q: id %d is used twice", p.Title, p.ID)
			}
			ids[p.ID] = true
			if p.GridPos.X < 0 || p.GridPos.W <= 0 || p.GridPos.X+p.GridPos.W > 24 || p.GridPos.H <= 0 {
				t.Errorf("panel %q: gridPos %+v is off the 24-column grid", p.Title, p.GridPos)
			}
			if p.Type != "row" {
				if p.Datasource == nil || p.Datasource.Type != "prometheus" || p.Datasource.UID != "${datasource}" {
					t.Errorf("panel %q: the data source must be the dashboard's ${datasource}", p.Title)
				}
				if len(p.Targets) == 0 {
					t.Errorf("panel %q has no query", p.Title)
				}
			}
			for _, tg := range p.Targets {
				exprs = append(exprs, tg.Expr)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	if len(exprs) < 20 {
		t.Fatalf("only %d queries: the dashboard lost its panels", len(exprs))
	}

	used := map[string]bool{}
	for _, e := range exprs {
		for _, ref := range regexp.MustCompile(`\$(\w+)`).FindAllStringSubmatch(e, -1) {
			if !vars[ref[1]] && !strings.HasPrefix(ref[1], "__") {
				t.Errorf("%s: $%s is not a variable of the dashboard", e, ref[1])
			}
		}
		var fams []string
		for _, name := range promIdent.FindAllString(e, -1) {
			fam, ok := family(name, page.families)
			if !ok {
				t.Errorf("%s: %s is not exported by the server", e, name)
				continue
			}
			fams = append(fams, fam)
			used[fam] = true
		}
		var labels []string
		for _, m := range promBy.FindAllStringSubmatch(e, -1) {
			for _, l := range strings.Split(m[1], ",") {
				labels = append(labels, strings.TrimSpace(l))
			}
		}
		for _, m := range promSelector.FindAllStringSubmatch(e, -1) {
			for _, mm := range promMatcher.FindAllStringSubmatch(m[1], -1) {
				labels = append(labels, mm[1])
			}
		}
		for _, l := range labels {
			if l == "job" || l == "instance" {
				continue
			}
			if !slices.ContainsFunc(fams, func(f string) bool { return labelsOf[f][l] }) {
				t.Errorf("%s: no metric of the query (%v) has the label %q", e, fams, l)
			}
		}
	}
	// Every family of Verdict's own is on the dashboard.
	for fam := range page.families {
		if strings.HasPrefix(fam, "verdict_") && !used[fam] {
			t.Errorf("%s is exported but on no panel", fam)
		}
	}
}
