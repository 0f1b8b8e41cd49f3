package script

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/verdict-policy/verdict/chain"
)

// writePolicy writes a policy folder NAME/VERSION under dir: files maps
// file names (relative to the folder) to contents; a manifest with an
// open schema is added unless files has one.
func writePolicy(t testing.TB, dir, name, version string, files map[string]string) string {
	t.Helper()
	root := filepath.Join(dir, name, version)
	if _, ok := files[ManifestFile]; !ok {
		files[ManifestFile] = `{"name": "` + name + `", "summary": "test policy", "version": "` + version + `", "configuration": {"type": "object"}}`
	}
	for rel, content := range files {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// logBuffer is a slog handler target safe for concurrent writes.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func newLogger(w *logBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// buildChain builds a chain of entries with the policies of loadPath.
func buildChain(t testing.TB, loadPath []string, opts Options, entries ...chain.Entry) (*chain.Chain, error) {
	t.Helper()
	return chain.Build(entries, chain.Env{Resolve: Resolver(loadPath, opts), Logger: opts.Logger})
}

func entry(name, version, config string) chain.Entry {
	e := chain.Entry{Name: name, Version: version}
	if config != "" {
		e.Configuration = json.RawMessage(config)
	}
	return e
}

// request runs the request phases of c over a new request, as the gateway
// does, up to and including log; upstream stands for the proxied answer.
func request(t testing.TB, c *chain.Chain, logger *slog.Logger, method, target string, prepare func(*chain.Context)) *chain.Context {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	ctx := chain.NewContext(r, "192.0.2.7", logger, c.Exports())
	if prepare != nil {
		prepare(ctx)
	}
	c.Rewrite(ctx)
	c.Access(ctx)
	c.Content(ctx)
	if !ctx.Produced() && !ctx.Exited() {
		ctx.Response.Status = 200
		ctx.Response.Header.Set("Content-Type", "text/plain")
	}
	c.HeaderFilter(ctx)
	c.PostAction(ctx)
	c.Log(ctx)
	return ctx
}

func contains(t testing.TB, s, sub string) {
	t.Helper()
	if !strings.Contains(s, sub) {
		t.Errorf("%q does not contain %q", s, sub)
	}
}
