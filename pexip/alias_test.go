package pexip

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestNormalizeAlias(t *testing.T) {
	tests := []struct {
		in, user, domain string
	}{
		{"my-vmr-x", "my-vmr-x", ""},
		{"sip:my-vmr-x@example.com", "my-vmr-x", "example.com"},
		{"sip:my-vmr-x@example.com;transport=tls", "my-vmr-x", "example.com"},
		{"SIPS:my-vmr-x@Example.COM", "my-vmr-x", "example.com"},
		{"sip%3Amy-vmr-x%40example.com", "my-vmr-x", "example.com"},
		{"h323:65432", "65432", ""},
		{"H323:alice@example.com", "alice", "example.com"},
		{"sip:alice@example.com:5061;transport=tls", "alice", "example.com"},
		{"sip:alice@[2001:db8::1]", "alice", "[2001:db8::1]"},
		{"sip:alice@[2001:db8::1]:5060", "alice", "[2001:db8::1]"},
		{"<sip:alice@example.com>", "alice", "example.com"},
		{"sip:meet.alice@example.com;gruu;opaque=app:conf:focus:id:ABC", "meet.alice", "example.com"},
		{"sip:alice@example.com?subject=hi", "alice", "example.com"},
		{" +4420790000 ", "+4420790000", ""},
		{"100%", "100%", ""}, // not a valid escape: kept as sent
		{"", "", ""},
		{"sip:", "", ""},
		{"walter kurtz", "walter kurtz", ""},
	}
	for _, tt := range tests {
		got := NormalizeAlias(tt.in)
		if got.User != tt.user || got.Domain != tt.domain {
			t.Errorf("NormalizeAlias(%q) = %+v, want user %q domain %q", tt.in, got, tt.user, tt.domain)
		}
	}
}

func TestRoute(t *testing.T) {
	tests := []struct {
		base, path string
		kind       kind
		alias      string
		ok         bool
	}{
		{"", "/policy/v1/service/configuration", serviceConfiguration, "", true},
		{"", "/policy/v1/service/configuration/", serviceConfiguration, "", true},
		{"", "//policy/v1//participant/properties", participantProperties, "", true},
		{"", "/policy/v1/participant/location", mediaLocation, "", true},
		{"", "/policy/v1/participant/avatar/alice%40example.com", participantAvatar, "alice%40example.com", true},
		{"", "/policy/v1/participant/avatar/", 0, "", false},
		{"", "/policy/v1/registrations", directory, "", true},
		{"", "/policy/v1/registrations/", directory, "", true},
		{"", "/policy/v1/registrations/sip%3Aa%2Fb", registration, "sip%3Aa%2Fb", true},
		{"/example.com", "/example.com/policy/v1/service/configuration", serviceConfiguration, "", true},
		{"/example.com", "/policy/v1/service/configuration", 0, "", false},
		{"/example.com", "/example.community/policy/v1/service/configuration", 0, "", false},
		{"", "/policy/v1/service", 0, "", false},
		{"", "/policy/v1", 0, "", false},
	}
	for _, tt := range tests {
		k, alias, ok := route(tt.base, tt.path)
		if ok != tt.ok || ok && (k != tt.kind || alias != tt.alias) {
			t.Errorf("route(%q, %q) = %v %q %v, want %v %q %v", tt.base, tt.path, k, alias, ok, tt.kind, tt.alias, tt.ok)
		}
	}
}

func TestParamValue(t *testing.T) {
	tests := []struct {
		name string
		vs   []string
		want any
	}{
		{"registered", []string{"True"}, true},
		{"registered", []string{"FALSE"}, false},
		{"call_tag", []string{""}, nil},
		{"local_alias", []string{"a", "b"}, "a"},
		{"auth_type", []string{`"credentials"`}, "credentials"},
		{"auth_type", []string{`""`}, nil},
		{"idp_attribute_groups", []string{"a", "", "b"}, []any{"a", "b"}},
		{"idp_attribute_groups", []string{""}, nil},
		{"bandwidth", []string{"0"}, "0"},
	}
	for _, tt := range tests {
		r := &request{}
		for _, v := range tt.vs {
			r.query = append(r.query, param{key: tt.name, value: v})
		}
		got := r.paramValue(tt.name, tt.vs[0])
		if !equalJSON(got, tt.want) {
			t.Errorf("paramValue(%q, %q) = %#v, want %#v", tt.name, tt.vs, got, tt.want)
		}
	}
}

func equalJSON(a, b any) bool {
	return string(appendValue(nil, a)) == string(appendValue(nil, b))
}

func TestAppendString(t *testing.T) {
	tests := map[string]string{
		"plain":        `"plain"`,
		`q"b\`:         `"q\"b\\"`,
		"tab\tnl\n":    `"tab\tnl\n"`,
		"\x01":         `"\u0001"`,
		"héllo":        `"héllo"`,
		"bad\xffutf8":  `"bad\ufffdutf8"`,
		"<script>&amp": `"<script>&amp"`,
	}
	for in, want := range tests {
		got := string(appendString(nil, in))
		if got != want || !utf8.ValidString(got) {
			t.Errorf("appendString(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestCoerce(t *testing.T) {
	tests := []struct {
		field string
		in    any
		want  any
	}{
		{"allow_guests", "True", true},
		{"allow_guests", "no", false},
		{"allow_guests", "maybe", "maybe"},
		{"participant_limit", "25", int64(25)},
		{"participant_limit", "many", "many"},
		{"pin", 2931, "2931"},
		{"pin", int64(42), "42"},
		{"max_callrate_in", 2048000, 2048000},
		{"view", "one_main_seven_pips", "one_main_seven_pips"},
	}
	for _, tt := range tests {
		if got := coerce(tt.field, tt.in); got != tt.want {
			t.Errorf("coerce(%q, %#v) = %#v, want %#v", tt.field, tt.in, got, tt.want)
		}
	}
}

func TestParseQuery(t *testing.T) {
	tests := []struct {
		raw  string
		want string // key=value pairs joined by |
		err  string
	}{
		{"a=1&b=&c", "a=1|b=|c=", ""},
		{"vendor=TANDBERG%2F518+%28TC6%29&local_alias=%2B4420", "vendor=TANDBERG/518 (TC6)|local_alias=+4420", ""},
		{"&&a=1&", "a=1", ""},
		{"a=1&a=2", "a=1|a=2", ""},
		{"", "", ""},
		{"local_alias=%zz", "", `parameter local_alias: invalid URL escape "%zz"`},
		{"local_alias=ab%4", "", `parameter local_alias: invalid URL escape "%4"`},
		{"local_alias=%", "", `invalid URL escape "%"`},
		{"q=100%25+off", "q=100% off", ""},
		{"%zz=1", "", `parameter name "%zz"`},
		{"a=1;b=2", "", "raw ';'"},
	}
	for _, tt := range tests {
		ps, err := parseQuery(tt.raw, nil)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("parseQuery(%q) error %v, want %q", tt.raw, err, tt.err)
			}
			continue
		}
		var got []string
		for i, p := range ps {
			got = append(got, p.key+"="+ps.at(i))
		}
		if strings.Join(got, "|") != tt.want || err != nil {
			t.Errorf("parseQuery(%q) = %q, %v; want %q", tt.raw, strings.Join(got, "|"), err, tt.want)
		}
	}
}
