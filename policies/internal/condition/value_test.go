package condition

import (
	"net/http/httptest"
	"testing"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/policies/internal/liquidctx"
)

// TestDirectValuesRenderAsLiquid checks that every template read without
// Liquid gives what the Liquid engine gives.
func TestDirectValuesRenderAsLiquid(t *testing.T) {
	templates := []struct {
		src    string
		direct bool
	}{
		{"{{ uri }}", true}, {"{{path}}", true}, {"{{ host }}", true}, {"{{ http_method }}", true},
		{"{{ scheme }}", true}, {"{{ remote_addr }}", true}, {"{{ query }}", true},
		{"{{ headers['X-Key'] }}", true}, {`{{ headers["x-key"] }}`, true}, {"{{ headers['X-Many'] }}", true},
		{"{{ headers['X-None'] }}", true}, {"{{ headers['X-Odd'] }}", true},
		{"{{ uri | upcase }}", false}, {"k-{{ uri }}", false}, {"{{ service.id }}", false}, {"{{ request_id }}", false},
	}
	r := httptest.NewRequest("POST", "http://API.example.com:8080/a/b%20c?x=1&y=2", nil)
	r.Header.Set("X-Key", "k1")
	r.Header.Add("X-Many", "one")
	r.Header.Add("X-Many", "two")
	r.Header.Set("X-Odd", `<a href="x">&amp; 'q'</a>`)
	c := chain.NewContext(r, "192.0.2.9", nil, nil)
	for _, tt := range templates {
		v, err := CompileValue(tt.src, liquidctx.Liquid)
		if err != nil {
			t.Fatalf("%s: %v", tt.src, err)
		}
		if (v.get != nil) != tt.direct {
			t.Errorf("%s: read directly %v, want %v", tt.src, v.get != nil, tt.direct)
		}
		got, err := v.Render(c, nil)
		if err != nil {
			t.Fatalf("%s: %v", tt.src, err)
		}
		want, err := liquidctx.MustCompile(tt.src, liquidctx.Liquid).Render(c)
		if err != nil {
			t.Fatalf("%s: %v", tt.src, err)
		}
		if got != want {
			t.Errorf("%s: %q, Liquid gives %q", tt.src, got, want)
		}
		// An extra variable of the same name wins, as with Liquid.
		if v.get != nil {
			got, _ := v.Render(c, map[string]any{v.name: "shadow", "headers": map[string]any{"X-Key": "shadow"}})
			if got == want && want != "" && v.name != "headers" {
				t.Errorf("%s: the extra variable did not win", tt.src)
			}
		}
	}
}

// TestBareExtrasRenderAsLiquid checks that {{ name }} over an extra
// variable gives what the Liquid engine gives.
func TestBareExtrasRenderAsLiquid(t *testing.T) {
	c := chain.NewContext(httptest.NewRequest("GET", "http://api.example.com/a", nil), "192.0.2.9", nil, nil)
	extra := map[string]any{"status": 503, "request_time": "0.012", "uri": "/shadowed", "req": map[string]any{"a": 1}}
	for _, src := range []string{"{{ status }}", "{{request_time}}", "{{ uri }}", "{{ req }}", "{{ missing }}"} {
		v, err := CompileValue(src, liquidctx.Liquid)
		if err != nil {
			t.Fatal(err)
		}
		got, err := v.Render(c, extra)
		if err != nil {
			t.Fatal(err)
		}
		want, err := liquidctx.MustCompile(src, liquidctx.Liquid).RenderWith(c, extra)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s: %q, Liquid gives %q", src, got, want)
		}
	}
}

func BenchmarkValue(b *testing.B) {
	r := httptest.NewRequest("GET", "http://api.example.com/a", nil)
	r.Header.Set("X-Key", "k1")
	c := chain.NewContext(r, "192.0.2.9", nil, nil)
	for _, src := range []string{"{{ headers['X-Key'] }}", "{{ headers['X-Key'] | downcase }}"} {
		v, _ := CompileValue(src, liquidctx.Liquid)
		b.Run(src, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Render(c, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
