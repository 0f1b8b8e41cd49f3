package headers_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/policies/headers"
	"github.com/verdict-policy/verdict/policies/internal/policytest"
)

func TestHeaders(t *testing.T) {
	tests := []struct {
		name   string
		config string
		// in holds the request's headers, "Name: value" each.
		in []string
		// upstream holds the upstream response's headers.
		upstream []string
		// wantReq and wantResp are the headers expected upstream and at
		// the client; a name with no value means "absent".
		wantReq, wantResp []string
	}{
		{
			name:    "set creates",
			config:  `{"request": [{"op": "set", "header": "X-New", "value": "v"}]}`,
			wantReq: []string{"X-New: v"},
		},
		{
			name:    "set replaces every value",
			config:  `{"request": [{"op": "set", "header": "x-old", "value": "new"}]}`,
			in:      []string{"X-Old: a", "X-Old: b"},
			wantReq: []string{"X-Old: new"},
		},
		{
			name:    "set with an empty value deletes",
			config:  `{"request": [{"op": "set", "header": "X-Old", "value": ""}]}`,
			in:      []string{"X-Old: a"},
			wantReq: []string{"X-Old:"},
		},
		{
			name:    "push creates",
			config:  `{"request": [{"op": "push", "header": "X-P", "value": "1"}]}`,
			wantReq: []string{"X-P: 1"},
		},
		{
			name:    "push appends",
			config:  `{"request": [{"op": "push", "header": "X-P", "value": "2"}]}`,
			in:      []string{"X-P: 1"},
			wantReq: []string{"X-P: 1", "X-P: 2"},
		},
		{
			name:    "add appends to a present header",
			config:  `{"request": [{"op": "add", "header": "X-A", "value": "2"}]}`,
			in:      []string{"X-A: 1"},
			wantReq: []string{"X-A: 1", "X-A: 2"},
		},
		{
			name:    "add does nothing to an absent header",
			config:  `{"request": [{"op": "add", "header": "X-A", "value": "2"}]}`,
			wantReq: []string{"X-A:"},
		},
		{
			name:    "delete",
			config:  `{"request": [{"op": "delete", "header": "Authorization"}]}`,
			in:      []string{"Authorization: secret", "X-Keep: 1"},
			wantReq: []string{"Authorization:", "X-Keep: 1"},
		},
		{
			name:    "commands run in order",
			config:  `{"request": [{"op": "set", "header": "X-O", "value": "a"}, {"op": "add", "header": "X-O", "value": "b"}, {"op": "delete", "header": "X-D"}, {"op": "add", "header": "X-D", "value": "c"}]}`,
			in:      []string{"X-D: 1"},
			wantReq: []string{"X-O: a", "X-O: b", "X-D:"},
		},
		{
			name:    "liquid over request variables",
			config:  `{"request": [{"op": "set", "header": "X-Info", "value": "{{ http_method }} {{ uri }} {{ host }} {{ remote_addr }} {{ headers['x-user'] }} {{ headers.Missing }}", "value_type": "liquid"}]}`,
			in:      []string{"X-User: ann"},
			wantReq: []string{"X-Info: GET /things example.com 192.0.2.7 ann "},
		},
		{
			name:    "liquid with filters and tags",
			config:  `{"request": [{"op": "set", "header": "X-F", "value": "{% capture a %}{{ 'x' | md5 }}{% endcapture %}{{ a | upcase }}", "value_type": "liquid"}]}`,
			wantReq: []string{"X-F: 9DD4E461268C8034F5C8564E155C67A6"},
		},
		{
			name:    "liquid rendering empty with set deletes",
			config:  `{"request": [{"op": "set", "header": "X-Old", "value": "{{ headers['X-Nothing'] }}", "value_type": "liquid"}]}`,
			in:      []string{"X-Old: a"},
			wantReq: []string{"X-Old:"},
		},
		{
			name:    "an invalid template renders empty: set deletes",
			config:  `{"request": [{"op": "set", "header": "X-Old", "value": "{% if x %}never closed", "value_type": "liquid"}]}`,
			in:      []string{"X-Old: a"},
			wantReq: []string{"X-Old:"},
		},
		{
			name:     "an unclosed output renders empty, not as written",
			config:   `{"response": [{"op": "push", "header": "X-Pushed", "value": "{{ uri }", "value_type": "liquid"}]}`,
			wantResp: []string{"X-Pushed:"},
		},
		{
			name:    "plain value is not rendered",
			config:  `{"request": [{"op": "set", "header": "X-T", "value": "{{ uri }}"}]}`,
			wantReq: []string{"X-T: {{ uri }}"},
		},
		{
			name:     "response set, push, add, delete",
			config:   `{"response": [{"op": "set", "header": "X-Served-By", "value": "verdict"}, {"op": "push", "header": "Cache-Control", "value": "no-store"}, {"op": "add", "header": "X-Absent", "value": "no"}, {"op": "delete", "header": "Server"}]}`,
			upstream: []string{"Server: upstream/1.0", "Cache-Control: private"},
			wantResp: []string{"X-Served-By: verdict", "Cache-Control: private", "Cache-Control: no-store", "X-Absent:", "Server:"},
		},
		{
			name:     "response liquid sees the request",
			config:   `{"response": [{"op": "set", "header": "X-Echo", "value": "{{ original_request.uri }}", "value_type": "liquid"}]}`,
			wantResp: []string{"X-Echo: /things?q=1"},
		},
		{
			name:     "request commands leave the response alone",
			config:   `{"request": [{"op": "set", "header": "X-Only-Request", "value": "1"}]}`,
			wantResp: []string{"X-Only-Request:"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := policytest.Build(t, policytest.Entry(headers.Name, tt.config))
			r := httptest.NewRequest("GET", "http://Example.com/things?q=1", nil)
			for _, h := range tt.in {
				k, v, _ := strings.Cut(h, ": ")
				r.Header.Add(k, v)
			}
			var sent http.Header
			res := policytest.Run(ch, r, "192.0.2.7", func(up *http.Request) (int, http.Header, []byte) {
				sent = up.Header.Clone()
				h := http.Header{}
				for _, l := range tt.upstream {
					k, v, _ := strings.Cut(l, ": ")
					h.Add(k, v)
				}
				return 200, h, nil
			}, 0)
			if res.Status != 200 {
				t.Fatalf("status %d (%v)", res.Status, res.Context.Failed())
			}
			check(t, "upstream request", sent, tt.wantReq)
			check(t, "response", res.Header, tt.wantResp)
		})
	}
}

// check compares h with want: "Name: v" lines, in order per name; a bare
// "Name:" means the header must be absent.
func check(t *testing.T, what string, h http.Header, want []string) {
	t.Helper()
	expect := map[string][]string{}
	var names []string
	for _, w := range want {
		k, v, _ := strings.Cut(w, ":")
		if !slices.Contains(names, k) {
			names = append(names, k)
		}
		if v = strings.TrimPrefix(v, " "); v != "" || strings.HasSuffix(w, ": ") {
			expect[k] = append(expect[k], v)
		}
	}
	for _, k := range names {
		if got := h.Values(k); !slices.Equal(got, expect[k]) {
			t.Errorf("%s header %s = %q, want %q", what, k, got, expect[k])
		}
	}
}

func TestHostHeader(t *testing.T) {
	ch := policytest.Build(t, policytest.Entry(headers.Name, `{"request": [{"op": "set", "header": "host", "value": "internal.example"}]}`))
	r := httptest.NewRequest("GET", "http://api.example.com/", nil)
	var host string
	policytest.Run(ch, r, "192.0.2.7", func(up *http.Request) (int, http.Header, []byte) {
		host = up.Host
		return 200, nil, nil
	}, 0)
	if host != "internal.example" {
		t.Errorf("Host %q", host)
	}
}

func TestRequestID(t *testing.T) {
	ch := policytest.Build(t, policytest.Entry(headers.Name, `{"request": [{"op": "set", "header": "X-Id", "value": "{{ request_id }}", "value_type": "liquid"}], "response": [{"op": "set", "header": "X-Id", "value": "{{ request_id }}", "value_type": "liquid"}]}`))
	var sent string
	res := policytest.Run(ch, httptest.NewRequest("GET", "/", nil), "192.0.2.7", func(up *http.Request) (int, http.Header, []byte) {
		sent = up.Header.Get("X-Id")
		return 200, nil, nil
	}, 0)
	if len(sent) != 32 || res.Header.Get("X-Id") != sent {
		t.Errorf("request id upstream %q, response %q: want one 32-digit id", sent, res.Header.Get("X-Id"))
	}
}

func TestBadConfiguration(t *testing.T) {
	tests := []struct {
		name, config, want string
	}{
		{"unknown op", `{"request": [{"op": "append", "header": "X"}]}`, "request.0.op"},
		{"missing header", `{"response": [{"op": "set", "value": "x"}]}`, "response.0"},
		{"bad value type", `{"request": [{"op": "set", "header": "X", "value": "x", "value_type": "lua"}]}`, "request.0.value_type"},
		{"bad header name", `{"response": [{"op": "set", "header": "X Y", "value": "x"}]}`, "response[0].header"},
		{"newline in value", `{"request": [{"op": "set", "header": "X", "value": "a\r\nInjected: 1"}]}`, "request[0].value"},
		{"unknown field", `{"request": [{"op": "set", "header": "X", "valeu": "x"}]}`, "valeu"},
		{"framing header", `{"response": [{"op": "set", "header": "content-length", "value": "5"}]}`, "response[0].header"},
		{"not an object", `[]`, "(configuration)"},
	}
	var golden strings.Builder
	for _, tt := range tests {
		_, err := chain.Build([]chain.Entry{policytest.Entry(headers.Name, tt.config)}, chain.Env{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one naming %q", tt.name, err, tt.want)
			continue
		}
		fmt.Fprintf(&golden, "%s\n\t%s\n\t%v\n", tt.name, tt.config, err)
	}
	policytest.Golden(t, "load_errors.golden", golden.String())
}

func TestRenderedControlCharactersFailClosed(t *testing.T) {
	ch := policytest.Build(t, policytest.Entry(headers.Name, `{"request": [{"op": "set", "header": "X-U", "value": "{{ headers['X-In'] | url_decode }}", "value_type": "liquid"}]}`))
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("X-In", "a%0d%0aInjected: 1")
	res := policytest.Run(ch, r, "192.0.2.7", nil, 0)
	if res.Proxied || res.Status != chain.DefaultFailStatus {
		t.Errorf("status %d, proxied %v: want the request failed closed", res.Status, res.Proxied)
	}
}
