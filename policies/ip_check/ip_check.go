// Package ipcheck is the builtin chain policy "ip_check" (APIcast's IP
// Check): in the access phase it allows or refuses a request by its
// client's IP address, matched against addresses and CIDR ranges parsed
// when the chain is built. The client address comes from the connection
// or from forwarding headers, as configured.
package ipcheck

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/policies/internal/builtin"
)

// Name is the policy's name in a chain entry.
const Name = "ip_check"

// ProxyProtocolKey is the context key under which the gateway leaves the
// client address a PROXY protocol header gave (a string), read by the
// proxy_protocol_addr source.
const ProxyProtocolKey = "proxy_protocol_addr"

// DefaultErrorMessage is the body of a refusal when error_msg is absent.
const DefaultErrorMessage = "IP address not allowed"

//go:embed apicast-policy.json
var manifestJSON []byte

func init() {
	builtin.Simple(Name, manifestJSON, New)
}

// Config is the policy's configuration.
type Config struct {
	// IPs are addresses and CIDR ranges.
	IPs []string `json:"ips"`
	// CheckType is whitelist (only IPs pass) or blacklist (IPs are refused).
	CheckType string `json:"check_type"`
	// ErrorMessage is the body of a refusal; DefaultErrorMessage when nil.
	ErrorMessage *string `json:"error_msg"`
	// ClientIPSources are tried in order for the client's address:
	// last_caller (the default), X-Forwarded-For, X-Real-IP,
	// proxy_protocol_addr.
	ClientIPSources []string `json:"client_ip_sources"`
}

type source uint8

const (
	lastCaller source = iota
	forwardedFor
	realIP
	proxyProtocol
)

// Policy checks client addresses. It is safe for concurrent use.
type Policy struct {
	allow bool // whitelist: listed clients pass; blacklist: they are refused
	addrs map[netip.Addr]struct{}
	// ranges holds the CIDR ranges by prefix length, so that a check costs
	// one look-up per distinct length however long the list is.
	ranges  []rangeSet
	sources []source
	body    string
}

// rangeSet is the ranges of one prefix length.
type rangeSet struct {
	bits   int
	is4    bool
	prefix map[netip.Prefix]struct{}
}

var _ chain.Accessor = (*Policy)(nil)

// New builds the policy from its JSON configuration.
func New(raw json.RawMessage) (*Policy, error) {
	var cfg Config
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	p := &Policy{addrs: make(map[netip.Addr]struct{}, len(cfg.IPs))}
	switch cfg.CheckType {
	case "whitelist":
		p.allow = true
	case "blacklist":
	default:
		return nil, fmt.Errorf("check_type: %q is neither whitelist nor blacklist", cfg.CheckType)
	}
	for i, s := range cfg.IPs {
		s = strings.TrimSpace(s)
		if strings.Contains(s, "/") {
			pfx, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, fmt.Errorf("ips[%d]: %q is not a CIDR range: %w", i, s, err)
			}
			pfx = pfx.Masked()
			if pfx.Addr().Is4In6() && pfx.Bits() >= 96 {
				pfx = netip.PrefixFrom(pfx.Addr().Unmap(), pfx.Bits()-96)
			}
			p.addRange(pfx)
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("ips[%d]: %q is not an IP address: %w", i, s, err)
		}
		p.addrs[a.Unmap().WithZone("")] = struct{}{}
	}
	if len(cfg.ClientIPSources) == 0 {
		cfg.ClientIPSources = []string{"last_caller"}
	}
	for i, s := range cfg.ClientIPSources {
		switch s {
		case "last_caller":
			p.sources = append(p.sources, lastCaller)
		case "X-Forwarded-For":
			p.sources = append(p.sources, forwardedFor)
		case "X-Real-IP":
			p.sources = append(p.sources, realIP)
		case "proxy_protocol_addr":
			p.sources = append(p.sources, proxyProtocol)
		default:
			return nil, fmt.Errorf("client_ip_sources[%d]: unknown source %q", i, s)
		}
	}
	p.body = DefaultErrorMessage
	if cfg.ErrorMessage != nil {
		p.body = *cfg.ErrorMessage
	}
	p.body += "\n"
	return p, nil
}

// Access refuses the request with 403 when its client may not pass.
func (p *Policy) Access(c *chain.Context) error {
	addr, ok := p.clientAddr(c)
	if !ok || p.listed(addr) != p.allow {
		c.Exit(http.StatusForbidden, p.body)
	}
	return nil
}

func (p *Policy) addRange(pfx netip.Prefix) {
	is4 := pfx.Addr().Is4()
	for i := range p.ranges {
		if r := &p.ranges[i]; r.bits == pfx.Bits() && r.is4 == is4 {
			r.prefix[pfx] = struct{}{}
			return
		}
	}
	p.ranges = append(p.ranges, rangeSet{bits: pfx.Bits(), is4: is4, prefix: map[netip.Prefix]struct{}{pfx: {}}})
}

// listed reports whether addr is in the list.
func (p *Policy) listed(addr netip.Addr) bool {
	if _, ok := p.addrs[addr]; ok {
		return true
	}
	is4 := addr.Is4()
	for i := range p.ranges {
		r := &p.ranges[i]
		if r.is4 != is4 {
			continue
		}
		pfx, err := addr.Prefix(r.bits)
		if err != nil {
			continue
		}
		if _, ok := r.prefix[pfx]; ok {
			return true
		}
	}
	return false
}

// clientAddr returns the address of the first source that yields one.
func (p *Policy) clientAddr(c *chain.Context) (netip.Addr, bool) {
	for _, s := range p.sources {
		var v string
		switch s {
		case lastCaller:
			v = c.ClientIP
			if v == "" {
				v = c.Request.RemoteAddr
			}
		case forwardedFor:
			if h := c.Request.Header["X-Forwarded-For"]; len(h) > 0 {
				v, _, _ = strings.Cut(h[0], ",")
			}
		case realIP:
			if h := c.Request.Header["X-Real-Ip"]; len(h) > 0 {
				v = h[0]
			}
		case proxyProtocol:
			if x, ok := c.Get(ProxyProtocolKey); ok {
				v, _ = x.(string)
			}
		}
		if a, ok := parseAddr(v); ok {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// parseAddr reads an address as sources give it: bare, or with a port,
// IPv6 possibly in brackets.
func parseAddr(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
				return parseAddr(s[1 : len(s)-1])
			}
			return netip.Addr{}, false
		}
		a = ap.Addr()
	}
	return a.Unmap().WithZone(""), true
}
