package authz

import (
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/verdict-policy/verdict/internal/httpx"
	"github.com/verdict-policy/verdict/internal/outcome"
	"github.com/verdict-policy/verdict/jwt"
)

// Request is the original request a proxy asks about, normalised from
// whichever protocol carried it. It implements pdl.Attributes with the
// request vocabulary it shares with the gateway's authorize policy, so
// that one document serves both:
//
//	method, scheme, host, path   the request line, as the client sent it
//	uri                          path and query, as in the request line
//	query                        the raw query string
//	query.NAME                   the first value of a query parameter
//	args                         every query parameter, name to first value
//	header.NAME                  a header (any case); several lines are
//	                             joined with ", "
//	header (or headers)          every header, lower-case name to value
//	client_ip                    the client's address
//	body                         the body, when the proxy sent it
//	jwt.CLAIM, jwt               the claims of a bearer token that the
//	                             configured verifier accepts
//
// Query parameters are parsed and the token verified only when a policy
// asks for them.
type Request struct {
	Method, Scheme, Host, Path, RawQuery string
	// Header holds the headers as received over HTTP; GRPCHeader holds
	// them as Envoy's gRPC CheckRequest does, keyed by lower-case name.
	// Exactly one is used.
	Header     http.Header
	GRPCHeader map[string]string
	ClientIP   string
	// Body is nil unless the proxy forwarded the body.
	Body []byte

	verifier *jwt.Verifier
	query    url.Values
	parsed   bool
	claims   map[string]any
	verified bool
}

// Attribute implements pdl.Attributes.
func (r *Request) Attribute(name string) (any, error) {
	switch name {
	case "method":
		return r.Method, nil
	case "scheme":
		return r.Scheme, nil
	case "host":
		return r.Host, nil
	case "path":
		return r.Path, nil
	case "query":
		return r.RawQuery, nil
	case "uri":
		if r.RawQuery == "" {
			return r.Path, nil
		}
		return r.Path + "?" + r.RawQuery, nil
	case "args":
		q := r.queryValues()
		m := make(map[string]any, len(q))
		for k, vs := range q {
			if len(vs) > 0 {
				m[k] = vs[0]
			}
		}
		return m, nil
	case "client_ip":
		return nonEmpty(r.ClientIP), nil
	case "body":
		if r.Body == nil {
			return nil, nil
		}
		return string(r.Body), nil
	case "header", "headers":
		return r.headerMap(), nil
	case "jwt":
		if c := r.jwtClaims(); c != nil {
			return c, nil
		}
		return nil, nil
	}
	prefix, rest, ok := strings.Cut(name, ".")
	if !ok || rest == "" {
		return nil, nil
	}
	switch prefix {
	case "header":
		return nonEmpty(r.header(rest)), nil
	case "query":
		if vs := r.queryValues()[rest]; len(vs) > 0 {
			return vs[0], nil
		}
	case "jwt":
		return claim(r.jwtClaims(), rest), nil
	}
	return nil, nil
}

// queryValues parses the query once.
func (r *Request) queryValues() url.Values {
	if !r.parsed {
		r.query, _ = url.ParseQuery(r.RawQuery)
		r.parsed = true
	}
	return r.query
}

func nonEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// header returns the value of the named header, matching the name without
// regard to case; several lines are joined with ", ".
func (r *Request) header(name string) string {
	if r.GRPCHeader != nil {
		return r.GRPCHeader[strings.ToLower(name)]
	}
	v, _ := httpx.HeaderValue(r.Header, name)
	return v
}

func (r *Request) headerMap() map[string]any {
	if r.GRPCHeader != nil {
		m := make(map[string]any, len(r.GRPCHeader))
		for k, v := range r.GRPCHeader {
			m[k] = v
		}
		return m
	}
	return httpx.HeaderObject(r.Header)
}

// jwtClaims verifies the bearer token once and returns its claims, or nil
// when there is no verifier, no token or the token is refused.
func (r *Request) jwtClaims() map[string]any {
	if r.verified {
		return r.claims
	}
	r.verified = true
	if r.verifier == nil {
		return nil
	}
	auth := r.header("authorization")
	if len(auth) < 7 || !strings.EqualFold(auth[:7], "bearer ") {
		return nil
	}
	claims, err := r.verifier.Verify(strings.TrimSpace(auth[7:]))
	if err != nil {
		return nil
	}
	r.claims = claims
	return claims
}

// claim reads a claim, following dots into nested objects.
func claim(claims map[string]any, name string) any {
	if claims == nil {
		return nil
	}
	if v, ok := claims[name]; ok {
		return v
	}
	var cur any = claims
	for name != "" {
		seg, rest, _ := strings.Cut(name, ".")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		if cur, ok = m[seg]; !ok {
			return nil
		}
		name = rest
	}
	return cur
}

// splitURI splits a request URI into its path and raw query. An empty
// path becomes "/".
func splitURI(uri string) (path, query string) {
	path, query, _ = strings.Cut(uri, "?")
	if path == "" {
		path = "/"
	}
	return path, query
}

// clientIP picks the client's address: the last X-Forwarded-For entry
// (the one the nearest proxy appended), else X-Real-IP, else the peer.
func clientIP(h http.Header, remoteAddr string) string {
	if vs := h["X-Forwarded-For"]; len(vs) > 0 {
		last := vs[len(vs)-1]
		if i := strings.LastIndexByte(last, ','); i >= 0 {
			last = last[i+1:]
		}
		if ip := strings.TrimSpace(last); ip != "" {
			return ip
		}
	}
	if ip := h.Get("X-Real-Ip"); ip != "" {
		return ip
	}
	if host, _, err := net.SplitHostPort(remoteAddr); err == nil {
		return host
	}
	return remoteAddr
}

// Outcome is a decision turned into what a proxy can do with it; each
// adapter renders it by its protocol's rules.
type Outcome = outcome.Outcome

// Field is one header name and value of an Outcome.
type Field = outcome.Field
