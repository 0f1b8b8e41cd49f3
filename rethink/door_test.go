package rethink

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/verdict-policy/verdict/config"
	"github.com/verdict-policy/verdict/internal/redistest"
)

// rules deny a registration once the user holds two.
const rules = `[
  {"target": {"msgType": {"equals": "registration"}, "actType": {"equals": "create"}},
   "condition": {"userRegistries": {"moreThan": 1}}, "effect": "deny"},
  {"effect": "permit"}]`

// load writes rules and a configuration with the given extra sections and
// loads both.
func load(t *testing.T, extra string) (*config.Config, []config.Document) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rules.json"), []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "verdict.yaml")
	data := "policies:\n  mn: {path: rules.json, vocabulary: rethink}\n  plain: rules.json\n" + extra
	if err := os.WriteFile(file, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	docs, err := cfg.Compile()
	if err != nil {
		t.Fatal(err)
	}
	return cfg, docs
}

func prepared(t *testing.T, extra string) *Door {
	t.Helper()
	cfg, docs := load(t, extra)
	d := NewDoor(nil, nil)
	install, err := d.Prepare(cfg, docs)
	if err != nil {
		t.Fatal(err)
	}
	install()
	t.Cleanup(func() {
		if d.st != nil {
			d.st.Close()
		}
	})
	return d
}

// decide posts one message and returns the decision and whether it was
// forwarded.
func decide(t *testing.T, h http.Handler, message, direction string) (string, bool) {
	t.Helper()
	rec := httptest.NewRecorder()
	body := `{"message": ` + message + `, "direction": "` + direction + `"}`
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/messages/decide", strings.NewReader(body)))
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var a struct {
		Decision string
		Forward  bool
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil {
		t.Fatal(err)
	}
	return a.Decision, a.Forward
}

func registration(id, hyperty string) string {
	return `{"id": ` + id + `, "type": "create", "from": "runtime://d.com/r/registry/", "to": "domain://registry.d.com/",
	  "body": {"value": {"user": "user://gmail.com/u", "url": "hyperty://d.com/` + hyperty + `", "expires": 60, "runtime": "runtime://d.com/r"}}}`
}

func accepted(id string) string {
	return `{"id": ` + id + `, "type": "response", "from": "domain://registry.d.com/", "to": "runtime://d.com/r/registry/", "body": {"code": 200}}`
}

func TestDoorServesTheConfiguredDocument(t *testing.T) {
	d := prepared(t, "messages: {policy: mn, domain: d.com}\n")
	if got := d.Patterns(); len(got) != 2 {
		t.Fatalf("patterns %v", got)
	}
	for i, h := range []string{"a", "b"} {
		id := string(rune('1' + i))
		if dec, fwd := decide(t, d, registration(id, h), "ingress"); dec != "permit" || !fwd {
			t.Fatalf("registration %s: %s %v", h, dec, fwd)
		}
		decide(t, d, accepted(id), "egress")
	}
	if dec, fwd := decide(t, d, registration("3", "c"), "ingress"); dec != "deny" || fwd {
		t.Errorf("third registration: %s %v, want deny", dec, fwd)
	}
}

// Two Verdict instances serving one messaging-node cluster share their
// state through Redis: what one learns, the other enforces.
func TestDoorsShareRedis(t *testing.T) {
	srv := redistest.Start(t)
	extra := "messages: {policy: mn, domain: d.com}\nstore: {redis: {url: \"" + srv.URL() + "\", key_prefix: \"door-test:\"}}\n"
	a, b := prepared(t, extra), prepared(t, extra)
	decide(t, a, registration("1", "a"), "ingress")
	decide(t, b, accepted("1"), "egress")
	decide(t, b, registration("2", "b"), "ingress")
	decide(t, a, accepted("2"), "egress")
	for name, d := range map[string]*Door{"a": a, "b": b} {
		if dec, _ := decide(t, d, registration("3", "c"), "ingress"); dec != "deny" {
			t.Errorf("instance %s: third registration %s, want deny", name, dec)
		}
	}
}

func TestDoorConfigurationErrors(t *testing.T) {
	tests := []struct{ extra, want string }{
		{"messages: {policy: nothing}\n", `messages.policy: no policy document named "nothing"; the documents are: mn, plain`},
		{"messages: {policy: plain}\n", `document "plain" must declare vocabulary: rethink`},
	}
	for _, tt := range tests {
		cfg, docs := load(t, tt.extra)
		_, err := NewDoor(nil, nil).Prepare(cfg, docs)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want one containing %q", tt.extra, err, tt.want)
		}
		if err != nil && !strings.Contains(err.Error(), "verdict.yaml:") {
			t.Errorf("the error does not name the file: %v", err)
		}
	}
}

func TestDoorWithoutMessagesSection(t *testing.T) {
	d := prepared(t, "")
	rec := httptest.NewRecorder()
	d.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/messages/decide", strings.NewReader(`{"message": {}}`)))
	if rec.Code != 404 || !strings.Contains(rec.Body.String(), "not_configured") {
		t.Errorf("%d %s", rec.Code, rec.Body)
	}
}

// A reload that keeps the store section keeps the state.
func TestDoorReloadKeepsState(t *testing.T) {
	cfg, docs := load(t, "messages: {policy: mn, domain: d.com}\n")
	d := NewDoor(nil, nil)
	install, err := d.Prepare(cfg, docs)
	if err != nil {
		t.Fatal(err)
	}
	install()
	defer func() { d.st.Close() }()
	for i, h := range []string{"a", "b"} {
		id := string(rune('1' + i))
		decide(t, d, registration(id, h), "ingress")
		decide(t, d, accepted(id), "egress")
	}
	st := d.st
	install, err = d.Prepare(cfg, docs)
	if err != nil {
		t.Fatal(err)
	}
	install()
	if d.st != st {
		t.Error("the reload opened a new store")
	}
	if dec, _ := decide(t, d, registration("3", "c"), "ingress"); dec != "deny" {
		t.Errorf("after the reload: %s, want deny", dec)
	}
}

// The built-in configuration enforces the seed's rules on messages.
func TestDoorBuiltInConfiguration(t *testing.T) {
	cfg, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}
	docs, err := cfg.Compile()
	if err != nil {
		t.Fatal(err)
	}
	d := NewDoor(nil, nil)
	install, err := d.Prepare(cfg, docs)
	if err != nil {
		t.Fatal(err)
	}
	install()
	defer d.st.Close()
	request := `{"id": 1, "type": "create",
	  "from": "runtime://hjiang-rethink.com/aa783972-3fd5-21d1-adb5-3bdcac0908bd/address-allocation",
	  "to": "domain://msg-node.hjiang-rethink.com/address-allocation", "body": {"value": {"number": 2}}}`
	if dec, fwd := decide(t, d, request, "ingress"); dec != "deny" || fwd {
		t.Errorf("a request for two addresses: %s %v, want deny", dec, fwd)
	}
	reply := `{"id": 1, "type": "response", "from": "domain://msg-node.hjiang-rethink.com/address-allocation",
	  "to": "runtime://hjiang-rethink.com/aa783972-3fd5-21d1-adb5-3bdcac0908bd/address-allocation",
	  "body": {"code": 200, "value": {"allocated": ["hyperty://hjiang-rethink.com/a", "hyperty://hjiang-rethink.com/b"]}}}`
	if dec, fwd := decide(t, d, reply, "egress"); dec != "permit" || !fwd {
		t.Errorf("a reply with two addresses: %s %v, want permit", dec, fwd)
	}
}
