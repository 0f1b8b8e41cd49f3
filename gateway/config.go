package gateway

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/config"
	"github.com/verdict-policy/verdict/internal/httpx"
)

// Gateway defaults.
const (
	DefaultFailStatus     = 503
	DefaultConnectTimeout = 10 * time.Second
	DefaultSendTimeout    = 60 * time.Second
	DefaultReadTimeout    = 60 * time.Second
	DefaultMaxHeaderBytes = 1 << 20
	// DefaultUpstreamKeepalive is under the two seconds after which
	// gunicorn, the shortest common upstream keep-alive, closes an idle
	// connection.
	DefaultUpstreamKeepalive    = 1500 * time.Millisecond
	DefaultUpstreamQueueTimeout = 10 * time.Second
	// DefaultServiceHost is the host of a service that lists none, as in
	// APIcast.
	DefaultServiceHost = "localhost"
	// DefaultServiceID is the id of a service that has none, as in APIcast.
	DefaultServiceID = "default"
)

// The top-level keys of the gateway's sections.
const (
	ServicesKey    = "services"
	PolicyChainKey = "policy_chain"
	SettingsKey    = "gateway"
)

func init() {
	config.RegisterSection(config.SectionInfo{Key: ServicesKey, Decode: decodeServices})
	config.RegisterSection(config.SectionInfo{Key: PolicyChainKey, Decode: decodePolicyChain})
	config.RegisterSection(config.SectionInfo{Key: SettingsKey, Decode: decodeSettings})
}

// Config is the API gateway part of a configuration: the services it
// proxies, the global policy chain around every service's chain, and the
// gateway's own settings. The fields come from the top-level services,
// policy_chain and gateway keys, which follow APIcast's configuration and
// which this package registers and decodes; ConfigOf gathers them.
type Config struct {
	// Services are the proxied APIs, in file order.
	Services []Service
	// PolicyChain is the global chain, run for every request; an entry
	// named service_chain marks where the selected service's chain runs.
	PolicyChain []ChainEntry
	// Settings are the gateway key's.
	Settings
	// APIcast, Lenient and Warnings are the file's (see config.Config):
	// a lenient file's chains leave out the policies they cannot build.
	APIcast, Lenient bool
	Warnings         config.Problems
}

// Settings are the gateway's own settings, the gateway key.
type Settings struct {
	// FailStatus answers a request whose global-chain policy fails (503).
	FailStatus int
	// ConnectTimeout, SendTimeout and ReadTimeout bound the work with an
	// upstream when no policy says otherwise.
	ConnectTimeout, SendTimeout, ReadTimeout time.Duration
	// MaxHeaderBytes bounds a client's request headers (1 MiB).
	MaxHeaderBytes int
	// UnderscoresInHeaders keeps request header fields whose name holds
	// '_'; by default they are dropped before the chain runs, as nginx
	// does (underscores_in_headers off).
	UnderscoresInHeaders bool
	// UpstreamKeepalive bounds how long an idle upstream connection is
	// kept for reuse (1.5 s).
	UpstreamKeepalive time.Duration
	// UpstreamMaxConns bounds the connections in use to one upstream at a
	// time; 0, the default, sets no bound.
	UpstreamMaxConns int
	// UpstreamQueueTimeout is how long a request waits for one of an
	// upstream's UpstreamMaxConns connections before it is answered 503
	// (10 s).
	UpstreamQueueTimeout time.Duration
}

// ConfigOf returns the gateway part of cfg, its settings not yet
// defaulted (see WithDefaults).
func ConfigOf(cfg *config.Config) Config {
	g := Config{APIcast: cfg.APIcast, Lenient: cfg.Lenient, Warnings: cfg.Warnings}
	if s, ok := config.Section[[]Service](cfg, ServicesKey); ok {
		g.Services = s
	}
	if c, ok := config.Section[[]ChainEntry](cfg, PolicyChainKey); ok {
		g.PolicyChain = c
	}
	if s, ok := config.Section[*Settings](cfg, SettingsKey); ok {
		g.Settings = *s
	}
	return g
}

// Enabled reports whether the configuration asks for the gateway listener:
// it has services or a global chain.
func (g *Config) Enabled() bool { return len(g.Services) > 0 || len(g.PolicyChain) > 0 }

// Enabled reports whether cfg asks for the gateway listener: it has
// services or a global chain.
func Enabled(cfg *config.Config) bool {
	g := ConfigOf(cfg)
	return g.Enabled()
}

// Service is one API behind the gateway, in APIcast's shape: the fields
// Verdict uses are checked, the others (3scale backend settings,
// timestamps) are accepted and ignored so that an exported APIcast
// configuration loads as it is.
type Service struct {
	// ID is the service id as a string ("default" when absent).
	ID string
	// SystemName is the service's system_name, if any.
	SystemName string
	// Hosts are the lower-cased request hosts the service answers; an entry
	// "*.example.com" matches every subdomain of example.com.
	Hosts []string
	// APIBackend is the upstream URL (proxy.api_backend); empty when absent.
	APIBackend string
	// HostnameRewrite, when set, is the Host header sent upstream.
	HostnameRewrite string
	// SecretToken, when set, is sent upstream as X-3scale-proxy-secret-token.
	SecretToken string
	// OIDCIssuerEndpoint is proxy.oidc_issuer_endpoint: the OpenID
	// Connect issuer, with the gateway's client credentials in its
	// userinfo; empty when absent.
	OIDCIssuerEndpoint string
	// PolicyChain is proxy.policy_chain; nil when absent, which means a
	// chain of the apicast policy alone.
	PolicyChain []ChainEntry
	// Rules are the mapping rules (proxy.proxy_rules): nil when the key is
	// absent or null, and then no rule is checked; a list, even an empty
	// one, is checked, and a request no rule matches is refused.
	Rules []MappingRule
	// NoMatch is the answer when no mapping rule matches.
	NoMatch ErrorReply
	// FailStatus answers a request whose policy fails (503 by default).
	FailStatus int
	// Field, Line and Column locate the service in the configuration file.
	Field        string
	Line, Column int
}

// ErrorReply is a configured error answer.
type ErrorReply = chain.ErrorReply

// MappingRule is an APIcast mapping rule.
type MappingRule = chain.MappingRule

// ChainEntry is one policy of a configured chain, APIcast's
// {"name", "version", "configuration"}, with its position.
type ChainEntry struct {
	Name    string
	Version string
	// Configuration is the entry's configuration as JSON; nil when absent.
	Configuration json.RawMessage
	// Field, Line and Column locate the entry in the configuration file.
	Field        string
	Line, Column int
}

// WithDefaults returns g with every unset setting at its default.
func (g Config) WithDefaults() Config {
	if g.FailStatus == 0 {
		g.FailStatus = DefaultFailStatus
	}
	if g.ConnectTimeout == 0 {
		g.ConnectTimeout = DefaultConnectTimeout
	}
	if g.SendTimeout == 0 {
		g.SendTimeout = DefaultSendTimeout
	}
	if g.ReadTimeout == 0 {
		g.ReadTimeout = DefaultReadTimeout
	}
	if g.MaxHeaderBytes == 0 {
		g.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if g.UpstreamKeepalive == 0 {
		g.UpstreamKeepalive = DefaultUpstreamKeepalive
	}
	if g.UpstreamQueueTimeout == 0 {
		g.UpstreamQueueTimeout = DefaultUpstreamQueueTimeout
	}
	return g
}

// decodeSettings decodes the gateway section: settings of the data plane.
func decodeSettings(d *config.Decoder, n *config.Node, field string) any {
	g := &Settings{}
	timeout := func(dst *time.Duration) func(*config.Node, string) {
		return func(v *config.Node, f string) {
			if t, ok := d.Duration(v, f, 24*time.Hour); ok {
				*dst = t
			}
		}
	}
	d.Fields(n, field, map[string]func(*config.Node, string){
		"fail_status":     func(v *config.Node, f string) { g.FailStatus = status(d, v, f) },
		"connect_timeout": timeout(&g.ConnectTimeout),
		"send_timeout":    timeout(&g.SendTimeout),
		"read_timeout":    timeout(&g.ReadTimeout),
		"max_header_bytes": func(v *config.Node, f string) {
			if c, ok := d.Count(v, f, 1024, 64<<20); ok {
				g.MaxHeaderBytes = c
			}
		},
		"underscores_in_headers":     func(v *config.Node, f string) { g.UnderscoresInHeaders, _ = d.Bool(v, f) },
		"upstream_keepalive_timeout": timeout(&g.UpstreamKeepalive),
		"upstream_queue_timeout":     timeout(&g.UpstreamQueueTimeout),
		"upstream_max_conns": func(v *config.Node, f string) {
			if c, ok := d.Count(v, f, 0, 1<<20); ok {
				g.UpstreamMaxConns = c
			}
		},
	})
	return g
}

// status decodes an HTTP status code from 100 to 599; 0 on a problem.
func status(d *config.Decoder, n *config.Node, field string) int {
	c, ok := d.Count(n, field, 100, 599)
	if !ok {
		return 0
	}
	return c
}

// decodeServices decodes APIcast's services list.
func decodeServices(d *config.Decoder, n *config.Node, field string) any {
	g := &Config{}
	seenID := map[string]string{}
	d.List(n, field, func(i int, v *config.Node, f string) {
		s := decodeService(d, v, f)
		if s == nil {
			return
		}
		if first, dup := seenID[s.ID]; dup {
			if d.Tolerant() {
				d.Warnf(v, f+".id", "service id %q is used again (first at %s): this service is skipped, as APIcast does", s.ID, first)
				return
			}
			d.Errorf(v, f+".id", "service id %q is used twice (first at %s)", s.ID, first)
			return
		}
		seenID[s.ID] = f
		g.Services = append(g.Services, *s)
	})
	// A host belongs to one service: APIcast keeps the first and warns;
	// a silent skip hides mistakes, so it is a problem here.
	owner := map[string]string{}
	for _, s := range g.Services {
		for _, h := range s.Hosts {
			if first, dup := owner[h]; dup && first != s.ID {
				d.Errorf(nil, s.Field+".proxy.hosts", "host %q is claimed by service %s and service %s", h, first, s.ID)
				continue
			}
			owner[h] = s.ID
		}
	}
	if len(g.Services) == 0 {
		return nil
	}
	return g.Services
}

func decodeService(d *config.Decoder, n *config.Node, field string) *Service {
	if n == nil || n.Kind != yaml.MappingNode {
		d.Errorf(n, field, "must be a mapping, not %s", config.KindName(n))
		return nil
	}
	s := &Service{ID: DefaultServiceID, Field: field, Line: n.Line, Column: n.Column,
		NoMatch: ErrorReply{Status: 404, Body: "No Mapping Rule matched", ContentType: "text/plain; charset=utf-8"}}
	hasHosts := false
	d.Lenient(n, field, map[string]func(*config.Node, string){
		"id": func(v *config.Node, f string) {
			if v.Kind != yaml.ScalarNode || (v.Tag != "!!int" && v.Tag != "!!str") || v.Value == "" {
				d.Errorf(v, f, "must be a number or a non-empty string, not %s", config.KindName(v))
				return
			}
			s.ID = v.Value
		},
		"system_name": func(v *config.Node, f string) { s.SystemName, _ = d.Str(v, f) },
		"proxy": func(v *config.Node, f string) {
			d.Lenient(v, f, map[string]func(*config.Node, string){
				"hosts": func(v *config.Node, f string) {
					hasHosts = true
					d.List(v, f, func(_ int, h *config.Node, f string) {
						if host, ok := decodeHost(d, h, f); ok {
							s.Hosts = append(s.Hosts, host)
						}
					})
				},
				"api_backend": func(v *config.Node, f string) {
					str, ok := d.Str(v, f)
					if !ok || str == "" {
						return
					}
					if err := checkBackend(str); err != nil {
						d.Errorf(v, f, "%v", err)
						return
					}
					s.APIBackend = str
				},
				"hostname_rewrite": func(v *config.Node, f string) { s.HostnameRewrite, _ = d.Str(v, f) },
				"secret_token":     func(v *config.Node, f string) { s.SecretToken, _ = d.Str(v, f) },
				"oidc_issuer_endpoint": func(v *config.Node, f string) {
					if !config.IsNull(v) {
						s.OIDCIssuerEndpoint, _ = d.Str(v, f)
					}
				},
				"policy_chain": func(v *config.Node, f string) {
					s.PolicyChain = decodeChain(d, v, f)
					if s.PolicyChain == nil {
						s.PolicyChain = []ChainEntry{}
					}
				},
				"proxy_rules": func(v *config.Node, f string) {
					// Present, even empty, means the rules are checked: an
					// empty list matches no request.
					s.Rules = []MappingRule{}
					d.List(v, f, func(_ int, r *config.Node, f string) {
						if rule, ok := decodeMappingRule(d, r, f); ok {
							s.Rules = append(s.Rules, rule)
						}
					})
				},
				"error_no_match":         func(v *config.Node, f string) { s.NoMatch.Body, _ = d.Str(v, f) },
				"error_status_no_match":  func(v *config.Node, f string) { s.NoMatch.Status = status(d, v, f) },
				"error_headers_no_match": func(v *config.Node, f string) { s.NoMatch.ContentType, _ = d.Str(v, f) },
				"fail_status":            func(v *config.Node, f string) { s.FailStatus = status(d, v, f) },
			})
		},
	})
	if !hasHosts || len(s.Hosts) == 0 {
		if hasHosts {
			d.Errorf(n, field+".proxy.hosts", "lists no host: give at least one, or leave it out for %q", DefaultServiceHost)
		}
		s.Hosts = []string{DefaultServiceHost}
	}
	if s.NoMatch.Status == 0 {
		s.NoMatch.Status = 404
	}
	return s
}

// host decodes a service host: a name, lower-cased, optionally starting
// with "*." for a wildcard.
func decodeHost(d *config.Decoder, n *config.Node, field string) (string, bool) {
	s, ok := d.Str(n, field)
	if !ok {
		return "", false
	}
	h := strings.ToLower(strings.TrimSpace(s))
	name := strings.TrimPrefix(h, "*.")
	if name == "" || strings.ContainsAny(name, "*/ :?#@[]") || strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") {
		d.Errorf(n, field, "%q is not a host name (a wildcard is written *.example.com)", s)
		return "", false
	}
	return h, true
}

// checkBackend accepts an absolute http or https URL without user info or
// fragment.
func checkBackend(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return errorf("%q must be an http:// or https:// URL", s)
	}
	if u.Host == "" || u.User != nil || u.Fragment != "" {
		return errorf("%q must be a URL with a host, without user info or fragment", s)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return errorf("%q has a bad port", s)
		}
	}
	return nil
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

func decodeMappingRule(d *config.Decoder, n *config.Node, field string) (MappingRule, bool) {
	if n == nil || n.Kind != yaml.MappingNode {
		d.Errorf(n, field, "must be a mapping, not %s", config.KindName(n))
		return MappingRule{}, false
	}
	r := MappingRule{HTTPMethod: "ANY", Field: field, Line: n.Line}
	ok := true
	d.Lenient(n, field, map[string]func(*config.Node, string){
		"http_method": func(v *config.Node, f string) {
			s, good := d.Str(v, f)
			if !good || !validMethod(strings.ToUpper(s)) {
				if good {
					d.Errorf(v, f, "%q is not an HTTP method or ANY", s)
				}
				ok = false
				return
			}
			r.HTTPMethod = strings.ToUpper(s)
		},
		"pattern": func(v *config.Node, f string) {
			s, good := d.Str(v, f)
			if good && !strings.HasPrefix(s, "/") {
				d.Errorf(v, f, "pattern %q must start with /", s)
				good = false
			}
			if good && strings.Count(s, "{") != strings.Count(s, "}") {
				d.Errorf(v, f, "pattern %q has unbalanced braces", s)
				good = false
			}
			ok = ok && good
			r.Pattern = s
		},
		"metric_system_name": func(v *config.Node, f string) { r.MetricSystemName, _ = d.Str(v, f) },
		"delta": func(v *config.Node, f string) {
			if c, good := d.Count(v, f, 0, math.MaxInt32); good {
				r.Delta = c
			}
		},
		"last": func(v *config.Node, f string) {
			if v.Kind != yaml.ScalarNode || v.Tag != "!!bool" {
				d.Errorf(v, f, "must be true or false, not %s", config.KindName(v))
				return
			}
			r.Last = v.Value == "true"
		},
		"querystring_parameters": func(v *config.Node, f string) {
			d.Entries(v, f, func(key string, _, val *config.Node) {
				s, good := d.Str(val, config.Join(f, key))
				if !good {
					return
				}
				if r.QueryParameters == nil {
					r.QueryParameters = map[string]string{}
				}
				r.QueryParameters[key] = s
			})
		},
	})
	if r.Pattern == "" && ok {
		d.Errorf(n, field+".pattern", "a mapping rule needs a pattern such as /items/{id}")
		ok = false
	}
	return r, ok
}

func validMethod(m string) bool {
	if m == "ANY" {
		return true
	}
	return m != "" && httpx.IsToken(m)
}

// decodePolicyChain decodes the global chain.
func decodePolicyChain(d *config.Decoder, n *config.Node, field string) any {
	if c := decodeChain(d, n, field); len(c) > 0 {
		return c
	}
	return nil
}

// decodeChain decodes a policy chain: a list of {name, version, configuration}.
func decodeChain(d *config.Decoder, n *config.Node, field string) []ChainEntry {
	var out []ChainEntry
	d.List(n, field, func(_ int, v *config.Node, f string) {
		if v == nil || v.Kind != yaml.MappingNode {
			d.Errorf(v, f, "must be a mapping with name, version and configuration, not %s", config.KindName(v))
			return
		}
		e := ChainEntry{Field: f, Line: v.Line, Column: v.Column}
		enabled := true
		d.Fields(v, f, map[string]func(*config.Node, string){
			// 3scale's admin portal keeps switched-off policies in the
			// chain with enabled: false.
			"enabled": func(v *config.Node, f string) {
				if v.Kind != yaml.ScalarNode || v.Tag != "!!bool" {
					d.Errorf(v, f, "must be true or false, not %s", config.KindName(v))
					return
				}
				enabled = v.Value == "true"
			},
			"name":    func(v *config.Node, f string) { e.Name, _ = d.Str(v, f) },
			"version": func(v *config.Node, f string) { e.Version, _ = d.Str(v, f) },
			"configuration": func(v *config.Node, f string) {
				if config.IsNull(v) {
					return
				}
				if v.Kind != yaml.MappingNode {
					d.Errorf(v, f, "must be a mapping, not %s", config.KindName(v))
					return
				}
				budget := maxConfigNodes
				raw, err := nodeJSON(v, &budget, nil)
				if err != nil {
					d.Errorf(v, f, "%v", err)
					return
				}
				e.Configuration = raw
			},
		})
		if e.Name == "" {
			d.Errorf(v, config.Join(f, "name"), "a policy name is required")
			return
		}
		if enabled {
			out = append(out, e)
		}
	})
	return out
}

// maxConfigNodes bounds the size of one policy configuration, aliases
// expanded, so that a small file cannot expand into a huge one.
const maxConfigNodes = 100000

// nodeJSON converts a YAML node to JSON, keeping key order.
func nodeJSON(n *config.Node, budget *int, buf []byte) ([]byte, error) {
	n = config.Resolve(n)
	*budget--
	if *budget < 0 {
		return nil, errorf("is too large (more than %d values)", maxConfigNodes)
	}
	if n == nil {
		return append(buf, "null"...), nil
	}
	switch n.Kind {
	case yaml.MappingNode:
		buf = append(buf, '{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := config.Resolve(n.Content[i])
			if k == nil || k.Kind != yaml.ScalarNode || k.Tag == "!!merge" {
				return nil, errorf("keys must be plain names")
			}
			if i > 0 {
				buf = append(buf, ',')
			}
			buf, _ = appendJSON(buf, k.Value)
			buf = append(buf, ':')
			var err error
			if buf, err = nodeJSON(n.Content[i+1], budget, buf); err != nil {
				return nil, err
			}
		}
		return append(buf, '}'), nil
	case yaml.SequenceNode:
		buf = append(buf, '[')
		for i, v := range n.Content {
			if i > 0 {
				buf = append(buf, ',')
			}
			var err error
			if buf, err = nodeJSON(v, budget, buf); err != nil {
				return nil, err
			}
		}
		return append(buf, ']'), nil
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return append(buf, "null"...), nil
		case "!!bool":
			var b bool
			if err := n.Decode(&b); err != nil {
				return nil, errorf("bad boolean %q", n.Value)
			}
			return strconv.AppendBool(buf, b), nil
		case "!!int":
			var i int64
			if err := n.Decode(&i); err != nil {
				return nil, errorf("number %q is out of range", n.Value)
			}
			return strconv.AppendInt(buf, i, 10), nil
		case "!!float":
			var f float64
			if err := n.Decode(&f); err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
				return nil, errorf("bad number %q", n.Value)
			}
			return strconv.AppendFloat(buf, f, 'g', -1, 64), nil
		case "!!str":
			return appendJSON(buf, n.Value)
		}
		return nil, errorf("unsupported value of type %s", n.Tag)
	}
	return nil, errorf("unsupported value")
}

func appendJSON(buf []byte, s string) ([]byte, error) {
	b, err := json.Marshal(s)
	return append(buf, b...), err
}
