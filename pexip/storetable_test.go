package pexip

import (
	"context"
	"log/slog"
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

// A phonebook in a real Redis: searched in key order, read again after
// the refresh interval, answered from the last good read while Redis is
// down, and the fallback when there never was one.
func TestStorePhonebook(t *testing.T) {
	srv := redistest.Start(t)
	dir := t.TempDir()
	f := writeFile(t, dir, "verdict.yaml", `
store:
  redis: {url: "`+srv.URL()+`", key_prefix: "pbtest:", dial_timeout: 200ms, read_timeout: 200ms, write_timeout: 200ms}
pexip:
  timeout: 500ms
  tables:
    phonebook: {store: people}
  directory: {table: phonebook}
`)
	var logs strings.Builder
	d := loadDoor(t, f)
	d.logger = slog.New(slog.NewTextHandler(&logs, nil))
	pb, ok := d.cur.Load().phonebook.(*storePhonebook)
	if !ok {
		t.Fatalf("the phonebook is a %T", d.cur.Load().phonebook)
	}
	now := time.Now()
	pb.now = func() time.Time { return now }

	admin, err := store.NewRedis(context.Background(), store.RedisOptions{URL: srv.URL(), KeyPrefix: "pbtest:"})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	ctx := context.Background()
	for k, v := range map[string]string{
		"carol@example.com": `{"username": "carol", "description": "Carol Alvarez"}`,
		"alice@example.com": `{"username": "alice", "alias": "alice@example.com", "description": "Alice Parkes"}`,
		"bob@example.com":   `{"username": "bob", "description": "Bob Stone"}`,
		"broken":            `[1, 2]`,
	} {
		if err := admin.TablePut(ctx, "people", k, []byte(v), 0); err != nil {
			t.Fatal(err)
		}
	}
	const alCarol = `{"status":"success","result":[{"username":"alice","alias":"alice@example.com","description":"Alice Parkes"},{"username":"carol","alias":"carol@example.com","description":"Carol Alvarez"}],"ignore_local":false}`
	if w := serve(d, "GET", "/policy/v1/registrations?q=AL&limit=10"); w.Code != 200 || w.Body.String() != alCarol {
		t.Errorf("search: %d %s", w.Code, w.Body)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "left out: broken") {
		t.Errorf("the broken entry is not reported:\n%s", logs.String())
	}

	// A new entry shows after the refresh interval, not before.
	if err := admin.TablePut(ctx, "people", "albert@example.com", []byte(`{"username": "albert", "description": "Albert"}`), 0); err != nil {
		t.Fatal(err)
	}
	if w := serve(d, "GET", "/policy/v1/registrations?q=al"); w.Body.String() != alCarol {
		t.Errorf("within the interval: %s", w.Body)
	}
	now = now.Add(phonebookRefresh)
	if w := serve(d, "GET", "/policy/v1/registrations?q=al&limit=1"); !strings.Contains(w.Body.String(), `"username":"albert"`) {
		t.Errorf("after the interval: %s", w.Body)
	}

	// Redis down: the last good read is answered, with a warning.
	srv.Stop()
	now = now.Add(phonebookRefresh)
	logs.Reset()
	start := time.Now()
	if w := serve(d, "GET", "/policy/v1/registrations?q=bob"); w.Code != 200 || !strings.Contains(w.Body.String(), `"username":"bob"`) || time.Since(start) > 2*time.Second {
		t.Errorf("with Redis down: %d %s after %s", w.Code, w.Body, time.Since(start))
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "store phonebook people") {
		t.Errorf("the failed read is not logged:\n%s", logs.String())
	}

	// A door that never read it falls back.
	fresh := loadDoor(t, f)
	if w := serve(fresh, "GET", "/policy/v1/registrations?q=bob"); w.Code != 404 {
		t.Errorf("never read, Redis down: %d %s", w.Code, w.Body)
	}
}
