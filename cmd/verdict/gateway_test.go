package main

import (
	"strings"
	"testing"
)

// apicastFile is an APIcast configuration file as 3scale exports it.
const apicastFile = `{
  "services": [
    {
      "id": 42,
      "backend_version": "1",
      "proxy": {
        "api_backend": "http://127.0.0.1:9000",
        "hosts": ["api.example.com"],
        "proxy_rules": [{"http_method": "GET", "pattern": "/", "metric_system_name": "hits", "delta": 1}],
        "policy_chain": [
          {"name": "cors", "version": "builtin", "configuration": {"allow_origin": "*"}},
          {"name": "apicast", "version": "builtin"}
        ]
      }
    }
  ]
}`

func TestCheckGatewayConfigurations(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "apicast.json", apicastFile)
	bad := writeFile(t, dir, "bad.json", strings.Replace(apicastFile, `"allow_origin": "*"`, `"allow_origin": 7`, 1))
	strict := writeFile(t, dir, "strict.json", strings.Replace(strings.Replace(apicastFile, `"allow_origin": "*"`, `"allow_origin": 7`, 1), `"services"`, `"strict": true, "services"`, 1))
	dup := writeFile(t, dir, "dup.json", `{"services": [{"id": 1, "proxy": {"hosts": ["a.test"]}}, {"id": 1, "proxy": {"hosts": ["b.test"]}}]}`)
	unknown := writeFile(t, dir, "unknown.yaml", "services:\n  - proxy:\n      policy_chain: [{name: nope}, {name: echo, configuration: {status: 1}}]\n")
	tests := []struct {
		name      string
		env       string // THREESCALE_CONFIG_FILE
		args      []string
		code      int
		stdoutHas []string
		stderrHas []string
	}{
		{"APIcast file with --config", "", []string{"check", "--config", good}, 0,
			[]string{"gateway: 1 service, a global chain of 0 policies"}, nil},
		{"explain describes every service", "", []string{"check", "--explain", "--config", good}, 0,
			[]string{"service 42: hosts api.example.com -> http://127.0.0.1:9000", "chain cors, apicast; 1 mapping rule; failing policies answer 503"}, nil},
		{"APIcast file from THREESCALE_CONFIG_FILE", good, []string{"check"}, 0,
			[]string{"gateway: 1 service"}, nil},
		{"--config wins over the environment", bad, []string{"check", "--config", good}, 0,
			[]string{"gateway: 1 service"}, nil},
		{"an APIcast file's bad policy is a warning", "", []string{"check", "--config", bad}, 0,
			[]string{"gateway: 1 service", "loaded as APIcast loads it"},
			[]string{"warning: " + bad + ":11:11: services[0].proxy.policy_chain[0]: policy cors: configuration: allow_origin:",
				"it is left out of the chain, as APIcast does"}},
		{"strict: true makes it an error", "", []string{"check", "--config", strict}, 1, nil,
			[]string{"services[0].proxy.policy_chain[0]: policy cors: configuration: allow_origin:"}},
		{"an APIcast file's duplicate service is a warning", "", []string{"check", "--config", dup}, 0,
			[]string{"gateway: 1 service"},
			[]string{"warning: " + dup + `:1:58: services[1].id: service id "1" is used again (first at services[0]): this service is skipped`}},
		{"every chain problem at once", "", []string{"check", "--config", unknown}, 1, nil,
			[]string{`policy_chain[0]: policy nope: unknown policy "nope"`, "policy_chain[1]: policy echo: configuration: status"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(ConfigFileEnv, tt.env)
			code, stdout, stderr := runInProcess("", tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, stdout, stderr)
			}
			for _, w := range tt.stdoutHas {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout)
				}
			}
			for _, w := range tt.stderrHas {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
		})
	}
}
