package pexip

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/verdict-policy/verdict/config"
	"github.com/verdict-policy/verdict/store"
)

// StoreTable is a Table kept in the shared store, so that every Verdict
// instance sees the same rows and they change without a reload. Each entry
// is a row as a JSON object, under its lower-case key.
type StoreTable struct {
	tables store.Tables
	name   string
}

var _ Table = (*StoreTable)(nil)

// NewStoreTable returns the table name of s.
func NewStoreTable(s store.Tables, name string) *StoreTable {
	return &StoreTable{tables: s, name: name}
}

// Row implements Table. A store failure is an error, which makes the
// decision fall back.
func (t *StoreTable) Row(ctx context.Context, key string) (Row, error) {
	data, ok, err := t.tables.TableGet(ctx, t.name, strings.ToLower(key))
	if err != nil {
		return nil, fmt.Errorf("store table %s: %w", t.name, err)
	}
	if !ok {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var row map[string]any
	if err := dec.Decode(&row); err != nil {
		return nil, fmt.Errorf("store table %s: row %q is not a JSON object: %w", t.name, key, err)
	}
	fromJSONNumbers(row)
	return row, nil
}

// storeConn is the door's connection to the shared store, kept across
// reloads while the store settings stay the same.
type storeConn struct {
	mu     sync.Mutex
	cfg    config.Store
	s      store.Store
	shared StoreSource // when set, stores come from it and are not closed here
}

// StoreSource returns the process's shared store for a store
// configuration, opening it on first use; its callers never close it.
type StoreSource func(config.Store) (store.Store, error)

// get returns a store for cfg: the open one when its settings match, or a
// new one, which replace makes current.
func (c *storeConn) get(cfg config.Store) (s store.Store, fresh bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.shared != nil {
		s, err = c.shared(cfg)
		return s, false, err
	}
	if c.s != nil && c.cfg == cfg {
		return c.s, false, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err = store.Open(ctx, cfg, nil)
	return s, true, err
}

// replace makes s current and closes the store it replaces, after requests
// that may still hold it have had time to finish.
func (c *storeConn) replace(cfg config.Store, s store.Store) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s == c.s {
		return
	}
	if c.shared != nil {
		c.cfg, c.s = cfg, s
		return
	}
	if old := c.s; old != nil {
		time.AfterFunc(10*time.Second, func() { _ = old.Close() })
	}
	c.cfg, c.s = cfg, s
}

func (c *storeConn) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.s != nil && c.shared == nil {
		_ = c.s.Close()
	}
	c.s = nil
}
