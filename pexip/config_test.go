package pexip

import (
	"github.com/verdict-policy/verdict/config"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestPexipSection(t *testing.T) {
	t.Setenv("PEXIP_TEST_PASSWORD", "x")
	c, err := config.Parse("verdict.yaml", []byte(`
pexip:
  base_path: /example.com/
  policy: pexip
  policies: {registration: devices}
  fallback: {participant_properties: continue}
  overflow: list
  timeout: 1500ms
  log_aliases: hash
  basic_auth: {username: infinity, password_env: PEXIP_TEST_PASSWORD}
  tls: {listen: ":3443", cert_file: c.pem, key_file: k.pem, only: true}
  tables:
    vmr: {path: vmrs.csv}
    device: {store: devices, key: id, lookup: alias_user}
    phonebook: {path: phonebook.yaml}
  directory: {table: phonebook, ignore_local: true, max_results: 20}
  avatars: {dir: avatars, url: "https://photos.example.com/{alias}.jpg", timeout: 500ms, cache_entries: 10}
`))
	if err != nil {
		t.Fatal(err)
	}
	p := ConfigOf(c)
	want := &Config{
		BasePath: "/example.com", Policy: "pexip",
		Policies: map[string]string{"registration": "devices"},
		Fallback: map[string]string{"participant_properties": "continue"},
		Overflow: "list", Timeout: 1500 * time.Millisecond, LogAliases: "hash",
		BasicAuth: &BasicAuthConfig{Username: "infinity", PasswordEnv: "PEXIP_TEST_PASSWORD"},
		TLS:       &TLSConfig{Listen: ":3443", CertFile: "c.pem", KeyFile: "k.pem", Only: true},
		Tables: []TableConfig{
			{Name: "vmr", Path: "vmrs.csv", Key: "alias", Lookup: []string{"local_alias_normalized", "local_alias_user"}, Line: 13, Column: 5},
			{Name: "device", Store: "devices", Key: "id", Lookup: []string{"alias_user"}, Line: 14, Column: 5},
			{Name: "phonebook", Path: "phonebook.yaml", Key: "alias", Lookup: []string{"local_alias_normalized", "local_alias_user"}, Line: 15, Column: 5},
		},
		Directory: DirectoryConfig{Table: "phonebook", IgnoreLocal: true, MaxResults: 20},
		Avatars:   AvatarsConfig{Dir: "avatars", URL: "https://photos.example.com/{alias}.jpg", Timeout: 500 * time.Millisecond, CacheEntries: 10},
		Line:      3, Column: 3,
	}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("got  %+v\nwant %+v", p, want)
	}
	if paths := c.WatchPaths(); len(paths) != 5 { // the config, two table files, the certificate and key
		t.Errorf("WatchPaths() = %q", paths)
	}
}

func TestPexipProblems(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"unknown field", "pexip: {polcy: x}", "x.yaml:1:9: pexip.polcy: unknown field"},
		{"bad base path", "pexip: {base_path: 'no-slash'}", `x.yaml:1:20: pexip.base_path: must be a path starting with /`},
		{"unknown request type", "pexip: {fallback: {service: continue}}", "x.yaml:1:20: pexip.fallback.service: unknown request type"},
		{"bad fallback", "pexip: {fallback: {directory: reject}}", `x.yaml:1:31: pexip.fallback.directory: "reject" is not one of not_found, continue`},
		{"avatar fallback", "pexip: {fallback: {participant_avatar: continue}}", `pexip.fallback.participant_avatar: "continue" is not one of not_found`},
		{"policy for avatars", "pexip: {policies: {participant_avatar: p}}", "pexip.policies.participant_avatar: avatar and directory requests are answered from avatars and the phonebook"},
		{"bad overflow", "pexip: {overflow: both}", `pexip.overflow: "both" is not one of fields, list`},
		{"timeout too long", "pexip: {timeout: 6s}", "pexip.timeout: must be more than 0 and less than 5s, not 6s"},
		{"timeout not a duration", "pexip: {timeout: 2}", "pexip.timeout: must be a string, not a number"},
		{"two passwords", "pexip: {basic_auth: {username: u, password: a, password_file: f}}", "pexip.basic_auth: give exactly one of password, password_env and password_file"},
		{"no username", "pexip: {basic_auth: {password: a}}", "pexip.basic_auth.username: a username is required"},
		{"unset env", "pexip: {basic_auth: {username: u, password_env: PEXIP_TEST_UNSET_VARIABLE}}", "the environment variable PEXIP_TEST_UNSET_VARIABLE is not set"},
		{"tls without key", "pexip: {tls: {listen: ':1', cert_file: c}}", "pexip.tls.key_file: is required"},
		{"tls bad address", "pexip: {tls: {listen: 'nope', cert_file: c, key_file: k}}", `pexip.tls.listen: address "nope" is not host:port`},
		{"table without source", "pexip: {tables: {vmr: {key: alias}}}", "pexip.tables.vmr: give either path (a table file) or store"},
		{"table with both", "pexip: {tables: {vmr: {path: a.csv, store: s}}}", "pexip.tables.vmr: give either path"},
		{"table bad extension", "pexip: {tables: {vmr: {path: a.txt}}}", `pexip.tables.vmr.path: "a.txt": a table file ends in .csv, .json, .yaml, .yml`},
		{"table bad name", "pexip: {tables: {v.mr: {path: a.csv}}}", `pexip.tables.v.mr: bad table name "v.mr"`},
		{"table named like a parameter", "pexip: {tables: {location: {path: a.csv}}}", `x.yaml:1:18: pexip.tables.location: a table cannot be named "location": Infinity sends a request parameter of that name`},
		{"table named like a header", "pexip: {tables: {MS_Subnet: {path: a.csv}}}", `pexip.tables.MS_Subnet: a table cannot be named "MS_Subnet"`},
		{"table named like a derived alias", "pexip: {tables: {local_alias_user: {path: a.csv}}}", "the door derives an alias attribute of that name"},
		{"table named like an IdP attribute", "pexip: {tables: {idp_attribute_x: {path: a.csv}}}", "Infinity sends IdP attributes under such names"},
		{"table named alias", "pexip: {tables: {alias: {path: a.csv}}}", "the door publishes an attribute of that name"},
		{"bad log_aliases", "pexip: {log_aliases: mask}", `pexip.log_aliases: "mask" is not one of plain, hash, omit`},
		{"tls only not a boolean", "pexip: {tls: {listen: ':1', cert_file: c, key_file: k, only: yes please}}", "pexip.tls.only: must be true or false, not a string"},
		{"empty lookup", "pexip: {tables: {vmr: {path: a.csv, lookup: []}}}", "pexip.tables.vmr.lookup: must be an attribute name or a non-empty list"},
		{"unknown directory table", "pexip: {directory: {table: pb}}", `pexip.directory.table: no table is named "pb"`},
		{"bad max results", "pexip: {directory: {max_results: 0}}", "pexip.directory.max_results: must be from 1 to 1000, not 0"},
		{"avatar URL without alias", "pexip: {avatars: {url: 'https://x/a.jpg'}}", "pexip.avatars.url: must be an http or https URL holding {alias}"},
		{"not a mapping", "pexip: [a]", "pexip: must be a mapping, not a list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse("x.yaml", []byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v\nwant %q", err, tt.want)
			}
		})
	}
}
