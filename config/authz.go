package config

import (
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/verdict-policy/verdict/internal/httpx"
)

// Default header names the nginx adapter reads the original request from.
const (
	DefaultNginxURIHeader    = "X-Original-URI"
	DefaultNginxMethodHeader = "X-Original-Method"
)

// Authz configures the external authorizer for proxies (Envoy ext_authz,
// nginx auth_request, Traefik and Caddy forward auth) and the AuthZEN
// API. A nil *Authz means the section is absent and those endpoints are off.
type Authz struct {
	// Envoy, Nginx and Forward configure the proxy adapters. Their Policy
	// defaults to the section's policy field.
	Envoy, Nginx, Forward AuthzAdapter
	// AuthZEN configures the AuthZEN evaluation API.
	AuthZEN AuthzAdapter
	// NginxURIHeader and NginxMethodHeader name the headers nginx puts the
	// original request URI and method in.
	NginxURIHeader, NginxMethodHeader string
	// JWT, when set, verifies bearer tokens for the proxy adapters; the
	// claims of an accepted token become jwt.<claim> attributes.
	JWT *AuthzJWT
	// Line and Column locate the section in the configuration file.
	Line, Column int
}

// AuthzAdapter names the document one adapter decides with.
type AuthzAdapter struct {
	// Policy is the name of a document under policies; empty turns the
	// adapter off.
	Policy string
	// Field, Line and Column locate the policy name, for problems found
	// once the documents are known.
	Field        string
	Line, Column int
}

// AuthzJWT configures bearer token verification. Exactly one of Secret and
// PublicKey is set.
type AuthzJWT struct {
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

func (d *Decoder) authz(n *yaml.Node, field string, out **Authz) {
	n = Resolve(n)
	if IsNull(n) {
		return
	}
	a := &Authz{
		NginxURIHeader:    DefaultNginxURIHeader,
		NginxMethodHeader: DefaultNginxMethodHeader,
		Line:              n.Line, Column: n.Column,
	}
	var shared AuthzAdapter
	name := func(dst *AuthzAdapter) func(*yaml.Node, string) {
		return func(v *yaml.Node, f string) {
			s, ok := d.Str(v, f)
			if !ok {
				return
			}
			if s != "" && !ValidName(s) {
				d.Errorf(v, f, "bad document name %q: use letters, digits, '_', '.' and '-'", s)
				return
			}
			*dst = AuthzAdapter{Policy: s, Field: f, Line: v.Line, Column: v.Column}
		}
	}
	header := func(dst *string) func(*yaml.Node, string) {
		return func(v *yaml.Node, f string) {
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
	adapter := func(dst *AuthzAdapter, extra map[string]func(*yaml.Node, string)) func(*yaml.Node, string) {
		return func(v *yaml.Node, f string) {
			known := map[string]func(*yaml.Node, string){"policy": name(dst)}
			for k, fn := range extra {
				known[k] = fn
			}
			d.Fields(v, f, known)
		}
	}
	d.Fields(n, field, map[string]func(*yaml.Node, string){
		"policy":  name(&shared),
		"envoy":   adapter(&a.Envoy, nil),
		"forward": adapter(&a.Forward, nil),
		"authzen": adapter(&a.AuthZEN, nil),
		"nginx": adapter(&a.Nginx, map[string]func(*yaml.Node, string){
			"uri_header":    header(&a.NginxURIHeader),
			"method_header": header(&a.NginxMethodHeader),
		}),
		"jwt": func(v *yaml.Node, f string) { a.JWT = d.authzJWT(v, f) },
	})
	for _, ad := range []*AuthzAdapter{&a.Envoy, &a.Nginx, &a.Forward} {
		if ad.Field == "" {
			*ad = shared
		}
	}
	*out = a
}

func (d *Decoder) authzJWT(n *yaml.Node, field string) *AuthzJWT {
	j := &AuthzJWT{}
	var keys []string
	d.Fields(n, field, map[string]func(*yaml.Node, string){
		"hs256_secret": func(v *yaml.Node, f string) {
			if s, ok := d.Str(v, f); ok {
				j.Secret = s
				keys = append(keys, "hs256_secret")
				if len(s) < 16 {
					d.Errorf(v, f, "a secret of %d bytes is too short: use at least 16", len(s))
				}
			}
		},
		"hs256_secret_env": func(v *yaml.Node, f string) {
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
		"public_key": func(v *yaml.Node, f string) {
			if s, ok := d.Str(v, f); ok {
				j.PublicKey = s
				keys = append(keys, "public_key")
			}
		},
		"issuer":   func(v *yaml.Node, f string) { j.Issuer, _ = d.Str(v, f) },
		"audience": func(v *yaml.Node, f string) { j.Audience, _ = d.Str(v, f) },
		"leeway": func(v *yaml.Node, f string) {
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
		d.Errorf(Resolve(n), field, "give one key: hs256_secret, hs256_secret_env or public_key")
	case len(keys) > 1:
		d.Errorf(Resolve(n), field, "give one key, not %s", strings.Join(keys, " and "))
	}
	return j
}
