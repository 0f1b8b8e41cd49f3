package rewriteurlcaptures_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/policies/internal/policytest"
	rewriteurlcaptures "github.com/verdict-policy/verdict/policies/rewrite_url_captures"
	_ "github.com/verdict-policy/verdict/policies/url_rewriting"
)

// one is a configuration with one transformation.
func one(rule, template string, methods ...string) string {
	m := ""
	if len(methods) > 0 {
		m = `, "methods": ["` + strings.Join(methods, `", "`) + `"]`
	}
	return fmt.Sprintf(`{"transformations": [{"match_rule": %q, "template": %q%s}]}`, rule, template, m)
}

// rewrite sends method target through a chain of the policy and returns
// the path and query the upstream gets.
func rewrite(t *testing.T, config, method, target string) string {
	t.Helper()
	ch := policytest.Build(t, policytest.Entry(rewriteurlcaptures.Name, config))
	var got string
	res := policytest.Run(ch, httptest.NewRequest(method, "http://api.example.com"+target, nil), "192.0.2.1", func(up *http.Request) (int, http.Header, []byte) {
		got = up.URL.RequestURI()
		return 200, nil, nil
	}, 0)
	if !res.Proxied {
		t.Fatalf("not proxied: %d %v", res.Status, res.Context.Failed())
	}
	if o := res.Context.Original.URI; o != target {
		t.Errorf("the original request changed to %s", o)
	}
	return got
}

func TestRewrite(t *testing.T) {
	const rule, template = "/{var_1}/{var_2}", "/{var_2}?my_arg={var_1}"
	tests := []struct {
		name, config, method, target, want string
	}{
		// APIcast's t/apicast-policy-rewrite-url-captures.t and its specs.
		{"one transformation that matches", one(rule, template), "GET", "/abc/def?user_key=value", "/def?user_key=value&my_arg=abc"},
		{"only the first match applies", `{"transformations": [{"match_rule": "/{var_1}/{var_2}", "template": "/{var_2}?my_arg={var_1}"}, {"match_rule": "/{var_1}/{var_2}", "template": "/{var_1}/{var_2}"}]}`, "GET", "/abc/def?user_key=value", "/def?user_key=value&my_arg=abc"},
		{"none matches", `{"transformations": [{"match_rule": "/i_dont_match", "template": "/{var_2}?my_arg={var_1}"}, {"match_rule": "/i_dont_match/{var_1}", "template": "/{var_2}?my_arg={var_1}"}]}`, "GET", "/abc?query_arg=def&user_key=value", "/abc?query_arg=def&user_key=value"},
		{"a method that does not match", one(rule, template, "PUT", "OPTIONS"), "GET", "/abc/def?user_key=xyz", "/abc/def?user_key=xyz"},
		{"a method that matches", one(rule, template, "GET"), "GET", "/abc/def?user_key=value", "/def?user_key=value&my_arg=abc"},
		{"one of several methods", one(rule, template, "GET", "PUT", "POST"), "PUT", "/abc/def?user_key=value", "/def?user_key=value&my_arg=abc"},
		{"three captures", one("/{var_1}/blah/{var_2}/{var_3}", "/{var_2}/something/{var_1}?my_arg={var_3}"), "GET", "/abc/blah/def/ghi", "/def/something/abc?my_arg=ghi"},
		{"no query in the template", one("/{var_1}/blah/{var_2}", "/{var_2}/something/{var_1}"), "GET", "/abc/blah/def?x=1", "/def/something/abc?x=1"},
		{"only the query has captures", one("/v2/{var_1}", "/?my_arg={var_1}"), "GET", "/v2/abc", "/?my_arg=abc"},
		{"no capture matches", one("/{var_1}/blah/{var_2}/{var_3}", "/{var_2}"), "GET", "/", "/"},
		{"some captures match", one("/{var_1}/blah/{var_2}/{var_3}", "/{var_2}"), "GET", "/abc/blah", "/abc/blah"},
		// Searching, as APIcast's ngx.re.match does.
		{"the rule is searched in the path", one("/{a}/{b}", "/{b}?q={a}"), "GET", "/x/y/z", "/y?q=x"},
		{"anchors make it whole", one("^/{a}$", "/one/{a}"), "GET", "/x/y", "/x/y"},
		{"anchored rule matches", one("^/{a}$", "/one/{a}"), "GET", "/x", "/one/x"},
		{"the rest of the rule is a regex", one("/v[0-9]+/{id}\\.json", "/items/{id}"), "GET", "/v12/7.json", "/items/7"},
		{"groups of the rule's own", one("/(v1|v2)/{id}", "/items/{id}?from={id}"), "GET", "/v2/7", "/items/7?from=7"},
		{"a segment with a space does not match", one("^/{a}/{b}$", "/{b}"), "GET", "/a%20b/c", "/a%20b/c"},
		// Query arguments are set.
		{"set replaces in place and drops the other values", one(rule, template), "GET", "/abc/def?a=1&my_arg=old&b=2&my_arg=old2", "/def?a=1&my_arg=abc&b=2"},
		{"every argument is set", one("/{x}/{y}", "/p?a={x}&b=2&c={y}&d"), "GET", "/1/2?c=0", "/p?c=2&a=1&b=2&d"},
		{"a name set twice keeps the last value", one("/{x}", "/p?a=1&a={x}"), "GET", "/9", "/p?a=9"},
		{"captured & and = stay in the value", one("/{x}/{y}", "/{y}?v={x}"), "GET", "/a&b=c/d", "/d?v=a%26b%3Dc"},
		{"template values are escaped", one("/{x}", "/p?q=a b/{x}"), "GET", "/$(1)", "/p?q=a+b%2F%24%281%29"},
		{"escaped names match the request's", one("/{x}", "/p?a b={x}"), "GET", "/1?a+b=0&c=1", "/p?a+b=1&c=1"},
		{"a placeholder in a name", one("/{k}/{v}", "/p?{k}={v}"), "GET", "/color/red", "/p?color=red"},
		{"an empty query in the template", one("/{x}", "/p/{x}?"), "GET", "/1?a=2", "/p/1?a=2"},
		// Templates.
		{"the path gets a slash", one("/{a}/{b}", "{b}/{a}"), "GET", "/x/y", "/y/x"},
		{"an unknown placeholder stays text", one("/{a}", "/{nope}/{a}"), "GET", "/x", "/%7Bnope%7D/x"},
		{"a name twice in the rule: the first capture", one("/{a}/{a}", "/{a}"), "GET", "/x/y", "/x"},
		{"captures are decoded", one("/{a}", "/p/{a}"), "GET", "/%7E%40x", "/p/~@x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rewrite(t, tt.config, tt.method, tt.target); got != tt.want {
				t.Errorf("upstream got %s, want %s", got, tt.want)
			}
		})
	}
}

// TestAfterOtherRewrites: the rule sees the path as earlier policies left
// it.
func TestAfterOtherRewrites(t *testing.T) {
	ch := policytest.Build(t,
		policytest.Entry("url_rewriting", `{"commands": [{"op": "sub", "regex": "^/api", "replace": ""}]}`),
		policytest.Entry(rewriteurlcaptures.Name, one("^/{a}/{b}$", "/{b}?a={a}")))
	var got string
	policytest.Run(ch, httptest.NewRequest("GET", "http://api.example.com/api/x/y", nil), "192.0.2.1", func(up *http.Request) (int, http.Header, []byte) {
		got = up.URL.RequestURI()
		return 200, nil, nil
	}, 0)
	if got != "/y?a=x" {
		t.Errorf("upstream got %s, want /y?a=x", got)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct{ name, config, want string }{
		{"invalid regex", one("/{a}/(", "/{a}"), "transformations[0].match_rule"},
		{"PCRE only syntax", one("/(?=x){a}", "/{a}"), "transformations[0].match_rule"},
		{"reserved group name", one("/(?P<verdictcapture0>v1)/{a}", "/{a}"), "transformations[0].match_rule"},
		{"no path in the template", one("/{a}", "?q={a}"), "transformations[0].template"},
		{"an argument without a name", one("/{a}", "/p?=1"), "transformations[0].template"},
		{"missing template", `{"transformations": [{"match_rule": "/{a}"}]}`, "transformations.0"},
		{"missing match rule", `{"transformations": [{"template": "/{a}"}]}`, "transformations.0"},
		{"empty template", one("/{a}", ""), "transformations.0.template"},
		{"lower-case method", one("/{a}", "/{a}", "get"), "transformations.0.methods.0"},
		{"unknown field", `{"transformations": [{"match_rule": "/{a}", "template": "/{a}", "method": ["GET"]}]}`, "method"},
		{"not a list", `{"transformations": {}}`, "transformations"},
	}
	var golden strings.Builder
	for _, tt := range tests {
		_, err := chain.Build([]chain.Entry{policytest.Entry(rewriteurlcaptures.Name, tt.config)}, chain.Env{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one naming %q", tt.name, err, tt.want)
			continue
		}
		fmt.Fprintf(&golden, "%s\n\t%s\n\t%v\n", tt.name, tt.config, err)
	}
	policytest.Golden(t, "load_errors.golden", golden.String())
}
