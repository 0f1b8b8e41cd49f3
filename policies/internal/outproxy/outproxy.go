// Package outproxy reads the configuration the http_proxy and camel
// policies share with APIcast (all_proxy, http_proxy, https_proxy) and
// picks the forward proxy for an upstream URL's scheme. Sending the
// request through the proxy is the gateway's business.
package outproxy

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
)

// Config is the policies' configuration.
type Config struct {
	AllProxy   string `json:"all_proxy"`
	HTTPProxy  string `json:"http_proxy"`
	HTTPSProxy string `json:"https_proxy"`
}

// Proxies are the forward proxies of a service: one for http upstreams,
// one for https upstreams, either possibly nil (direct).
type Proxies struct {
	HTTP, HTTPS *url.URL
}

// Parse checks the configuration: each proxy is an http:// URL with a
// host, an optional port (80 by default) and optional user information
// (sent as Proxy-Authorization: Basic), without a path beyond "/", query
// or fragment. http_proxy and https_proxy default to all_proxy. Errors
// name the field.
func Parse(cfg Config) (Proxies, error) {
	var all *url.URL
	var err error
	if all, err = parseProxy("all_proxy", cfg.AllProxy); err != nil {
		return Proxies{}, err
	}
	var p Proxies
	if p.HTTP, err = parseProxy("http_proxy", cfg.HTTPProxy); err != nil {
		return Proxies{}, err
	}
	if p.HTTPS, err = parseProxy("https_proxy", cfg.HTTPSProxy); err != nil {
		return Proxies{}, err
	}
	if p.HTTP == nil {
		p.HTTP = all
	}
	if p.HTTPS == nil {
		p.HTTPS = all
	}
	return p, nil
}

func parseProxy(field, raw string) (*url.URL, error) {
	if raw == "" {
		return nil, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %q is not a URL: %w", field, raw, err)
	}
	if u.Scheme != "http" {
		if u.Scheme == "https" {
			return nil, fmt.Errorf("%s: %q: connecting to a proxy over TLS is not supported; use an http:// proxy URL", field, raw)
		}
		return nil, fmt.Errorf("%s: %q is not an http:// URL", field, raw)
	}
	host := u.Hostname()
	if host == "" {
		return nil, fmt.Errorf("%s: %q has no host", field, raw)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return nil, fmt.Errorf("%s: %q: a proxy URL has no path, query or fragment", field, raw)
	}
	port := u.Port()
	if port == "" {
		port = "80"
	} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return nil, fmt.Errorf("%s: %q has a bad port", field, raw)
	}
	out := &url.URL{Scheme: "http", Host: net.JoinHostPort(host, port), User: u.User}
	return out, nil
}

// For returns the proxy for an upstream of the given scheme, nil for a
// direct connection.
func (p Proxies) For(scheme string) *url.URL {
	switch scheme {
	case "http":
		return p.HTTP
	case "https":
		return p.HTTPS
	}
	return nil
}

// Empty reports whether no proxy is configured.
func (p Proxies) Empty() bool { return p.HTTP == nil && p.HTTPS == nil }

// ErrNoGatewaySupport is why a policy that names a proxy does not load:
// the gateway cannot send upstream requests through a forward proxy yet,
// and a policy that routed nothing through its proxy would send the
// service's traffic straight to the upstream instead.
var ErrNoGatewaySupport = errors.New("the gateway cannot send upstream requests through a forward proxy yet, so the policy would not be applied; remove it, or reach the upstream directly")
