package rethink

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/verdict-policy/verdict/pdl"
)

// The example policy pack for the 33 control points of the Connector call
// flow, and its sample messages.
const (
	pcpPolicies = "../examples/rethink/pcp/policies.json"
	pcpMessages = "../examples/rethink/pcp/messages.yaml"
)

type pcpSample struct {
	PCP        string         `yaml:"pcp"`
	Name       string         `yaml:"name"`
	Direction  string         `yaml:"direction"`
	Attributes map[string]any `yaml:"attributes"`
	Message    any            `yaml:"message"`
	Want       struct {
		Decision string `yaml:"decision"`
		Forward  bool   `yaml:"forward"`
		Message  any    `yaml:"message"`
	} `yaml:"want"`
}

// pcpPack loads the pack's document, an enforcer over it with a fixed
// clock, and the samples.
func pcpPack(tb testing.TB) (*Enforcer, *clock, []pcpSample) {
	tb.Helper()
	doc, err := pdl.CompileFile(pcpPolicies, Options())
	if err != nil {
		tb.Fatalf("the pack does not compile: %v", err)
	}
	c := newClock()
	e, err := New(doc, Config{Domain: "hjiang-rethink.com", DomainRegistry: registry, Now: c.Now, State: NewMemoryState(0, c.Now)})
	if err != nil {
		tb.Fatal(err)
	}
	data, err := os.ReadFile(pcpMessages)
	if err != nil {
		tb.Fatal(err)
	}
	var samples []pcpSample
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&samples); err != nil {
		tb.Fatalf("%s: %v", pcpMessages, err)
	}
	return e, c, samples
}

// sampleMessage decodes a sample's message as JSON, as a node would send it.
func sampleMessage(tb testing.TB, s pcpSample) (Message, Direction, map[string]any) {
	tb.Helper()
	b, err := jsonMarshal(s.Message)
	if err != nil {
		tb.Fatal(err)
	}
	m, err := ParseMessage(b)
	if err != nil {
		tb.Fatalf("PCP %s %s: %v", s.PCP, s.Name, err)
	}
	dir, err := ParseDirection(s.Direction)
	if err != nil {
		tb.Fatal(err)
	}
	attrs, err := overrides(s.Attributes)
	if err != nil {
		tb.Fatal(err)
	}
	return m, dir, attrs
}

func TestPCPPack(t *testing.T) {
	e, _, samples := pcpPack(t)
	seen := map[string]bool{}
	for _, s := range samples {
		seen[s.PCP] = true
		m, dir, attrs := sampleMessage(t, s)
		r := NewAnswer(e.DecideWith(context.Background(), m, dir, attrs))
		where := fmt.Sprintf("PCP %s, %s", s.PCP, s.Name)
		if r.Decision != s.Want.Decision || r.Forward != s.Want.Forward {
			t.Errorf("%s: %s (forward %v, path %q, error %q), want %s (forward %v)",
				where, r.Decision, r.Forward, r.Path, r.Error, s.Want.Decision, s.Want.Forward)
		}
		if r.Forward {
			if auth := r.Message["body"].(map[string]any)["auth"]; auth != (r.Decision == "permit") {
				t.Errorf("%s: body.auth = %v", where, auth)
			}
		} else if r.Reply == nil || r.Reply["id"] != m["id"] {
			t.Errorf("%s: blocked without a reply to the sender: %v", where, r.Reply)
		}
		if s.Want.Message != nil {
			b, _ := jsonMarshal(s.Want.Message)
			if got, want := canonical(t, mustJSON(t, r.Message)), canonical(t, b); got != want {
				t.Errorf("%s: forwarded\n got  %s\n want %s", where, got, want)
			}
		}
	}
	for i := 1; i <= 33; i++ {
		if !seen[fmt.Sprint(i)] {
			t.Errorf("no sample message for PCP %d", i)
		}
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := jsonMarshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// BenchmarkPCP decides each sample message of the pack, attribute
// extraction and obligations included. The message is decided again and
// again in place, and the clock moves two seconds each time, so that a
// runtime's allocation requests stay at a realistic rate (under the
// pack's limit of 50 a minute) rather than piling up in one instant.
func BenchmarkPCP(b *testing.B) {
	e, c, samples := pcpPack(b)
	// Replay once so that the registry cache is as the call flow leaves it.
	for _, s := range samples {
		m, dir, attrs := sampleMessage(b, s)
		e.DecideWith(context.Background(), m, dir, attrs)
	}
	ctx := context.Background()
	done := map[string]bool{}
	for _, s := range samples {
		if done[s.PCP] || s.Attributes != nil {
			continue // one sample per control point
		}
		done[s.PCP] = true
		m, dir, _ := sampleMessage(b, s)
		b.Run(fmt.Sprintf("PCP%02s-%s", s.PCP, s.Direction), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.Advance(2 * time.Second)
				e.Decide(ctx, m, dir)
			}
		})
	}
}
