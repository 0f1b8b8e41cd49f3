package pexip

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

func TestParseTable(t *testing.T) {
	tests := []struct {
		name, file, data string
		key              string
		lookup           string
		want             string // the row as JSON, "" for none
		err              string
	}{
		{"csv", "t.csv", "alias,pin\n# a comment\nMeet.Alice,1234\nbob,\n", "alias", "meet.alice", `{"alias":"Meet.Alice","pin":"1234"}`, ""},
		{"csv empty cell left out", "t.csv", "alias,pin\nbob,\n", "alias", "BOB", `{"alias":"bob"}`, ""},
		{"yaml list", "t.yaml", "- {alias: a, pin: 2931}\n", "alias", "a", `{"alias":"a","pin":2931}`, ""},
		{"yaml by key", "t.yml", "room1: {password: x}\n", "alias", "room1", `{"alias":"room1","password":"x"}`, ""},
		{"json list", "t.json", `[{"alias": "a", "n": 10, "f": 1.5}]`, "alias", "a", `{"alias":"a","f":1.5,"n":10}`, ""},
		{"json by key", "t.json", `{"a": {"pin": "1"}}`, "alias", "a", `{"alias":"a","pin":"1"}`, ""},
		{"missing row", "t.csv", "alias\na\n", "alias", "b", "", ""},
		{"empty file", "t.yaml", "", "alias", "a", "", ""},
		{"duplicate key", "t.csv", "alias\na\nA\n", "alias", "", "", `row 2: key "A" is given twice`},
		{"missing key", "t.csv", "alias,pin\n,1\n", "alias", "", "", `row 1: the key column "alias" is missing or empty`},
		{"ragged csv", "t.csv", "alias,pin\na\n", "alias", "", "", "wrong number of fields"},
		{"duplicate column", "t.csv", "alias,alias\n", "alias", "", "", `column "alias" is given twice`},
		{"bad json", "t.json", `[{"alias": }]`, "alias", "", "", "t.json: invalid character"},
		{"scalar rows", "t.yaml", "- a\n", "alias", "", "", "row 1: must be an object of columns"},
		{"not a table", "t.yaml", "42\n", "alias", "", "", "a table must be a list of rows"},
		{"unknown format", "t.txt", "", "alias", "", "", "unknown table format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tbl, err := ParseTable(tt.file, []byte(tt.data), tt.key)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			row, _ := tbl.Row(context.Background(), tt.lookup)
			got := ""
			if row != nil {
				b, _ := json.Marshal(row)
				got = string(b)
			}
			if got != tt.want {
				t.Errorf("row %q = %s, want %s", tt.lookup, got, tt.want)
			}
		})
	}
}
