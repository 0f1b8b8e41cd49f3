package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"github.com/verdict-policy/verdict/api"
	"github.com/verdict-policy/verdict/internal/processtest"
)

var verdict processtest.Binary

func TestMain(m *testing.M) {
	code := m.Run()
	verdict.Remove()
	os.Exit(code)
}

// spec is one OpenAPI document, decoded, with a compiler for the
// schemas in it.
type spec struct {
	name     string
	doc      map[string]any
	compiler *jsonschema.Compiler
	url      string
}

// methods are the operation keys of a path item.
var methods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

func loadSpec(t *testing.T, name string) *spec {
	t.Helper()
	data, ok := api.Document(name)
	if !ok {
		t.Fatalf("no document %s", name)
	}
	var generic any
	if err := yaml.Unmarshal(data, &generic); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	// Through JSON, as a JSON client would read it: YAML-only values
	// (non-string keys, timestamps) fail here.
	js, err := json.Marshal(generic)
	if err != nil {
		t.Fatalf("%s is not JSON-compatible: %v", name, err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		t.Fatal(err)
	}
	s := &spec{name: name, doc: doc.(map[string]any), compiler: jsonschema.NewCompiler(), url: "file:///" + name}
	s.compiler.DefaultDraft(jsonschema.Draft2020)
	if err := s.compiler.AddResource(s.url, doc); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return s
}

// resolve follows a local $ref of an OpenAPI object (a path item, a
// response, a parameter), returning the object and its JSON pointer.
func (s *spec) resolve(t *testing.T, v any, ptr string) (map[string]any, string) {
	t.Helper()
	m, _ := v.(map[string]any)
	for i := 0; m != nil && i < 10; i++ {
		ref, ok := m["$ref"].(string)
		if !ok {
			return m, ptr
		}
		ptr = strings.TrimPrefix(ref, "#")
		var cur any = s.doc
		for _, tok := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
			tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
			cur = cur.(map[string]any)[tok]
		}
		if cur == nil {
			t.Fatalf("%s: $ref %s resolves to nothing", s.name, ref)
		}
		m, _ = cur.(map[string]any)
	}
	return m, ptr
}

func escape(tok string) string {
	return strings.ReplaceAll(strings.ReplaceAll(tok, "~", "~0"), "/", "~1")
}

// operation is one documented method of one path.
type operation struct {
	id, method, template string
	responses            map[string]any
	ptr                  string // JSON pointer of the operation
}

func (s *spec) operations(t *testing.T) []operation {
	t.Helper()
	var ops []operation
	paths, _ := s.doc["paths"].(map[string]any)
	for template, item := range paths {
		pi, ptr := s.resolve(t, item, "/paths/"+escape(template))
		for _, m := range methods {
			op, ok := pi[m].(map[string]any)
			if !ok {
				continue
			}
			id, _ := op["operationId"].(string)
			responses, _ := op["responses"].(map[string]any)
			ops = append(ops, operation{id: id, method: strings.ToUpper(m), template: template, responses: responses, ptr: ptr + "/" + m})
		}
	}
	return ops
}

// match reports whether the request path fits the path template, whose
// {name} segments stand for one non-empty segment each.
func match(template, p string) bool {
	ts, ps := strings.Split(template, "/"), strings.Split(p, "/")
	if len(ts) != len(ps) {
		return false
	}
	for i := range ts {
		if strings.HasPrefix(ts[i], "{") && strings.HasSuffix(ts[i], "}") {
			if ps[i] == "" {
				return false
			}
			continue
		}
		if ts[i] != ps[i] {
			return false
		}
	}
	return true
}

// find returns the operation serving method and path. A literal path
// wins over a template.
func (s *spec) find(t *testing.T, method, p string) (operation, bool) {
	var found []operation
	for _, op := range s.operations(t) {
		if op.method == method && match(op.template, p) {
			found = append(found, op)
		}
	}
	slices.SortFunc(found, func(a, b operation) int { return strings.Count(a.template, "{") - strings.Count(b.template, "{") })
	if len(found) == 0 {
		return operation{}, false
	}
	return found[0], true
}

// TestDocuments checks the documents' own shape: OpenAPI 3.1, a unique
// operationId and at least one response for every operation, every
// $ref resolving, and every schema compiling as JSON Schema 2020-12.
func TestDocuments(t *testing.T) {
	for _, name := range api.Names() {
		t.Run(name, func(t *testing.T) {
			s := loadSpec(t, name)
			if v, _ := s.doc["openapi"].(string); !strings.HasPrefix(v, "3.1.") {
				t.Errorf("openapi = %q, want 3.1.x", v)
			}
			ids := map[string]bool{}
			for _, op := range s.operations(t) {
				if op.id == "" || ids[op.id] {
					t.Errorf("%s %s: operationId %q is missing or not unique", op.method, op.template, op.id)
				}
				ids[op.id] = true
				if len(op.responses) == 0 {
					t.Errorf("%s %s: no responses", op.method, op.template)
				}
				for status, r := range op.responses {
					resp, ptr := s.resolve(t, r, op.ptr+"/responses/"+status)
					if _, ok := resp["description"].(string); !ok {
						t.Errorf("%s %s %s: a response needs a description", op.method, op.template, status)
					}
					content, _ := resp["content"].(map[string]any)
					for mt := range content {
						if _, err := s.compiler.Compile(s.url + "#" + ptr + "/content/" + escape(mt) + "/schema"); err != nil {
							t.Errorf("%s %s %s %s: %v", op.method, op.template, status, mt, err)
						}
					}
				}
			}
			schemas, _ := s.doc["components"].(map[string]any)["schemas"].(map[string]any)
			for name := range schemas {
				if _, err := s.compiler.Compile(s.url + "#/components/schemas/" + escape(name)); err != nil {
					t.Errorf("components.schemas.%s: %v", name, err)
				}
			}
		})
	}
}

// exchange is one request to a running server and what the documents
// must say about the answer.
type exchange struct {
	name    string
	doc     string // policy.yaml or admin.yaml
	method  string
	path    string
	headers map[string]string
	body    string
	status  int
}

// Tokens signed with the example HS256 secret: root is an admin, joe a
// viewer.
const (
	adminToken  = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJyb290Iiwicm9sZSI6ImFkbWluIn0.zf7pMh3T2LjCCPQ02dJJO-uyY59qkh9HkiG4HjQ9KXM"
	viewerToken = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJqb2UiLCJyb2xlIjoidmlld2VyIn0.FMuzcXybeXSLONXANPFHvsWjQsPMEcrKrO9-IlZCM-Q"
)

const rethinkMessage = `{"direction": "egress", "message": {"id": 1, "type": "response",
  "from": "domain://msg-node.hjiang-rethink.com/address-allocation",
  "to": "runtime://hjiang-rethink.com/aa783972-3fd5-21d1-adb5-3bdcac0908bd/address-allocation",
  "body": {"code": 200, "value": {"allocated": ["hyperty://hjiang-rethink.com/a", "hyperty://hjiang-rethink.com/b"]}}}}`

// server is a running verdict serve and its listeners.
type server struct{ policy, admin string }

// startServer serves the configuration file cfg after moving its
// listeners to free loopback ports and making the paths that fields name
// absolute against dir.
func startServer(t *testing.T, cfgFile string, paths ...string) server {
	t.Helper()
	data, err := os.ReadFile(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	srv := server{policy: processtest.FreeAddr(t), admin: processtest.FreeAddr(t)}
	cfg := processtest.SetField(t, string(data), "listen", map[string]any{"policy": srv.policy, "admin": srv.admin})
	var root map[string]any
	if err := yaml.Unmarshal([]byte(cfg), &root); err != nil {
		t.Fatal(err)
	}
	for _, field := range paths {
		var cur any = root
		for _, part := range strings.Split(field, ".") {
			cur = cur.(map[string]any)[part]
		}
		if m, ok := cur.(map[string]any); ok {
			cur = m["path"]
			field += ".path"
		}
		p, ok := cur.(string)
		if !ok {
			t.Fatalf("%s: %s is not a path", cfgFile, field)
		}
		cfg = processtest.SetField(t, cfg, field, filepath.Join(filepath.Dir(cfgFile), p))
	}
	file := filepath.Join(t.TempDir(), "verdict.yaml")
	if err := os.WriteFile(file, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	processtest.Start(t, verdict.Path(t), file, srv.admin)
	return srv
}

// TestAnswersMatchDocuments starts real servers (the built-in example
// configuration, the Pexip example, and a small configuration without
// optional sections), sends good and bad requests to every documented
// operation, and checks each answer against the documents: the status
// is documented for the operation, required headers are there, the
// content type is a documented one, and a JSON body validates against
// its schema. Every operation must be exercised.
func TestAnswersMatchDocuments(t *testing.T) {
	root := processtest.ModuleRoot(t)
	examples := filepath.Join(root, "examples")
	full := startServer(t, filepath.Join(examples, "verdict.yaml"),
		"policies.rethink", "policies.authz", "policies.authzen", "policies.pexip")
	px := startServer(t, filepath.Join(examples, "pexip", "verdict.yaml"),
		"policies.pexip", "pexip.tables.vmr", "pexip.tables.device", "pexip.tables.phonebook", "pexip.avatars.dir")

	dir := t.TempDir()
	rules := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rules, []byte("- {id: open, effect: permit}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	smallCfg := filepath.Join(dir, "small.yaml")
	if err := os.WriteFile(smallCfg, []byte("limits: {max_body_bytes: 200}\npolicies:\n  rules: rules.yaml\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	small := startServer(t, smallCfg, "policies.rules")

	specs := map[string]*spec{}
	for _, name := range api.Names() {
		specs[name] = loadSpec(t, name)
	}
	exercised := map[string]bool{}
	big := `{"policy": "rules", "input": {"padding": "` + strings.Repeat("x", 300) + `"}}`
	cases := []struct {
		srv server
		exchange
	}{
		{full, exchange{"decide", "policy.yaml", "POST", "/v1/decide", nil, `{"policy": "rethink", "input": {"msgType": "addressAllocation", "actType": "create", "valueNumber": 2}}`, 200}},
		{full, exchange{"decide with a trace", "policy.yaml", "POST", "/v1/decide", nil, `{"policy": "rethink", "input": {"msgType": "discovery"}, "explain": true}`, 200}},
		{full, exchange{"decide with obligations", "policy.yaml", "POST", "/v1/decide", nil, `{"policy": "rethink", "input": {"msgType": "addressAllocation", "actType": "response", "valueAllocated": ["a", "b"]}}`, 200}},
		{full, exchange{"decide: bad JSON", "policy.yaml", "POST", "/v1/decide", nil, `{"policy": `, 400}},
		{full, exchange{"decide: unknown field", "policy.yaml", "POST", "/v1/decide", nil, `{"policy": "rethink", "input": {}, "inputs": 1}`, 400}},
		{full, exchange{"decide: no input", "policy.yaml", "POST", "/v1/decide", nil, `{"policy": "rethink"}`, 400}},
		{full, exchange{"decide: unknown document", "policy.yaml", "POST", "/v1/decide", nil, `{"policy": "nope", "input": {}}`, 404}},
		{full, exchange{"decide: GET", "policy.yaml", "GET", "/v1/decide", nil, "", 405}},
		{small, exchange{"decide: too large", "policy.yaml", "POST", "/v1/decide", nil, big, 413}},
		{full, exchange{"documents", "policy.yaml", "GET", "/v1/policies", nil, "", 200}},
		{full, exchange{"documents: POST", "policy.yaml", "POST", "/v1/policies", nil, "", 405}},

		{full, exchange{"message", "policy.yaml", "POST", "/v1/messages/decide", nil, rethinkMessage, 200}},
		{full, exchange{"message: bad direction", "policy.yaml", "POST", "/v1/messages/decide", nil, `{"direction": "sideways", "message": {}}`, 400}},
		{full, exchange{"message: GET", "policy.yaml", "GET", "/v1/messages/decide", nil, "", 405}},
		{small, exchange{"message: not configured", "policy.yaml", "POST", "/v1/messages/decide", nil, rethinkMessage, 404}},
		{full, exchange{"message batch", "policy.yaml", "POST", "/v1/messages/decide-batch", nil, "[" + rethinkMessage + `, {"direction": "egress", "message": {"id": 2, "type": "create", "from": "a://b", "to": "c://d"}}]`, 200}},
		{full, exchange{"message batch: not a list", "policy.yaml", "POST", "/v1/messages/decide-batch", nil, `{}`, 400}},

		{full, exchange{"envoy: read", "policy.yaml", "GET", "/v1/authz/envoy/orders", nil, "", 200}},
		{full, exchange{"envoy: HEAD", "policy.yaml", "HEAD", "/v1/authz/envoy/orders", nil, "", 200}},
		{full, exchange{"envoy: delete without a token", "policy.yaml", "DELETE", "/v1/authz/envoy/orders", nil, "", 401}},
		{full, exchange{"envoy: delete as a viewer", "policy.yaml", "DELETE", "/v1/authz/envoy/orders", map[string]string{"Authorization": "Bearer " + viewerToken}, "", 403}},
		{full, exchange{"envoy: delete as an admin", "policy.yaml", "DELETE", "/v1/authz/envoy/orders", map[string]string{"Authorization": "Bearer " + adminToken}, "", 200}},
		{full, exchange{"envoy: POST", "policy.yaml", "POST", "/v1/authz/envoy/orders", map[string]string{"Authorization": "Bearer " + adminToken}, `{"x": 1}`, 200}},
		{full, exchange{"envoy: PUT", "policy.yaml", "PUT", "/v1/authz/envoy/orders", nil, "", 401}},
		{full, exchange{"envoy: PATCH", "policy.yaml", "PATCH", "/v1/authz/envoy/orders", map[string]string{"Authorization": "Bearer " + viewerToken}, "", 403}},
		{full, exchange{"envoy: OPTIONS", "policy.yaml", "OPTIONS", "/v1/authz/envoy/orders", nil, "", 401}},
		{full, exchange{"nginx: read", "policy.yaml", "GET", "/v1/authz/nginx", map[string]string{"X-Original-URI": "/orders/7"}, "", 200}},
		{full, exchange{"nginx: delete as a viewer", "policy.yaml", "GET", "/v1/authz/nginx", map[string]string{"X-Original-URI": "/orders/7", "X-Original-Method": "DELETE", "Authorization": "Bearer " + viewerToken}, "", 403}},
		{full, exchange{"nginx: delete without a token", "policy.yaml", "GET", "/v1/authz/nginx", map[string]string{"X-Original-URI": "/orders/7", "X-Original-Method": "DELETE"}, "", 401}},
		{full, exchange{"nginx: no original URI", "policy.yaml", "GET", "/v1/authz/nginx", nil, "", 400}},
		{full, exchange{"forward: read", "policy.yaml", "GET", "/v1/authz/forward", map[string]string{"X-Forwarded-Uri": "/orders/7", "X-Forwarded-Method": "GET"}, "", 200}},
		{full, exchange{"forward: delete as a viewer", "policy.yaml", "GET", "/v1/authz/forward", map[string]string{"X-Forwarded-Uri": "/orders/7", "X-Forwarded-Method": "DELETE", "Authorization": "Bearer " + viewerToken}, "", 403}},
		{full, exchange{"forward: delete without a token", "policy.yaml", "GET", "/v1/authz/forward", map[string]string{"X-Forwarded-Uri": "/orders/7", "X-Forwarded-Method": "DELETE"}, "", 401}},

		{full, exchange{"authzen: permit", "policy.yaml", "POST", "/access/v1/evaluation", nil, `{"subject": {"type": "user", "id": "ann", "properties": {"role": "admin"}}, "action": {"name": "delete"}, "resource": {"type": "order", "id": "7"}}`, 200}},
		{full, exchange{"authzen: no subject id", "policy.yaml", "POST", "/access/v1/evaluation", nil, `{"subject": {"type": "user"}, "action": {"name": "read"}}`, 400}},
		{full, exchange{"authzen: GET", "policy.yaml", "GET", "/access/v1/evaluation", nil, "", 405}},
		{small, exchange{"authzen: not configured", "policy.yaml", "POST", "/access/v1/evaluation", nil, `{}`, 404}},
		{full, exchange{"authzen batch", "policy.yaml", "POST", "/access/v1/evaluations", nil, `{"subject": {"type": "user", "id": "joe"}, "resource": {"type": "order", "id": "7"}, "evaluations": [{"action": {"name": "read"}}, {"action": {"name": "delete"}}]}`, 200}},
		{full, exchange{"authzen batch: stop at the first deny", "policy.yaml", "POST", "/access/v1/evaluations", nil, `{"subject": {"type": "user", "id": "joe"}, "resource": {"type": "order", "id": "7"}, "evaluations": [{"action": {"name": "delete"}}, {"action": {"name": "read"}}], "options": {"evaluations_semantic": "deny_on_first_deny"}}`, 200}},
		{full, exchange{"authzen batch: bad semantic", "policy.yaml", "POST", "/access/v1/evaluations", nil, `{"subject": {"type": "user", "id": "joe"}, "action": {"name": "read"}, "options": {"evaluations_semantic": "sometimes"}}`, 400}},
		{full, exchange{"authzen configuration", "policy.yaml", "GET", "/.well-known/authzen-configuration", nil, "", 200}},
		{full, exchange{"authzen configuration: POST", "policy.yaml", "POST", "/.well-known/authzen-configuration", nil, "", 405}},

		{full, exchange{"pexip: a VMR", "policy.yaml", "GET", "/policy/v1/service/configuration?protocol=sip&local_alias=sip%3Amy-vmr-conference%40example.com%3Btransport%3Dtls", nil, "", 200}},
		{full, exchange{"pexip: no rule", "policy.yaml", "GET", "/policy/v1/service/configuration?protocol=sip&local_alias=sip%3Aother%40example.com", nil, "", 404}},
		{full, exchange{"pexip: bad query", "policy.yaml", "GET", "/policy/v1/service/configuration?local_alias=%zz", nil, "", 400}},
		{full, exchange{"pexip: POST", "policy.yaml", "POST", "/policy/v1/service/configuration", nil, "", 405}},
		{px, exchange{"pexip: participant properties", "policy.yaml", "GET", "/policy/v1/participant/properties?local_alias=meet.alice%40example.com&remote_alias=sip%3Abob%40example.com&protocol=sip&call_direction=dial_in", nil, "", 200}},
		{full, exchange{"pexip: media location", "policy.yaml", "GET", "/policy/v1/participant/location?local_alias=x", nil, "", 404}},
		{px, exchange{"pexip: registration", "policy.yaml", "GET", "/policy/v1/registrations/room1%40example.com?registration_alias=room1%40example.com&protocol=sip", nil, "", 200}},
		{full, exchange{"pexip: registration, no rule", "policy.yaml", "GET", "/policy/v1/registrations/alice", nil, "", 404}},
		{px, exchange{"pexip: directory", "policy.yaml", "GET", "/policy/v1/registrations?q=al&limit=5", nil, "", 200}},
		{px, exchange{"pexip: directory, bad limit", "policy.yaml", "GET", "/policy/v1/registrations?q=al&limit=many", nil, "", 400}},
		{px, exchange{"pexip: avatar", "policy.yaml", "GET", "/policy/v1/participant/avatar/alice%40example.com?width=40&height=30", nil, "", 200}},
		{px, exchange{"pexip: no avatar", "policy.yaml", "GET", "/policy/v1/participant/avatar/nobody?width=40&height=30", nil, "", 404}},
		{px, exchange{"pexip: avatar, bad width", "policy.yaml", "GET", "/policy/v1/participant/avatar/alice?width=0&height=30", nil, "", 400}},

		{full, exchange{"metrics", "admin.yaml", "GET", "/metrics", nil, "", 200}},
		{full, exchange{"health", "admin.yaml", "GET", "/healthz", nil, "", 200}},
		{full, exchange{"ready", "admin.yaml", "GET", "/readyz", nil, "", 200}},
		{full, exchange{"reload", "admin.yaml", "POST", "/v1/reload", nil, "", 200}},
		{full, exchange{"reload: GET", "admin.yaml", "GET", "/v1/reload", nil, "", 405}},
		{full, exchange{"chain policies", "admin.yaml", "GET", "/v1/policies", nil, "", 200}},
		{full, exchange{"chain policies: POST", "admin.yaml", "POST", "/v1/policies", nil, "", 405}},
		{full, exchange{"openapi: policy", "admin.yaml", "GET", "/openapi/policy.yaml", nil, "", 200}},
		{full, exchange{"openapi: admin", "admin.yaml", "GET", "/openapi/admin.yaml", nil, "", 200}},
		{full, exchange{"openapi: unknown", "admin.yaml", "GET", "/openapi/other.yaml", nil, "", 404}},
		{full, exchange{"openapi: POST", "admin.yaml", "POST", "/openapi/admin.yaml", nil, "", 405}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			addr := c.srv.policy
			if c.doc == "admin.yaml" {
				addr = c.srv.admin
			}
			id := check(t, specs[c.doc], addr, c.exchange)
			exercised[c.doc+" "+id] = true
		})
	}

	// A reload that fails: the small server's rules become invalid.
	if err := os.WriteFile(rules, []byte("- {id: broken, effect: maybe}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Run("reload: a broken policy", func(t *testing.T) {
		id := check(t, specs["admin.yaml"], small.admin, exchange{"reload: a broken policy", "admin.yaml", "POST", "/v1/reload", nil, "", 422})
		exercised["admin.yaml "+id] = true
	})

	for name, s := range specs {
		for _, op := range s.operations(t) {
			if !exercised[name+" "+op.id] {
				t.Errorf("%s: %s %s (%s) is never exercised", name, op.method, op.template, op.id)
			}
		}
	}
}

// check sends the exchange's request and checks the answer against the
// document; it returns the operation's id.
func check(t *testing.T, s *spec, addr string, x exchange) string {
	t.Helper()
	u := "http://" + addr + x.path
	var body io.Reader
	if x.body != "" {
		body = strings.NewReader(x.body)
	}
	req, err := http.NewRequest(x.method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if x.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range x.headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != x.status {
		t.Fatalf("%s %s: status %d, want %d\n%s", x.method, x.path, resp.StatusCode, x.status, got)
	}

	reqPath, _, _ := strings.Cut(x.path, "?")
	op, ok := s.find(t, x.method, reqPath)
	if !ok && resp.StatusCode == http.StatusMethodNotAllowed {
		// A method the path does not serve: the path's operations
		// document the 405.
		for _, m := range methods {
			if other, found := s.find(t, strings.ToUpper(m), reqPath); found {
				op, ok = other, true
				op.id = ""
				break
			}
		}
	}
	if !ok {
		t.Fatalf("%s documents no %s %s", s.name, x.method, reqPath)
	}
	status := strconv.Itoa(resp.StatusCode)
	raw, ok := op.responses[status]
	if !ok {
		raw, ok = op.responses["default"]
	}
	if !ok {
		t.Fatalf("%s: %s %s (%s) documents no %s response\n%s", s.name, x.method, op.template, op.id, status, got)
	}
	r, ptr := s.resolve(t, raw, op.ptr+"/responses/"+status)
	headers, _ := r["headers"].(map[string]any)
	for name, h := range headers {
		if req, _ := h.(map[string]any)["required"].(bool); req && resp.Header.Get(name) == "" {
			t.Errorf("%s %s %s: the required header %s is missing", x.method, op.template, status, name)
		}
	}
	content, _ := r["content"].(map[string]any)
	if len(content) == 0 {
		if len(got) > 0 && x.method != "HEAD" {
			t.Errorf("%s %s %s: the document gives no content, the answer has %d bytes: %s", x.method, op.template, status, len(got), got)
		}
		return op.id
	}
	if x.method == "HEAD" {
		return op.id
	}
	mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("%s %s %s: Content-Type %q: %v", x.method, op.template, status, resp.Header.Get("Content-Type"), err)
	}
	if _, ok := content[mt]; !ok {
		t.Fatalf("%s %s %s: Content-Type %s is not documented (%v)", x.method, op.template, status, mt, keys(content))
	}
	if mt != "application/json" {
		if len(got) == 0 {
			t.Errorf("%s %s %s: an empty %s body", x.method, op.template, status, mt)
		}
		return op.id
	}
	sch, err := s.compiler.Compile(s.url + "#" + ptr + "/content/" + escape(mt) + "/schema")
	if err != nil {
		t.Fatalf("%s %s %s: %v", x.method, op.template, status, err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(got))
	if err != nil {
		t.Fatalf("%s %s %s: the body is not JSON: %v\n%s", x.method, op.template, status, err, got)
	}
	if err := sch.Validate(v); err != nil {
		t.Errorf("%s %s %s: the body does not match the document:\n%s\n%v", x.method, op.template, status, got, err)
	}
	return op.id
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
