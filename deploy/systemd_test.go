package deploy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/verdict-policy/verdict/internal/processtest"
)

const unitFile = "deploy/systemd/verdict.service"

// unitSettings reads a systemd unit file: section -> key -> values, in
// order (a key may be given more than once).
func unitSettings(t *testing.T, data []byte) map[string]map[string][]string {
	t.Helper()
	out := map[string]map[string][]string{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			out[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: not a setting: %q", unitFile, n, line)
			}
			out[section][k] = append(out[section][k], v)
		}
	}
	return out
}

// TestSystemdUnit checks the unit's promises: verdict serve with the
// configuration in /etc/verdict, reload by SIGHUP, an unprivileged
// dynamic user without capabilities, a read-only system, and a raised
// open-file limit.
func TestSystemdUnit(t *testing.T) {
	u := unitSettings(t, readRepoFile(t, unitFile))
	svc := u["Service"]
	want := map[string]string{
		"ExecStart":             "/usr/local/bin/verdict serve --config /etc/verdict/verdict.yaml --log-format json",
		"ExecReload":            "/bin/kill -HUP $MAINPID",
		"DynamicUser":           "yes",
		"NoNewPrivileges":       "yes",
		"CapabilityBoundingSet": "",
		"AmbientCapabilities":   "",
		"ProtectSystem":         "strict",
		"ProtectHome":           "yes",
		"PrivateTmp":            "yes",
	}
	for k, v := range want {
		got, ok := svc[k]
		if !ok || got[len(got)-1] != v {
			t.Errorf("[Service] %s = %q, want %q", k, got, v)
		}
	}
	if l := svc["LimitNOFILE"]; len(l) != 1 {
		t.Errorf("[Service] LimitNOFILE = %q, want one limit", l)
	} else if n, err := strconv.Atoi(l[0]); err != nil || n < 4096 {
		t.Errorf("[Service] LimitNOFILE = %s, want a number of at least 4096", l[0])
	}
	if got := u["Install"]["WantedBy"]; len(got) != 1 || got[0] != "multi-user.target" {
		t.Errorf("[Install] WantedBy = %q", got)
	}
}

// TestSystemdAnalyze runs systemd-analyze on the unit, with ExecStart
// pointing at a built binary: verify must find nothing to say, and the
// offline security review must rate the unit's exposure 2.0 or better
// ("OK"). The sandbox itself is not run here: that needs systemd as the
// init process.
func TestSystemdAnalyze(t *testing.T) {
	tool, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed (Debian package systemd)")
	}
	bin := verdict.Path(t)
	unit := strings.ReplaceAll(string(readRepoFile(t, unitFile)), "/usr/local/bin/verdict", bin)
	path := filepath.Join(t.TempDir(), "verdict.service")
	if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tool, "verify", path).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err = exec.Command(tool, "security", "--offline=yes", "--threshold=20", "--no-pager", path).CombinedOutput()
	if err != nil {
		t.Errorf("systemd-analyze security: exposure above 2.0 (%v)\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("Overall exposure level")) {
		t.Errorf("systemd-analyze security said no exposure level:\n%s", out)
	}
}

// TestSystemdReload runs the unit's ExecReload command against a running
// verdict serve, with $MAINPID its process id, and checks that the server
// reloaded on it.
func TestSystemdReload(t *testing.T) {
	svc := unitSettings(t, readRepoFile(t, unitFile))["Service"]
	reload := svc["ExecReload"]
	if len(reload) != 1 {
		t.Fatalf("[Service] ExecReload = %q, want one command", reload)
	}
	bin := verdict.Path(t)
	dir := t.TempDir()
	admin := processtest.FreeAddr(t)
	cfg := filepath.Join(dir, "verdict.yaml")
	writeTestFile(t, filepath.Join(dir, "rules.yaml"), "- {id: open, effect: permit}\n")
	writeTestFile(t, cfg, fmt.Sprintf("listen: {policy: %q, admin: %q}\npolicies:\n  rules: rules.yaml\n",
		processtest.FreeAddr(t), admin))
	p := processtest.Start(t, bin, cfg, admin)

	if got := reloads(t, admin); got != 0 {
		t.Fatalf("verdict_reloads_total{result=\"success\"} = %v before the reload", got)
	}
	command := strings.ReplaceAll(reload[0], "$MAINPID", strconv.Itoa(p.Pid()))
	args := strings.Fields(command)
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", command, err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := p.WaitLog(ctx, "reason=SIGHUP"); err != nil {
		t.Fatalf("%v\n%s", err, p.Logs())
	}
	if got := reloads(t, admin); got != 1 {
		t.Errorf("verdict_reloads_total{result=\"success\"} = %v after %s, want 1", got, command)
	}
}

// reloads returns the successful reloads counted on /metrics.
func reloads(t *testing.T, admin string) float64 {
	t.Helper()
	for _, s := range scrape(t, admin) {
		if s.name == "verdict_reloads_total" && s.labels["result"] == "success" {
			return s.value
		}
	}
	t.Fatal("/metrics has no verdict_reloads_total{result=\"success\"}")
	return 0
}

// sample is one line of the Prometheus text format.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// metricsPage is what /metrics answered: its samples and the metric
// families its TYPE lines declare, name -> type.
type metricsPage struct {
	samples  []sample
	families map[string]string
}

// scrapePage fetches and parses /metrics of the admin listener at admin.
func scrapePage(t *testing.T, admin string) metricsPage {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v\n%s", resp.StatusCode, err, body)
	}
	page := metricsPage{families: map[string]string{}}
	for _, line := range strings.Split(string(body), "\n") {
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, typ, _ := strings.Cut(rest, " ")
			page.families[name] = typ
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		s, err := parseSample(line)
		if err != nil {
			t.Fatalf("/metrics: %v", err)
		}
		page.samples = append(page.samples, s)
	}
	return page
}

func scrape(t *testing.T, admin string) []sample { return scrapePage(t, admin).samples }

// parseSample parses `name{a="b",c="d"} value`.
func parseSample(line string) (sample, error) {
	s := sample{labels: map[string]string{}}
	rest := line
	if i := strings.IndexAny(rest, "{ "); i >= 0 && rest[i] == '{' {
		s.name = rest[:i]
		rest = rest[i+1:]
		for !strings.HasPrefix(rest, "}") {
			k, after, ok := strings.Cut(rest, "=")
			if !ok || !strings.HasPrefix(after, `"`) {
				return s, fmt.Errorf("bad labels in %q", line)
			}
			v, tail, err := unquotePrefix(after)
			if err != nil {
				return s, fmt.Errorf("bad label value in %q: %w", line, err)
			}
			s.labels[k] = v
			rest = strings.TrimPrefix(tail, ",")
		}
		rest = strings.TrimSpace(rest[1:])
	} else {
		name, after, _ := strings.Cut(rest, " ")
		s.name, rest = name, after
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 {
		return s, fmt.Errorf("no value in %q", line)
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return s, fmt.Errorf("bad value in %q: %w", line, err)
	}
	s.value = v
	return s, nil
}

// unquotePrefix reads the quoted string at the start of s and returns it
// and what follows.
func unquotePrefix(s string) (string, string, error) {
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			v, err := strconv.Unquote(s[:i+1])
			return v, s[i+1:], err
		}
	}
	return "", "", fmt.Errorf("unterminated string")
}

func writeTestFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}
