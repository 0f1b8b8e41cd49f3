package outcome

import (
	"reflect"
	"testing"

	"github.com/verdict-policy/verdict/pdl"
)

func TestOutcome(t *testing.T) {
	ob := func(name string, params any) pdl.Obligation { return pdl.Obligation{Name: name, Params: params} }
	cases := []struct {
		name    string
		dec     pdl.Decision
		want    Outcome
		wantErr bool
	}{
		{"permit without obligations", pdl.Decision{Effect: pdl.Permit},
			Outcome{Allow: true, Status: 403, Effect: pdl.Permit}, false},
		{"not applicable denies", pdl.Decision{Effect: pdl.NotApplicable},
			Outcome{Status: 403}, false},
		{"indeterminate denies", pdl.Decision{Effect: pdl.Indeterminate},
			Outcome{Status: 403, Effect: pdl.Indeterminate}, false},
		{"header mutations", pdl.Decision{Effect: pdl.Permit, Obligations: []pdl.Obligation{
			ob(SetRequestHeader, map[string]any{"X-User": "ann"}),
			ob(AppendRequestHeader, map[string]any{"X-Tag": 7.0}),
			ob(RemoveRequestHeader, []any{"Authorization", "Cookie"}),
			ob(SetResponseHeader, map[string]any{"X-Seen": true}),
			ob(SetRequestHeader, map[string]any{"X-Empty": ""}),
			ob("somethingElse", 1.0),
		}}, Outcome{Allow: true, Status: 403, Effect: pdl.Permit,
			SetRequest: []Field{{"X-User", "ann"}}, AppendRequest: []Field{{"X-Tag", "7"}},
			RemoveRequest: []string{"Authorization", "Cookie"}, SetResponse: []Field{{"X-Seen", "true"}}}, false},
		{"first deny status and body win", pdl.Decision{Effect: pdl.Deny, Obligations: []pdl.Obligation{
			ob(DenyStatus, 401.0), ob(DenyBody, "first"), ob(DenyStatus, "429"), ob(DenyBody, "second"),
		}}, Outcome{Status: 401, Body: "first", Effect: pdl.Deny, statusSet: true, bodySet: true}, false},
		{"object body is JSON", pdl.Decision{Effect: pdl.Deny, Obligations: []pdl.Obligation{
			ob(DenyBody, map[string]any{"a": 1.0}),
		}}, Outcome{Status: 403, Body: `{"a":1}`, JSONBody: true, Effect: pdl.Deny, bodySet: true}, false},
		{"redirect", pdl.Decision{Effect: pdl.Deny, Obligations: []pdl.Obligation{ob(Redirect, "https://x/")}},
			Outcome{Status: 302, Location: "https://x/", Effect: pdl.Deny, statusSet: true}, false},
		{"redirect keeps a given status", pdl.Decision{Effect: pdl.Deny, Obligations: []pdl.Obligation{ob(DenyStatus, 307.0), ob(Redirect, "https://x/")}},
			Outcome{Status: 307, Location: "https://x/", Effect: pdl.Deny, statusSet: true}, false},
	}
	bad := []struct {
		name string
		ob   pdl.Obligation
	}{
		{"header not an object", ob(SetRequestHeader, "x")},
		{"bad header name", ob(SetRequestHeader, map[string]any{"X Y": "v"})},
		{"line break in a value", ob(SetResponseHeader, map[string]any{"X": "a\r\nSet-Cookie: b"})},
		{"value a list", ob(AppendRequestHeader, map[string]any{"X": []any{"a"}})},
		{"remove a number", ob(RemoveRequestHeader, 3.0)},
		{"status out of range", ob(DenyStatus, 99.0)},
		{"status fractional", ob(DenyStatus, 401.5)},
		{"status text", ob(DenyStatus, "teapot")},
		{"body a number", ob(DenyBody, 1.0)},
		{"redirect empty", ob(Redirect, "")},
	}
	for _, c := range bad {
		cases = append(cases, struct {
			name    string
			dec     pdl.Decision
			want    Outcome
			wantErr bool
		}{"malformed: " + c.name, pdl.Decision{Effect: pdl.Permit, Obligations: []pdl.Obligation{
			ob(Redirect, "https://x/"), ob(SetResponseHeader, map[string]any{"X-A": "b"}), c.ob}},
			Outcome{}, true})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var o Outcome
			err := o.Read(&c.dec)
			if c.wantErr {
				if err == nil || o.Allow || o.Status != 403 || o.Location != "" || len(o.SetResponse) != 0 {
					t.Fatalf("err %v, outcome %+v: want a plain 403 denial", err, o)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			norm := func(o Outcome) Outcome {
				o.SetRequest, o.AppendRequest = append([]Field{}, o.SetRequest...), append([]Field{}, o.AppendRequest...)
				o.RemoveRequest, o.SetResponse = append([]string{}, o.RemoveRequest...), append([]Field{}, o.SetResponse...)
				return o
			}
			if got, want := norm(o), norm(c.want); !reflect.DeepEqual(got, want) {
				t.Fatalf("outcome\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}
