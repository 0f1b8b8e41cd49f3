package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/verdict-policy/verdict/authz"
	"github.com/verdict-policy/verdict/config"
)

// exampleSecret is the HS256 secret of the built-in configuration, which
// the README publishes; empty if the built-in configuration has none.
var exampleSecret = sync.OnceValue(func() string {
	cfg, err := config.Default()
	if err != nil {
		return ""
	}
	if a := authz.ConfigOf(cfg); a != nil && a.JWT != nil {
		return a.JWT.Secret
	}
	return ""
})

// usesExampleSecret reports whether cfg verifies bearer tokens with the
// published example secret, given inline or through the environment.
func usesExampleSecret(cfg *config.Config) bool {
	ex := exampleSecret()
	a := authz.ConfigOf(cfg)
	return ex != "" && a != nil && a.JWT != nil && a.JWT.Secret == ex
}

// warnExampleSecret logs, loudly, that cfg uses the example secret.
func warnExampleSecret(logger *slog.Logger, cfg *config.Config) {
	if usesExampleSecret(cfg) {
		logger.Warn("authz.jwt.hs256_secret is the published example secret: anyone who has read the README "+
			"can sign tokens the proxy authorizers accept, with any role; set a secret of your own "+
			"(hs256_secret_env) before the policy listener leaves the loopback interface",
			"setting", "authz.jwt.hs256_secret", "file", cfg.File)
	}
}

// checkExampleSecret refuses the example secret on a listener that others
// can reach: the policy listener and the gRPC listener serve the proxy
// authorizers, which trust tokens signed with it. listen holds the
// addresses the listeners have, or are about to have.
func checkExampleSecret(cfg *config.Config, listen config.Listen) error {
	if !usesExampleSecret(cfg) {
		return nil
	}
	for _, l := range []struct{ name, addr string }{{"policy", listen.Policy}, {"grpc", listen.GRPC}} {
		if l.addr == "" || onLoopback(l.addr) {
			continue
		}
		return fmt.Errorf("%s: authz.jwt.hs256_secret is the published example secret, and listen.%s (%s) "+
			"is not on the loopback interface: anyone could sign tokens the proxy authorizers accept; "+
			"set a secret of your own (hs256_secret_env) or listen on 127.0.0.1", cfg.File, l.name, l.addr)
	}
	return nil
}

// onLoopback reports whether the listen address addr binds the loopback
// interface only: an IP address that is a loopback one, or a host name
// all of whose addresses are. An empty host listens on every interface.
func onLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return false
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.IsLoopback()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil || len(ips) == 0 {
		return false
	}
	for _, ip := range ips {
		if !ip.IP.IsLoopback() {
			return false
		}
	}
	return true
}
