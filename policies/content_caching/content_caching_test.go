package contentcaching_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/verdict-policy/verdict/chain"
	contentcaching "github.com/verdict-policy/verdict/policies/content_caching"
	"github.com/verdict-policy/verdict/policies/internal/policytest"
	"github.com/verdict-policy/verdict/store"
)

// always is a rule that caches every request, as APIcast's tests write it.
const always = `{"cache": true, "header": "X-Cache-Status", "condition": {"combine_op": "and", "operations": [{"left": "oo", "op": "==", "right": "oo"}]}}`

// upstream answers by path and counts the requests it gets, with the
// method they came with.
type upstream struct {
	mu      sync.Mutex
	calls   int
	methods []string
	// answer returns status, header and body for a path.
	answer func(r *http.Request) (int, http.Header, string)
}

func (u *upstream) serve(r *http.Request) (int, http.Header, []byte) {
	u.mu.Lock()
	u.calls++
	u.methods = append(u.methods, r.Method)
	u.mu.Unlock()
	if u.answer == nil {
		return 200, http.Header{"Content-Type": {"text/plain"}}, []byte("yay, api backend\n")
	}
	status, h, body := u.answer(r)
	return status, h, []byte(body)
}

func (u *upstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.calls
}

func build(t *testing.T, config string, env chain.Env) *chain.Chain {
	t.Helper()
	if env.Logger == nil {
		env.Logger = slog.New(slog.DiscardHandler)
	}
	ch, err := chain.Build([]chain.Entry{policytest.Entry(contentcaching.Name, config)}, env)
	if err != nil {
		t.Fatalf("building the chain: %v", err)
	}
	t.Cleanup(func() { _ = ch.Close() })
	return ch
}

func do(ch *chain.Chain, up *upstream, method, path string, header http.Header) policytest.Result {
	r := httptest.NewRequest(method, "http://api.test"+path, nil)
	for k, v := range header {
		r.Header[k] = v
	}
	return policytest.Run(ch, r, "192.0.2.1", up.serve, 4)
}

type step struct {
	method, path string
	header       http.Header
	status       int
	cache        string // the X-Cache-Status wanted, "" for none
	calls        int    // upstream requests so far
}

func runSteps(t *testing.T, ch *chain.Chain, up *upstream, cacheHeader string, steps []step) {
	t.Helper()
	for i, s := range steps {
		method := s.method
		if method == "" {
			method = "GET"
		}
		res := do(ch, up, method, s.path, s.header)
		if res.Status != s.status {
			t.Fatalf("step %d (%s %s): status %d, want %d", i, method, s.path, res.Status, s.status)
		}
		if got := res.Header.Get(cacheHeader); got != s.cache {
			t.Fatalf("step %d (%s %s): %s %q, want %q", i, method, s.path, cacheHeader, got, s.cache)
		}
		if n := up.count(); n != s.calls {
			t.Fatalf("step %d (%s %s): %d upstream requests, want %d", i, method, s.path, n, s.calls)
		}
	}
}

// TestEnablesCaching ports APIcast's test 1: a response is fetched once
// and then served from the cache, body and headers included.
func TestEnablesCaching(t *testing.T) {
	up := &upstream{}
	ch := build(t, `{"rules": [`+always+`]}`, chain.Env{})
	runSteps(t, ch, up, "X-Cache-Status", []step{
		{path: "/foo", status: 200, cache: "MISS", calls: 1},
		{path: "/foo", status: 200, cache: "HIT", calls: 1},
		{path: "/foo", status: 200, cache: "HIT", calls: 1},
		{path: "/foo?x=1", status: 200, cache: "MISS", calls: 2},
	})
	res := do(ch, up, "GET", "/foo", nil)
	if string(res.Body) != "yay, api backend\n" || res.Header.Get("Content-Type") != "text/plain" {
		t.Fatalf("kept response: %q, %v", res.Body, res.Header)
	}
}

// TestRules ports APIcast's tests 2, 3 and 5: no rule holding means no
// cache and no header; the rule that holds names the header; a Liquid
// condition picks the requests.
func TestRules(t *testing.T) {
	t.Run("no rule holds", func(t *testing.T) {
		up := &upstream{}
		ch := build(t, `{"rules": [{"cache": true, "condition": {"combine_op": "and", "operations": [{"left": "oo", "op": "==", "right": "false"}]}}]}`, chain.Env{})
		runSteps(t, ch, up, "X-Cache-Status", []step{
			{path: "/foo", status: 200, calls: 1},
			{path: "/foo", status: 200, calls: 2},
		})
	})
	t.Run("the rule that holds names the header", func(t *testing.T) {
		up := &upstream{}
		ch := build(t, `{"rules": [
			{"cache": true, "header": "X-Cache-Status", "condition": {"combine_op": "and", "operations": [{"left": "oo", "op": "==", "right": "false"}]}},
			{"cache": true, "header": "X-Cache-Second", "condition": {"combine_op": "and", "operations": [{"left": "oo", "op": "==", "right": "oo"}]}}]}`, chain.Env{})
		runSteps(t, ch, up, "X-Cache-Second", []step{
			{path: "/foo", status: 200, cache: "MISS", calls: 1},
			{path: "/foo", status: 200, cache: "HIT", calls: 1},
		})
	})
	t.Run("liquid condition", func(t *testing.T) {
		up := &upstream{}
		ch := build(t, `{"rules": [{"cache": true, "condition": {"operations": [{"left": "{{uri}}", "left_type": "liquid", "op": "==", "right": "/foo"}]}}]}`, chain.Env{})
		runSteps(t, ch, up, "X-Cache-Status", []step{
			{path: "/foo", status: 200, cache: "MISS", calls: 1},
			{path: "/test", status: 200, calls: 2},
			{path: "/test", status: 200, calls: 3},
			{path: "/foo", status: 200, cache: "HIT", calls: 3},
		})
	})
	t.Run("a cache false rule that holds turns the cache off", func(t *testing.T) {
		up := &upstream{}
		ch := build(t, `{"rules": [
			{"cache": false, "condition": {"operations": [{"left": "{{ http_method }}", "left_type": "liquid", "op": "==", "right": "GET"}, {"left": "{{ uri }}", "left_type": "liquid", "op": "matches", "right": "^/private"}]}},
			{"cache": true}]}`, chain.Env{})
		runSteps(t, ch, up, "X-Cache-Status", []step{
			{path: "/private/x", status: 200, calls: 1},
			{path: "/private/x", status: 200, calls: 2},
			{path: "/public/x", status: 200, cache: "MISS", calls: 3},
			{path: "/public/x", status: 200, cache: "HIT", calls: 3},
		})
	})
	t.Run("no header", func(t *testing.T) {
		up := &upstream{}
		ch := build(t, `{"rules": [{"cache": true, "header": ""}]}`, chain.Env{})
		runSteps(t, ch, up, "X-Cache-Status", []step{
			{path: "/foo", status: 200, calls: 1},
			{path: "/foo", status: 200, calls: 1},
		})
	})
}

// TestStatusCodes ports APIcast's test 6: only the configured statuses
// are kept, from the configuration or from APICAST_CACHE_STATUS_CODES.
func TestStatusCodes(t *testing.T) {
	answer := func(r *http.Request) (int, http.Header, string) {
		switch r.URL.Path {
		case "/redirect":
			return 302, http.Header{"Location": {"/foo"}}, "ok"
		case "/create":
			return 201, nil, "ok"
		case "/missing":
			return 404, nil, "no"
		}
		return 200, nil, "ok\n"
	}
	steps := []step{
		{path: "/foo", status: 200, cache: "MISS", calls: 1},
		{path: "/foo", status: 200, cache: "MISS", calls: 2},
		{path: "/redirect", status: 302, cache: "MISS", calls: 3},
		{path: "/redirect", status: 302, cache: "HIT", calls: 3},
		{path: "/create", status: 201, cache: "MISS", calls: 4},
		{path: "/create", status: 201, cache: "HIT", calls: 4},
		{path: "/missing", status: 404, cache: "MISS", calls: 5},
		{path: "/missing", status: 404, cache: "MISS", calls: 6},
	}
	t.Run("configured", func(t *testing.T) {
		up := &upstream{answer: answer}
		runSteps(t, build(t, `{"status_codes": [201, 302], "rules": [`+always+`]}`, chain.Env{}), up, "X-Cache-Status", steps)
	})
	t.Run("from the environment", func(t *testing.T) {
		t.Setenv("APICAST_CACHE_STATUS_CODES", "201 302")
		up := &upstream{answer: answer}
		runSteps(t, build(t, `{"rules": [`+always+`]}`, chain.Env{}), up, "X-Cache-Status", steps)
	})
	t.Run("the configuration wins", func(t *testing.T) {
		t.Setenv("APICAST_CACHE_STATUS_CODES", "404")
		up := &upstream{answer: answer}
		runSteps(t, build(t, `{"status_codes": [201, 302], "rules": [`+always+`]}`, chain.Env{}), up, "X-Cache-Status", steps)
	})
	t.Run("any", func(t *testing.T) {
		up := &upstream{answer: answer}
		runSteps(t, build(t, `{"status_codes": ["any"], "rules": [`+always+`]}`, chain.Env{}), up, "X-Cache-Status", []step{
			{path: "/missing", status: 404, cache: "MISS", calls: 1},
			{path: "/missing", status: 404, cache: "HIT", calls: 1},
		})
	})
}

// TestUpstreamSaysNo ports APIcast's test 7 and nginx's other reasons not
// to keep a response.
func TestUpstreamSaysNo(t *testing.T) {
	for name, h := range map[string]http.Header{
		"Cache-Control no-cache":  {"Cache-Control": {"no-cache"}},
		"Cache-Control no-store":  {"Cache-Control": {"public, no-store"}},
		"Cache-Control private":   {"Cache-Control": {"Private"}},
		"max-age=0":               {"Cache-Control": {"max-age=0"}},
		"s-maxage=0 over max-age": {"Cache-Control": {"max-age=60, s-maxage=0"}},
		"Expires in the past":     {"Expires": {"Thu, 01 Jan 1970 00:00:00 GMT"}},
		"Expires invalid":         {"Expires": {"0"}},
		"Set-Cookie":              {"Set-Cookie": {"session=1"}},
		"Vary *":                  {"Vary": {"Accept, *"}},
	} {
		t.Run(name, func(t *testing.T) {
			up := &upstream{answer: func(*http.Request) (int, http.Header, string) { return 200, h, "x" }}
			runSteps(t, build(t, `{"rules": [`+always+`]}`, chain.Env{}), up, "X-Cache-Status", []step{
				{path: "/foo", status: 200, cache: "MISS", calls: 1},
				{path: "/foo", status: 200, cache: "MISS", calls: 2},
			})
		})
	}
	for name, h := range map[string]http.Header{
		"max-age":         {"Cache-Control": {"max-age=60"}},
		"quoted s-maxage": {"Cache-Control": {`s-maxage="60"`}},
		"Expires ahead":   {"Expires": {time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)}},
	} {
		t.Run(name+" is kept", func(t *testing.T) {
			up := &upstream{answer: func(*http.Request) (int, http.Header, string) { return 200, h, "x" }}
			runSteps(t, build(t, `{"rules": [`+always+`]}`, chain.Env{}), up, "X-Cache-Status", []step{
				{path: "/foo", status: 200, cache: "MISS", calls: 1},
				{path: "/foo", status: 200, cache: "HIT", calls: 1},
			})
		})
	}
}

// TestAuthorization: a response to a request with credentials is kept
// only when the upstream marks it shareable (RFC 9111, section 3.5).
func TestAuthorization(t *testing.T) {
	auth := http.Header{"Authorization": {"Bearer alice"}}
	up := &upstream{answer: func(r *http.Request) (int, http.Header, string) {
		if r.URL.Path == "/shared" {
			return 200, http.Header{"Cache-Control": {"public"}}, "for all"
		}
		return 200, nil, "for " + r.Header.Get("Authorization")
	}}
	ch := build(t, `{"rules": [`+always+`]}`, chain.Env{})
	runSteps(t, ch, up, "X-Cache-Status", []step{
		{path: "/mine", header: auth, status: 200, cache: "MISS", calls: 1},
		{path: "/mine", header: http.Header{"Authorization": {"Bearer bob"}}, status: 200, cache: "MISS", calls: 2},
		{path: "/shared", header: auth, status: 200, cache: "MISS", calls: 3},
		{path: "/shared", header: http.Header{"Authorization": {"Bearer bob"}}, status: 200, cache: "HIT", calls: 3},
	})
	if res := do(ch, up, "GET", "/mine", http.Header{"Authorization": {"Bearer carol"}}); string(res.Body) != "for Bearer carol" {
		t.Fatalf("carol got %q", res.Body)
	}
}

// TestMethods ports APIcast's tests 8 and 9: with the cache on, a HEAD
// goes upstream as a GET so that the response can be kept, and a GET's
// response answers a HEAD; other methods bypass the cache.
func TestMethods(t *testing.T) {
	up := &upstream{}
	ch := build(t, `{"rules": [`+always+`]}`, chain.Env{})
	runSteps(t, ch, up, "X-Cache-Status", []step{
		{method: "HEAD", path: "/foo", status: 200, cache: "MISS", calls: 1},
		{method: "GET", path: "/foo", status: 200, cache: "HIT", calls: 1},
		{method: "HEAD", path: "/foo", status: 200, cache: "HIT", calls: 1},
		{method: "POST", path: "/foo", status: 200, cache: "BYPASS", calls: 2},
		{method: "DELETE", path: "/foo", status: 200, cache: "BYPASS", calls: 3},
		{method: "GET", path: "/foo", status: 200, cache: "HIT", calls: 3},
	})
	if got := strings.Join(up.methods, " "); got != "GET POST DELETE" {
		t.Fatalf("the upstream got %s", got)
	}
	// Without the cache a HEAD stays a HEAD.
	plain := &upstream{}
	none := build(t, `{"rules": [{"cache": false}]}`, chain.Env{})
	do(none, plain, "HEAD", "/foo", nil)
	if plain.methods[0] != "HEAD" {
		t.Fatalf("without the cache the upstream got %s", plain.methods[0])
	}
}

// TestVary: a kept response serves only requests with the header values
// it was fetched with; another variant replaces it.
func TestVary(t *testing.T) {
	up := &upstream{answer: func(r *http.Request) (int, http.Header, string) {
		return 200, http.Header{"Vary": {"Accept-Language"}}, "in " + r.Header.Get("Accept-Language")
	}}
	ch := build(t, `{"rules": [`+always+`]}`, chain.Env{})
	en, fr := http.Header{"Accept-Language": {"en"}}, http.Header{"Accept-Language": {"fr"}}
	runSteps(t, ch, up, "X-Cache-Status", []step{
		{path: "/doc", header: en, status: 200, cache: "MISS", calls: 1},
		{path: "/doc", header: en, status: 200, cache: "HIT", calls: 1},
		{path: "/doc", header: fr, status: 200, cache: "MISS", calls: 2},
		{path: "/doc", header: fr, status: 200, cache: "HIT", calls: 2},
	})
	if res := do(ch, up, "GET", "/doc", fr); string(res.Body) != "in fr" {
		t.Fatalf("body %q", res.Body)
	}
}

// TestMaxBodySize: a body over max_body_size passes whole and is not kept,
// whether its length is announced or not.
func TestMaxBodySize(t *testing.T) {
	big := strings.Repeat("x", 100)
	for name, h := range map[string]http.Header{"announced": {"Content-Length": {"100"}}, "streamed": nil} {
		t.Run(name, func(t *testing.T) {
			up := &upstream{answer: func(*http.Request) (int, http.Header, string) { return 200, h, big }}
			ch := build(t, `{"max_body_size": 64, "rules": [`+always+`]}`, chain.Env{})
			for i := 1; i <= 2; i++ {
				res := do(ch, up, "GET", "/big", nil)
				if string(res.Body) != big || res.Header.Get("X-Cache-Status") != "MISS" || up.count() != i {
					t.Fatalf("request %d: %d bytes, %q, %d calls", i, len(res.Body), res.Header.Get("X-Cache-Status"), up.count())
				}
			}
		})
	}
}

// failingStore is a store whose tables cannot be reached.
type failingStore struct{ store.Store }

func (failingStore) TableGet(context.Context, string, string) ([]byte, bool, error) {
	return nil, false, fmt.Errorf("%w: connection refused", store.ErrUnavailable)
}

func (failingStore) TablePut(context.Context, string, string, []byte, time.Duration) error {
	return errors.New("must not be called after a failed read")
}

// TestStoreUnavailable: without its store the cache is bypassed and every
// request still gets the upstream's answer.
func TestStoreUnavailable(t *testing.T) {
	up := &upstream{}
	ch := build(t, `{"rules": [`+always+`]}`, chain.Env{Store: failingStore{}})
	runSteps(t, ch, up, "X-Cache-Status", []step{
		{path: "/foo", status: 200, cache: "BYPASS", calls: 1},
		{path: "/foo", status: 200, cache: "BYPASS", calls: 2},
	})
}

// TestNotKeptWhenUnreachable: the gateway's own 502 for an upstream it
// cannot reach is never kept, even with status_codes any.
func TestNotKeptWhenUnreachable(t *testing.T) {
	ch := build(t, `{"status_codes": ["any"], "rules": [`+always+`]}`, chain.Env{})
	down := func(*http.Request) (int, http.Header, []byte) { return policytest.Unreachable, nil, nil }
	for range 2 {
		res := policytest.Run(ch, httptest.NewRequest("GET", "http://api.test/foo", nil), "192.0.2.1", down, 0)
		if res.Status != 502 || res.Header.Get("X-Cache-Status") != "MISS" {
			t.Fatalf("got %d %q", res.Status, res.Header.Get("X-Cache-Status"))
		}
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct{ name, config, env, want string }{
		{"rule without cache", `{"rules": [{"header": "X"}]}`, "", "cache"},
		{"bad op", `{"rules": [{"cache": true, "condition": {"operations": [{"left": "a", "op": "<", "right": "b"}]}}]}`, "", "op"},
		{"bad regular expression", `{"rules": [{"cache": true, "condition": {"operations": [{"left": "a", "op": "matches", "right": "("}]}}]}`, "", "right"},
		{"status out of range", `{"status_codes": [99]}`, "", "status_codes"},
		{"status not a number", `{"status_codes": ["ok"]}`, "", "status_codes"},
		{"empty status list", `{"status_codes": []}`, "", "status_codes"},
		{"bad max_time", `{"max_time": "soon"}`, "", "max_time"},
		{"max_time unit", `{"max_time": "5x"}`, "", "max_time"},
		{"max_time over a year", `{"max_time": "400d"}`, "", "max_time"},
		{"bad environment status", `{}`, "APICAST_CACHE_STATUS_CODES=200 abc", "APICAST_CACHE_STATUS_CODES"},
		{"bad environment time", `{}`, "APICAST_CACHE_MAX_TIME=1 minute", "APICAST_CACHE_MAX_TIME"},
		{"negative max_body_size", `{"max_body_size": -1}`, "", "max_body_size"},
		{"unknown field", `{"ttl": 5}`, "", "ttl"},
	}
	var golden strings.Builder
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if k, v, ok := strings.Cut(tt.env, "="); ok {
				t.Setenv(k, v)
			}
			_, err := chain.Build([]chain.Entry{policytest.Entry(contentcaching.Name, tt.config)}, chain.Env{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one naming %q", err, tt.want)
			}
			fmt.Fprintf(&golden, "%s\n\t%s %s\n\t%v\n", tt.name, tt.config, tt.env, err)
		})
	}
	policytest.Golden(t, "load_errors.golden", golden.String())
}
