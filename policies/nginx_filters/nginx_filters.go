// Package nginxfilters is the builtin chain policy "nginx_filters"
// (APIcast's Nginx Filter). Under APIcast, nginx acts on a few request
// headers itself, such as If-Match (a 412 when the proxied response has
// no matching ETag), and the policy hides them from nginx: it takes them
// out of the request in rewrite and, with append, puts them back in
// access for the upstream to act on. Verdict's gateway acts on no such
// header, so here the policy removes the headers configured with append
// false and leaves the others as they were sent; during the rewrite phase
// later policies do not see them either, as in APIcast.
package nginxfilters

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/policies/internal/builtin"
)

// Name is the policy's name in a chain entry.
const Name = "nginx_filters"

//go:embed apicast-policy.json
var manifestJSON []byte

func init() {
	builtin.Register(Name, manifestJSON, func(cfg json.RawMessage, env chain.Env) (chain.Policy, error) {
		return New(cfg, env.Logger)
	})
}

// Config is the policy's configuration.
type Config struct {
	Headers []Header `json:"headers"`
}

// Header names a request header and whether it reaches the upstream.
type Header struct {
	Name   string `json:"name"`
	Append bool   `json:"append"`
}

type header struct {
	name   string // canonical
	append bool
}

// Policy filters request headers. It holds its configuration only and is
// safe for concurrent use.
type Policy struct {
	headers []header
	// kept says whether a header is put back in access.
	kept bool
}

var (
	_ chain.Rewriter = (*Policy)(nil)
	_ chain.Accessor = (*Policy)(nil)
)

// New builds the policy. A header named twice takes its last append, as
// in APIcast.
func New(raw json.RawMessage, logger *slog.Logger) (*Policy, error) {
	var cfg Config
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	p := &Policy{}
	index := map[string]int{}
	for i, h := range cfg.Headers {
		if h.Name == "" {
			return nil, fmt.Errorf("headers[%d].name: empty", i)
		}
		name := http.CanonicalHeaderKey(h.Name)
		if j, ok := index[name]; ok {
			p.headers[j].append = h.Append
			continue
		}
		index[name] = len(p.headers)
		p.headers = append(p.headers, header{name: name, append: h.Append})
	}
	var passed []string
	for _, h := range p.headers {
		if h.append {
			p.kept = true
			passed = append(passed, h.name)
		}
	}
	if len(passed) > 0 {
		if logger == nil {
			logger = slog.Default()
		}
		logger.Info("nginx_filters: the gateway acts on none of these headers itself; with append true they reach the upstream as sent, as without the policy",
			"headers", passed)
	}
	return p, nil
}

// Rewrite takes the configured headers out of the request, keeping those
// to put back.
func (p *Policy) Rewrite(c *chain.Context) error {
	var saved *kept
	for i, h := range p.headers {
		vs, ok := c.Request.Header[h.name]
		if !ok {
			continue
		}
		delete(c.Request.Header, h.name)
		if h.append {
			if saved == nil {
				saved = &kept{values: make([][]string, len(p.headers))}
			}
			saved.values[i] = vs
		}
	}
	if saved != nil {
		c.SetPrivate(p, saved)
	}
	return nil
}

// kept holds the values of the headers to put back, by position in the
// configuration.
type kept struct{ values [][]string }

// Access puts back the headers to send upstream.
func (p *Policy) Access(c *chain.Context) error {
	if !p.kept {
		return nil
	}
	saved, _ := c.Private(p).(*kept)
	if saved == nil {
		return nil
	}
	for i, vs := range saved.values {
		if vs != nil {
			c.Request.Header[p.headers[i].name] = vs
		}
	}
	return nil
}
