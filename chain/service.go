package chain

// Service is what a policy may know of the service whose chain it is in,
// and of the service a request was routed to: the parts of the gateway's
// configuration of it that policies read. The gateway builds it once per
// load; policies must not change it.
type Service struct {
	// ID is the service's id ("default" when the file gives none).
	ID string
	// SystemName is the service's system_name, if any.
	SystemName string
	// Hosts are the lower-cased request hosts the service answers.
	Hosts []string
	// APIBackend is the upstream URL (proxy.api_backend); empty when absent.
	APIBackend string
	// HostnameRewrite, when set, is the Host header sent upstream.
	HostnameRewrite string
	// SecretToken, when set, is sent upstream as X-3scale-proxy-secret-token.
	SecretToken string
	// OIDCIssuerEndpoint is the service's OpenID Connect issuer, with the
	// gateway's client credentials in its userinfo; empty when none.
	OIDCIssuerEndpoint string
	// Rules are the mapping rules: nil when none are checked; a list, even
	// an empty one, is checked, and a request no rule matches is refused.
	Rules []MappingRule
	// NoMatch is the answer when no mapping rule matches.
	NoMatch ErrorReply
}

// ErrorReply is a configured error answer.
type ErrorReply struct {
	Status      int
	Body        string
	ContentType string
}

// MappingRule is an APIcast mapping rule of a service.
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
	// Field and Line locate the rule in the configuration file.
	Field string
	Line  int
}
