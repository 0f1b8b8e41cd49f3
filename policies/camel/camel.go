// Package camel is the builtin chain policy "camel" (APIcast's Camel
// Service): the service's upstream requests go through a forward proxy
// that works on them, such as an Apache Camel route. Unlike http_proxy,
// an https:// upstream is not tunnelled: the request goes to the proxy as
// plain HTTP with its https:// URL, and the proxy makes the TLS
// connection. The configuration is read and checked here; the gateway has
// no way yet to send a request through a proxy, so a configuration naming
// one is refused rather than silently ignored.
package camel

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/policies/internal/builtin"
	"github.com/verdict-policy/verdict/policies/internal/outproxy"
)

// Name is the policy's name in a chain entry.
const Name = "camel"

//go:embed apicast-policy.json
var manifestJSON []byte

func init() {
	builtin.Register(Name, manifestJSON, func(cfg json.RawMessage, env chain.Env) (chain.Policy, error) {
		return New(cfg, env.Logger)
	})
}

// Policy holds a service's Camel proxies. It is safe for concurrent use.
type Policy struct {
	proxies outproxy.Proxies
}

// New reads and checks the configuration. A configuration without any
// proxy builds a policy that changes nothing, as in APIcast; one naming a
// proxy is refused with outproxy.ErrNoGatewaySupport until the gateway
// can send requests through it.
func New(raw json.RawMessage, logger *slog.Logger) (*Policy, error) {
	p, err := parse(raw)
	if err != nil {
		return nil, err
	}
	if p.proxies.Empty() {
		if logger == nil {
			logger = slog.Default()
		}
		logger.Info("camel: no proxy is configured; upstream requests go direct")
		return p, nil
	}
	return nil, outproxy.ErrNoGatewaySupport
}

func parse(raw json.RawMessage) (*Policy, error) {
	var cfg outproxy.Config
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	proxies, err := outproxy.Parse(cfg)
	if err != nil {
		return nil, err
	}
	return &Policy{proxies: proxies}, nil
}

// Proxy returns the proxy for an upstream URL, nil for a direct
// connection. An https upstream is to be sent to it in absolute form over
// plain HTTP, without CONNECT.
func (p *Policy) Proxy(upstream *url.URL) *url.URL { return p.proxies.For(upstream.Scheme) }
