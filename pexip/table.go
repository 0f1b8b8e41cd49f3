package pexip

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Row is one row of a table: column name to value. Rows are shared by
// every request and must not be modified.
type Row = map[string]any

// Table is a keyed set of rows that policies look up. Keys compare without
// case.
type Table interface {
	// Row returns the row with key, or nil when there is none. ctx bounds
	// the lookup of tables kept outside the process.
	Row(ctx context.Context, key string) (Row, error)
}

// FileTable is a Table read from a CSV, JSON or YAML file and kept in
// memory.
type FileTable struct {
	rows  []Row          // in file order
	byKey map[string]Row // lower-case key to row
}

var _ Table = (*FileTable)(nil)

// Row implements Table.
func (t *FileTable) Row(_ context.Context, key string) (Row, error) {
	return t.byKey[strings.ToLower(key)], nil
}

// Rows returns every row in file order.
func (t *FileTable) Rows() []Row { return t.rows }

// Len returns the number of rows.
func (t *FileTable) Len() int { return len(t.rows) }

// ParseTable reads a table from data. The format follows name's extension:
//   - .csv: a header row naming the columns, then one row a line;
//   - .json, .yaml, .yml: a list of objects, or an object mapping each key
//     to an object (the key fills the key column when the object lacks it).
//
// key names the column holding each row's key; every row needs one, and no
// two rows may share it. Errors name the file and the row.
func ParseTable(name string, data []byte, key string) (*FileTable, error) {
	var rows []Row
	var err error
	switch strings.ToLower(filepath.Ext(name)) {
	case ".csv":
		rows, err = parseCSV(name, data)
	case ".json", ".yaml", ".yml":
		rows, err = parseStructured(name, data, key)
	default:
		return nil, fmt.Errorf("%s: unknown table format: use .csv, .json, .yaml or .yml", name)
	}
	if err != nil {
		return nil, err
	}
	t := &FileTable{rows: rows, byKey: make(map[string]Row, len(rows))}
	for i, r := range rows {
		k, ok := r[key]
		ks := scalarString(k)
		if !ok || ks == "" {
			return nil, fmt.Errorf("%s: row %d: the key column %q is missing or empty", name, i+1, key)
		}
		lk := strings.ToLower(ks)
		if _, dup := t.byKey[lk]; dup {
			return nil, fmt.Errorf("%s: row %d: key %q is given twice", name, i+1, ks)
		}
		t.byKey[lk] = r
	}
	return t, nil
}

func parseCSV(name string, data []byte) ([]Row, error) {
	r := csv.NewReader(bytes.NewReader(data))
	r.Comment = '#'
	r.TrimLeadingSpace = true
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	for i, h := range header {
		header[i] = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		if header[i] == "" {
			return nil, fmt.Errorf("%s: line 1: column %d has no name", name, i+1)
		}
		if slices.Contains(header[:i], header[i]) {
			return nil, fmt.Errorf("%s: line 1: column %q is given twice", name, header[i])
		}
	}
	var rows []Row
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		row := make(Row, len(header))
		for i, h := range header {
			if rec[i] != "" {
				row[h] = rec[i]
			}
		}
		rows = append(rows, row)
	}
}

func parseStructured(name string, data []byte, key string) ([]Row, error) {
	var root any
	if strings.EqualFold(filepath.Ext(name), ".json") {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		if err := dec.Decode(&root); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		root = fromJSONNumbers(root)
	} else if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	switch v := root.(type) {
	case nil:
		return nil, nil
	case []any:
		rows := make([]Row, 0, len(v))
		for i, e := range v {
			m, ok := e.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s: row %d: must be an object of columns", name, i+1)
			}
			rows = append(rows, m)
		}
		return rows, nil
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		rows := make([]Row, 0, len(v))
		for _, k := range keys {
			m, ok := v[k].(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s: %q: must be an object of columns", name, k)
			}
			if _, has := m[key]; !has {
				m[key] = k
			}
			rows = append(rows, m)
		}
		return rows, nil
	}
	return nil, fmt.Errorf("%s: a table must be a list of rows or an object of rows by key", name)
}

// fromJSONNumbers turns json.Number into int64 where exact, else float64.
func fromJSONNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case []any:
		for i := range x {
			x[i] = fromJSONNumbers(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = fromJSONNumbers(x[k])
		}
	}
	return v
}

// scalarString formats a scalar column value as text; "" for anything else.
func scalarString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int, int64, uint64, float64, bool:
		return fmt.Sprint(x)
	}
	return ""
}
