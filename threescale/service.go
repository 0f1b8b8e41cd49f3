package threescale

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// AuthType says how a service proves itself to the backend
// (backend_authentication_type).
type AuthType uint8

const (
	// ServiceToken sends service_token=VALUE with the service id, the way
	// 3scale exports services today.
	ServiceToken AuthType = iota
	// ProviderKey sends provider_key=VALUE, the older account-wide key.
	ProviderKey
)

// ParseAuthType reads backend_authentication_type; an empty string is
// ServiceToken.
func ParseAuthType(s string) (AuthType, error) {
	switch s {
	case "", "service_token":
		return ServiceToken, nil
	case "provider_key":
		return ProviderKey, nil
	}
	return 0, fmt.Errorf("backend_authentication_type %q: want service_token or provider_key", s)
}

// String returns the query parameter name of the type.
func (t AuthType) String() string {
	if t == ProviderKey {
		return "provider_key"
	}
	return "service_token"
}

// Version is a service's backend_version: which credentials identify its
// applications.
type Version uint8

const (
	// VersionUserKey ("1") identifies an application by a user_key.
	VersionUserKey Version = iota + 1
	// VersionAppID ("2") identifies an application by app_id, with an
	// app_key when the application has keys.
	VersionAppID
	// VersionOAuth ("oauth") identifies an application by an OpenID
	// Connect client id (sent as app_id) or, for 3scale's native OAuth, by
	// an access_token; the backend calls go to the oauth_* endpoints.
	VersionOAuth
)

// ParseVersion reads backend_version: "1", "2" or "oauth"; an empty string
// is "1", as in APIcast.
func ParseVersion(s string) (Version, error) {
	switch s {
	case "", "1":
		return VersionUserKey, nil
	case "2":
		return VersionAppID, nil
	case "oauth":
		return VersionOAuth, nil
	}
	return 0, fmt.Errorf("backend_version %q: want 1, 2 or oauth", s)
}

// String returns the backend_version spelling of v.
func (v Version) String() string {
	switch v {
	case VersionUserKey:
		return "1"
	case VersionAppID:
		return "2"
	case VersionOAuth:
		return "oauth"
	}
	return fmt.Sprintf("Version(%d)", uint8(v))
}

// ServiceConfig is the part of an APIcast service the backend calls need.
type ServiceConfig struct {
	// ID is the service id (service_id).
	ID string
	// Version is backend_version.
	Version Version
	// AuthType and AuthValue are backend_authentication_type and
	// backend_authentication_value.
	AuthType  AuthType
	AuthValue string
	// OIDC is true when authentication_method is "oidc": an oauth service
	// whose client ids come from verified JWTs. Only a non-OIDC oauth
	// service (3scale's native OAuth) asks the backend for answer bodies.
	OIDC bool
}

// Service is one service's identity towards the backend, prepared once at
// load: the authentication part of every query is encoded here, not per
// request. A Service is immutable and safe for concurrent use.
type Service struct {
	id          string
	version     Version
	nativeOAuth bool
	client      *Client
	// auth is "service_token=V&service_id=ID" (or provider_key=), escaped.
	auth string
	// key starts every cache key of the service: its escaped id.
	key string
}

// NewService prepares a service that calls the backend through c.
func NewService(cfg ServiceConfig, c *Client) (*Service, error) {
	if c == nil {
		return nil, errors.New("service: no backend client")
	}
	if cfg.ID == "" {
		return nil, errors.New("service: id is empty")
	}
	if cfg.AuthValue == "" {
		return nil, fmt.Errorf("service %s: backend_authentication_value is empty", cfg.ID)
	}
	if cfg.Version < VersionUserKey || cfg.Version > VersionOAuth {
		return nil, fmt.Errorf("service %s: unknown backend_version %d", cfg.ID, cfg.Version)
	}
	if cfg.AuthType > ProviderKey {
		return nil, fmt.Errorf("service %s: unknown backend_authentication_type %d", cfg.ID, cfg.AuthType)
	}
	var b []byte
	b = append(b, cfg.AuthType.String()...)
	b = append(b, '=')
	b = appendEscaped(b, cfg.AuthValue)
	b = append(b, "&service_id="...)
	b = appendEscaped(b, cfg.ID)
	return &Service{
		id:          cfg.ID,
		version:     cfg.Version,
		nativeOAuth: cfg.Version == VersionOAuth && !cfg.OIDC,
		client:      c,
		auth:        string(b),
		key:         string(appendEscaped(nil, cfg.ID)),
	}, nil
}

// ID returns the service id.
func (s *Service) ID() string { return s.id }

// Version returns the service's backend_version.
func (s *Service) Version() Version { return s.version }

// Client returns the backend client the service calls.
func (s *Service) Client() *Client { return s.client }

// Credentials identify an application: which fields are used depends on the
// service's Version. Empty fields are not sent.
type Credentials struct {
	// UserKey is the user_key of a backend_version 1 service.
	UserKey string
	// AppID and AppKey are the app_id and app_key of a backend_version 2
	// service; an OIDC service sends the JWT's client id as AppID.
	AppID, AppKey string
	// AccessToken is the access_token of a native OAuth service.
	AccessToken string
}

// ErrNoCredentials is returned when a request lacks the credentials its
// service's version needs.
var ErrNoCredentials = errors.New("credentials missing")

// check reports whether c holds what a service of version v sends.
func (c *Credentials) check(v Version) error {
	switch v {
	case VersionUserKey:
		if c.UserKey == "" {
			return fmt.Errorf("%w: user_key", ErrNoCredentials)
		}
	case VersionAppID:
		if c.AppID == "" {
			return fmt.Errorf("%w: app_id", ErrNoCredentials)
		}
	case VersionOAuth:
		if c.AppID == "" && c.AccessToken == "" {
			return fmt.Errorf("%w: app_id or access_token", ErrNoCredentials)
		}
	}
	return nil
}

// Delta is one metric's increment in a Usage.
type Delta struct {
	// Metric is the metric's system name.
	Metric string
	// Value is the increment, always above 0.
	Value int64
}

// Usage is the set of metric increments a request costs, kept sorted by
// metric name so that equal usages encode (and cache) alike whatever order
// the mapping rules added them in. The zero value is an empty usage; reset
// it with Reset to reuse its storage.
type Usage struct {
	d []Delta
}

// Add adds value to metric. As when APIcast merges usages, a metric whose
// total falls to zero or below is removed.
func (u *Usage) Add(metric string, value int64) {
	i, found := slices.BinarySearchFunc(u.d, metric, func(d Delta, m string) int { return strings.Compare(d.Metric, m) })
	if found {
		u.d[i].Value += value
		if u.d[i].Value <= 0 {
			u.d = slices.Delete(u.d, i, i+1)
		}
		return
	}
	if value <= 0 {
		return
	}
	u.d = slices.Insert(u.d, i, Delta{Metric: metric, Value: value})
}

// Reset empties u and keeps its storage.
func (u *Usage) Reset() { u.d = u.d[:0] }

// Len returns the number of metrics.
func (u Usage) Len() int { return len(u.d) }

// Deltas returns the increments sorted by metric. The slice is u's own:
// do not modify it.
func (u Usage) Deltas() []Delta { return u.d }

// Get returns metric's increment, 0 when absent.
func (u Usage) Get(metric string) int64 {
	i, found := slices.BinarySearchFunc(u.d, metric, func(d Delta, m string) int { return strings.Compare(d.Metric, m) })
	if !found {
		return 0
	}
	return u.d[i].Value
}

// Clone returns a copy of u that shares no storage with it.
func (u Usage) Clone() Usage { return Usage{d: slices.Clone(u.d)} }

// String returns the usage as APIcast's debug header shows it:
// usage%5Bhits%5D=2&usage%5Bsearches%5D=1.
func (u Usage) String() string { return string(appendUsage(nil, u, false)) }
