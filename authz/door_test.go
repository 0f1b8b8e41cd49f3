package authz

import (
	"bytes"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/verdict-policy/verdict/config"
)

func writeConfig(t *testing.T, files map[string]string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := config.Load(filepath.Join(dir, "verdict.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestPrepareProblems(t *testing.T) {
	cases := []struct{ name, yaml, want string }{
		{"unknown document", "policies: {p: p.yaml}\nauthz:\n  policy: p\n  authzen: {policy: nope}\n",
			`verdict.yaml:4:21: authz.authzen.policy: no document named "nope" under policies`},
		{"missing public key", "policies: {p: p.yaml}\nauthz:\n  policy: p\n  jwt: {public_key: missing.pem}\n",
			"authz.jwt: public_key: open"},
		{"not a key", "policies: {p: p.yaml}\nauthz:\n  policy: p\n  jwt: {public_key: p.yaml}\n",
			"no PEM block"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := writeConfig(t, map[string]string{"verdict.yaml": c.yaml, "p.yaml": "effect: permit\n"})
			docs, err := cfg.Compile()
			if err != nil {
				t.Fatal(err)
			}
			d := loadDoor(t, nil, nil)
			_, err = d.Prepare(cfg, docs)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
			// The running configuration stays.
			w := httptest.NewRecorder()
			d.ServeHTTP(w, httptest.NewRequest("GET", "/v1/authz/envoy/no-content", nil))
			if w.Code != 204 {
				t.Fatalf("after a failed Prepare: %d", w.Code)
			}
		})
	}
}

// TestUncarriedWarnings checks each adapter warns at load about the
// obligations its protocol cannot carry, and only those.
func TestUncarriedWarnings(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	loadDoor(t, nil, logger)
	out := logs.String()
	for _, want := range []string{
		`adapter=nginx document=matrix obligation=denyBody`,
		`adapter=nginx document=matrix obligation=redirect`,
		`adapter=nginx document=matrix obligation=removeRequestHeader`,
		`adapter=nginx document=matrix obligation=setResponseHeader`,
		`adapter=nginx document=matrix status=204`,
		`adapter=nginx document=matrix status=413`,
		`adapter=forward document=matrix obligation=removeRequestHeader`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no warning with %q in:\n%s", want, out)
		}
	}
	for _, unwanted := range []string{"adapter=envoy", "adapter=authzen", "adapter=forward document=matrix obligation=denyBody", "status=401", "status=403"} {
		if strings.Contains(out, unwanted) {
			t.Errorf("unexpected warning %q in:\n%s", unwanted, out)
		}
	}
}

func TestRequestAttributes(t *testing.T) {
	claims := map[string]any{"sub": "ann", "org": map[string]any{"id": "o1"}}
	cases := []struct {
		name string
		req  Request
		attr string
		want any
	}{
		{"method", Request{Method: "PUT"}, "method", "PUT"},
		{"header any case", Request{Header: map[string][]string{"X-Tenant": {"t1"}}}, "header.x-tenant", "t1"},
		{"header missing", Request{Header: map[string][]string{}}, "header.x-tenant", nil},
		{"grpc header", Request{GRPCHeader: map[string]string{"x-tenant": "t2"}}, "header.X-Tenant", "t2"},
		{"query value", Request{RawQuery: "a=1&b=2&a=3"}, "query.a", "1"},
		{"query raw", Request{RawQuery: "a=1"}, "query", "a=1"},
		{"client ip missing", Request{}, "client_ip", nil},
		{"no body", Request{}, "body", nil},
		{"body", Request{Body: []byte("x")}, "body", "x"},
		{"nested claim", Request{claims: claims, verified: true}, "jwt.org.id", "o1"},
		{"claim", Request{claims: claims, verified: true}, "jwt.sub", "ann"},
		{"no claims", Request{verified: true}, "jwt.sub", nil},
		{"unknown", Request{}, "nothing", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.req.Attribute(c.attr)
			if err != nil || got != c.want {
				t.Fatalf("Attribute(%q) = %v, %v; want %v", c.attr, got, err, c.want)
			}
		})
	}
}

func TestClientIP(t *testing.T) {
	cases := []struct {
		name   string
		header map[string][]string
		remote string
		want   string
	}{
		{"last forwarded entry", map[string][]string{"X-Forwarded-For": {"1.1.1.1, 2.2.2.2"}}, "9.9.9.9:1", "2.2.2.2"},
		{"last forwarded header", map[string][]string{"X-Forwarded-For": {"1.1.1.1", "3.3.3.3"}}, "9.9.9.9:1", "3.3.3.3"},
		{"real ip", map[string][]string{"X-Real-Ip": {"4.4.4.4"}}, "9.9.9.9:1", "4.4.4.4"},
		{"peer", map[string][]string{}, "9.9.9.9:1", "9.9.9.9"},
	}
	for _, c := range cases {
		if got := clientIP(c.header, c.remote); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}
