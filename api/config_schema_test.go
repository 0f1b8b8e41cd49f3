package api_test

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"github.com/verdict-policy/verdict/config"
	"github.com/verdict-policy/verdict/internal/processtest"
	// The server registers every front door's configuration section.
	_ "github.com/verdict-policy/verdict/server"
)

// configKeys are the top-level fields of a configuration file: a YAML
// document whose keys are all among them is taken for one.
var configKeys = []string{"listen", "limits", "store", "policies", "messages", "pexip", "authz",
	"services", "policy_chain", "gateway", "policy_load_path", "oidc"}

// configSchema compiles docs/config.schema.json.
func configSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	path := filepath.Join(processtest.ModuleRoot(t), "docs", "config.schema.json")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("config.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("config.schema.json")
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return sch
}

// jsonValue decodes a YAML or JSON configuration into the JSON data
// model the schema validates.
func jsonValue(data []byte) (any, error) {
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		return nil, err
	}
	js, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return jsonschema.UnmarshalJSON(bytes.NewReader(js))
}

// looksLikeConfig reports whether data is a mapping whose keys are all
// top-level configuration fields.
func looksLikeConfig(data []byte) bool {
	var m map[string]any
	if err := yaml.Unmarshal(data, &m); err != nil || len(m) == 0 {
		return false
	}
	for k := range m {
		if !slices.Contains(configKeys, k) {
			return false
		}
	}
	return true
}

// configSample is a configuration found in the repository.
type configSample struct {
	where string
	data  []byte
}

var fenced = regexp.MustCompile("(?s)```(?:yaml|json)\n(.*?)```")

// configSamples gathers the configurations the repository holds: files
// under examples/, testdata/ and deploy/, the ConfigMaps' files, the
// fenced YAML and JSON of the README and docs/, and the seeds of the
// configuration fuzzers.
func configSamples(t *testing.T) []configSample {
	t.Helper()
	root := processtest.ModuleRoot(t)
	var out []configSample
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := filepath.ToSlash(strings.TrimPrefix(p, root+string(filepath.Separator)))
		if d.IsDir() {
			if strings.HasPrefix(d.Name(), ".") && p != root {
				return filepath.SkipDir
			}
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		switch {
		case strings.HasSuffix(rel, ".md"):
			for i, m := range fenced.FindAllSubmatch(data, -1) {
				out = append(out, configSample{rel + " block " + strconv.Itoa(i+1), m[1]})
			}
		case strings.Contains(rel, "/testdata/fuzz/FuzzLoad/") || strings.Contains(rel, "/testdata/fuzz/FuzzGatewaySections/"):
			for _, line := range strings.Split(string(data), "\n") {
				if q, ok := strings.CutPrefix(line, "[]byte("); ok {
					if s, err := strconv.Unquote(strings.TrimSuffix(q, ")")); err == nil {
						out = append(out, configSample{rel, []byte(s)})
					}
				}
			}
		case strings.HasPrefix(rel, "deploy/kubernetes/"):
			var cm struct {
				Kind string            `yaml:"kind"`
				Data map[string]string `yaml:"data"`
			}
			if yaml.Unmarshal(data, &cm) == nil && cm.Kind == "ConfigMap" {
				for k, v := range cm.Data {
					out = append(out, configSample{rel + " " + k, []byte(v)})
				}
			}
		case (strings.HasPrefix(rel, "examples/") || strings.HasPrefix(rel, "deploy/") || strings.Contains(rel, "/testdata/")) &&
			(strings.HasSuffix(rel, ".yaml") || strings.HasSuffix(rel, ".yml") || strings.HasSuffix(rel, ".json")):
			out = append(out, configSample{rel, data})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestConfigSchemaAcceptsWhatLoads checks the schema against every
// configuration the repository holds: each that Verdict's loader accepts
// must validate. Configurations the loader refuses (fuzz seeds of bad
// files, fragments) are counted, not checked.
func TestConfigSchemaAcceptsWhatLoads(t *testing.T) {
	sch := configSchema(t)
	t.Setenv("VERDICT_JWT_SECRET", "a-secret-of-thirty-two-bytes-xxx")
	t.Setenv("PEXIP_POLICY_PASSWORD", "secret")
	accepted, refused := 0, 0
	for _, s := range configSamples(t) {
		if !looksLikeConfig(s.data) {
			continue
		}
		name := "verdict.yaml"
		if bytes.HasPrefix(bytes.TrimSpace(s.data), []byte("{")) {
			name = "verdict.json"
		}
		if _, err := config.Parse(filepath.Join(t.TempDir(), name), s.data); err != nil {
			refused++
			t.Logf("skipped, the loader refuses %s: %v", s.where, err)
			continue
		}
		accepted++
		v, err := jsonValue(s.data)
		if err != nil {
			t.Errorf("%s: %v", s.where, err)
			continue
		}
		if err := sch.Validate(v); err != nil {
			t.Errorf("%s loads, but the schema refuses it:\n%s\n%v", s.where, s.data, err)
		}
	}
	t.Logf("%d configurations load and validate; %d the loader refuses were skipped", accepted, refused)
	if accepted < 20 {
		t.Errorf("only %d configurations found that load: the search for them is broken", accepted)
	}
}

// TestConfigSchemaRefusesBadConfigs checks that configurations Verdict
// refuses, one mistake each, are refused by the schema too.
func TestConfigSchemaRefusesBadConfigs(t *testing.T) {
	sch := configSchema(t)
	tests := []struct{ name, yaml string }{
		{"unknown top-level field", "listn: {policy: \":3000\"}\n"},
		{"address without a port", "listen: {admin: localhost}\n"},
		{"address as a number", "listen: {policy: 3000}\n"},
		{"address with a bad port", "listen: {policy: \"127.0.0.1:http\"}\n"},
		{"listen unknown field", "listen: {metrics: \":9090\"}\n"},
		{"body size zero", "limits: {max_body_bytes: 0}\n"},
		{"body size with a unit", "limits: {max_body_bytes: 1MB}\n"},
		{"body size fractional", "limits: {max_body_bytes: 1.5}\n"},
		{"connections zero", "limits: {policy: {max_connections: 0}}\n"},
		{"body timeout not a duration", "limits: {policy: {body_timeout: fast}}\n"},
		{"body timeout on the admin listener", "limits: {admin: {body_timeout: 1s}}\n"},
		{"two stores", "store: {memory: {}, redis: {url: \"redis://127.0.0.1:6379/0\"}}\n"},
		{"redis without url", "store: {redis: {pool_size: 3}}\n"},
		{"redis with an http url", "store: {redis: {url: \"http://127.0.0.1:6379\"}}\n"},
		{"redis with settings in the query", "store: {redis: {url: \"redis://127.0.0.1:6379/0?pool=3\"}}\n"},
		{"unknown store", "store: {disk: {}}\n"},
		{"redis timeout without a unit", "store: {redis: {url: \"redis://r:6379/0\", dial_timeout: \"5\"}}\n"},
		{"key prefix with a space", "store: {redis: {url: \"redis://r:6379/0\", key_prefix: \"a b\"}}\n"},
		{"table entries zero", "store: {memory: {max_table_entries: 0}}\n"},
		{"document name with a space", "policies: {\"my doc\": a.json}\n"},
		{"document without a path", "policies: {a: {vocabulary: rethink}}\n"},
		{"unknown vocabulary", "policies: {a: {path: a.json, vocabulary: xacml}}\n"},
		{"document as a number", "policies: {a: 42}\n"},
		{"messages flag as text", "messages: {defaultBehavior: \"yes\"}\n"},
		{"messages port zero", "messages: {port: 0}\n"},
		{"messages domain with a slash", "messages: {domain: \"a/b\"}\n"},
		{"messages batch zero", "messages: {limits: {batch: 0}}\n"},
		{"pexip overflow", "pexip: {overflow: both}\n"},
		{"pexip avatar fallback continue", "pexip: {fallback: {participant_avatar: continue}}\n"},
		{"pexip unknown request type", "pexip: {fallback: {conference: continue}}\n"},
		{"pexip base path without a slash", "pexip: {base_path: pexip}\n"},
		{"pexip table with path and store", "pexip: {tables: {vmr: {path: vmrs.csv, store: vmrs}}}\n"},
		{"pexip table of text", "pexip: {tables: {vmr: {path: vmrs.txt}}}\n"},
		{"pexip basic auth without username", "pexip: {basic_auth: {password: x}}\n"},
		{"pexip basic auth with two passwords", "pexip: {basic_auth: {username: u, password: x, password_file: p}}\n"},
		{"pexip tls without key", "pexip: {tls: {listen: \":8443\", cert_file: c.pem}}\n"},
		{"pexip avatar url without alias", "pexip: {avatars: {url: \"https://img.example.com/x.png\"}}\n"},
		{"pexip directory results", "pexip: {directory: {max_results: 0}}\n"},
		{"authz jwt without a key", "authz: {jwt: {issuer: me}}\n"},
		{"authz jwt secret too short", "authz: {jwt: {hs256_secret: short}}\n"},
		{"authz jwt two keys", "authz: {jwt: {hs256_secret: \"0123456789abcdef\", public_key: k.pem}}\n"},
		{"authz nginx header with a space", "authz: {nginx: {uri_header: \"X Original\"}}\n"},
		{"authz unknown adapter", "authz: {istio: {policy: a}}\n"},
		{"service backend not http", "services: [{proxy: {api_backend: \"ftp://x\"}}]\n"},
		{"service id a list", "services: [{id: [1], proxy: {}}]\n"},
		{"service hosts empty", "services: [{proxy: {hosts: []}}]\n"},
		{"service host with a port", "services: [{proxy: {hosts: [\"a.example.com:80\"]}}]\n"},
		{"mapping rule without a slash", "services: [{proxy: {proxy_rules: [{pattern: items}]}}]\n"},
		{"mapping rule without a pattern", "services: [{proxy: {proxy_rules: [{http_method: GET}]}}]\n"},
		{"service fail status", "services: [{proxy: {fail_status: 99}}]\n"},
		{"services a mapping", "services: {a: 1}\n"},
		{"chain entry without a name", "policy_chain: [{version: builtin}]\n"},
		{"chain entry unknown field", "policy_chain: [{name: cors, config: {}}]\n"},
		{"chain configuration a list", "policy_chain: [{name: cors, configuration: []}]\n"},
		{"chain entry enabled as text", "policy_chain: [{name: cors, enabled: \"no\"}]\n"},
		{"gateway fail status", "gateway: {fail_status: 700}\n"},
		{"gateway timeout without a unit", "gateway: {connect_timeout: \"10\"}\n"},
		{"gateway header bytes too small", "gateway: {max_header_bytes: 100}\n"},
		{"policy load path a number", "policy_load_path: 42\n"},
		{"policy load path empty name", "policy_load_path: [\" \"]\n"},
		{"policy load path instructions zero", "policy_load_path: {paths: [lua], instructions: 0}\n"},
		{"oidc a mapping", "oidc: {issuer: x}\n"},
		{"a list at the top", "- listen: {}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := config.Parse(filepath.Join(t.TempDir(), "verdict.yaml"), []byte(tt.yaml)); err == nil {
				t.Fatalf("Verdict loads %q: not a bad configuration", tt.yaml)
			}
			v, err := jsonValue([]byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if err := sch.Validate(v); err == nil {
				t.Errorf("the schema accepts %q, which Verdict refuses", tt.yaml)
			}
		})
	}
}
