package rethink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/verdict-policy/verdict/internal/redistest"
	"github.com/verdict-policy/verdict/pdl"
	"github.com/verdict-policy/verdict/store"
)

// stateDoc reads the two state attributes into advice, so a test can see
// their values on any message.
const stateDoc = `{"effect": "permit", "obligations": {"info": "{{userRegistries | size}} {{addrAllastMin}}"}}`

// observe returns userRegistries' length and addrAllastMin for a message
// from runtime about user, as the enforcer sees them.
func observe(t *testing.T, e *Enforcer, runtime, user string, allocate bool) string {
	t.Helper()
	m := Message{"id": float64(1), "type": "read", "from": runtime + "/registry/", "to": registry,
		"body": map[string]any{"value": map[string]any{"user": user}}}
	if allocate {
		m = Message{"id": float64(1), "type": "create", "from": runtime + "/address-allocation",
			"to": "domain://msg-node.hjiang-rethink.com/address-allocation", "body": map[string]any{"value": map[string]any{"number": float64(1)}}}
	}
	r := e.Decide(context.Background(), m, Ingress)
	if r.Decision.Effect != pdl.Permit || len(r.Decision.Advice) != 1 {
		t.Fatalf("observe: %+v", r)
	}
	return r.Decision.Advice[0].Params.(string)
}

func newEnforcer(t *testing.T, st State, now func() time.Time) *Enforcer {
	t.Helper()
	e, err := New(compile(t, stateDoc), Config{Domain: "hjiang-rethink.com", State: st, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// stateBehaviour checks what the node learns, on two enforcers that share
// one state (two Verdict instances behind one messaging-node cluster).
// advance moves the state's clock.
func stateBehaviour(t *testing.T, a, b *Enforcer, advance func(time.Duration)) {
	// A registration through one instance, answered through the other.
	register(t, a, 1, chiangRuntime, chiangHyperty, chiangUser, 2)
	req := Message{"id": float64(2), "type": "create", "from": chiangRuntime + "/registry/", "to": registry,
		"body": map[string]any{"value": map[string]any{"user": chiangUser, "url": chiangHyperty + "-2",
			"expires": float64(3600), "runtime": chiangRuntime}}}
	if r := a.Decide(context.Background(), req, Ingress); !r.Forward {
		t.Fatalf("registration blocked: %+v", r)
	}
	resp := Message{"id": float64(2), "type": "response", "from": registry, "to": chiangRuntime + "/registry/",
		"body": map[string]any{"code": float64(200)}}
	if r := b.Decide(context.Background(), resp, Egress); !r.Forward {
		t.Fatalf("answer blocked: %+v", r)
	}
	for _, e := range []*Enforcer{a, b} {
		if got := observe(t, e, johenRuntime, chiangUser, false); got != "2 0" {
			t.Errorf("after two registrations: userRegistries, addrAllastMin = %s, want 2 0", got)
		}
	}
	// srcUsername of the runtime comes from the cache on both instances.
	for _, e := range []*Enforcer{a, b} {
		at := new(attributes)
		at.reset(e, context.Background(), Message{"id": 1.0, "type": "read", "from": chiangHyperty, "to": registry}, Ingress, nil)
		if u, err := at.Attribute("srcUsername"); err != nil || u != "chiang.zju@gmail.com" {
			t.Errorf("srcUsername = %v, %v", u, err)
		}
	}
	// Allocation requests count on both instances.
	want := []string{"0 1", "0 2", "0 3"}
	for i, e := range []*Enforcer{a, b, a} {
		if got := observe(t, e, johenRuntime, "", true); got != want[i] {
			t.Errorf("allocation %d: %s, want %s", i+1, got, want[i])
		}
	}
	// The first registration expires after 2 s; the allocations leave the
	// window after a minute.
	advance(2500 * time.Millisecond)
	if got := observe(t, b, johenRuntime, chiangUser, false); got != "1 3" {
		t.Errorf("after the first registration expired: %s, want 1 3", got)
	}
	if got := observe(t, a, chiangRuntime, "", true); got != "0 1" {
		t.Errorf("another runtime's allocations: %s, want 0 1", got)
	}
}

func TestStateInMemory(t *testing.T) {
	c := newClock()
	st := NewMemoryState(0, c.Now)
	stateBehaviour(t, newEnforcer(t, st, c.Now), newEnforcer(t, st, c.Now), c.Advance)
	c.Advance(time.Minute)
	if got := observe(t, newEnforcer(t, st, c.Now), johenRuntime, "", true); got != "0 1" {
		t.Errorf("a minute later: %s, want 0 1", got)
	}
}

func TestStateInStoreMemory(t *testing.T) {
	c := newClock()
	st := store.NewMemory(store.MemoryOptions{Now: c.Now, SweepInterval: -1})
	defer st.Close()
	stateBehaviour(t, newEnforcer(t, st, c.Now), newEnforcer(t, st, c.Now), c.Advance)
}

func TestStateInRedis(t *testing.T) {
	srv := redistest.Start(t)
	open := func() store.Store {
		st, err := store.NewRedis(context.Background(), store.RedisOptions{URL: srv.URL(), KeyPrefix: "test:"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	// Redis keeps time itself: advancing means waiting.
	stateBehaviour(t, newEnforcer(t, open(), nil), newEnforcer(t, open(), nil), time.Sleep)
}

// failingState fails every operation, as a store does when Redis is down.
type failingState struct{}

var errDown = fmt.Errorf("connection refused: %w", store.ErrUnavailable)

func (failingState) AddEvent(context.Context, string, time.Duration) (int64, error) {
	return 0, errDown
}
func (failingState) CountEvents(context.Context, string, time.Duration) (int64, error) {
	return 0, errDown
}
func (failingState) TablePut(context.Context, string, string, []byte, time.Duration) error {
	return errDown
}
func (failingState) TableGet(context.Context, string, string) ([]byte, bool, error) {
	return nil, false, errDown
}
func (failingState) TableDelete(context.Context, string, string) error { return errDown }
func (failingState) TableAll(context.Context, string) (map[string][]byte, error) {
	return nil, errDown
}

func TestStateFailureFailsClosed(t *testing.T) {
	e, err := New(compile(t, `[
	  {"target": {"msgType": {"equals": "addressAllocation"}}, "condition": {"addrAllastMin": {"moreThan": 50}}, "effect": "deny"},
	  {"target": {"msgType": {"equals": "registration"}}, "condition": {"userRegistries": {"moreThan": 100}}, "effect": "deny"},
	  {"effect": "permit"}]`), Config{Domain: "hjiang-rethink.com", State: failingState{}})
	if err != nil {
		t.Fatal(err)
	}
	alloc := Message{"id": 1.0, "type": "create", "from": chiangRuntime + "/address-allocation",
		"to": "domain://msg-node.hjiang-rethink.com/address-allocation", "body": map[string]any{"value": map[string]any{"number": 1.0}}}
	reg := Message{"id": 2.0, "type": "create", "from": chiangRuntime + "/registry/", "to": registry,
		"body": map[string]any{"value": map[string]any{"user": chiangUser, "url": chiangHyperty}}}
	for _, m := range []Message{alloc, reg} {
		r := e.Decide(context.Background(), m, Ingress)
		if r.Forward || r.Decision.Effect != pdl.Indeterminate || r.Reply == nil {
			t.Errorf("with the state down: %+v, want a blocked indeterminate decision with a reply", r)
		}
		if body := r.Reply["body"].(map[string]any); body["code"] != 403 {
			t.Errorf("reply code %v, want 403", body["code"])
		}
	}
	// A message whose decision does not need the state still passes;
	// learning from it fails quietly.
	upd := Message{"id": 3.0, "type": "update", "from": "hyperty://hjiang-rethink.com/a", "to": "hyperty://hjiang-rethink.com/b"}
	if r := e.Decide(context.Background(), upd, Ingress); !r.Forward {
		t.Errorf("a message that needs no state was blocked: %+v", r)
	}
	if !errors.Is(errDown, store.ErrUnavailable) {
		t.Fatal("errDown must wrap store.ErrUnavailable")
	}
}

func TestMemoryStateIsBounded(t *testing.T) {
	c := newClock()
	st := NewMemoryState(10, c.Now)
	ctx := context.Background()
	for i := range 10 {
		if err := st.TablePut(ctx, "t", fmt.Sprint(i), []byte("x"), time.Second); err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}
	if err := st.TablePut(ctx, "t", "one too many", []byte("x"), time.Second); !errors.Is(err, ErrStateFull) {
		t.Fatalf("put beyond the bound: %v, want ErrStateFull", err)
	}
	if _, err := st.AddEvent(ctx, "k", time.Minute); !errors.Is(err, ErrStateFull) {
		t.Fatalf("event beyond the bound: %v, want ErrStateFull", err)
	}
	c.Advance(2 * time.Second)
	// Expired entries are reclaimed to make room.
	if err := st.TablePut(ctx, "t", "after expiry", []byte("x"), time.Second); err != nil {
		t.Fatalf("put after expiry: %v", err)
	}
	if n := st.Len(); n != 1 {
		t.Errorf("Len = %d after the sweep, want 1", n)
	}
	if all, _ := st.TableAll(ctx, "t"); len(all) != 1 {
		t.Errorf("TableAll = %v, want the one live entry", all)
	}
	if _, ok, _ := st.TableGet(ctx, "t", "0"); ok {
		t.Error("an expired entry is still returned")
	}
	if err := st.TableDelete(ctx, "t", "after expiry"); err != nil || st.Len() != 0 {
		t.Errorf("delete: %v, Len %d", err, st.Len())
	}
	// Events leave their window.
	for range 3 {
		st.AddEvent(ctx, "k", time.Minute)
	}
	c.Advance(61 * time.Second)
	if n, _ := st.CountEvents(ctx, "k", time.Minute); n != 0 {
		t.Errorf("events after the window: %d, want 0", n)
	}
	if n := st.Len(); n != 0 {
		t.Errorf("Len = %d once the events left the window, want 0", n)
	}
}

func TestRegistryEntryEncoding(t *testing.T) {
	for _, e := range []RegistryEntry{
		{HypertyID: "hyperty://d/h"},
		{UserID: chiangUser, HypertyID: chiangHyperty, Runtime: chiangRuntime, Descriptor: connector,
			Resources: []any{"audio", "video"}, DataSchemes: []any{"connection"}, Status: "live", Expires: 3600},
		{HypertyID: "hyperty://d/\"quoted\"\n", Resources: []any{1.5, true, nil, map[string]any{"a": "b"}}},
	} {
		want, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if got := e.encode(nil); string(got) != string(want) {
			t.Errorf("encode:\n got  %s\n want %s", got, want)
		}
	}
}

// A permit whose obligations cannot all be applied blocks the message and
// leaves it as it was, even when an earlier obligation could be applied.
func TestFailedObligationLeavesMessageUnchanged(t *testing.T) {
	e, err := New(compile(t, `{"effect": "permit", "obligations": {
	  "limitByNumberOfEntries": {"valueAllocated": 1},
	  "limitByConditionOfEntries": {"bodyValue": {"descriptor": {"nosuchoperator": 1}}}}}`), Config{})
	if err != nil {
		t.Fatal(err)
	}
	m := msg(t, `{"id": 1, "type": "response", "from": "domain://msg-node.d/address-allocation", "to": "runtime://d/r/address-allocation",
	  "body": {"value": {"allocated": ["a", "b", "c"]}}}`)
	before := jsonText(m)
	r := e.Decide(context.Background(), m, Egress)
	if r.Forward || r.Reply == nil || !strings.Contains(r.Error, `unknown operator "nosuchoperator"`) {
		t.Fatalf("%+v", r)
	}
	if after := jsonText(m); after != before {
		t.Errorf("the blocked message changed:\n before %s\n after  %s", before, after)
	}
}
