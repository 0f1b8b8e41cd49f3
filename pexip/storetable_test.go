package pexip

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/verdict-policy/verdict/internal/redistest"
	"github.com/verdict-policy/verdict/store"
)

// VMRs from a real Redis: rows written by another process are answered at
// once, and an outage falls back within the timeout, never a 5xx.
func TestStoreTable(t *testing.T) {
	srv := redistest.Start(t)
	dir := t.TempDir()
	writeFile(t, dir, "p.yaml", vmrPolicy)
	f := writeFile(t, dir, "verdict.yaml", `
store:
  redis: {url: "`+srv.URL()+`", key_prefix: "pexiptest:", dial_timeout: 200ms, read_timeout: 200ms, write_timeout: 200ms}
policies: {p: p.yaml}
pexip:
  policy: p
  timeout: 500ms
  tables:
    vmr: {store: vmrs}
`)
	d := loadDoor(t, f)

	admin, err := store.NewRedis(context.Background(), store.RedisOptions{URL: srv.URL(), KeyPrefix: "pexiptest:"})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	ctx := context.Background()
	if err := admin.TablePut(ctx, "vmrs", "room", []byte(`{"name": "room", "pin": 2931}`), 0); err != nil {
		t.Fatal(err)
	}
	if err := admin.TablePut(ctx, "vmrs", "garbled", []byte(`not json`), 0); err != nil {
		t.Fatal(err)
	}
	const q = "/policy/v1/service/configuration?local_alias=sip%3A"
	tests := []struct {
		alias, body string
		status      int
	}{
		{"Room%40example.com", `{"status":"success","action":"continue","result":{"service_type":"conference","name":"room","service_tag":"t","pin":"2931"}}`, 200},
		{"nobody%40example.com", `{"status":"fail","action":"continue","result":{}}`, 404},
		{"garbled%40example.com", `{"status":"fail","action":"continue","result":{}}`, 404},
	}
	for _, tt := range tests {
		if w := serve(d, "GET", q+tt.alias); w.Code != tt.status || w.Body.String() != tt.body {
			t.Errorf("%s: %d %s", tt.alias, w.Code, w.Body)
		}
	}
	srv.Stop()
	start := time.Now()
	w := serve(d, "GET", q+"room%40example.com")
	if w.Code != 404 || time.Since(start) > 2*time.Second {
		t.Errorf("with Redis down: %d after %s: %s", w.Code, time.Since(start), w.Body)
	}
}

func TestStoreTableNeedsRedis(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "p.yaml", vmrPolicy)
	f := writeFile(t, dir, "verdict.yaml", "policies: {p: p.yaml}\npexip:\n  policy: p\n  tables: {vmr: {store: vmrs}}\n")
	err := prepare(t, New(nil, nil), filepath.Clean(f))
	if err == nil || !strings.Contains(err.Error(), "pexip.tables.vmr.store: tables from the store need store.redis") {
		t.Errorf("err = %v", err)
	}
}
