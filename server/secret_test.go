package server

import (
	"bytes"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/verdict-policy/verdict/authz"
	"github.com/verdict-policy/verdict/config"
)

// lockedLog collects a server's log lines.
type lockedLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// authzConfig is a configuration with the proxy authorizers verifying
// tokens with jwt (a YAML mapping) and the given listen section.
func authzConfig(t *testing.T, listen, jwt string) (*config.Config, string) {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "authz.json"), permitRead)
	path := filepath.Join(dir, "verdict.yaml")
	writeFile(t, path, "listen: "+listen+"\npolicies:\n  authz: authz.json\nauthz:\n  policy: authz\n  jwt: "+jwt+"\n")
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, path
}

func TestExampleSecret(t *testing.T) {
	example := exampleSecret()
	if example == "" {
		t.Fatal("the built-in configuration has no HS256 secret")
	}
	t.Setenv("VERDICT_TEST_EXAMPLE_SECRET", example)
	const own = `{hs256_secret: "a-secret-of-our-own-0123456789"}`
	const loopback = `{policy: "127.0.0.1:0", admin: "127.0.0.1:0"}`
	tests := []struct {
		name, listen, jwt string
		warn              bool
		refuse            string // in the error of Listen; empty: it listens
	}{
		{"example secret on loopback", loopback, `{hs256_secret: "` + example + `"}`, true, ""},
		{"example secret from the environment", loopback, `{hs256_secret_env: VERDICT_TEST_EXAMPLE_SECRET}`, true, ""},
		{"example secret on localhost", `{policy: "localhost:0", admin: "127.0.0.1:0"}`, `{hs256_secret: "` + example + `"}`, true, ""},
		{"example secret on every interface", `{policy: ":0", admin: "127.0.0.1:0"}`, `{hs256_secret: "` + example + `"}`, true,
			`listen.policy (:0) is not on the loopback interface`},
		{"example secret on 0.0.0.0", `{policy: "0.0.0.0:0", admin: "127.0.0.1:0"}`, `{hs256_secret: "` + example + `"}`, true,
			`listen.policy (0.0.0.0:0) is not on the loopback interface`},
		{"example secret on a public gRPC listener", `{policy: "127.0.0.1:0", admin: "127.0.0.1:0", grpc: "[::]:0"}`, `{hs256_secret: "` + example + `"}`, true,
			`listen.grpc ([::]:0) is not on the loopback interface`},
		// Not refused for its secret: binding the documentation address
		// is what fails.
		{"own secret off loopback", `{policy: "127.0.0.1:0", admin: "127.0.0.1:0", grpc: "192.0.2.1:0"}`, own, false, "grpc listener: listen tcp 192.0.2.1:0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, path := authzConfig(t, tt.listen, tt.jwt)
			logs := &lockedLog{}
			s, err := New(cfg, slog.New(slog.NewTextHandler(logs, nil)))
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			warned := strings.Contains(logs.String(), "level=WARN") && strings.Contains(logs.String(), "setting=authz.jwt.hs256_secret")
			if warned != tt.warn {
				t.Errorf("warned %v, want %v:\n%s", warned, tt.warn, logs)
			}
			err = s.Listen()
			if err == nil {
				closeListeners(s)
			}
			switch {
			case tt.refuse == "" && err != nil:
				t.Fatalf("Listen: %v", err)
			case tt.refuse != "" && (err == nil || !strings.Contains(err.Error(), tt.refuse)):
				t.Fatalf("Listen: %v, want an error saying %q", err, tt.refuse)
			}
			if err != nil && strings.Contains(tt.refuse, "loopback") {
				if msg := err.Error(); !strings.HasPrefix(msg, path+": authz.jwt.hs256_secret is the published example secret") {
					t.Errorf("the error does not name the file and the setting: %s", msg)
				}
			}
		})
	}
}

// closeListeners closes what Listen bound, for a server that will not Run.
func closeListeners(s *Server) {
	for _, ln := range []interface{ Close() error }{s.policyLn, s.adminLn} {
		_ = ln.Close()
	}
	if s.grpcLn != nil {
		_ = s.grpcLn.Close()
	}
}

// TestReloadToExampleSecret refuses a reload that brings in the example
// secret while the policy listener is reachable from other hosts: no
// listener is bound there in the test, the check reads the addresses in
// force.
func TestReloadToExampleSecret(t *testing.T) {
	cfg, path := authzConfig(t, `{policy: "127.0.0.1:0", admin: "127.0.0.1:0"}`, `{hs256_secret: "a-secret-of-our-own-0123456789"}`)
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.bound = config.Listen{Policy: "0.0.0.0:3000", Admin: "127.0.0.1:9421"}
	writeFile(t, path, "listen: {policy: \"127.0.0.1:0\", admin: \"127.0.0.1:0\"}\npolicies:\n  authz: authz.json\n"+
		"authz:\n  policy: authz\n  jwt: {hs256_secret: \""+exampleSecret()+"\"}\n")
	if err := s.Reload(); err == nil || !strings.Contains(err.Error(), "published example secret") {
		t.Fatalf("Reload: %v, want the example secret refused", err)
	}
	if authz.ConfigOf(s.cfg).JWT.Secret == exampleSecret() {
		t.Error("the refused configuration is running")
	}
}
