// Package maintenancemode is the builtin chain policy "maintenance_mode"
// (APIcast's Maintenance Mode): in the access phase it ends requests with a
// fixed maintenance response, for every request or only for those that
// meet a condition. Conditions compare plain or Liquid values, compiled
// when the chain is built; templates may use the upstream an earlier
// policy chose.
package maintenancemode

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/policies/internal/builtin"
	"github.com/verdict-policy/verdict/policies/internal/condition"
)

// Name is the policy's name in a chain entry.
const Name = "maintenance_mode"

// UpstreamKey is the context key where a policy that picks the upstream
// before the access phase may leave it (a *url.URL, a *chain.Upstream or
// a URL string), for conditions that test it. Context.Upstream, when set,
// is used first; when neither is, conditions see the service's
// api_backend.
const UpstreamKey = "upstream"

// The defaults of the configuration.
const (
	DefaultStatus      = http.StatusServiceUnavailable
	DefaultMessage     = "Service Unavailable - Maintenance"
	DefaultContentType = "text/plain; charset=utf-8"
)

//go:embed apicast-policy.json
var manifestJSON []byte

func init() {
	builtin.Register(Name, manifestJSON, func(cfg json.RawMessage, env chain.Env) (chain.Policy, error) {
		p, err := New(cfg)
		if err != nil {
			return nil, err
		}
		if svc := env.Service; svc != nil && svc.APIBackend != "" {
			if u, err := url.Parse(svc.APIBackend); err == nil {
				p.SetDefaultUpstream(u)
			}
		}
		return p, nil
	})
}

// Config is the policy's configuration.
type Config struct {
	// Status of the answer; DefaultStatus when nil.
	Status *int `json:"status"`
	// Message is the answer's body, a newline added; DefaultMessage when nil.
	Message *string `json:"message"`
	// MessageContentType is the answer's Content-Type; DefaultContentType
	// when nil.
	MessageContentType *string `json:"message_content_type"`
	// Condition limits the answer to the requests it holds for; nil means
	// every request.
	Condition *condition.Spec `json:"condition"`
}

// Policy answers requests in maintenance. It is safe for concurrent use.
type Policy struct {
	status      int
	body        string
	contentType []string             // shared, with no spare capacity
	cond        *condition.Condition // nil: every request
	upstream    bool                 // a template mentions the upstream
	// fallback holds the template variables for the service's own
	// upstream, prepared at load for requests that chose no other.
	fallback map[string]any
}

var _ chain.Accessor = (*Policy)(nil)

// New builds the policy from its JSON configuration.
func New(raw json.RawMessage) (*Policy, error) {
	var cfg Config
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	p := &Policy{status: DefaultStatus, body: DefaultMessage + "\n", fallback: map[string]any{UpstreamKey: describe(nil)}}
	ct := DefaultContentType
	if cfg.Status != nil {
		if *cfg.Status < 200 || *cfg.Status > 599 {
			return nil, fmt.Errorf("status: %d is not a final HTTP status (200-599)", *cfg.Status)
		}
		p.status = *cfg.Status
	}
	if cfg.Message != nil {
		p.body = *cfg.Message + "\n"
	}
	if cfg.MessageContentType != nil {
		ct = *cfg.MessageContentType
	}
	p.contentType = []string{ct}[:1:1]
	if spec := cfg.Condition; spec != nil {
		if len(spec.Operations) == 0 {
			return nil, fmt.Errorf("condition.operations: empty; leave the condition out to answer every request")
		}
		cond, err := condition.Compile(*spec)
		if err != nil {
			return nil, fmt.Errorf("condition.%w", err)
		}
		p.cond, p.upstream = cond, cond.Mentions(UpstreamKey)
	}
	return p, nil
}

// Access ends the request with the maintenance response when the
// condition holds (always, without one).
func (p *Policy) Access(c *chain.Context) error {
	if p.cond != nil {
		hold, err := p.holds(c)
		if err != nil {
			return err
		}
		if !hold {
			return nil
		}
	}
	c.Response.Header["Content-Type"] = p.contentType
	c.Exit(p.status, p.body)
	return nil
}

// SetDefaultUpstream sets the upstream that conditions see when no policy
// chose one before the access phase: the service's api_backend.
func (p *Policy) SetDefaultUpstream(u *url.URL) {
	p.fallback = map[string]any{UpstreamKey: describe(u)}
}

func (p *Policy) holds(c *chain.Context) (bool, error) {
	var extra map[string]any
	if p.upstream {
		if u := chosenUpstream(c); u != nil {
			extra = map[string]any{UpstreamKey: describe(u)}
		} else {
			extra = p.fallback
		}
	}
	return p.cond.HoldsWith(c, extra)
}

// chosenUpstream returns the upstream a policy chose for the request so
// far, or nil.
func chosenUpstream(c *chain.Context) *url.URL {
	if c.Upstream != nil {
		return c.Upstream.URL
	}
	v, ok := c.Get(UpstreamKey)
	if !ok {
		return nil
	}
	switch x := v.(type) {
	case *url.URL:
		return x
	case *chain.Upstream:
		return x.URL
	case string:
		u, _ := url.Parse(x)
		return u
	}
	return nil
}

// describe gives templates an upstream's scheme, host, port and path, all
// empty for none.
func describe(u *url.URL) map[string]any {
	if u == nil {
		return map[string]any{"scheme": "", "host": "", "port": "", "path": ""}
	}
	port := u.Port()
	if port == "" {
		switch u.Scheme {
		case "http":
			port = strconv.Itoa(80)
		case "https":
			port = strconv.Itoa(443)
		}
	}
	path := u.Path
	if path == "" {
		path = "/"
	}
	return map[string]any{"scheme": u.Scheme, "host": u.Hostname(), "port": port, "path": path}
}
