package pexip

import (
	"net/url"
	"strings"
)

// Alias is an alias as Infinity sends it, reduced to what identifies the
// service: no scheme, no URI parameters or headers, no port.
type Alias struct {
	// User is the part before the @, or the whole alias when it has none.
	User string
	// Domain is the part after the @, in lower case, or "".
	Domain string
}

// String returns user@domain, or the user part alone when there is no
// domain.
func (a Alias) String() string {
	if a.Domain == "" {
		return a.User
	}
	return a.User + "@" + a.Domain
}

// schemes are the URI schemes stripped from an alias, in lower case.
var schemes = []string{"sips:", "sip:", "h323:"}

// NormalizeAlias reduces an alias in any of the forms Infinity uses to the
// same Alias: "my-vmr-x", "sip:my-vmr-x@example.com",
// "sip:my-vmr-x@example.com;transport=tls" and "sip%3Amy-vmr-x%40example.com"
// differ only in the domain. It percent-decodes the value (when it holds
// valid escapes), trims spaces, strips a sip:, sips: or h323: scheme in any
// case, drops everything from the first ';' or '?', splits at the first
// '@' and drops a port from the domain.
func NormalizeAlias(s string) Alias {
	if strings.IndexByte(s, '%') >= 0 {
		if dec, err := url.PathUnescape(s); err == nil {
			s = dec
		}
	}
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "<")
	s = strings.TrimSuffix(s, ">")
	for _, sch := range schemes {
		if len(s) >= len(sch) && strings.EqualFold(s[:len(sch)], sch) {
			s = s[len(sch):]
			break
		}
	}
	if i := strings.IndexAny(s, ";?>"); i >= 0 {
		s = s[:i]
	}
	user, domain, found := strings.Cut(s, "@")
	user = strings.TrimSpace(user)
	if !found {
		return Alias{User: user}
	}
	domain = strings.TrimSpace(domain)
	for {
		i := strings.LastIndexByte(domain, ':')
		if i < 0 || strings.HasSuffix(domain, "]") || !allDigits(domain[i+1:]) {
			break
		}
		domain = domain[:i]
	}
	return Alias{User: user, Domain: strings.ToLower(domain)}
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
