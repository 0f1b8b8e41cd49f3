package urlrewriting_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/policies/internal/policytest"
	urlrewriting "github.com/verdict-policy/verdict/policies/url_rewriting"
)

func TestRewrite(t *testing.T) {
	tests := []struct {
		name   string
		config string
		method string
		target string // path and query sent
		want   string // path and query the upstream gets
	}{
		{"sub replaces the first match", `{"commands": [{"op": "sub", "regex": "o", "replace": "0"}]}`, "GET", "/foo/boo", "/f0o/boo"},
		{"gsub replaces every match", `{"commands": [{"op": "gsub", "regex": "o", "replace": "0"}]}`, "GET", "/foo/boo", "/f00/b00"},
		{"captures", `{"commands": [{"op": "sub", "regex": "^/v1/users/(\\d+)$", "replace": "/api/users?id=$1"}]}`, "GET", "/v1/users/42", "/api/users%3Fid=42"},
		{"braced captures and literal dollar", `{"commands": [{"op": "sub", "regex": "^/(\\w+)", "replace": "/${1}x/$$/$0"}]}`, "GET", "/abc/d", "/abcx/$//abc/d"},
		{"no match leaves the path", `{"commands": [{"op": "sub", "regex": "^/nope", "replace": "/x"}]}`, "GET", "/foo?a=1", "/foo?a=1"},
		{"commands chain", `{"commands": [{"op": "sub", "regex": "^/a", "replace": "/b"}, {"op": "sub", "regex": "^/b", "replace": "/c"}]}`, "GET", "/a", "/c"},
		{"break after a change stops", `{"commands": [{"op": "sub", "regex": "^/a", "replace": "/b", "break": true}, {"op": "sub", "regex": "^/b", "replace": "/c"}]}`, "GET", "/a", "/b"},
		{"break without a change goes on", `{"commands": [{"op": "sub", "regex": "^/z", "replace": "/b", "break": true}, {"op": "sub", "regex": "^/a", "replace": "/c"}]}`, "GET", "/a", "/c"},
		{"method filter skips", `{"commands": [{"op": "sub", "regex": "^/a", "replace": "/b", "methods": ["POST"]}]}`, "GET", "/a", "/a"},
		{"method filter applies", `{"commands": [{"op": "sub", "regex": "^/a", "replace": "/b", "methods": ["GET", "POST"]}]}`, "POST", "/a", "/b"},
		{"case-insensitive option", `{"commands": [{"op": "sub", "regex": "^/API", "replace": "/api", "options": "i"}]}`, "GET", "/Api/x", "/api/x"},
		{"anchored option", `{"commands": [{"op": "sub", "regex": "x", "replace": "y", "options": "ajo"}]}`, "GET", "/x", "/x"},
		{"path keeps the query", `{"commands": [{"op": "sub", "regex": "^/old", "replace": "/new"}]}`, "GET", "/old?b=2&a=1", "/new?b=2&a=1"},
		{"query set creates", `{"query_args_commands": [{"op": "set", "arg": "user_key", "value": "k 1"}]}`, "GET", "/p", "/p?user_key=k+1"},
		{"query set replaces all values in place", `{"query_args_commands": [{"op": "set", "arg": "a", "value": "9"}]}`, "GET", "/p?a=1&b=2&a=3", "/p?a=9&b=2"},
		{"query push appends", `{"query_args_commands": [{"op": "push", "arg": "a", "value": "2"}]}`, "GET", "/p?a=1", "/p?a=1&a=2"},
		{"query add to present arg", `{"query_args_commands": [{"op": "add", "arg": "a", "value": "2"}]}`, "GET", "/p?a=1", "/p?a=1&a=2"},
		{"query add to absent arg does nothing", `{"query_args_commands": [{"op": "add", "arg": "a", "value": "2"}]}`, "GET", "/p?b=1", "/p?b=1"},
		{"query delete", `{"query_args_commands": [{"op": "delete", "arg": "secret"}]}`, "GET", "/p?secret=1&keep=%20x&secret=2", "/p?keep=%20x"},
		{"query delete the only arg", `{"query_args_commands": [{"op": "delete", "arg": "a"}]}`, "GET", "/p?a=1", "/p"},
		{"query escaped names match", `{"query_args_commands": [{"op": "delete", "arg": "a b"}]}`, "GET", "/p?a%20b=1&c=2", "/p?c=2"},
		{"query liquid value", `{"query_args_commands": [{"op": "set", "arg": "m", "value": "{{ http_method }}-{{ uri }}", "value_type": "liquid"}]}`, "GET", "/p", "/p?m=GET-%2Fp"},
		{"query invalid liquid sets an empty value", `{"query_args_commands": [{"op": "set", "arg": "new_arg", "value": "{{'something' | md5", "value_type": "liquid"}]}`, "GET", "/p?a=1", "/p?a=1&new_arg="},
		{"query invalid liquid block sets an empty value", `{"query_args_commands": [{"op": "set", "arg": "a", "value": "{% for %}", "value_type": "liquid"}]}`, "GET", "/p?a=1", "/p?a="},
		{"query method filter", `{"query_args_commands": [{"op": "set", "arg": "a", "value": "1", "methods": ["PUT"]}]}`, "GET", "/p", "/p"},
		{"path then query", `{"commands": [{"op": "sub", "regex": "^/v2", "replace": ""}], "query_args_commands": [{"op": "set", "arg": "version", "value": "{{ original_request.path }}", "value_type": "liquid"}]}`, "GET", "/v2/x", "/x?version=%2Fv2%2Fx"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := policytest.Build(t, policytest.Entry(urlrewriting.Name, tt.config))
			r := httptest.NewRequest(tt.method, "http://api.example.com"+tt.target, nil)
			var got string
			res := policytest.Run(ch, r, "192.0.2.1", func(up *http.Request) (int, http.Header, []byte) {
				got = up.URL.RequestURI()
				return 200, nil, nil
			}, 0)
			if !res.Proxied {
				t.Fatalf("not proxied: %d %v", res.Status, res.Context.Failed())
			}
			if got != tt.want {
				t.Errorf("upstream got %s, want %s", got, tt.want)
			}
			if o := res.Context.Original.URI; o != tt.target {
				t.Errorf("original request changed to %s", o)
			}
		})
	}
}

func TestBadConfiguration(t *testing.T) {
	tests := []struct{ name, config, want string }{
		{"invalid regex", `{"commands": [{"op": "sub", "regex": "(", "replace": "x"}]}`, "commands[0].regex: invalid regular expression"},
		{"PCRE only syntax", `{"commands": [{"op": "sub", "regex": "a(?=b)", "replace": "x"}]}`, "commands[0].regex"},
		{"unknown option", `{"commands": [{"op": "sub", "regex": "a", "replace": "x", "options": "q"}]}`, "commands[0].options"},
		{"extended option", `{"commands": [{"op": "sub", "regex": "a", "replace": "x", "options": "x"}]}`, "commands[0].options"},
		{"missing capture", `{"commands": [{"op": "sub", "regex": "(a)", "replace": "$2"}]}`, "commands[0].replace"},
		{"named reference", `{"commands": [{"op": "sub", "regex": "(a)", "replace": "$name"}]}`, "commands[0].replace"},
		{"missing replace", `{"commands": [{"op": "sub", "regex": "a"}]}`, "commands.0"},
		{"unknown op", `{"commands": [{"op": "replace", "regex": "a", "replace": "b"}]}`, "commands.0.op"},
		{"bad method", `{"commands": [{"op": "sub", "regex": "a", "replace": "b", "methods": ["get"]}]}`, "commands.0.methods.0"},
		{"query op", `{"query_args_commands": [{"op": "upsert", "arg": "a"}]}`, "query_args_commands.0.op"},
		{"query missing arg", `{"query_args_commands": [{"op": "set", "value": "1"}]}`, "query_args_commands.0"},
	}
	var golden strings.Builder
	for _, tt := range tests {
		_, err := chain.Build([]chain.Entry{policytest.Entry(urlrewriting.Name, tt.config)}, chain.Env{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one naming %q", tt.name, err, tt.want)
			continue
		}
		fmt.Fprintf(&golden, "%s\n\t%s\n\t%v\n", tt.name, tt.config, err)
	}
	policytest.Golden(t, "load_errors.golden", golden.String())
}
