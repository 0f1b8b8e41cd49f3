package config

import (
	"errors"
	"testing"
)

// FuzzLoad feeds arbitrary bytes to the configuration loader. It must never
// panic, and it must either return a configuration that satisfies every
// validation rule or problems that each name the file and say something.
func FuzzLoad(f *testing.F) {
	f.Add([]byte("listen: {policy: \"127.0.0.1:3000\", admin: \"127.0.0.1:9421\"}\npolicies:\n  rethink: {path: rethink/policies.json, vocabulary: rethink}\n"))
	f.Add([]byte(`{"limits": {"max_body_bytes": 10}, "store": {"memory": {}}, "policies": {"a": "a.json"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("fuzz.yaml", data)
		if err != nil {
			if cfg != nil {
				t.Fatalf("Parse returned a configuration and an error: %v", err)
			}
			var ps Problems
			if !errors.As(err, &ps) || len(ps) == 0 {
				t.Fatalf("error %T %v is not a non-empty Problems", err, err)
			}
			for _, p := range ps {
				var cp Problem
				if !errors.As(p, &cp) || cp.File != "fuzz.yaml" || cp.Message == "" || cp.Line < 0 {
					t.Fatalf("bad problem %#v", p)
				}
			}
			return
		}
		if err := CheckAddr(cfg.Listen.Policy); err != nil {
			t.Fatalf("accepted policy address: %v", err)
		}
		if err := CheckAddr(cfg.Listen.Admin); err != nil {
			t.Fatalf("accepted admin address: %v", err)
		}
		if cfg.Limits.MaxBodyBytes <= 0 {
			t.Fatalf("accepted body limit %d", cfg.Limits.MaxBodyBytes)
		}
		if b := cfg.Store.Backend; b != "memory" && (b != "redis" || checkRedisURL(cfg.Store.Redis.URL) != nil) {
			t.Fatalf("accepted store %q", cfg.Store.Backend)
		}
		seen := map[string]bool{}
		for _, p := range cfg.Policies {
			if !ValidName(p.Name) || p.Path == "" || seen[p.Name] {
				t.Fatalf("accepted policy entry %+v", p)
			}
			if _, err := Vocabulary(p.Vocabulary); err != nil {
				t.Fatalf("accepted vocabulary: %v", err)
			}
			seen[p.Name] = true
		}
	})
}
