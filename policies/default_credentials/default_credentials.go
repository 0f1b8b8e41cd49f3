// Package defaultcredentials is the builtin chain policy
// "default_credentials" (APIcast's Anonymous Access): it gives requests
// that carry no credentials a configured user_key, or app_id and app_key,
// by sharing them in the context as "extracted_credentials", where
// APIcast's apicast policy looks before extracting credentials itself.
// Verdict's apicast policy has no 3scale backend and authorizes nothing
// with credentials; the shared values serve later policies and Liquid
// templates (see README.md).
package defaultcredentials

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/policies/internal/builtin"
)

// Name is the policy's name in a chain entry.
const Name = "default_credentials"

// ContextKey is the context key the credentials are shared under.
const ContextKey = "extracted_credentials"

//go:embed apicast-policy.json
var manifestJSON []byte

func init() {
	builtin.Simple(Name, manifestJSON, New)
}

// Config is the policy's configuration.
type Config struct {
	// AuthType is user_key or app_id_and_app_key.
	AuthType string `json:"auth_type"`
	UserKey  string `json:"user_key"`
	AppID    string `json:"app_id"`
	AppKey   string `json:"app_key"`
}

// Policy supplies default credentials. It holds its configuration only
// and is safe for concurrent use.
type Policy struct {
	// param is the credential whose presence means the request has
	// credentials: user_key or app_id.
	param string
	// creds is shared, never modified, by every request that gets it.
	creds map[string]any
}

var _ chain.Rewriter = (*Policy)(nil)

// New builds the policy from its JSON configuration.
func New(raw json.RawMessage) (*Policy, error) {
	var cfg Config
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	switch cfg.AuthType {
	case "user_key":
		if cfg.UserKey == "" {
			return nil, errors.New("user_key: required with auth_type user_key")
		}
		return &Policy{param: "user_key", creds: map[string]any{"user_key": cfg.UserKey}}, nil
	case "app_id_and_app_key":
		if cfg.AppID == "" || cfg.AppKey == "" {
			return nil, errors.New("app_id, app_key: both required with auth_type app_id_and_app_key")
		}
		return &Policy{param: "app_id", creds: map[string]any{"app_id": cfg.AppID, "app_key": cfg.AppKey}}, nil
	}
	return nil, fmt.Errorf("auth_type: %q is not user_key or app_id_and_app_key", cfg.AuthType)
}

// Rewrite shares the default credentials when the request has none.
func (p *Policy) Rewrite(c *chain.Context) error {
	if hasCredentials(c, p.param) {
		return nil
	}
	c.Set(ContextKey, p.creds)
	return nil
}

// hasCredentials reports whether the request carries the credential name
// where APIcast looks for it by default: a query argument, or a header of
// the same name.
func hasCredentials(c *chain.Context, name string) bool {
	if c.Request.Header.Get(name) != "" {
		return true
	}
	q := c.Request.URL.RawQuery
	for q != "" {
		var pair string
		pair, q, _ = strings.Cut(q, "&")
		if k, v, _ := strings.Cut(pair, "="); k == name && v != "" {
			return true
		}
	}
	return false
}
