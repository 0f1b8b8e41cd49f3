package oidc

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzParseIssuer feeds arbitrary issuer URLs: an accepted one is an http
// or https URL without user information, and its metadata URL ends with
// the well-known path.
func FuzzParseIssuer(f *testing.F) {
	f.Add("http://app:appsec@idp.test:8080/realms/a")
	f.Add("https://idp.test/")
	f.Add("https://[::1]:8443/x")
	f.Fuzz(func(t *testing.T, raw string) {
		is, err := ParseIssuer(raw)
		if err != nil {
			return
		}
		u, err := url.Parse(is.URL)
		if err != nil || u.User != nil || (u.Scheme != "http" && u.Scheme != "https") {
			t.Fatalf("%q gave issuer %q", raw, is.URL)
		}
		if !strings.HasSuffix(is.ConfigurationURL, "/.well-known/openid-configuration") {
			t.Fatalf("%q gave metadata URL %q", raw, is.ConfigurationURL)
		}
	})
}

// FuzzParseMetadata feeds arbitrary documents: accepted endpoints are
// absolute http or https URLs.
func FuzzParseMetadata(f *testing.F) {
	f.Add(`{"issuer": "https://idp.test", "jwks_uri": "https://idp.test/keys"}`)
	f.Add(`{"token_introspection_endpoint": "http://idp.test/i"}`)
	f.Fuzz(func(t *testing.T, doc string) {
		md, err := ParseMetadata([]byte(doc))
		if err != nil {
			return
		}
		for _, s := range []string{md.JWKSURI, md.Introspection()} {
			if s == "" {
				continue
			}
			if u, err := url.Parse(s); err != nil || u.Host == "" {
				t.Fatalf("accepted endpoint %q", s)
			}
		}
	})
}
