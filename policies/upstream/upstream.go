// Package upstream is the upstream chain policy: it routes requests whose
// path matches a regular expression to another upstream than the
// service's api_backend.
package upstream

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/policies/internal/builtin"
)

//go:embed apicast-policy.json
var manifestJSON []byte

// Name is the policy's name in a chain.
const Name = "upstream"

func init() {
	builtin.Register(Name, manifestJSON, New)
}

// Rule is one configured rule.
type Rule struct {
	Regex string `json:"regex"`
	URL   string `json:"url"`
}

type rule struct {
	re       *regexp.Regexp
	upstream *chain.Upstream
}

// Policy is a built upstream policy.
type Policy struct {
	rules []rule
}

// New builds the policy: every regex is compiled and every URL parsed now.
func New(raw json.RawMessage, _ chain.Env) (chain.Policy, error) {
	var c struct {
		Rules []Rule `json:"rules"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	p := &Policy{}
	for i, r := range c.Rules {
		re, err := regexp.Compile(r.Regex)
		if err != nil {
			return nil, fmt.Errorf("rules.%d.regex: %q is not a valid regular expression: %w", i, r.Regex, err)
		}
		u, err := url.Parse(r.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			return nil, fmt.Errorf("rules.%d.url: %q is not an http:// or https:// URL with a host", i, r.URL)
		}
		u.RawQuery = "" // the request's query is kept
		p.rules = append(p.rules, rule{re: re, upstream: &chain.Upstream{URL: u}})
	}
	return p, nil
}

// Rewrite chooses the upstream of the first rule matching the path.
func (p *Policy) Rewrite(c *chain.Context) error {
	path := c.Request.URL.Path
	for i := range p.rules {
		if p.rules[i].re.MatchString(path) {
			c.SetPrivate(p, p.rules[i].upstream)
			return nil
		}
	}
	return nil
}

// Content proxies to the chosen upstream, if any.
func (p *Policy) Content(c *chain.Context) (bool, error) {
	u, ok := c.Private(p).(*chain.Upstream)
	if !ok {
		return false, nil
	}
	c.ProxyTo(u)
	return true, nil
}

var (
	_ chain.Rewriter        = (*Policy)(nil)
	_ chain.ContentProducer = (*Policy)(nil)
)
