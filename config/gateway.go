package config

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Gateway defaults.
const (
	DefaultGatewayAddr    = "127.0.0.1:8080"
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

// Gateway is the API gateway part of a configuration: the services it
// proxies, the global policy chain around every service's chain, and the
// gateway's own settings. The fields come from the top-level services,
// policy_chain and gateway keys, which follow APIcast's configuration.
type Gateway struct {
	// Services are the proxied APIs, in file order.
	Services []Service
	// PolicyChain is the global chain, run for every request; an entry
	// named service_chain marks where the selected service's chain runs.
	PolicyChain []ChainEntry
	// FailStatus answers a request whose global-chain policy fails (503).
	FailStatus int
	// ConnectTimeout, SendTimeout and ReadTimeout bound the work with an
	// upstream when no policy says otherwise.
	ConnectTimeout, SendTimeout, ReadTimeout time.Duration
	// MaxHeaderBytes bounds a client's request headers (1 MiB).
	MaxHeaderBytes int
	// APIcast is set when the file is an APIcast configuration file: a
	// JSON object with services and no key but APIcast's (services, oidc,
	// id, provider_key, timestamp) and strict.
	APIcast bool
	// Lenient is set for an APIcast file without strict: true. It is
	// loaded as APIcast loads it: a policy that cannot be built is left
	// out of its chain, and a service whose id is used before is skipped,
	// each with a warning rather than an error.
	Lenient bool
	// Warnings are the problems a lenient file was loaded with, each with
	// its position; the gateway adds those of the chains it builds.
	Warnings Problems
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

// Enabled reports whether the configuration asks for the gateway listener:
// it has services or a global chain.
func (g *Gateway) Enabled() bool { return len(g.Services) > 0 || len(g.PolicyChain) > 0 }

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
type ErrorReply struct {
	Status      int
	Body        string
	ContentType string
}

// MappingRule is an APIcast mapping rule.
type MappingRule struct {
	// HTTPMethod is an upper-case method or ANY.
	HTTPMethod string
	// Pattern is the path pattern: {name} matches one path segment, a
	// trailing $ asks for an exact match, otherwise it matches a prefix.
	Pattern string
	// QueryParameters must be present in the request's query; a value that
	// is not a {placeholder} must be equal.
	QueryParameters map[string]string
	// MetricSystemName and Delta are the usage the rule counts.
	MetricSystemName string
	Delta            int
	// Last stops matching after this rule when it matches.
	Last bool
	// Field and Line locate the rule.
	Field string
	Line  int
}

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

// GatewayAddr returns the gateway listener's address.
func (c *Config) GatewayAddr() string {
	if c.Listen.Gateway == "" {
		return DefaultGatewayAddr
	}
	return c.Listen.Gateway
}

// WithDefaults returns g with every unset setting at its default.
func (g Gateway) WithDefaults() Gateway {
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

// gateway decodes the gateway section: settings of the data plane.
func (d *decoder) gateway(n *yaml.Node, field string, g *Gateway) {
	timeout := func(dst *time.Duration) func(*yaml.Node, string) {
		return func(v *yaml.Node, f string) {
			if t, ok := d.duration(v, f, 24*time.Hour); ok {
				*dst = t
			}
		}
	}
	d.fields(n, field, map[string]func(*yaml.Node, string){
		"fail_status":     func(v *yaml.Node, f string) { g.FailStatus = d.status(v, f) },
		"connect_timeout": timeout(&g.ConnectTimeout),
		"send_timeout":    timeout(&g.SendTimeout),
		"read_timeout":    timeout(&g.ReadTimeout),
		"max_header_bytes": func(v *yaml.Node, f string) {
			if c, ok := d.count(v, f, 1024, 64<<20); ok {
				g.MaxHeaderBytes = c
			}
		},
		"underscores_in_headers":     func(v *yaml.Node, f string) { g.UnderscoresInHeaders, _ = d.boolean(v, f) },
		"upstream_keepalive_timeout": timeout(&g.UpstreamKeepalive),
		"upstream_queue_timeout":     timeout(&g.UpstreamQueueTimeout),
		"upstream_max_conns": func(v *yaml.Node, f string) {
			if c, ok := d.count(v, f, 0, 1<<20); ok {
				g.UpstreamMaxConns = c
			}
		},
	})
}

// status decodes an HTTP status code from 100 to 599; 0 on a problem.
func (d *decoder) status(n *yaml.Node, field string) int {
	c, ok := d.count(n, field, 100, 599)
	if !ok {
		return 0
	}
	return c
}

// services decodes APIcast's services list.
func (d *decoder) services(n *yaml.Node, field string, g *Gateway) {
	seenID := map[string]string{}
	d.list(n, field, func(i int, v *yaml.Node, f string) {
		s := d.service(v, f)
		if s == nil {
			return
		}
		if first, dup := seenID[s.ID]; dup {
			if d.tolerant {
				d.warnf(v, f+".id", "service id %q is used again (first at %s): this service is skipped, as APIcast does", s.ID, first)
				return
			}
			d.errorf(v, f+".id", "service id %q is used twice (first at %s)", s.ID, first)
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
				d.errorf(nil, s.Field+".proxy.hosts", "host %q is claimed by service %s and service %s", h, first, s.ID)
				continue
			}
			owner[h] = s.ID
		}
	}
}

// list calls each for every element of the sequence n. Null is an empty list.
func (d *decoder) list(n *yaml.Node, field string, each func(i int, v *yaml.Node, f string)) {
	n = resolve(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, field, "must be a list, not %s", kindName(n))
		return
	}
	for i, v := range n.Content {
		each(i, resolve(v), field+"["+strconv.Itoa(i)+"]")
	}
}

// lenient is fields for APIcast objects: the keys in known are checked,
// every other key is accepted and ignored.
func (d *decoder) lenient(n *yaml.Node, field string, known map[string]func(v *yaml.Node, field string)) {
	d.entries(n, field, func(key string, k, v *yaml.Node) {
		if f, ok := known[key]; ok && !isNull(v) {
			f(v, join(field, key))
		}
	})
}

func (d *decoder) service(n *yaml.Node, field string) *Service {
	if n == nil || n.Kind != yaml.MappingNode {
		d.errorf(n, field, "must be a mapping, not %s", kindName(n))
		return nil
	}
	s := &Service{ID: DefaultServiceID, Field: field, Line: n.Line, Column: n.Column,
		NoMatch: ErrorReply{Status: 404, Body: "No Mapping Rule matched", ContentType: "text/plain; charset=utf-8"}}
	hasHosts := false
	d.lenient(n, field, map[string]func(*yaml.Node, string){
		"id": func(v *yaml.Node, f string) {
			if v.Kind != yaml.ScalarNode || (v.Tag != "!!int" && v.Tag != "!!str") || v.Value == "" {
				d.errorf(v, f, "must be a number or a non-empty string, not %s", kindName(v))
				return
			}
			s.ID = v.Value
		},
		"system_name": func(v *yaml.Node, f string) { s.SystemName, _ = d.str(v, f) },
		"proxy": func(v *yaml.Node, f string) {
			d.lenient(v, f, map[string]func(*yaml.Node, string){
				"hosts": func(v *yaml.Node, f string) {
					hasHosts = true
					d.list(v, f, func(_ int, h *yaml.Node, f string) {
						if host, ok := d.host(h, f); ok {
							s.Hosts = append(s.Hosts, host)
						}
					})
				},
				"api_backend": func(v *yaml.Node, f string) {
					str, ok := d.str(v, f)
					if !ok || str == "" {
						return
					}
					if err := checkBackend(str); err != nil {
						d.errorf(v, f, "%v", err)
						return
					}
					s.APIBackend = str
				},
				"hostname_rewrite": func(v *yaml.Node, f string) { s.HostnameRewrite, _ = d.str(v, f) },
				"secret_token":     func(v *yaml.Node, f string) { s.SecretToken, _ = d.str(v, f) },
				"policy_chain": func(v *yaml.Node, f string) {
					s.PolicyChain = d.chain(v, f)
					if s.PolicyChain == nil {
						s.PolicyChain = []ChainEntry{}
					}
				},
				"proxy_rules": func(v *yaml.Node, f string) {
					// Present, even empty, means the rules are checked: an
					// empty list matches no request.
					s.Rules = []MappingRule{}
					d.list(v, f, func(_ int, r *yaml.Node, f string) {
						if rule, ok := d.mappingRule(r, f); ok {
							s.Rules = append(s.Rules, rule)
						}
					})
				},
				"error_no_match":         func(v *yaml.Node, f string) { s.NoMatch.Body, _ = d.str(v, f) },
				"error_status_no_match":  func(v *yaml.Node, f string) { s.NoMatch.Status = d.status(v, f) },
				"error_headers_no_match": func(v *yaml.Node, f string) { s.NoMatch.ContentType, _ = d.str(v, f) },
				"fail_status":            func(v *yaml.Node, f string) { s.FailStatus = d.status(v, f) },
			})
		},
	})
	if !hasHosts || len(s.Hosts) == 0 {
		if hasHosts {
			d.errorf(n, field+".proxy.hosts", "lists no host: give at least one, or leave it out for %q", DefaultServiceHost)
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
func (d *decoder) host(n *yaml.Node, field string) (string, bool) {
	s, ok := d.str(n, field)
	if !ok {
		return "", false
	}
	h := strings.ToLower(strings.TrimSpace(s))
	name := strings.TrimPrefix(h, "*.")
	if name == "" || strings.ContainsAny(name, "*/ :?#@[]") || strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") {
		d.errorf(n, field, "%q is not a host name (a wildcard is written *.example.com)", s)
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

func (d *decoder) mappingRule(n *yaml.Node, field string) (MappingRule, bool) {
	if n == nil || n.Kind != yaml.MappingNode {
		d.errorf(n, field, "must be a mapping, not %s", kindName(n))
		return MappingRule{}, false
	}
	r := MappingRule{HTTPMethod: "ANY", Field: field, Line: n.Line}
	ok := true
	d.lenient(n, field, map[string]func(*yaml.Node, string){
		"http_method": func(v *yaml.Node, f string) {
			s, good := d.str(v, f)
			if !good || !validMethod(strings.ToUpper(s)) {
				if good {
					d.errorf(v, f, "%q is not an HTTP method or ANY", s)
				}
				ok = false
				return
			}
			r.HTTPMethod = strings.ToUpper(s)
		},
		"pattern": func(v *yaml.Node, f string) {
			s, good := d.str(v, f)
			if good && !strings.HasPrefix(s, "/") {
				d.errorf(v, f, "pattern %q must start with /", s)
				good = false
			}
			if good && strings.Count(s, "{") != strings.Count(s, "}") {
				d.errorf(v, f, "pattern %q has unbalanced braces", s)
				good = false
			}
			ok = ok && good
			r.Pattern = s
		},
		"metric_system_name": func(v *yaml.Node, f string) { r.MetricSystemName, _ = d.str(v, f) },
		"delta": func(v *yaml.Node, f string) {
			if c, good := d.count(v, f, 0, math.MaxInt32); good {
				r.Delta = c
			}
		},
		"last": func(v *yaml.Node, f string) {
			if v.Kind != yaml.ScalarNode || v.Tag != "!!bool" {
				d.errorf(v, f, "must be true or false, not %s", kindName(v))
				return
			}
			r.Last = v.Value == "true"
		},
		"querystring_parameters": func(v *yaml.Node, f string) {
			d.entries(v, f, func(key string, _, val *yaml.Node) {
				s, good := d.str(val, join(f, key))
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
		d.errorf(n, field+".pattern", "a mapping rule needs a pattern such as /items/{id}")
		ok = false
	}
	return r, ok
}

func validMethod(m string) bool {
	if m == "ANY" {
		return true
	}
	return m != "" && validHeaderName(m)
}

// chain decodes a policy chain: a list of {name, version, configuration}.
func (d *decoder) chain(n *yaml.Node, field string) []ChainEntry {
	var out []ChainEntry
	d.list(n, field, func(_ int, v *yaml.Node, f string) {
		if v == nil || v.Kind != yaml.MappingNode {
			d.errorf(v, f, "must be a mapping with name, version and configuration, not %s", kindName(v))
			return
		}
		e := ChainEntry{Field: f, Line: v.Line, Column: v.Column}
		enabled := true
		d.fields(v, f, map[string]func(*yaml.Node, string){
			// 3scale's admin portal keeps switched-off policies in the
			// chain with enabled: false.
			"enabled": func(v *yaml.Node, f string) {
				if v.Kind != yaml.ScalarNode || v.Tag != "!!bool" {
					d.errorf(v, f, "must be true or false, not %s", kindName(v))
					return
				}
				enabled = v.Value == "true"
			},
			"name":    func(v *yaml.Node, f string) { e.Name, _ = d.str(v, f) },
			"version": func(v *yaml.Node, f string) { e.Version, _ = d.str(v, f) },
			"configuration": func(v *yaml.Node, f string) {
				if isNull(v) {
					return
				}
				if v.Kind != yaml.MappingNode {
					d.errorf(v, f, "must be a mapping, not %s", kindName(v))
					return
				}
				budget := maxConfigNodes
				raw, err := nodeJSON(v, &budget, nil)
				if err != nil {
					d.errorf(v, f, "%v", err)
					return
				}
				e.Configuration = raw
			},
		})
		if e.Name == "" {
			d.errorf(v, join(f, "name"), "a policy name is required")
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
func nodeJSON(n *yaml.Node, budget *int, buf []byte) ([]byte, error) {
	n = resolve(n)
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
			k := resolve(n.Content[i])
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

// boolean decodes true or false.
func (d *decoder) boolean(n *yaml.Node, field string) (bool, bool) {
	var b bool
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || n.Decode(&b) != nil {
		d.errorf(n, field, "must be true or false, not %s", kindName(n))
		return false, false
	}
	return b, true
}
