package gateway

import (
	"encoding/json"
	"errors"
	"github.com/verdict-policy/verdict/config"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestGatewaySections(t *testing.T) {
	tests := []struct {
		name string
		data string
		want Config
		addr string
	}{
		{
			name: "nothing configured",
			data: "",
			want: Config{},
			addr: config.DefaultGatewayAddr,
		},
		{
			name: "APIcast file shape with unknown 3scale fields",
			data: `{"services": [{"id": 42, "backend_version": "1", "proxy": {"api_backend": "http://127.0.0.1:9000/base",
			  "backend": {"endpoint": "https://su1.3scale.net"}, "credentials_location": "query",
			  "proxy_rules": [{"id": 1, "http_method": "get", "pattern": "/a/{b}$", "delta": 2, "last": true,
			    "metric_system_name": "hits", "querystring_parameters": {"q": "{q}"}, "created_at": "x"}],
			  "policy_chain": [{"name": "cors", "version": "builtin", "configuration": {"allow_origin": "*", "n": 1.5, "list": [true, null]}},
			                   {"name": "apicast"}]}}], "oidc": [{"issuer": "x"}]}`,
			want: Config{Services: []Service{{
				ID: "42", Hosts: []string{"localhost"}, APIBackend: "http://127.0.0.1:9000/base",
				NoMatch: ErrorReply{Status: 404, Body: "No Mapping Rule matched", ContentType: "text/plain; charset=utf-8"},
				Rules: []MappingRule{{HTTPMethod: "GET", Pattern: "/a/{b}$", Delta: 2, Last: true, MetricSystemName: "hits",
					QueryParameters: map[string]string{"q": "{q}"}, Field: "services[0].proxy.proxy_rules[0]", Line: 3}},
				PolicyChain: []ChainEntry{
					{Name: "cors", Version: "builtin", Configuration: json.RawMessage(`{"allow_origin":"*","n":1.5,"list":[true,null]}`),
						Field: "services[0].proxy.policy_chain[0]", Line: 5, Column: 23},
					{Name: "apicast", Field: "services[0].proxy.policy_chain[1]", Line: 6, Column: 23},
				},
				Field: "services[0]", Line: 1, Column: 15,
			}}, APIcast: true, Lenient: true},
			addr: config.DefaultGatewayAddr,
		},
		{
			name: "YAML with a global chain and settings",
			data: `
listen: {gateway: "127.0.0.1:8181"}
gateway: {fail_status: 500, connect_timeout: 1s, read_timeout: 2s, send_timeout: 3s, max_header_bytes: 4096}
policy_chain:
  - name: phase_logger
  - {name: service_chain}
services:
  - id: a
    proxy:
      hosts: [API.Example.com, "*.example.org"]
      policy_chain: [{name: cors, enabled: false}]
      fail_status: 502
      hostname_rewrite: inside
      secret_token: s
`,
			want: Config{
				Settings: Settings{FailStatus: 500, ConnectTimeout: time.Second, ReadTimeout: 2 * time.Second, SendTimeout: 3 * time.Second, MaxHeaderBytes: 4096},
				PolicyChain: []ChainEntry{
					{Name: "phase_logger", Field: "policy_chain[0]", Line: 5, Column: 5},
					{Name: "service_chain", Field: "policy_chain[1]", Line: 6, Column: 5},
				},
				Services: []Service{{
					ID: "a", Hosts: []string{"api.example.com", "*.example.org"}, PolicyChain: []ChainEntry{},
					FailStatus: 502, HostnameRewrite: "inside", SecretToken: "s",
					NoMatch: ErrorReply{Status: 404, Body: "No Mapping Rule matched", ContentType: "text/plain; charset=utf-8"},
					Field:   "services[0]", Line: 8, Column: 5,
				}},
			},
			addr: "127.0.0.1:8181",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Parse("gw.yaml", []byte(tt.data))
			if err != nil {
				t.Fatal(err)
			}
			if got := ConfigOf(cfg); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got\n %+v\nwant\n %+v", got, tt.want)
			}
			if got := cfg.GatewayAddr(); got != tt.addr {
				t.Errorf("address %s, want %s", got, tt.addr)
			}
		})
	}
}

func TestGatewayProblems(t *testing.T) {
	tests := []struct {
		name string
		data string
		want []string
	}{
		{"services not a list", "services: {a: 1}", []string{"1:11: services: must be a list, not a mapping"}},
		{"bad id", "services: [{id: [1]}]", []string{"services[0].id: must be a number or a non-empty string"}},
		{"duplicate id", "services: [{id: 1}, {id: 1}]", []string{`services[1].id: service id "1" is used twice`}},
		{"duplicate host", "services: [{id: 1, proxy: {hosts: [a.test]}}, {id: 2, proxy: {hosts: [A.TEST]}}]", []string{`host "a.test" is claimed by service 1 and service 2`}},
		{"bad host", "services: [{proxy: {hosts: ['a b', 'x:80', '*.']}}]", []string{`hosts[0]: "a b" is not a host name`, `hosts[1]: "x:80"`, `hosts[2]: "*."`}},
		{"empty hosts", "services: [{proxy: {hosts: []}}]", []string{"services[0].proxy.hosts: lists no host"}},
		{"bad backend", "services: [{proxy: {api_backend: 'ftp://x'}}, {id: 2, proxy: {api_backend: 'http://'}}, {id: 3, proxy: {api_backend: 'http://a:99999'}}]",
			[]string{`services[0].proxy.api_backend: "ftp://x" must be an http`, `services[1].proxy.api_backend`, `services[2].proxy.api_backend: "http://a:99999" has a bad port`}},
		{"bad rule", "services: [{proxy: {proxy_rules: [{pattern: 'no-slash'}, {http_method: 'G T', pattern: /}, {pattern: '/{a'}, {http_method: GET}, {pattern: /, delta: -1, last: 'yes'}]}}]",
			[]string{`proxy_rules[0].pattern: pattern "no-slash" must start with /`, `proxy_rules[1].http_method: "G T" is not an HTTP method`,
				`proxy_rules[2].pattern: pattern "/{a" has unbalanced braces`, `proxy_rules[3].pattern: a mapping rule needs a pattern`,
				`proxy_rules[4].delta: must be from 0`, `proxy_rules[4].last: must be true or false`}},
		{"bad chain entries", "policy_chain: [1, {version: x}, {name: a, configuration: [1]}, {name: b, extra: 1}, {name: c, enabled: 'no'}]",
			[]string{"policy_chain[0]: must be a mapping", "policy_chain[1].name: a policy name is required",
				"policy_chain[2].configuration: must be a mapping", "policy_chain[3].extra: unknown field",
				"policy_chain[4].enabled: must be true or false"}},
		{"bad gateway settings", "gateway: {fail_status: 99, connect_timeout: forever, max_header_bytes: 10, color: red}",
			[]string{"gateway.fail_status: must be from 100 to 599", "gateway.connect_timeout: must be a duration",
				"gateway.max_header_bytes: must be from 1024", "gateway.color: unknown field"}},
		{"bad listen.gateway", "listen: {gateway: nowhere}", []string{`listen.gateway: address "nowhere" is not host:port`}},
		{"alias bomb in a configuration", "a: &a [1,1,1,1,1,1,1,1,1,1]\n", []string{"a: unknown field"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse("gw.yaml", []byte(tt.data))
			if err == nil {
				t.Fatal("no error")
			}
			var ps config.Problems
			if !errors.As(err, &ps) {
				t.Fatalf("%T: %v", err, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("problems lack %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestChainConfigurationSizeIsBounded(t *testing.T) {
	// Nine levels of ten aliases each would expand to a billion values.
	var b strings.Builder
	b.WriteString("x0: &x0 [1,1,1,1,1,1,1,1,1,1]\n")
	for i := 1; i < 9; i++ {
		b.WriteString("x" + string(rune('0'+i)) + ": &x" + string(rune('0'+i)) + " [")
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(",")
			}
			b.WriteString("*x" + string(rune('0'+i-1)))
		}
		b.WriteString("]\n")
	}
	data := "policy_chain:\n  - name: a\n    configuration:\n      " + strings.ReplaceAll(strings.TrimSpace(b.String()), "\n", "\n      ") + "\n"
	_, err := config.Parse("gw.yaml", []byte(data))
	if err == nil || !strings.Contains(err.Error(), "is too large") {
		t.Fatalf("want a size problem, got %v", err)
	}
}

// FuzzGatewaySections feeds arbitrary services and policy_chain sections
// to the loader: it must never panic, and what it accepts must hold
// together.
func FuzzGatewaySections(f *testing.F) {
	f.Add([]byte(`{"services": [{"id": 1, "proxy": {"hosts": ["a.test"], "api_backend": "http://127.0.0.1:1/x", "proxy_rules": [{"pattern": "/a/{b}$", "http_method": "GET"}], "policy_chain": [{"name": "apicast"}]}}]}`))
	f.Add([]byte("policy_chain: [{name: a, configuration: {b: [1, 2.5, true, null, {c: d}]}}, {name: service_chain}]\ngateway: {fail_status: 500}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := config.Parse("fuzz.yaml", data)
		if err != nil {
			var ps config.Problems
			if !errors.As(err, &ps) || len(ps) == 0 {
				t.Fatalf("error %T %v is not a non-empty Problems", err, err)
			}
			return
		}
		hosts := map[string]bool{}
		for _, s := range ConfigOf(cfg).Services {
			if s.ID == "" || len(s.Hosts) == 0 {
				t.Fatalf("accepted service %+v", s)
			}
			for _, h := range s.Hosts {
				if h == "" || h != strings.ToLower(h) || hosts[h] {
					t.Fatalf("accepted host %q", h)
				}
				hosts[h] = true
			}
			if s.APIBackend != "" && checkBackend(s.APIBackend) != nil {
				t.Fatalf("accepted api_backend %q", s.APIBackend)
			}
			for _, r := range s.Rules {
				if !strings.HasPrefix(r.Pattern, "/") {
					t.Fatalf("accepted pattern %q", r.Pattern)
				}
			}
			checkEntries(t, s.PolicyChain)
		}
		checkEntries(t, ConfigOf(cfg).PolicyChain)
	})
}

func checkEntries(t *testing.T, es []ChainEntry) {
	for _, e := range es {
		if e.Name == "" {
			t.Fatalf("accepted an entry without a name: %+v", e)
		}
		if e.Configuration != nil && !json.Valid(e.Configuration) {
			t.Fatalf("configuration is not JSON: %s", e.Configuration)
		}
	}
}

func TestAPIcastFileFormat(t *testing.T) {
	tests := []struct {
		name             string
		data             string
		apicast, lenient bool
		ids              []string // the services kept
		warnings         []string
		problems         []string
	}{
		{
			name: "an APIcast file skips a duplicate service id with a warning",
			data: `{"id": 7, "provider_key": "k", "timestamp": "2024-01-01T00:00:00Z", "oidc": [],
"services": [{"id": 1, "proxy": {"hosts": ["a.test"]}}, {"id": 2, "proxy": {"hosts": ["b.test"]}},
             {"id": 1, "proxy": {"hosts": ["a.test", "c.test"]}}]}`,
			apicast: true, lenient: true, ids: []string{"1", "2"},
			warnings: []string{`gw.yaml:3:14: services[2].id: service id "1" is used again (first at services[0]): this service is skipped, as APIcast does`},
		},
		{
			name:    "strict: true refuses the duplicate",
			data:    `{"services": [{"id": 1}, {"id": 1}], "strict": true}`,
			apicast: true, problems: []string{`services[1].id: service id "1" is used twice`},
		},
		{
			name:    "strict: false is APIcast's way spelled out",
			data:    `{"strict": false, "services": [{"id": 1}, {"id": 1}]}`,
			apicast: true, lenient: true, ids: []string{"1"}, warnings: []string{`services[1].id: service id "1" is used again`},
		},
		{
			name:     "a JSON object with a key of Verdict's is Verdict's format",
			data:     `{"listen": {"gateway": "127.0.0.1:0"}, "services": [{"id": 1}, {"id": 1}]}`,
			problems: []string{`services[1].id: service id "1" is used twice`},
		},
		{
			name:     "YAML is Verdict's format",
			data:     "services:\n  - id: 1\n  - id: 1\n",
			problems: []string{`services[1].id: service id "1" is used twice`},
		},
		{
			name:     "APIcast's top-level keys are unknown in Verdict's format",
			data:     "provider_key: k\nservices: []\n",
			problems: []string{"provider_key: unknown field"},
		},
		{
			name:     "strict: false in Verdict's format",
			data:     "strict: false\nservices: [{id: 1}]\n",
			problems: []string{"strict: only an APIcast file (a JSON object of services) is loaded leniently"},
		},
		{
			name: "strict: true in Verdict's format says what is true anyway",
			data: "strict: true\nservices: [{id: 1}]\n",
			ids:  []string{"1"},
		},
		{
			name: "a JSON object without services is not an APIcast file",
			data: `{"oidc": []}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Parse("gw.yaml", []byte(tt.data))
			if len(tt.problems) > 0 {
				if err == nil {
					t.Fatal("no error")
				}
				for _, w := range tt.problems {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("problems lack %q:\n%v", w, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			g := ConfigOf(cfg)
			if g.APIcast != tt.apicast || g.Lenient != tt.lenient {
				t.Errorf("APIcast %v, Lenient %v; want %v, %v", g.APIcast, g.Lenient, tt.apicast, tt.lenient)
			}
			var ids []string
			for _, s := range g.Services {
				ids = append(ids, s.ID)
			}
			if strings.Join(ids, ",") != strings.Join(tt.ids, ",") {
				t.Errorf("services %v, want %v", ids, tt.ids)
			}
			if len(g.Warnings) != len(tt.warnings) {
				t.Fatalf("warnings %v, want %v", g.Warnings, tt.warnings)
			}
			for i, w := range tt.warnings {
				if !strings.Contains(g.Warnings[i].Error(), w) {
					t.Errorf("warning %q lacks %q", g.Warnings[i], w)
				}
			}
		})
	}
}
