package authz

import (
	"os"
	"strings"
	"time"

	"github.com/verdict-policy/verdict/config"

	"github.com/verdict-policy/verdict/internal/httpx"
)

// Key is the top-level key of the authz section.
const Key = "authz"

func init() {
	config.RegisterSection(config.SectionInfo{Key: Key, Decode: decode})
}

// ConfigOf returns the authz section of cfg, or nil when the file has none.
func ConfigOf(cfg *config.Config) *Config {
	c, _ := config.Section[*Config](cfg, Key)
	return c
}

// Default header names the nginx adapter reads the original request from.
const (
	DefaultNginxURIHeader    = "X-Original-URI"
	DefaultNginxMethodHeader = "X-Original-Method"
)

// Config configures the external authorizer for proxies (Envoy ext_authz,
// nginx auth_request, Traefik and Caddy forward auth) and the AuthZEN
// API. A nil *Config means the section is absent and those endpoints are off.
type Config struct {
	// Envoy, Nginx and Forward configure the proxy adapters. Their Policy
	// defaults to the section's policy field.
	Envoy, Nginx, Forward AdapterConfig
	// AuthZEN configures the AuthZEN evaluation API.
	AuthZEN AdapterConfig
	// NginxURIHeader and NginxMethodHeader name the headers nginx puts the
	// original request URI and method in.
	NginxURIHeader, NginxMethodHeader string
	// JWT, when set, verifies bearer tokens for the proxy adapters; the
	// claims of an accepted token become jwt.<claim> attributes.
	JWT *JWTConfig
	// Line and Column locate the section in the configuration file.
	Line, Column int
}

// AdapterConfig names the document one adapter decides with.
type AdapterConfig struct {
	// Policy is the name of a document under policies; empty turns the
	// adapter off.
	Policy string
	// Field, Line and Column locate the policy name, for problems found
	// once the documents are known.
	Field        string
	Line, Column int
}

// JWTConfig configures bearer token verification. Exactly one of Secret and
// PublicKey is set.
type JWTConfig struct {
	// Secret is the HS256 key, given inline or read from an environment
	// variable at load.
	Secret string
	// PublicKey is the path of a PEM public key (RSA for RS256, EC P-256
	// for ES256), relative to the configuration file.
	PublicKey string
	// Issuer and Audience, when set, must match the iss and aud claims.
	Issuer, Audience string
	// Leeway tolerates clock skew on exp and nbf.
	Leeway time.Duration
}

func decode(d *config.Decoder, n *config.Node, field string) any {
	n = config.Resolve(n)
	if config.IsNull(n) {
		return nil
	}
	a := &Config{
		NginxURIHeader:    DefaultNginxURIHeader,
		NginxMethodHeader: DefaultNginxMethodHeader,
		Line:              n.Line, Column: n.Column,
	}
	var shared AdapterConfig
	name := func(dst *AdapterConfig) func(*config.Node, string) {
		return func(v *config.Node, f string) {
			s, ok := d.Str(v, f)
			if !ok {
				return
			}
			if s != "" && !config.ValidName(s) {
				d.Errorf(v, f, "bad document name %q: use letters, digits, '_', '.' and '-'", s)
				return
			}
			*dst = AdapterConfig{Policy: s, Field: f, Line: v.Line, Column: v.Column}
		}
	}
	header := func(dst *string) func(*config.Node, string) {
		return func(v *config.Node, f string) {
			s, ok := d.Str(v, f)
			if !ok {
				return
			}
			if !httpx.ValidFieldName(s) {
				d.Errorf(v, f, "%q is not a header name", s)
				return
			}
			*dst = s
		}
	}
	adapter := func(dst *AdapterConfig, extra map[string]func(*config.Node, string)) func(*config.Node, string) {
		return func(v *config.Node, f string) {
			known := map[string]func(*config.Node, string){"policy": name(dst)}
			for k, fn := range extra {
				known[k] = fn
			}
			d.Fields(v, f, known)
		}
	}
	d.Fields(n, field, map[string]func(*config.Node, string){
		"policy":  name(&shared),
		"envoy":   adapter(&a.Envoy, nil),
		"forward": adapter(&a.Forward, nil),
		"authzen": adapter(&a.AuthZEN, nil),
		"nginx": adapter(&a.Nginx, map[string]func(*config.Node, string){
			"uri_header":    header(&a.NginxURIHeader),
			"method_header": header(&a.NginxMethodHeader),
		}),
		"jwt": func(v *config.Node, f string) { a.JWT = decodeJWT(d, v, f) },
	})
	for _, ad := range []*AdapterConfig{&a.Envoy, &a.Nginx, &a.Forward} {
		if ad.Field == "" {
			*ad = shared
		}
	}
	return a
}

func decodeJWT(d *config.Decoder, n *config.Node, field string) *JWTConfig {
	j := &JWTConfig{}
	var keys []string
	d.Fields(n, field, map[string]func(*config.Node, string){
		"hs256_secret": func(v *config.Node, f string) {
			if s, ok := d.Str(v, f); ok {
				j.Secret = s
				keys = append(keys, "hs256_secret")
				if len(s) < 16 {
					d.Errorf(v, f, "a secret of %d bytes is too short: use at least 16", len(s))
				}
			}
		},
		"hs256_secret_env": func(v *config.Node, f string) {
			s, ok := d.Str(v, f)
			if !ok {
				return
			}
			keys = append(keys, "hs256_secret_env")
			val, set := os.LookupEnv(s)
			switch {
			case !set:
				d.Errorf(v, f, "environment variable %s is not set", s)
			case len(val) < 16:
				d.Errorf(v, f, "the secret in %s has %d bytes: use at least 16", s, len(val))
			default:
				j.Secret = val
			}
		},
		"public_key": func(v *config.Node, f string) {
			if s, ok := d.Str(v, f); ok {
				j.PublicKey = s
				keys = append(keys, "public_key")
			}
		},
		"issuer":   func(v *config.Node, f string) { j.Issuer, _ = d.Str(v, f) },
		"audience": func(v *config.Node, f string) { j.Audience, _ = d.Str(v, f) },
		"leeway": func(v *config.Node, f string) {
			s, ok := d.Str(v, f)
			if !ok {
				return
			}
			dur, err := time.ParseDuration(s)
			if err != nil || dur < 0 {
				d.Errorf(v, f, "%q is not a duration such as 30s", s)
				return
			}
			j.Leeway = dur
		},
	})
	switch {
	case len(keys) == 0:
		d.Errorf(config.Resolve(n), field, "give one key: hs256_secret, hs256_secret_env or public_key")
	case len(keys) > 1:
		d.Errorf(config.Resolve(n), field, "give one key, not %s", strings.Join(keys, " and "))
	}
	return j
}
