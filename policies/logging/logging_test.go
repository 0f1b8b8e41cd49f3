package logging_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/policies/internal/policytest"
	"github.com/verdict-policy/verdict/policies/logging"
)

// run sends one request through a chain of the given logging policies
// and returns the JSON records they wrote.
func run(t *testing.T, header map[string]string, status int, configs ...string) []map[string]any {
	t.Helper()
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, nil))
	var entries []chain.Entry
	for _, c := range configs {
		entries = append(entries, policytest.Entry(logging.Name, c))
	}
	ch, err := chain.Build(entries, chain.Env{Logger: logger, ServiceID: "9"})
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	r := httptest.NewRequest("GET", "http://api.example.com/p?q=1", nil)
	for k, v := range header {
		r.Header.Set(k, v)
	}
	policytest.Run(ch, r, "192.0.2.1", func(*http.Request) (int, http.Header, []byte) {
		return status, http.Header{"X-Up": {"u"}}, nil
	}, 0)
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("record %q: %v", line, err)
		}
		out = append(out, rec)
	}
	return out
}

func TestLogging(t *testing.T) {
	tests := []struct {
		name    string
		configs []string
		header  map[string]string
		status  int
		want    []string // the messages, in order
		access  map[string]any
	}{
		{"default line", []string{`{}`}, map[string]string{"User-Agent": "curl/8"}, 200,
			[]string{`192.0.2.1 - - [*] "GET /p?q=1 HTTP/1.1" 200 - "" "curl/8"`}, nil},
		{"custom line", []string{`{"custom_logging": "{{ http_method }} {{ uri }} -> {{ status }} ({{ resp.headers['X-Up'] }})"}`}, nil, 201,
			[]string{"GET /p -> 201 (u)"}, nil},
		{"json object", []string{`{"enable_json_logs": true, "json_object_config": [{"key": "host", "value": "{{ host }}", "value_type": "liquid"}, {"key": "status", "value": "{{ status }}", "value_type": "liquid"}, {"key": "fixed", "value": "x"}]}`}, nil, 204,
			[]string{logging.Message}, map[string]any{"host": "api.example.com", "status": "204", "fixed": "x"}},
		{"condition holds", []string{`{"custom_logging": "logged", "condition": {"operations": [{"match": "{{ status }}", "match_type": "liquid", "op": "matches", "value": "^5"}]}}`}, nil, 503,
			[]string{"logged"}, nil},
		{"condition fails", []string{`{"custom_logging": "logged", "condition": {"operations": [{"match": "{{ status }}", "match_type": "liquid", "op": "matches", "value": "^5"}]}}`}, nil, 200,
			nil, nil},
		{"condition or", []string{`{"custom_logging": "logged", "condition": {"combine_op": "or", "operations": [{"match": "{{ status }}", "match_type": "liquid", "op": "==", "value": "500"}, {"match": "{{ headers['X-Debug'] }}", "match_type": "liquid", "op": "!=", "value": ""}]}}`}, map[string]string{"X-Debug": "1"}, 200,
			[]string{"logged"}, nil},
		{"invalid templates render empty", []string{`{"enable_json_logs": true, "json_object_config": [{"key": "a", "value": "{% if %}", "value_type": "liquid"}, {"key": "b", "value": "{{ status", "value_type": "liquid"}]}`}, nil, 200,
			[]string{logging.Message}, map[string]any{"a": "", "b": ""}},
		{"an invalid line renders empty", []string{`{"custom_logging": "{{ status | nope }}"}`}, nil, 200,
			[]string{""}, nil},
		{"access logs off", []string{`{"enable_access_logs": false}`}, nil, 200, nil, nil},
		{"off turns the other logging policies off", []string{`{"custom_logging": "global"}`, `{"enable_access_logs": false}`}, nil, 200, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs := run(t, tt.header, tt.status, tt.configs...)
			if len(recs) != len(tt.want) {
				t.Fatalf("%d records %v, want %d", len(recs), recs, len(tt.want))
			}
			for i, rec := range recs {
				msg, _ := rec["msg"].(string)
				if !match(tt.want[i], msg) {
					t.Errorf("record %d: %q, want %q", i, msg, tt.want[i])
				}
				if rec["level"] != "INFO" {
					t.Errorf("level %v", rec["level"])
				}
			}
			if tt.access != nil {
				got, _ := recs[0]["access"].(map[string]any)
				for k, v := range tt.access {
					if got[k] != v {
						t.Errorf("access.%s = %v, want %v (record %v)", k, got[k], v, recs[0])
					}
				}
			}
		})
	}
}

// match compares with a pattern in which * stands for any text.
func match(pattern, s string) bool {
	before, after, ok := strings.Cut(pattern, "*")
	if !ok {
		return pattern == s
	}
	return strings.HasPrefix(s, before) && strings.HasSuffix(s, after) && len(s) >= len(before)+len(after)
}

func TestLoadErrors(t *testing.T) {
	tests := []struct{ config, want string }{
		{`{"enable_json_logs": true}`, "json_object_config: empty"},
		{`{"condition": {"operations": [{"match": "a", "op": "matches", "value": "("}]}}`, "condition.operations[0].value: invalid regular expression"},
		{`{"condition": {"operations": [{"match": "a", "op": "<", "value": "b"}]}}`, "op"},
		{`{"enable_access_logs": "yes"}`, "enable_access_logs"},
	}
	var golden strings.Builder
	for _, tt := range tests {
		_, err := chain.Build([]chain.Entry{policytest.Entry(logging.Name, tt.config)}, chain.Env{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("config %s: error %v, want one mentioning %q", tt.config, err, tt.want)
			continue
		}
		fmt.Fprintf(&golden, "%s\n\t%v\n", tt.config, err)
	}
	policytest.Golden(t, "load_errors.golden", golden.String())
}
