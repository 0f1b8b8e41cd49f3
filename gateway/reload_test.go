package gateway_test

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/verdict-policy/verdict/config"
	"github.com/verdict-policy/verdict/gateway/gatewaytest"
	_ "github.com/verdict-policy/verdict/policies/authorize"
	_ "github.com/verdict-policy/verdict/policies/upstream"
)

func TestReloadIsAtomic(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	oldUp := gatewaytest.StartUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(entered)
			<-release
		}
		_, _ = io.WriteString(w, "old")
	})
	newUp := gatewaytest.StartUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "new")
	})
	gw := gatewaytest.Start(t, "services:\n  - proxy:\n      api_backend: "+oldUp.URL+"\n")

	slow := make(chan gatewaytest.Result, 1)
	go func() { slow <- gw.Do(t, gw.NewRequest("GET", "/slow", nil)) }()
	<-entered

	if err := gw.Reload("services:\n  - proxy:\n      api_backend: " + newUp.URL + "\n"); err != nil {
		t.Fatal(err)
	}
	if res := gw.Do(t, gw.NewRequest("GET", "/", nil)); res.Body != "new" {
		t.Errorf("after the reload: %q", res.Body)
	}
	close(release)
	if res := <-slow; res.Status != 200 || res.Body != "old" {
		t.Errorf("the request in flight got %d %q, want it to finish on the old configuration", res.Status, res.Body)
	}
}

func TestBadReloadKeepsTheRunningConfiguration(t *testing.T) {
	up := gatewaytest.StartUpstream(t, nil)
	good := "services:\n  - proxy:\n      api_backend: " + up.URL + "\n"
	gw := gatewaytest.Start(t, good)
	bad := []string{
		"services:\n  - proxy:\n      policy_chain: [{name: nope}]\n",
		"services: [{proxy: {policy_chain: [{name: echo, configuration: {status: 99}}]}}]\n",
		"{\"services\": [",
	}
	for _, cfg := range bad {
		if err := gw.Reload(cfg); err == nil {
			t.Fatalf("reload of %q succeeded", cfg)
		}
		if res := gw.Do(t, gw.NewRequest("GET", "/p", nil)); res.Status != 200 || res.Body != "upstream: GET /p" {
			t.Fatalf("after a failed reload: %d %q", res.Status, res.Body)
		}
	}
}

func TestConfigurationProblems(t *testing.T) {
	tests := []struct {
		name string
		cfg  string
		want []string // each must appear in one problem line
	}{
		{
			name: "unknown policy",
			cfg:  "services:\n  - id: 3\n    proxy:\n      policy_chain:\n        - {name: teleport}\n",
			want: []string{`verdict.yaml:5:11: services[0].proxy.policy_chain[0]: policy teleport: unknown policy "teleport" version "builtin"`},
		},
		{
			name: "bad configuration names the field",
			cfg:  "services:\n  - proxy:\n      policy_chain:\n        - {name: echo, configuration: {status: 700, exit: later}}\n",
			want: []string{"verdict.yaml:4:11: services[0].proxy.policy_chain[0]: policy echo: configuration:", "exit:", "status:"},
		},
		{
			name: "invalid regex",
			cfg:  "services:\n  - proxy:\n      policy_chain:\n        - {name: upstream, configuration: {rules: [{regex: '(', url: 'http://127.0.0.1:1'}]}}\n",
			want: []string{"services[0].proxy.policy_chain[0]: policy upstream: rules.0.regex:", "not a valid regular expression"},
		},
		{
			name: "every problem at once, global chain too",
			cfg:  "policy_chain: [{name: ghost}]\nservices:\n  - proxy: {policy_chain: [{name: a1}, {name: echo, configuration: {bogus: 1}}]}\n",
			want: []string{"policy_chain[0]: policy ghost", "services[0].proxy.policy_chain[0]: policy a1", "services[0].proxy.policy_chain[1]: policy echo"},
		},
		{
			name: "apicast in the global chain",
			cfg:  "policy_chain: [{name: apicast}]\n",
			want: []string{"policy_chain[0]: policy apicast: apicast acts for a service"},
		},
		{
			name: "authorize without its document",
			cfg:  "services:\n  - proxy: {policy_chain: [{name: authorize, configuration: {policy: missing}}]}\n",
			want: []string{`policy authorize: policy: there is no policy document named "missing"`},
		},
		{
			name: "malformed JSON",
			cfg:  `{"services": [{"id": 1, "proxy": {"hosts": ["a"]}}`,
			want: []string{"verdict.yaml:1:", "syntax error"},
		},
		{
			name: "bad api_backend and duplicate host",
			cfg:  "services:\n  - {id: 1, proxy: {hosts: [a.test], api_backend: 'ftp://x'}}\n  - {id: 2, proxy: {hosts: [A.test]}}\n",
			want: []string{"services[0].proxy.api_backend", `host "a.test" is claimed by service 1 and service 2`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw := gatewaytest.Start(t, "")
			err := gw.Reload(tt.cfg)
			if err == nil {
				t.Fatal("no error")
			}
			var ps config.Problems
			if !errors.As(err, &ps) {
				t.Fatalf("error %T is not config.Problems: %v", err, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("problems lack %q:\n%v", w, err)
				}
			}
			for _, p := range ps {
				var cp config.Problem
				if errors.As(p, &cp) && (cp.File == "" || cp.Message == "") {
					t.Errorf("problem without file or message: %#v", cp)
				}
			}
		})
	}
}

// closer is a test policy that records when its chain is closed.
type closer struct{ closed chan struct{} }

func (c *closer) Close() error { close(c.closed); return nil }

func TestReplacedChainsAreClosedWhenIdle(t *testing.T) {
	gw := gatewaytest.Start(t, "services:\n  - proxy:\n      policy_chain: [{name: test_closer}, {name: echo}]\n")
	closedCh := lastCloser
	if err := gw.Reload("services:\n  - proxy:\n      policy_chain: [{name: echo}]\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-closedCh.closed:
	case <-time.After(2 * time.Second):
		t.Fatal("the replaced chain was not closed")
	}
}

func TestCloseClosesTheInstalledChains(t *testing.T) {
	gw := gatewaytest.Start(t, "services:\n  - proxy:\n      policy_chain: [{name: test_closer}, {name: echo}]\n")
	c := lastCloser
	if err := gw.Gateway.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.closed:
	default:
		t.Fatal("Close did not close the chain's policies")
	}
	if res := gw.Do(t, gw.NewRequest("GET", "/", nil)); res.Status != 404 {
		t.Errorf("after Close: %d", res.Status)
	}
}
