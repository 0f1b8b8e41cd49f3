package chain

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// recorder logs every phase it sees and acts as its configuration says.
type recorder struct {
	name   string
	log    *[]string
	action string // "exit:<phase>", "exitphase:<phase>", "panic:<phase>", "error:<phase>", "content", "pass"
}

func (r *recorder) note(phase string) bool {
	*r.log = append(*r.log, r.name+"."+phase)
	return strings.HasSuffix(r.action, ":"+phase)
}

func (r *recorder) act(c *Context, phase string) error {
	if !r.note(phase) {
		return nil
	}
	switch {
	case strings.HasPrefix(r.action, "exit:"):
		c.Exit(403, "no")
	case strings.HasPrefix(r.action, "exitphase:"):
		c.ExitPhase()
	case strings.HasPrefix(r.action, "panic:"):
		panic("boom")
	case strings.HasPrefix(r.action, "error:"):
		return errors.New("broken")
	}
	return nil
}

func (r *recorder) Rewrite(c *Context) error { return r.act(c, "rewrite") }
func (r *recorder) Access(c *Context) error  { return r.act(c, "access") }
func (r *recorder) Content(c *Context) (bool, error) {
	if err := r.act(c, "content"); err != nil {
		return false, err
	}
	if r.action == "content" {
		c.Respond(200, nil, []byte(r.name))
		return true, nil
	}
	return false, nil
}
func (r *recorder) HeaderFilter(c *Context) error { return r.act(c, "header_filter") }
func (r *recorder) PostAction(c *Context) error   { return r.act(c, "post_action") }
func (r *recorder) Log(c *Context) error          { return r.act(c, "log") }

var testLog []string

func init() {
	Register(Factory{Name: "test_recorder", Version: BuiltinVersion,
		New: func(cfg json.RawMessage, env Env) (Policy, error) {
			var c struct{ Name, Action string }
			if err := json.Unmarshal(cfg, &c); err != nil {
				return nil, err
			}
			if c.Action == "refuse" {
				return nil, errors.New("refused")
			}
			return &recorder{name: c.Name, action: c.Action, log: &testLog}, nil
		}})
}

func entry(name, action string) Entry {
	cfg, _ := json.Marshal(map[string]string{"name": name, "action": action})
	return Entry{Name: "test_recorder", Configuration: cfg}
}

// run drives a request through every request phase as the gateway does.
func run(t *testing.T, ch *Chain) (*Context, []string) {
	t.Helper()
	testLog = nil
	c := NewContext(httptest.NewRequest("GET", "http://Example.COM:8080/a?b=1", nil), "127.0.0.1", nil, ch.Exports())
	ch.Rewrite(c)
	ch.Access(c)
	ch.Content(c)
	ch.HeaderFilter(c)
	ch.PostAction(c)
	ch.Log(c)
	return c, slices.Clone(testLog)
}

func TestPhaseSemantics(t *testing.T) {
	tests := []struct {
		name    string
		entries []Entry
		want    string
		status  int
		body    string
	}{
		{"phase major", []Entry{entry("a", "pass"), entry("b", "content")},
			"a.rewrite b.rewrite a.access b.access a.content b.content a.header_filter b.header_filter a.post_action b.post_action a.log b.log", 200, "b"},
		{"first content producer wins", []Entry{entry("a", "content"), entry("b", "content")},
			"a.rewrite b.rewrite a.access b.access a.content a.header_filter b.header_filter a.post_action b.post_action a.log b.log", 200, "a"},
		{"exit in rewrite skips later request phases", []Entry{entry("a", "exit:rewrite"), entry("b", "content")},
			"a.rewrite a.header_filter b.header_filter a.post_action b.post_action a.log b.log", 403, "no"},
		{"exit in access", []Entry{entry("a", "pass"), entry("b", "exit:access"), entry("c", "content")},
			"a.rewrite b.rewrite c.rewrite a.access b.access a.header_filter b.header_filter c.header_filter a.post_action b.post_action c.post_action a.log b.log c.log", 403, "no"},
		{"exit phase ends only the phase", []Entry{entry("a", "exitphase:rewrite"), entry("b", "content")},
			"a.rewrite a.access b.access a.content b.content a.header_filter b.header_filter a.post_action b.post_action a.log b.log", 200, "b"},
		{"panic fails closed", []Entry{entry("a", "panic:access"), entry("b", "content")},
			"a.rewrite b.rewrite a.access a.header_filter b.header_filter a.post_action b.post_action a.log b.log", 503, ""},
		{"error fails closed", []Entry{entry("a", "pass"), entry("b", "error:rewrite"), entry("c", "content")},
			"a.rewrite b.rewrite a.header_filter b.header_filter c.header_filter a.post_action b.post_action c.post_action a.log b.log c.log", 503, ""},
		{"no content", []Entry{entry("a", "pass")},
			"a.rewrite a.access a.content a.header_filter a.post_action a.log", 0, ""},
		{"error in log does not change the response", []Entry{entry("a", "error:log"), entry("b", "content")},
			"a.rewrite b.rewrite a.access b.access a.content b.content a.header_filter b.header_filter a.post_action b.post_action a.log b.log", 200, "b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch, err := Build(tt.entries, Env{})
			if err != nil {
				t.Fatal(err)
			}
			c, log := run(t, ch)
			if got := strings.Join(log, " "); got != tt.want {
				t.Errorf("phases:\n got %s\nwant %s", got, tt.want)
			}
			if c.Response.Status != tt.status || string(c.Response.Body) != tt.body {
				t.Errorf("response %d %q, want %d %q", c.Response.Status, c.Response.Body, tt.status, tt.body)
			}
		})
	}
}

func TestComposeAtServiceChain(t *testing.T) {
	global, err := Build([]Entry{entry("g1", "pass"), {Name: ServiceChain}, entry("g2", "pass")}, Env{})
	if err != nil {
		t.Fatal(err)
	}
	service, err := Build([]Entry{entry("s1", "content")}, Env{})
	if err != nil {
		t.Fatal(err)
	}
	_, log := run(t, Compose(global, service))
	if got := strings.Join(log[:3], " "); got != "g1.rewrite s1.rewrite g2.rewrite" {
		t.Errorf("rewrite order %s", got)
	}
	noMarker, _ := Build([]Entry{entry("g1", "pass")}, Env{})
	_, log = run(t, Compose(noMarker, service))
	if got := strings.Join(log[:2], " "); got != "g1.rewrite s1.rewrite" {
		t.Errorf("rewrite order without marker %s", got)
	}
}

func TestBuildReportsEveryProblem(t *testing.T) {
	_, err := Build([]Entry{{Name: "nope"}, entry("x", "refuse"), {Name: "test_recorder", Configuration: json.RawMessage(`[1]`)}}, Env{})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"policy_chain[0] (nope): unknown policy", "policy_chain[1] (test_recorder): refused", "policy_chain[2]"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestContextOriginal(t *testing.T) {
	c := NewContext(httptest.NewRequest("GET", "http://Example.COM:8080/a?b=1", nil), "10.0.0.1", nil, map[string]any{"k": "export"})
	if c.Original.Host != "example.com" || c.Original.Path != "/a" || c.Original.RawQuery != "b=1" || c.Original.URI != "/a?b=1" {
		t.Errorf("original %+v", c.Original)
	}
	if v, _ := c.Get("k"); v != "export" {
		t.Errorf("export %v", v)
	}
	c.Set("k", "mine")
	if v, _ := c.Get("k"); v != "mine" {
		t.Errorf("request value should win over export, got %v", v)
	}
}

func TestNewContextCopiesTheRequest(t *testing.T) {
	r := httptest.NewRequest("GET", "http://example.com/a?b=1", nil)
	r.Header.Set("X-A", "1")
	c := NewContext(r, "10.0.0.1", nil, nil)
	c.Request.Header.Set("X-A", "2")
	c.Request.URL.Path = "/changed"
	if r.Header.Get("X-A") != "1" || r.URL.Path != "/a" {
		t.Errorf("policies changed the client's request: %v %s", r.Header, r.URL.Path)
	}
	if c.Original.Header.Get("X-A") != "1" || c.Original.Path != "/a" {
		t.Errorf("original changed: %+v", c.Original)
	}
	if c.Request.Context() != r.Context() {
		t.Error("the copy lost the request's context")
	}
}

func TestHas(t *testing.T) {
	ch, err := Build([]Entry{entry("a", "pass")}, Env{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[Phase]bool{PhaseRewrite: true, PhaseAccess: true, PhaseContent: true, PhaseHeaderFilter: true,
		PhasePostAction: true, PhaseLog: true}
	for _, p := range Phases() {
		if got := ch.Has(p); got != want[p] {
			t.Errorf("Has(%s) = %v, want %v", p, got, want[p])
		}
	}
	empty, _ := Build(nil, Env{})
	if empty.Has(PhaseRewrite) {
		t.Error("an empty chain has a rewrite phase")
	}
}

type closable struct{ closed *bool }

func (c closable) Close() error { *c.closed = true; return nil }

func TestFailedBuildClosesBuiltPolicies(t *testing.T) {
	closed := false
	Register(Factory{Name: "test_closable", Version: BuiltinVersion,
		New: func(json.RawMessage, Env) (Policy, error) { return closable{&closed}, nil }})
	if _, err := Build([]Entry{{Name: "test_closable"}, {Name: "no_such_policy"}}, Env{}); err == nil {
		t.Fatal("no error")
	}
	if !closed {
		t.Error("the policy built before the failing entry was not closed")
	}
}

func TestBuildTolerantDropsWhatCannotBeBuilt(t *testing.T) {
	entries := []Entry{{Name: "nope"}, entry("a", "pass"), entry("x", "refuse"),
		{Name: "test_recorder", Configuration: json.RawMessage(`[1]`)}, entry("b", "content")}
	c, dropped, err := BuildTolerant(entries, Env{})
	if err != nil {
		t.Fatalf("BuildTolerant: %v", err)
	}
	if got := strings.Join(c.Names(), " "); got != "test_recorder test_recorder" {
		t.Errorf("chain %q, want the two good entries", got)
	}
	var at []int
	for _, p := range dropped {
		at = append(at, p.Index)
	}
	if !slices.Equal(at, []int{0, 2, 3}) {
		t.Errorf("dropped entries %v, want 0, 2 and 3", at)
	}
	if !slices.Equal(c.Dropped(), dropped) {
		t.Errorf("Dropped() = %v, want %v", c.Dropped(), dropped)
	}
	// The rest of the chain runs.
	ctx, log := run(t, c)
	if string(ctx.Response.Body) != "b" || !slices.Contains(log, "a.rewrite") {
		t.Errorf("response %q, log %v", ctx.Response.Body, log)
	}
	// A composed chain carries the drops of both parts.
	global, gDropped, err := BuildTolerant([]Entry{{Name: "ghost"}, {Name: ServiceChain}, entry("g", "pass")}, Env{})
	if err != nil || len(gDropped) != 1 {
		t.Fatalf("global: %v, %v", gDropped, err)
	}
	if n := len(Compose(global, c).Dropped()); n != 4 {
		t.Errorf("composed chain remembers %d drops, want 4", n)
	}
	// A problem of the whole chain is still an error.
	if _, _, err := BuildTolerant([]Entry{{Name: ServiceChain}, {Name: ServiceChain}}, Env{}); err == nil {
		t.Error("two service_chain markers were accepted")
	}
	// Build keeps refusing the same entries.
	if _, err := Build(entries, Env{}); err == nil {
		t.Error("Build accepted entries that cannot be built")
	}
}

// guard is a FailureGuard answering 418.
type guard struct{}

func (guard) FailureStatus() int { return 418 }

func init() {
	Register(Factory{Name: "test_guard", Version: BuiltinVersion,
		New: func(json.RawMessage, Env) (Policy, error) { return guard{}, nil }})
}

func TestFailureGuard(t *testing.T) {
	tests := []struct {
		name    string
		entries []Entry
		status  int
		log     string
	}{
		{"a dropped policy: refused before any policy, filters and log run",
			[]Entry{entry("a", "content"), {Name: "nope"}, {Name: "test_guard"}}, 418, "a.header_filter a.post_action a.log"},
		{"a failure in access takes the guard's status",
			[]Entry{{Name: "test_guard"}, entry("a", "error:access")}, 418, "a.rewrite a.access a.header_filter a.post_action a.log"},
		{"nothing dropped, nothing failing",
			[]Entry{{Name: "test_guard"}, entry("a", "content")}, 200, "a.rewrite a.access a.content a.header_filter a.post_action a.log"},
		{"a drop without a guard runs the rest",
			[]Entry{{Name: "nope"}, entry("a", "content")}, 200, "a.rewrite a.access a.content a.header_filter a.post_action a.log"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := BuildTolerant(tt.entries, Env{})
			if err != nil {
				t.Fatal(err)
			}
			c.SetFailStatus(500)
			if !c.Has(PhaseRewrite) {
				t.Fatal("Has(rewrite) is false")
			}
			ctx, log := run(t, c)
			if ctx.Response.Status != tt.status || strings.Join(log, " ") != tt.log {
				t.Errorf("status %d, log %q; want %d, %q", ctx.Response.Status, strings.Join(log, " "), tt.status, tt.log)
			}
		})
	}
}
