package pexip

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzNormalizeAlias checks that normalising never panics, is stable (a
// normalised alias normalises to itself) and never leaves a scheme,
// parameters or an upper-case domain.
func FuzzNormalizeAlias(f *testing.F) {
	for _, s := range []string{"my-vmr-x", "sip:my-vmr-x@example.com;transport=tls", "sip%3Aa%40b", "h323:65432", "sips:A@B:5061", "<sip:x@y>", "%", "sip:sip:a@b", "a@b@c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a := NormalizeAlias(s)
		if strings.ContainsAny(a.User, ";?") || strings.ContainsAny(a.Domain, ";?") {
			t.Fatalf("%q: parameters left in %+v", s, a)
		}
		if a.Domain != strings.ToLower(a.Domain) {
			t.Fatalf("%q: domain %q not lower case", s, a.Domain)
		}
		if strings.Contains(a.User, "%") || strings.Contains(a.Domain, "%") {
			return // a literal % that was not an escape: decoding again would change it
		}
		if b := NormalizeAlias(a.String()); b.String() != a.String() && !strings.HasPrefix(strings.ToLower(a.User), "sip") && !strings.HasPrefix(strings.ToLower(a.User), "h323") && !strings.HasPrefix(a.User, "<") {
			t.Fatalf("%q: %q normalises again to %q", s, a, b)
		}
	})
}

// FuzzServe sends arbitrary paths and queries to the example door: every
// answer is a 2xx or 4xx with a body, never a 5xx or a panic.
func FuzzServe(f *testing.F) {
	for _, s := range []string{
		"service/configuration?local_alias=sip%3Ameet.alice%40example.com&protocol=sip",
		"participant/properties?idp_attribute_groups=interpreters&idp_attribute_groups=&remote_address=10.1.1.1",
		"participant/location?remote_address=10.44.0.1",
		"participant/avatar/alice%40example.com?width=3&height=2",
		"registrations?q=al&limit=3",
		"registrations/room1%40example.com?auth_type=%22sso%22",
		"service/configuration?local_alias=%zz",
		"registrations?limit=-1",
		"participant/properties?preauthenticated_role=None&remote_display_name=None",
	} {
		f.Add(s)
	}
	d := exampleDoor(f)
	f.Fuzz(func(t *testing.T, rest string) {
		if !utf8.ValidString(rest) {
			return
		}
		u, err := url.ParseRequestURI("/policy/v1/" + rest)
		if err != nil {
			return // net/http answers 400 before any handler runs
		}
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.URL = u
		r.RequestURI = u.RequestURI()
		w := httptest.NewRecorder()
		start := time.Now()
		d.ServeHTTP(w, r)
		if el := time.Since(start); el > 2*time.Second {
			t.Fatalf("%q took %s", rest, el)
		}
		if w.Code >= 500 || w.Code < 200 || w.Body.Len() == 0 {
			t.Fatalf("%q: status %d body %q", rest, w.Code, w.Body)
		}
	})
}

// FuzzParseTable checks that any file content gives a table or an error,
// never a panic, and that every row is found by its own key.
func FuzzParseTable(f *testing.F) {
	f.Add("t.csv", "alias,pin\na,1\nb,2\n")
	f.Add("t.yaml", "a: {pin: 1}\nb: {pin: 2}\n")
	f.Add("t.json", `[{"alias": "a", "pin": 1}]`)
	f.Add("t.yml", "- {alias: 1}\n- {alias: true}\n")
	f.Fuzz(func(t *testing.T, name, data string) {
		tbl, err := ParseTable(name, []byte(data), "alias")
		if err != nil {
			return
		}
		for _, r := range tbl.Rows() {
			got, _ := tbl.Row(t.Context(), scalarString(r["alias"]))
			if got == nil {
				t.Fatalf("row %v not found by its key", r)
			}
		}
	})
}

// FuzzParseQuery holds parseQuery to net/url's reading of a query: the
// same parameters with the same decoded values, and an error exactly when
// net/url finds one.
func FuzzParseQuery(f *testing.F) {
	f.Add("protocol=sip&local_alias=sip%3Aroom%40example.com&call_tag=&x")
	f.Add("a=1&&b=%zz")
	f.Add("a+b=c+d&=v&k%20=%41;")
	f.Add("%=&a=%4")
	f.Fuzz(func(t *testing.T, raw string) {
		want, werr := url.ParseQuery(raw)
		ps, err := parseQuery(raw, nil)
		if (err != nil) != (werr != nil) {
			t.Fatalf("parseQuery(%q) error %v; net/url error %v", raw, err, werr)
		}
		if err != nil {
			return
		}
		got := url.Values{}
		for i := range ps {
			got[ps[i].key] = append(got[ps[i].key], ps.at(i))
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("parseQuery(%q) = %v, net/url %v", raw, got, want)
		}
	})
}
