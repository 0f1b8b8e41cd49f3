package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/verdict-policy/verdict/config"
	"github.com/verdict-policy/verdict/gateway"
	_ "github.com/verdict-policy/verdict/policies/all" // every builtin chain policy
	"github.com/verdict-policy/verdict/server"
)

func runCheck(e env, args []string) int {
	fs := newFlagSet(e, "check", "[--config FILE] [--explain]")
	cfgPath := fs.String("config", "", "the configuration `file`; without it, the built-in example")
	explain := fs.Bool("explain", false, "describe the configuration and each document in detail")
	if code := parseFlags(e, fs, args); code >= 0 {
		return code
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		printProblems(e.stderr, err)
		return exitProblems
	}
	if *explain {
		name := cfg.File
		if cfg.Embedded {
			name += " (built in)"
		}
		fmt.Fprintf(e.stdout, "config %s\n", name)
		fmt.Fprintf(e.stdout, "  listen policy %s, admin %s\n", cfg.Listen.Policy, cfg.Listen.Admin)
		fmt.Fprintf(e.stdout, "  body limit %d bytes, store %s\n", cfg.Limits.MaxBodyBytes, cfg.Store.Backend)
		fmt.Fprintf(e.stdout, "  limits policy: %s\n", describeLimits(cfg.Limits.Policy, true, ""))
		if gateway.Enabled(cfg) {
			fmt.Fprintf(e.stdout, "  limits gateway: %s\n", describeLimits(cfg.Limits.Gateway, true, ""))
		}
		fmt.Fprintf(e.stdout, "  limits admin: %s\n", describeLimits(cfg.Limits.Admin, false, strconv.Itoa(config.DefaultAdminConnections)))
		if cfg.Listen.GRPC != "" {
			fmt.Fprintf(e.stdout, "  limits grpc: %s\n", describeLimits(cfg.Limits.GRPC, false, ""))
		}
	}
	docs, err := cfg.Compile()
	if gwErr := checkGateway(e, cfg, docs, *explain); gwErr != nil {
		err = errors.Join(err, gwErr)
	}
	if err == nil {
		// The front doors read their tables and files as serve would.
		err = server.Check(cfg, docs)
	}
	for _, d := range docs {
		sets, policies, rules := d.Document.Counts()
		fmt.Fprintf(e.stdout, "%s: %s, %s, %s\n", d.Name,
			plural(sets, "policy set", "policy sets"), plural(policies, "policy", "policies"), plural(rules, "rule", "rules"))
		if *explain {
			vocab := d.Vocabulary
			if vocab == "" {
				vocab = "any attribute (no vocabulary)"
			}
			fmt.Fprintf(e.stdout, "  vocabulary: %s\n", vocab)
			for _, src := range d.Sources {
				fmt.Fprintf(e.stdout, "  source: %s\n", src)
			}
		}
	}
	if err != nil {
		printProblems(e.stderr, err)
		return exitProblems
	}
	if len(cfg.Policies) == 0 {
		fmt.Fprintln(e.stdout, "no policy documents configured")
	}
	return exitOK
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// checkGateway builds every policy chain of cfg as the gateway would, and
// says what it found; the error lists every chain problem.
func checkGateway(e env, cfg *config.Config, docs []config.Document, explain bool) error {
	if !gateway.Enabled(cfg) {
		return nil
	}
	gw, err := gateway.New(gateway.Options{})
	if err != nil {
		return err
	}
	install, err := gw.Prepare(cfg, docs)
	if err != nil {
		return err
	}
	install()
	// What an APIcast file may hold and APIcast tolerates: serve loads
	// the file, and so check passes, but each is worth a look.
	for _, w := range gw.Warnings() {
		fmt.Fprintf(e.stderr, "warning: %v\n", w)
	}
	fmt.Fprintf(e.stdout, "gateway: %s, a global chain of %s\n",
		plural(len(gateway.ConfigOf(cfg).Services), "service", "services"), plural(len(gateway.ConfigOf(cfg).PolicyChain), "policy", "policies"))
	if cfg.Lenient {
		fmt.Fprintln(e.stdout, "  an APIcast file, loaded as APIcast loads it (\"strict\": true refuses what it would drop)")
	}
	if explain {
		d := gw.Describe()
		fmt.Fprintf(e.stdout, "  listen gateway %s\n", cfg.GatewayAddr())
		for _, s := range d.Services {
			backend := s.APIBackend
			if backend == "" {
				backend = "(no api_backend)"
			}
			fmt.Fprintf(e.stdout, "  service %s: hosts %s -> %s\n", s.ID, strings.Join(s.Hosts, ", "), backend)
			fmt.Fprintf(e.stdout, "    chain %s; %s; failing policies answer %d\n", strings.Join(s.Chain, ", "),
				plural(s.MappingRules, "mapping rule", "mapping rules"), s.FailStatus)
		}
	}
	return nil
}

// describeLimits says what a listener's limits will be, defaults named:
// conns is its default connection limit, empty for a share of the
// open-file limit; bodies says whether it bounds request bodies.
func describeLimits(l config.ListenerLimits, bodies bool, conns string) string {
	if conns == "" {
		conns = "from the open-file limit"
	}
	if l.MaxConnections > 0 {
		conns = strconv.Itoa(l.MaxConnections)
	}
	out := "max_connections " + conns
	if !bodies {
		return out
	}
	timeout := config.DefaultBodyTimeout
	if l.BodyTimeout > 0 {
		timeout = l.BodyTimeout
	}
	out += ", body_timeout " + timeout.String()
	if l.BodyMinRate > 0 {
		out += ", body_min_rate " + strconv.FormatInt(l.BodyMinRate, 10) + " bytes a second"
	}
	return out
}
