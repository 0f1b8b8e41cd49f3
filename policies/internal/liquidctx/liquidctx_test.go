package liquidctx

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/verdict-policy/verdict/chain"
)

func testContext() *chain.Context {
	r := httptest.NewRequest("POST", "http://API.example.com:8080/v1/items?a=1", nil)
	r.RemoteAddr = "192.0.2.7:5555"
	r.Header.Set("X-User", "ann")
	r.Header.Add("X-Multi", "a")
	r.Header.Add("X-Multi", "b")
	r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}))
	c := chain.NewContext(r, "192.0.2.7", nil, map[string]any{"static": "exported"})
	c.ServiceID = "42"
	c.Request.URL.Path = "/rewritten"
	c.Set("jwt", map[string]any{"sub": "alice"})
	return c
}

func TestRender(t *testing.T) {
	tests := []struct{ template, want string }{
		{"plain {{ text", "plain {{ text"},
		{"{{ uri }} {{ path }}", "/rewritten /rewritten"},
		{"{{ host }} {{ scheme }} {{ http_method }}", "api.example.com http POST"},
		{"{{ remote_addr }}:{{ remote_port }}", "192.0.2.7:5555"},
		{"{{ server_addr }}:{{ server_port }}", "127.0.0.1:8080"},
		{"{{ query }}", "a=1"},
		{"{{ headers['x-user'] }} {{ headers['X-USER'] }} {{ headers.X-User }}", "ann ann ann"},
		{"{{ headers['X-Multi'] }}", "a, b"},
		{"[{{ headers['X-None'] }}]", "[]"},
		{"{% if headers contains 'X-User' %}yes{% endif %}", "yes"},
		{"{{ original_request.path }} {{ original_request.uri }} {{ original_request.headers['X-User'] }}", "/v1/items /v1/items?a=1 ann"},
		{"{{ service.id }} {{ jwt.sub }} {{ static }}", "42 alice exported"},
		{"{{ 'abc' | md5 }}", "900150983cd24fb0d6963f7d28e17f72"},
		{"{{ 'a b/c' | escape_uri }} {{ 'YQ==' | decode_base64 }} {{ 'a' | encode_base64 }}", "a+b%2Fc a YQ=="},
		{"{% assign x = 'v' %}{{ x }}{{ nothing }}", "v"},
		{"{% for i in (1..3) %}{{ i }}{% endfor %}", "123"},
		{"{{ 'Sun, 06 Nov 1994 08:49:37 GMT' | parse_http_time }}[{{ 'yesterday' | parse_http_time }}]", "784111777[]"},
	}
	c := testContext()
	for _, tt := range tests {
		t.Run(tt.template, func(t *testing.T) {
			valueType := Liquid
			if tt.template == "plain {{ text" {
				valueType = Plain
			}
			tpl, err := Compile(tt.template, valueType)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tpl.Render(c)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestServiceVariable(t *testing.T) {
	c := testContext()
	c.Service = &chain.Service{ID: "7", SystemName: "orders", Hosts: []string{"api.example.com"}, SecretToken: "s3cret"}
	got, err := MustCompile("{{ service.id }} {{ service.system_name }} {{ service.hosts | first }} [{{ service.secret_token }}]", Liquid).Render(c)
	if err != nil || got != "7 orders api.example.com []" {
		t.Errorf("got %q, %v", got, err)
	}
}

func TestRequestIDIsStable(t *testing.T) {
	c := testContext()
	tpl := MustCompile("{{ request_id }}", Liquid)
	a, _ := tpl.Render(c)
	b, _ := tpl.Render(c)
	if len(a) != 32 || a != b {
		t.Errorf("ids %q and %q", a, b)
	}
	c = testContext()
	c.Request.Header.Set("X-Request-Id", "from-client")
	if got, _ := tpl.Render(c); got != "from-client" {
		t.Errorf("id %q, want the client's", got)
	}
}

func TestMentioned(t *testing.T) {
	tests := []struct {
		template string
		want     []string
	}{
		{"no tags", nil},
		{"{{ uri }}", []string{"uri"}},
		{"{{ a.b.c }} {{ headers['X-Y'] | upcase }}", []string{"a", "headers", "upcase"}},
		{`{% if x == "y z" %}{{ w }}{% endif %}`, []string{"if", "x", "w", "endif"}},
		{"{{ unterminated", []string{"unterminated"}},
		{"{ {x} }", nil},
	}
	for _, tt := range tests {
		if got := mentioned(tt.template); !slices.Equal(got, tt.want) {
			t.Errorf("mentioned(%q) = %q, want %q", tt.template, got, tt.want)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	if _, err := Compile("x", "lua"); err == nil || !strings.Contains(err.Error(), `unknown value type "lua"`) {
		t.Errorf("Compile with the type lua: %v", err)
	}
}

// TestInvalidRendersEmpty: a Liquid value that is not a valid template
// loads, renders as the empty string (APIcast's t/liquid.t) and says why.
func TestInvalidRendersEmpty(t *testing.T) {
	tests := []struct{ name, template, why string }{
		{"unclosed output, APIcast's case", "{{'something' | md5", "is not closed"},
		{"output closed by one brace", "prefix {{ uri }", "is not closed"},
		{"a second output left open", "{{ uri }} and {{", "is not closed"},
		{"unclosed tag", "{% if uri", "is not closed"},
		{"unterminated block", "{% if uri %}x", "unterminated"},
		{"syntax error", "{{ a b }}", "syntax error"},
		{"unknown filter", "{{ uri | no_such_filter }}", `unknown filter "no_such_filter"`},
		{"range bound from the request", "{% for i in (1..headers['X-N']) %}x{% endfor %}", "whole numbers"},
		{"range too long", "{% for i in (0..100000) %}x{% endfor %}", "longer than"},
		{"nested range bound from the request", "{% for i in (1..2) %}{% for j in (1..uri) %}x{% endfor %}{% endfor %}", "whole numbers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tpl, err := Compile(tt.template, Liquid)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			if err := tpl.Invalid(); err == nil || !strings.Contains(err.Error(), tt.why) {
				t.Errorf("Invalid() = %v, want it to say %q", err, tt.why)
			}
			if err := Validate(tt.template); err == nil || !strings.Contains(err.Error(), tt.why) {
				t.Errorf("Validate = %v, want it to say %q", err, tt.why)
			}
			if tpl.IsPlain() {
				t.Error("an invalid template says it is plain")
			}
			var logs strings.Builder
			c := testContext()
			c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			for range 2 {
				got, err := tpl.Render(c)
				if err != nil || got != "" {
					t.Errorf("Render = %q, %v; want the empty string", got, err)
				}
				if got, err := tpl.RenderWith(c, map[string]any{"uri": "x"}); err != nil || got != "" {
					t.Errorf("RenderWith = %q, %v; want the empty string", got, err)
				}
			}
			if n := strings.Count(logs.String(), "invalid Liquid template renders as the empty string"); n != 1 {
				t.Errorf("logged %d times, want once:\n%s", n, logs.String())
			}
		})
	}
}

func TestValidTemplates(t *testing.T) {
	tests := []struct{ template, want string }{
		{"{% raw %}{{ x{% endraw %}", "{{ x"},
		{"{%- raw -%}{% if{%- endraw -%} {{ uri }}", "{% if/rewritten"},
		{"a } b }} c", "a } b }} c"},
		{"{ {x} }", "{ {x} }"},
		{"{{ uri }}{{ http_method }}", "/rewrittenPOST"},
	}
	for _, tt := range tests {
		if err := Validate(tt.template); err != nil {
			t.Errorf("Validate(%q): %v", tt.template, err)
			continue
		}
		got, err := MustCompile(tt.template, Liquid).Render(testContext())
		if err != nil || got != tt.want {
			t.Errorf("%q renders %q, %v; want %q", tt.template, got, err, tt.want)
		}
	}
}

func TestMustCompilePanicsOnInvalid(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	MustCompile("{{ x", Liquid)
}

// FuzzTemplate compiles and renders arbitrary templates: an error is
// fine, a panic is not. The seed corpus is under testdata/fuzz.
func FuzzTemplate(f *testing.F) {
	f.Add("{{ headers['X-User'] | upcase }} {{ uri }}")
	f.Fuzz(func(t *testing.T, src string) {
		tpl, err := Compile(src, Liquid)
		if err != nil {
			return
		}
		_, _ = tpl.Render(testContext())
	})
}

func TestExtraFiltersAreRegistered(t *testing.T) {
	for _, name := range extraFilters {
		tpl := MustCompile("{{ 'YQ==' | "+name+": 'k' }}", Liquid)
		_, err := tpl.Render(testContext())
		if err != nil && strings.Contains(err.Error(), "undefined filter") {
			t.Errorf("filter %s is listed but not registered", name)
		}
	}
}
