package pdl_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/verdict-policy/verdict/pdl"
)

// seedCopies writes n rules: copies of the reTHINK seed's three example
// rules, every copy after the first with its own msgType values.
func seedCopies(n int) []byte {
	var b strings.Builder
	b.WriteString("[")
	for i := 0; i < n; i++ {
		suffix := ""
		if i >= 3 {
			suffix = fmt.Sprintf("-%d", i/3)
		}
		if i > 0 {
			b.WriteString(",\n")
		}
		switch i % 3 {
		case 0:
			fmt.Fprintf(&b, `{"id": "r%d", "target": {"msgType": {"equals": "addressAllocation%s"}},
 "condition": {"actType": {"equals": "create"}, "valueNumber": {"moreThan": 1}}, "effect": "deny"}`, i, suffix)
		case 1:
			fmt.Fprintf(&b, `{"id": "r%d", "target": {"msgType": {"equals": "addressAllocation%s"}},
 "condition": {"actType": {"equals": "response"}, "valueAllocated": {"moreThan": 1}}, "effect": "permit",
 "obligations": {"limitNumber": {"valueAllocated": 1}}}`, i, suffix)
		case 2:
			fmt.Fprintf(&b, `{"id": "r%d", "target": {"msgType": {"equals": "registration%s"}, "actType": {"equals": "create"}},
 "condition": [{"userRegistries": {"moreThan": 100}}, {"valueResources": {"contains": "video"}}, {"valueExpires": {"moreThan": 3600}}],
 "effect": "deny"}`, i, suffix)
		}
	}
	b.WriteString("]")
	return []byte(b.String())
}

func input(t testing.TB, s string) pdl.Input {
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

var benchInputs = []struct {
	name, input string
	want        pdl.Effect
}{
	{"deny", `{"msgType": "addressAllocation", "actType": "create", "valueNumber": 2}`, pdl.Deny},
	{"permit_obligation", `{"msgType": "addressAllocation", "actType": "response", "valueAllocated": ["hyperty://a/1", "hyperty://a/2"]}`, pdl.Permit},
	{"not_applicable", `{"msgType": "discovery", "actType": "read"}`, pdl.NotApplicable},
}

func BenchmarkDecide(b *testing.B) {
	for _, size := range []int{3, 300, 3000} {
		doc, err := pdl.Compile(pdl.Options{}, pdl.Source{Name: "seed.json", Data: seedCopies(size)})
		if err != nil {
			b.Fatal(err)
		}
		for _, in := range benchInputs {
			attrs := input(b, in.input)
			b.Run(fmt.Sprintf("policies=%d/%s", size, in.name), func(b *testing.B) {
				if got := doc.Decide(attrs).Effect; got != in.want {
					b.Fatalf("decision %v, want %v", got, in.want)
				}
				b.ReportAllocs()
				for b.Loop() {
					doc.Decide(attrs)
				}
			})
		}
	}
}

func BenchmarkDecideParallel(b *testing.B) {
	doc, err := pdl.Compile(pdl.Options{}, pdl.Source{Name: "seed.json", Data: seedCopies(3000)})
	if err != nil {
		b.Fatal(err)
	}
	attrs := input(b, benchInputs[1].input)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			doc.Decide(attrs)
		}
	})
}

func BenchmarkCompile(b *testing.B) {
	for _, size := range []int{3, 300, 3000} {
		data := seedCopies(size)
		b.Run(fmt.Sprintf("policies=%d", size), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := pdl.Compile(pdl.Options{}, pdl.Source{Name: "seed.json", Data: data}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecideTemplate(b *testing.B) {
	for _, tc := range []struct{ name, tpl string }{
		{"plain", "Bearer {{ jwt.sub }}"},
		{"liquid_filter", "Bearer {{ jwt.sub | upcase }}"},
	} {
		doc, err := pdl.Compile(pdl.Options{}, pdl.Source{Name: "t.json", Data: []byte(
			`{"effect": "permit", "obligations": {"setRequestHeader": {"name": "Authorization", "value": "` + tc.tpl + `"}}}`)})
		if err != nil {
			b.Fatal(err)
		}
		attrs := input(b, `{"jwt": {"sub": "alice"}}`)
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				doc.Decide(attrs)
			}
		})
	}
}
