// Package keycloakrolecheck is the builtin chain policy
// "keycloak_role_check" (APIcast's RH-SSO/Keycloak Role Check): in the
// access phase it allows or refuses a request by the Keycloak roles of
// its JWT, per resource and method. The token is verified by the jwt or
// jwt_parser policy, which shares its claims as "jwt"; this policy reads
// realm roles from realm_access.roles and client roles from
// resource_access.CLIENT.roles.
package keycloakrolecheck

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/verdict-policy/verdict/chain"
	"github.com/verdict-policy/verdict/policies/internal/builtin"
	"github.com/verdict-policy/verdict/policies/internal/liquidctx"
)

// Name is the policy's name in a chain entry.
const Name = "keycloak_role_check"

// ClaimsKey is the context key of the verified JWT's claims, where the jwt
// and jwt_parser policies put them (APIcast's context.jwt).
const ClaimsKey = "jwt"

// RefusalStatus and RefusalBody are APIcast's authorization failure: the
// service's auth_failed status and message, printed without a newline.
const (
	RefusalStatus = http.StatusForbidden
	RefusalBody   = "Authentication failed"
)

//go:embed apicast-policy.json
var manifestJSON []byte

func init() {
	builtin.Simple(Name, manifestJSON, New)
}

// Config is the policy's configuration.
type Config struct {
	// Type is whitelist (the default) or blacklist.
	Type   string  `json:"type"`
	Scopes []Scope `json:"scopes"`
}

// Scope grants or denies a resource to the holders of roles.
type Scope struct {
	RealmRoles   []Role   `json:"realm_roles"`
	ClientRoles  []Role   `json:"client_roles"`
	Resource     string   `json:"resource"`
	ResourceType string   `json:"resource_type"`
	Methods      []string `json:"methods"`
}

// Role names a realm role, or a client's role.
type Role struct {
	Name       string `json:"name"`
	NameType   string `json:"name_type"`
	Client     string `json:"client"`
	ClientType string `json:"client_type"`
}

type role struct {
	name, client *liquidctx.Template
}

type scope struct {
	realm, client []role
	resource      *resource
	anyMethod     bool
	methods       []string
}

// Policy checks roles. It holds its compiled scopes only and is safe for
// concurrent use.
type Policy struct {
	scopes    []scope
	blacklist bool
}

var _ chain.Accessor = (*Policy)(nil)

// New builds the policy from its JSON configuration. Templates are
// compiled and plain resources checked now.
func New(raw json.RawMessage) (*Policy, error) {
	var cfg Config
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	p := &Policy{}
	switch cfg.Type {
	case "", "whitelist":
	case "blacklist":
		p.blacklist = true
	default:
		return nil, fmt.Errorf("type: %q is neither whitelist nor blacklist", cfg.Type)
	}
	for i, s := range cfg.Scopes {
		at := fmt.Sprintf("scopes[%d]", i)
		var cs scope
		var err error
		if cs.resource, err = compileResource(s.Resource, s.ResourceType); err != nil {
			return nil, fmt.Errorf("%s.resource: %w", at, err)
		}
		cs.anyMethod = len(s.Methods) == 0
		for _, m := range s.Methods {
			m = strings.ToUpper(m)
			if m == "ANY" {
				cs.anyMethod = true
			}
			cs.methods = append(cs.methods, m)
		}
		for j, r := range s.RealmRoles {
			cr, err := compileRole(r, false)
			if err != nil {
				return nil, fmt.Errorf("%s.realm_roles[%d].%w", at, j, err)
			}
			cs.realm = append(cs.realm, cr)
		}
		for j, r := range s.ClientRoles {
			cr, err := compileRole(r, true)
			if err != nil {
				return nil, fmt.Errorf("%s.client_roles[%d].%w", at, j, err)
			}
			cs.client = append(cs.client, cr)
		}
		p.scopes = append(p.scopes, cs)
	}
	return p, nil
}

func compileRole(r Role, client bool) (role, error) {
	var cr role
	var err error
	if cr.name, err = liquidctx.Compile(r.Name, r.NameType); err != nil {
		return cr, fmt.Errorf("name: %w", err)
	}
	if client {
		if cr.client, err = liquidctx.Compile(r.Client, r.ClientType); err != nil {
			return cr, fmt.Errorf("client: %w", err)
		}
	}
	return cr, nil
}

// Access refuses the request unless a scope grants it (whitelist), or when
// a scope names it (blacklist).
func (p *Policy) Access(c *chain.Context) error {
	granted, err := p.granted(c)
	if err != nil {
		return fmt.Errorf("keycloak_role_check: %w", err)
	}
	if granted == p.blacklist {
		c.Response.Header.Set("Content-Type", "text/plain; charset=utf-8")
		c.Exit(RefusalStatus, RefusalBody)
	}
	return nil
}

// granted reports whether a scope applies to the request and its token
// has every role the scope lists. A request without claims has no scope.
func (p *Policy) granted(c *chain.Context) (bool, error) {
	v, ok := c.Get(ClaimsKey)
	if !ok {
		return false, nil
	}
	claims, ok := v.(map[string]any)
	if !ok || claims == nil {
		return false, nil
	}
	for i := range p.scopes {
		ok, err := p.scopes[i].holds(c, claims)
		if err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

func (s *scope) holds(c *chain.Context, claims map[string]any) (bool, error) {
	if !s.anyMethod {
		found := false
		for _, m := range s.methods {
			if m == c.Request.Method {
				found = true
				break
			}
		}
		if !found {
			return false, nil
		}
	}
	ok, err := s.resource.matches(c, c.Request.URL.Path)
	if err != nil {
		return false, fmt.Errorf("resource: %w", err)
	}
	if !ok {
		return false, nil
	}
	if len(s.realm) > 0 {
		roles := rolesOf(claims["realm_access"])
		for _, r := range s.realm {
			name, err := r.name.Render(c)
			if err != nil {
				return false, fmt.Errorf("realm role name: %w", err)
			}
			if !has(roles, name) {
				return false, nil
			}
		}
	}
	if len(s.client) > 0 {
		access, _ := claims["resource_access"].(map[string]any)
		for _, r := range s.client {
			client, err := r.client.Render(c)
			if err != nil {
				return false, fmt.Errorf("client role client: %w", err)
			}
			name, err := r.name.Render(c)
			if err != nil {
				return false, fmt.Errorf("client role name: %w", err)
			}
			if !has(rolesOf(access[client]), name) {
				return false, nil
			}
		}
	}
	return true, nil
}

// rolesOf returns the roles list of a {"roles": [...]} claim object.
func rolesOf(v any) []any {
	obj, _ := v.(map[string]any)
	roles, _ := obj["roles"].([]any)
	return roles
}

func has(roles []any, name string) bool {
	for _, r := range roles {
		if s, ok := r.(string); ok && s == name {
			return true
		}
	}
	return false
}
