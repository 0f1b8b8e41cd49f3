package rethink

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/verdict-policy/verdict/pdl"
)

// Addresses of the Connector call flow the tests use.
const (
	chiangRuntime = "runtime://hjiang-rethink.com/aa783972-3fd5-21d1-adb5-3bdcac0908bd"
	chiangHyperty = "hyperty://hjiang-rethink.com/15d26d52-5d56-44f5-b5f3-8bd48a9249d4"
	chiangUser    = "user://gmail.com/chiang.zju"
	johenRuntime  = "runtime://hjiang-rethink.com/ee4fa2a0-ff25-4bd0-8a3d-6a0e8ef057fe"
	johenHyperty  = "hyperty://hjiang-rethink.com/6a54377c-b292-4287-9a83-039b0ad77b31"
	johenUser     = "user://gmail.com/he.johen"
	registry      = "domain://registry.hjiang-rethink.com/"
	connector     = "hyperty-catalogue://catalogue.hjiang-rethink.com/.well-known/hyperty/Connector"
)

// clock is a settable clock for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock {
	// A Tuesday morning.
	return &clock{t: time.Date(2026, 11, 24, 10, 30, 15, 0, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// msg decodes a message written as JSON in a test.
func msg(t testing.TB, s string) Message {
	t.Helper()
	m, err := ParseMessage([]byte(s))
	if err != nil {
		t.Fatalf("bad test message: %v\n%s", err, s)
	}
	return m
}

// compile compiles a document written against the vocabulary.
func compile(t testing.TB, src string) *pdl.Document {
	t.Helper()
	doc, err := pdl.Compile(Options(), pdl.Source{Name: "test.json", Data: []byte(src)})
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return doc
}

// permitAll is a document that permits every message.
const permitAll = `{"effect": "permit"}`

// register runs a hyperty registration and the registry's 200 answer
// through e, so that the registry cache learns the hyperty.
func register(t testing.TB, e *Enforcer, id int, runtime, hyperty, user string, expires int) {
	t.Helper()
	req := Message{"id": float64(id), "type": "create", "from": runtime + "/registry/", "to": registry,
		"body": map[string]any{"value": map[string]any{
			"user": user, "descriptor": connector, "url": hyperty, "expires": float64(expires),
			"resources": []any{"audio", "video"}, "dataSchemes": []any{"connection"},
			"runtime": runtime, "status": "live"}}}
	if r := e.Decide(context.Background(), req, Ingress); !r.Forward {
		t.Fatalf("registration blocked: %+v", r)
	}
	resp := Message{"id": float64(id), "type": "response", "from": registry, "to": runtime + "/registry/",
		"body": map[string]any{"code": float64(200)}}
	if r := e.Decide(context.Background(), resp, Egress); !r.Forward {
		t.Fatalf("registration answer blocked: %+v", r)
	}
}

// jsonText encodes v for comparisons and failure messages.
func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
