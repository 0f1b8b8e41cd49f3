package pexip

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/verdict-policy/verdict/config"
)

// Key is the top-level key of the pexip section.
const Key = "pexip"

func init() {
	config.RegisterSection(config.SectionInfo{Key: Key, Decode: decode, WatchPaths: watchPaths})
}

// ConfigOf returns the pexip section of cfg, or nil when the file has none.
func ConfigOf(cfg *config.Config) *Config {
	c, _ := config.Section[*Config](cfg, Key)
	return c
}

// The request types of Pexip Infinity's external policy API, as they are
// named in the pexip section of the configuration.
const (
	ServiceConfigurationType  = "service_configuration"
	ParticipantPropertiesType = "participant_properties"
	MediaLocationType         = "media_location"
	ParticipantAvatarType     = "participant_avatar"
	DirectoryType             = "directory"
	RegistrationType          = "registration"
)

// RequestTypes lists every request type, in the API's order.
var RequestTypes = []string{
	ServiceConfigurationType, ParticipantPropertiesType, MediaLocationType,
	ParticipantAvatarType, DirectoryType, RegistrationType,
}

// Fallback answers of the pexip section, for a request no policy decides.
const (
	// FallbackNotFound answers 404, which Infinity reads as "use your own
	// configuration".
	FallbackNotFound = "not_found"
	// FallbackContinue answers 200 {"status": "success", "action": "continue"}.
	FallbackContinue = "continue"
)

// Overflow forms of a media location answer.
const (
	// OverflowFields writes primary_overflow_location and
	// secondary_overflow_location, the form every Infinity version reads.
	OverflowFields = "fields"
	// OverflowList writes overflow_locations, an ordered list.
	OverflowList = "list"
)

// How the request log line shows aliases.
const (
	// LogPlain writes aliases as Infinity sent them.
	LogPlain = "plain"
	// LogHash writes a short SHA-256 digest of each alias: lines about
	// one caller can be told apart and grouped, the alias is not shown.
	LogHash = "hash"
	// LogOmit leaves aliases out.
	LogOmit = "omit"
)

// DefaultTimeout bounds the work of one Config request when the
// configuration does not say; Infinity gives up after about five seconds.
const DefaultTimeout = 2 * time.Second

// Config configures the Pexip Infinity external policy front door.
type Config struct {
	// BasePath is the path the policy profile's URL carries before
	// /policy/v1, "" for none. It never ends in a slash.
	BasePath string
	// Policy is the document deciding every request type that Policies
	// does not name.
	Policy string
	// Policies maps a request type to the document deciding it: service
	// configuration, participant properties, media location or registration.
	Policies map[string]string
	// Fallback maps a request type to FallbackNotFound or FallbackContinue;
	// absent types fall back with FallbackNotFound.
	Fallback map[string]string
	// Overflow is OverflowFields or OverflowList.
	Overflow string
	// Timeout bounds the lookups of one request together: every table
	// lookup a request makes ends by the time its arrival plus Timeout.
	Timeout time.Duration
	// LogAliases says how the request log line shows aliases: LogPlain,
	// LogHash or LogOmit.
	LogAliases string
	// BasicAuth, when set, is required on every request.
	BasicAuth *BasicAuthConfig
	// TLS, when set, adds an HTTPS listener serving the Pexip endpoints.
	TLS *TLSConfig
	// Tables are the data tables policies and templates look rows up in.
	Tables []TableConfig
	// Directory configures directory (phonebook) requests.
	Directory DirectoryConfig
	// Avatars configures participant avatar requests.
	Avatars AvatarsConfig

	// Line and Column locate the section in the configuration file.
	Line, Column int
}

// BasicAuthConfig holds the credentials Infinity's policy profile sends.
// Exactly one of Password, PasswordEnv and PasswordFile is set.
type BasicAuthConfig struct {
	Username     string
	Password     string
	PasswordEnv  string
	PasswordFile string
}

// TLSConfig configures the HTTPS listener of the Pexip endpoints.
type TLSConfig struct {
	// Listen is the host:port to bind.
	Listen string
	// CertFile and KeyFile are PEM files, read again when they change.
	CertFile, KeyFile string
	// Only, when true, serves the Pexip endpoints on this listener alone:
	// the plain policy listener refuses them, so registration passwords
	// never travel in clear text.
	Only bool
}

// TableConfig is one data table: rows with named columns, one column the key.
// Its rows come from a file (Path) or from the shared store (Store).
type TableConfig struct {
	// Name is the attribute the row is published as to policies.
	Name string
	// Path is a .csv, .json, .yaml or .yml file.
	Path string
	// Store names a table of the Redis store whose entries are rows as
	// JSON objects, keyed by the lower-case key.
	Store string
	// Key is the column holding each row's key.
	Key string
	// Lookup lists the attributes whose value is looked up as a key, in
	// order; the first that finds a row wins.
	Lookup []string
	// Line and Column locate the entry in the configuration file.
	Line, Column int
}

// DirectoryConfig configures the phonebook searched by directory requests.
type DirectoryConfig struct {
	// Table names the table holding the entries: columns alias,
	// description and username. Empty: directory requests fall back.
	Table string
	// IgnoreLocal asks Infinity to leave out its own aliases.
	IgnoreLocal bool
	// MaxResults caps the limit parameter.
	MaxResults int
}

// AvatarsConfig configures where participant avatars come from.
type AvatarsConfig struct {
	// Dir holds images named after aliases (alice@example.com.jpg, alice.png).
	Dir string
	// URL is a template with {alias}, {alias_user} and {alias_domain},
	// fetched when Dir has no image.
	URL string
	// Timeout bounds a whole avatar answer: reading or fetching the
	// image, decoding, cropping and encoding it.
	Timeout time.Duration
	// CacheEntries bounds how many resized answers are kept (within 32
	// MiB); reduced source images are kept apart, within 64 MiB.
	CacheEntries int
}

// watchPaths lists the files of the pexip section whose change should
// reload: its tables and TLS files.
func watchPaths(cfg *config.Config, v any) []string {
	p, _ := v.(*Config)
	if p == nil {
		return nil
	}
	var paths []string
	for _, t := range p.Tables {
		if t.Path != "" {
			paths = append(paths, cfg.DataPath(t.Path))
		}
	}
	if t := p.TLS; t != nil {
		paths = append(paths, cfg.DataPath(t.CertFile), cfg.DataPath(t.KeyFile))
	}
	return paths
}

func decode(d *config.Decoder, n *config.Node, field string) any {
	if config.IsNull(n) {
		return nil
	}
	p := &Config{Overflow: OverflowFields, Timeout: DefaultTimeout, LogAliases: LogPlain,
		Directory: DirectoryConfig{MaxResults: 100},
		Avatars:   AvatarsConfig{Timeout: time.Second, CacheEntries: 1024},
		Line:      n.Line, Column: n.Column}
	str := func(dst *string) func(*config.Node, string) {
		return func(v *config.Node, f string) {
			if s, ok := d.Str(v, f); ok {
				*dst = s
			}
		}
	}
	d.Fields(n, field, map[string]func(*config.Node, string){
		"base_path": func(v *config.Node, f string) {
			s, ok := d.Str(v, f)
			if !ok {
				return
			}
			if s != "" && !strings.HasPrefix(s, "/") || strings.ContainsAny(s, "?#% ") {
				d.Errorf(v, f, "must be a path starting with /, without query, fragment, spaces or escapes: %q", s)
				return
			}
			p.BasePath = strings.TrimRight(path.Clean("/"+s), "/")
		},
		"policy": str(&p.Policy),
		"policies": func(v *config.Node, f string) {
			p.Policies = pexipPerType(d, v, f, func(v *config.Node, f string) (string, bool) {
				if strings.HasSuffix(f, "."+ParticipantAvatarType) || strings.HasSuffix(f, "."+DirectoryType) {
					d.Errorf(v, f, "avatar and directory requests are answered from avatars and the phonebook, not by a policy")
					return "", false
				}
				return d.Str(v, f)
			})
		},
		"fallback": func(v *config.Node, f string) {
			p.Fallback = pexipPerType(d, v, f, func(v *config.Node, f string) (string, bool) {
				if strings.HasSuffix(f, "."+ParticipantAvatarType) {
					// Without an image Infinity shows its placeholder: 404 is the only answer.
					return d.OneOf(v, f, FallbackNotFound)
				}
				return d.OneOf(v, f, FallbackNotFound, FallbackContinue)
			})
		},
		"overflow": func(v *config.Node, f string) {
			if s, ok := d.OneOf(v, f, OverflowFields, OverflowList); ok {
				p.Overflow = s
			}
		},
		"timeout": func(v *config.Node, f string) {
			if t, ok := d.Duration(v, f, 5*time.Second); ok {
				p.Timeout = t
			}
		},
		"log_aliases": func(v *config.Node, f string) {
			if s, ok := d.OneOf(v, f, LogPlain, LogHash, LogOmit); ok {
				p.LogAliases = s
			}
		},
		"basic_auth": func(v *config.Node, f string) { p.BasicAuth = pexipBasicAuth(d, v, f) },
		"tls":        func(v *config.Node, f string) { p.TLS = pexipTLS(d, v, f) },
		"tables":     func(v *config.Node, f string) { p.Tables = pexipTables(d, v, f) },
		"directory": func(v *config.Node, f string) {
			d.Fields(v, f, map[string]func(*config.Node, string){
				"table": str(&p.Directory.Table),
				"ignore_local": func(v *config.Node, f string) {
					if v.Kind != yaml.ScalarNode || v.Tag != "!!bool" {
						d.Errorf(v, f, "must be true or false, not %s", config.KindName(v))
						return
					}
					p.Directory.IgnoreLocal = v.Value == "true"
				},
				"max_results": func(v *config.Node, f string) {
					if n, ok := d.Count(v, f, 1, 1000); ok {
						p.Directory.MaxResults = n
					}
				},
			})
		},
		"avatars": func(v *config.Node, f string) {
			d.Fields(v, f, map[string]func(*config.Node, string){
				"dir": str(&p.Avatars.Dir),
				"url": func(v *config.Node, f string) {
					s, ok := d.Str(v, f)
					if !ok {
						return
					}
					if !strings.HasPrefix(s, "http://") && !strings.HasPrefix(s, "https://") || !strings.Contains(s, "{alias") {
						d.Errorf(v, f, "must be an http or https URL holding {alias}, {alias_user} or {alias_domain}: %q", s)
						return
					}
					p.Avatars.URL = s
				},
				"timeout": func(v *config.Node, f string) {
					if t, ok := d.Duration(v, f, 4*time.Second); ok {
						p.Avatars.Timeout = t
					}
				},
				"cache_entries": func(v *config.Node, f string) {
					if n, ok := d.Count(v, f, 0, 1<<20); ok {
						p.Avatars.CacheEntries = n
					}
				},
			})
		},
	})
	if p.Directory.Table != "" && !slices.ContainsFunc(p.Tables, func(t TableConfig) bool { return t.Name == p.Directory.Table }) {
		d.Errorf(config.Resolve(n), config.Join(field, "directory.table"), "no table is named %q", p.Directory.Table)
	}
	return p
}

// pexipPerType decodes a mapping from request type to a string value.
func pexipPerType(d *config.Decoder, n *config.Node, field string, value func(*config.Node, string) (string, bool)) map[string]string {
	out := map[string]string{}
	d.Entries(n, field, func(key string, k, v *config.Node) {
		f := config.Join(field, key)
		if !slices.Contains(RequestTypes, key) {
			d.Errorf(k, f, "unknown request type: known are %s", strings.Join(RequestTypes, ", "))
			return
		}
		if s, ok := value(v, f); ok {
			out[key] = s
		}
	})
	return out
}

func pexipBasicAuth(d *config.Decoder, n *config.Node, field string) *BasicAuthConfig {
	a := &BasicAuthConfig{}
	var sources []string
	secret := func(dst *string) func(*config.Node, string) {
		return func(v *config.Node, f string) {
			if s, ok := d.Str(v, f); ok {
				*dst = s
				sources = append(sources, f[strings.LastIndexByte(f, '.')+1:])
			}
		}
	}
	d.Fields(n, field, map[string]func(*config.Node, string){
		"username":      func(v *config.Node, f string) { a.Username, _ = d.Str(v, f) },
		"password":      secret(&a.Password),
		"password_env":  secret(&a.PasswordEnv),
		"password_file": secret(&a.PasswordFile),
	})
	if a.Username == "" {
		d.Errorf(config.Resolve(n), config.Join(field, "username"), "a username is required")
	}
	if len(sources) != 1 {
		d.Errorf(config.Resolve(n), field, "give exactly one of password, password_env and password_file")
	}
	if a.PasswordEnv != "" {
		if _, ok := os.LookupEnv(a.PasswordEnv); !ok {
			d.Errorf(config.Resolve(n), config.Join(field, "password_env"), "the environment variable %s is not set", a.PasswordEnv)
		}
	}
	return a
}

func pexipTLS(d *config.Decoder, n *config.Node, field string) *TLSConfig {
	t := &TLSConfig{}
	d.Fields(n, field, map[string]func(*config.Node, string){
		"listen": func(v *config.Node, f string) {
			s, ok := d.Str(v, f)
			if !ok {
				return
			}
			if err := config.CheckAddr(s); err != nil {
				d.Errorf(v, f, "%v", err)
				return
			}
			t.Listen = s
		},
		"cert_file": func(v *config.Node, f string) { t.CertFile, _ = d.Str(v, f) },
		"key_file":  func(v *config.Node, f string) { t.KeyFile, _ = d.Str(v, f) },
		"only": func(v *config.Node, f string) {
			if v.Kind != yaml.ScalarNode || v.Tag != "!!bool" {
				d.Errorf(v, f, "must be true or false, not %s", config.KindName(v))
				return
			}
			t.Only = v.Value == "true"
		},
	})
	for _, req := range []struct{ name, val string }{{"listen", t.Listen}, {"cert_file", t.CertFile}, {"key_file", t.KeyFile}} {
		if req.val == "" {
			d.Errorf(config.Resolve(n), config.Join(field, req.name), "is required")
		}
	}
	return t
}

// pexipParams are the request parameters Infinity documents. A parameter
// is found before a table of the same name, so no table may take one of
// these names.
var pexipParams = []string{
	"local_alias", "remote_alias", "remote_display_name", "remote_address", "remote_port",
	"protocol", "call_direction", "trigger", "bandwidth", "vendor", "registered", "call_tag",
	"idp_uuid", "has_authenticated_display_name", "supports_direct_media", "teams_tenant_id",
	"third_party_passcode", "telehealth_request_id", "display_count", "service_name",
	"service_tag", "unique_service_name", "previous_service_name", "breakout_uuid",
	"ms-subnet", "ms_subnet", "p_asserted-identity", "p_asserted_identity", "participant_uuid",
	"call_uuid", "participant_type", "preauthenticated_role", "receive_from_audio_mix",
	"send_to_audio_mixes_mix_name", "send_to_audio_mixes_prominent", "proxy_node_address",
	"proxy_node_location", "role", "width", "height", "q", "registration_alias", "limit",
	"auth_type", "location", "node_ip", "version_id", "pseudo_version_id", "encryption",
	"request_id", "bypass_lock",
}

// shadowedTableName says why name cannot be a table's, or "" when it can:
// a request parameter, an attribute the door derives, or an IdP attribute
// would hide the table from policies.
func shadowedTableName(name string) string {
	lower := strings.ToLower(name)
	switch {
	case slices.Contains(pexipParams, lower):
		return "Infinity sends a request parameter of that name"
	case lower == "request_type" || lower == "alias":
		return "the door publishes an attribute of that name"
	case strings.HasPrefix(lower, "idp_attribute_"):
		return "Infinity sends IdP attributes under such names"
	}
	for _, src := range []string{"local_alias_", "remote_alias_", "alias_"} {
		if rest, ok := strings.CutPrefix(lower, src); ok && (rest == "normalized" || rest == "user" || rest == "domain") {
			return "the door derives an alias attribute of that name"
		}
	}
	return ""
}

// tableExts are the file formats a table may be written in.
var tableExts = []string{".csv", ".json", ".yaml", ".yml"}

func pexipTables(d *config.Decoder, n *config.Node, field string) []TableConfig {
	var tables []TableConfig
	d.Entries(n, field, func(name string, k, v *config.Node) {
		f := config.Join(field, name)
		if !config.ValidName(name) || strings.Contains(name, ".") {
			d.Errorf(k, f, "bad table name %q: use letters, digits, '_' and '-'", name)
			return
		}
		if why := shadowedTableName(name); why != "" {
			d.Errorf(k, f, "a table cannot be named %q: %s, which policies would see instead of the row; choose another name", name, why)
			return
		}
		t := TableConfig{Name: name, Key: "alias", Line: k.Line, Column: k.Column,
			Lookup: []string{"local_alias_normalized", "local_alias_user"}}
		d.Fields(v, f, map[string]func(*config.Node, string){
			"path": func(v *config.Node, f string) {
				s, ok := d.Str(v, f)
				if !ok {
					return
				}
				if !slices.Contains(tableExts, strings.ToLower(filepath.Ext(s))) {
					d.Errorf(v, f, "%q: a table file ends in %s", s, strings.Join(tableExts, ", "))
					return
				}
				t.Path = s
			},
			"store": func(v *config.Node, f string) {
				s, ok := d.Str(v, f)
				if ok && s == "" {
					d.Errorf(v, f, "must name a table of the store")
					return
				}
				t.Store = s
			},
			"key": func(v *config.Node, f string) { t.Key, _ = d.Str(v, f) },
			"lookup": func(v *config.Node, f string) {
				t.Lookup = nil
				if v.Kind == yaml.ScalarNode {
					if s, ok := d.Str(v, f); ok {
						t.Lookup = []string{s}
					}
					return
				}
				if v.Kind != yaml.SequenceNode || len(v.Content) == 0 {
					d.Errorf(v, f, "must be an attribute name or a non-empty list of them, not %s", config.KindName(v))
					return
				}
				for i, e := range v.Content {
					if s, ok := d.Str(config.Resolve(e), fmt.Sprintf("%s[%d]", f, i)); ok {
						t.Lookup = append(t.Lookup, s)
					}
				}
			},
		})
		if (t.Path == "") == (t.Store == "") {
			d.Errorf(v, f, "give either path (a table file) or store (a table of the Redis store)")
			return
		}
		if t.Key == "" {
			d.Errorf(v, config.Join(f, "key"), "must name the key column")
			return
		}
		tables = append(tables, t)
	})
	return tables
}
