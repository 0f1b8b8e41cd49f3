package pexip

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/verdict-policy/verdict/store"
)

// phonebook is what directory requests search: every row, in a stable
// order.
type phonebook interface {
	// Rows returns every row. On an error it may still return rows read
	// before (stale but usable), or nil when it has none.
	Rows(ctx context.Context) ([]Row, error)
}

// filePhonebook is a phonebook from a table file, in file order.
type filePhonebook struct{ t *FileTable }

func (p filePhonebook) Rows(context.Context) ([]Row, error) { return p.t.Rows(), nil }

// phonebookRefresh is how long a phonebook read from the store is used
// before it is read again. Directory requests come as people type, so a
// short interval keeps them from reading a large table on every key press.
const phonebookRefresh = 5 * time.Second

// storePhonebook is a phonebook kept in a table of the shared store. The
// whole table is read at most once every phonebookRefresh, by one request
// while the others wait (within their own deadlines); the rows are kept
// in key order. When a read fails, the rows of the last good read are
// answered with the error.
type storePhonebook struct {
	tables store.Tables
	name   string
	now    func() time.Time

	lock    chan struct{} // a one-slot lock whose wait honours contexts
	rows    []Row
	fetched time.Time
}

func newStorePhonebook(tables store.Tables, name string) *storePhonebook {
	return &storePhonebook{tables: tables, name: name, now: time.Now, lock: make(chan struct{}, 1)}
}

// Rows implements phonebook.
func (p *storePhonebook) Rows(ctx context.Context) ([]Row, error) {
	select {
	case p.lock <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("store phonebook %s: %w", p.name, ctx.Err())
	}
	defer func() { <-p.lock }()
	if p.rows != nil && p.now().Sub(p.fetched) < phonebookRefresh {
		return p.rows, nil
	}
	rows, bad, err := p.read(ctx)
	if err != nil {
		return p.rows, err
	}
	p.rows, p.fetched = rows, p.now()
	if len(bad) > 0 {
		// The good rows are answered; the broken entries are named once
		// per read.
		return rows, fmt.Errorf("store phonebook %s: entries that are not JSON objects left out: %s", p.name, strings.Join(bad, ", "))
	}
	return rows, nil
}

// read reads the whole table: the rows that decode, in key order, and the
// keys of the entries that do not.
func (p *storePhonebook) read(ctx context.Context) (rows []Row, bad []string, err error) {
	all, err := p.tables.TableAll(ctx, p.name)
	if err != nil {
		return nil, nil, fmt.Errorf("store phonebook %s: %w", p.name, err)
	}
	keys := make([]string, 0, len(all))
	for k := range all {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	rows = make([]Row, 0, len(keys))
	for _, k := range keys {
		dec := json.NewDecoder(bytes.NewReader(all[k]))
		dec.UseNumber()
		var row map[string]any
		if err := dec.Decode(&row); err != nil || row == nil {
			bad = append(bad, k)
			continue
		}
		fromJSONNumbers(row)
		if _, ok := row["alias"]; !ok {
			row["alias"] = k
		}
		rows = append(rows, row)
	}
	return rows, bad, nil
}
