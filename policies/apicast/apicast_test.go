package apicast

import (
	"net/url"
	"testing"

	"github.com/verdict-policy/verdict/chain"
)

func TestRuleMatching(t *testing.T) {
	tests := []struct {
		pattern, method string
		query           map[string]string
		reqMethod, path string
		rawQuery        string
		want            bool
	}{
		{"/", "ANY", nil, "GET", "/anything", "", true},
		{"/items", "GET", nil, "GET", "/items", "", true},
		{"/items", "GET", nil, "GET", "/items/1", "", true},
		{"/items", "GET", nil, "GET", "/itemsxyz", "", true},
		{"/items", "GET", nil, "POST", "/items", "", false},
		{"/items$", "GET", nil, "GET", "/items/1", "", false},
		{"/items$", "GET", nil, "GET", "/items", "", true},
		{"/items/{id}", "ANY", nil, "PUT", "/items/7/parts", "", true},
		{"/items/{id}$", "ANY", nil, "PUT", "/items/7/parts", "", false},
		{"/items/{id}$", "ANY", nil, "PUT", "/items/", "", false},
		{"/a/{x}/b/{y}$", "ANY", nil, "GET", "/a/1/b/2", "", true},
		{"/a/{x}/b/{y}$", "ANY", nil, "GET", "/a/1/c/2", "", false},
		{"/f/{name}.json$", "GET", nil, "GET", "/f/a.b.json", "", true},
		{"/f/{name}.json$", "GET", nil, "GET", "/f/a/b.json", "", false},
		{"/p/{v}$", "GET", nil, "GET", "/p/a%2Fb", "", true},
		{"/x//y", "GET", nil, "GET", "/x/y", "", true},
		{"/s?q={q}", "GET", nil, "GET", "/s", "q=1", true},
		{"/s?q={q}", "GET", nil, "GET", "/s", "r=1", false},
		{"/s?lang=en", "GET", nil, "GET", "/s", "lang=fr&lang=en", true},
		{"/s?lang=en", "GET", nil, "GET", "/s", "lang=en&lang=fr", false},
		{"/s", "GET", map[string]string{"k": "v"}, "GET", "/s", "k=v", true},
		{"/s", "GET", map[string]string{"k": "v"}, "GET", "/s", "k=w", false},
		{"/s", "GET", map[string]string{"k": "{any}"}, "GET", "/s", "k=", true},
		{"/a.b", "GET", nil, "GET", "/aXb", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.pattern+" "+tt.reqMethod+" "+tt.path+"?"+tt.rawQuery, func(t *testing.T) {
			r, err := compileRule(chain.MappingRule{HTTPMethod: tt.method, Pattern: tt.pattern, QueryParameters: tt.query})
			if err != nil {
				t.Fatal(err)
			}
			q, _ := url.ParseQuery(tt.rawQuery)
			if got := r.match(tt.reqMethod, tt.path, func() url.Values { return q }); got != tt.want {
				t.Errorf("match = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNewNeedsAService(t *testing.T) {
	if _, err := New(nil, chain.Env{}); err == nil {
		t.Error("apicast built without a service")
	}
	svc := &chain.Service{APIBackend: "http://127.0.0.1:1/b", Rules: []chain.MappingRule{{HTTPMethod: "GET", Pattern: "/{a"}}}
	if _, err := New(nil, chain.Env{Service: svc}); err == nil {
		t.Error("accepted an unclosed placeholder")
	}
}
