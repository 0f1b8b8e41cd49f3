package pexip

import (
	"context"
	"testing"
)

func TestAttributes(t *testing.T) {
	vmrs, err := ParseTable("vmrs.csv", []byte("alias,name,pin\nmeet.alice,meet.alice,1234\nboard@example.com,board,99\n"), "alias")
	if err != nil {
		t.Fatal(err)
	}
	st := &state{
		tables:     []tableRef{{name: "vmr", key: "alias", lookup: []string{"local_alias_normalized", "local_alias_user"}, table: vmrs}},
		tableIndex: map[string]int{"vmr": 0},
	}
	q, err := parseQuery("local_alias=sip%3AMeet.Alice%40Example.COM%3Btransport%3Dtls&remote_alias=h323%3A1001&ms-subnet=10.47.0.0&p_Asserted-Identity=%22A%22%3Csip%3Aa%40b%3E&registered=True&call_tag=&idp_attribute_groups=a&idp_attribute_groups=b&encryption=On&auth_type=%22sso%22", nil)
	if err != nil {
		t.Fatal(err)
	}
	r := &request{ctx: context.Background(), st: st, kind: "service_configuration", query: q, pathAlias: "sip:board@example.com"}
	tests := []struct {
		name string
		want any
	}{
		{"request_type", "service_configuration"},
		{"local_alias", "sip:Meet.Alice@Example.COM;transport=tls"},
		{"local_alias_normalized", "Meet.Alice@example.com"},
		{"local_alias_user", "Meet.Alice"},
		{"local_alias_domain", "example.com"},
		{"remote_alias_user", "1001"},
		{"remote_alias_domain", nil},
		{"alias", "sip:board@example.com"},
		{"alias_normalized", "board@example.com"},
		{"ms-subnet", "10.47.0.0"},
		{"ms_subnet", "10.47.0.0"},
		{"MS-Subnet", "10.47.0.0"},
		{"p_asserted_identity", `"A"<sip:a@b>`},
		{"P-Asserted-Identity", `"A"<sip:a@b>`},
		{"registered", true},
		{"call_tag", nil},
		{"encryption", "On"},
		{"auth_type", "sso"},
		{"idp_attribute_groups", []any{"a", "b"}},
		{"vmr.pin", "1234"},
		{"vmr.name", "meet.alice"},
		{"vmr.missing", nil},
		{"vmr", map[string]any{"alias": "meet.alice", "name": "meet.alice", "pin": "1234"}},
		{"nothing", nil},
		{"nothing.here", nil},
	}
	for _, tt := range tests {
		got, err := r.Attribute(tt.name)
		if err != nil || !equalJSON(got, tt.want) {
			t.Errorf("Attribute(%q) = %#v, %v; want %#v", tt.name, got, err, tt.want)
		}
	}
}
