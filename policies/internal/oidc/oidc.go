// Package oidc reads an OpenID Connect provider's metadata (OpenID Connect
// Discovery 1.0): the JSON document at ISSUER/.well-known/openid-configuration
// that names the provider's issuer, its key set and its endpoints. The
// builtin policies that need it (jwt_parser for the key set,
// token_introspection for the introspection endpoint) share this reader;
// what they do with the endpoints is theirs.
package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ErrUnavailable marks a failure to get the metadata: the provider cannot
// be reached, answers with an error status, or with a document that is not
// provider metadata. The wrapped text is for logs, not for clients.
var ErrUnavailable = errors.New("OpenID provider metadata unavailable")

// Metadata is the part of a provider's metadata the policies read.
type Metadata struct {
	Issuer  string `json:"issuer"`
	JWKSURI string `json:"jwks_uri"`
	// IntrospectionEndpoint is RFC 8414's name; Keycloak before 7.5 (RH
	// SSO 7.4) published TokenIntrospectionEndpoint instead.
	IntrospectionEndpoint      string `json:"introspection_endpoint"`
	TokenIntrospectionEndpoint string `json:"token_introspection_endpoint"`
	// IDTokenSigningAlgs lists the algorithms the provider signs with.
	IDTokenSigningAlgs []string `json:"id_token_signing_alg_values_supported"`
}

// Introspection returns the token introspection endpoint, under either
// of its names.
func (m *Metadata) Introspection() string {
	if m.IntrospectionEndpoint != "" {
		return m.IntrospectionEndpoint
	}
	return m.TokenIntrospectionEndpoint
}

// Issuer is a provider's issuer URL as configured, split into the
// metadata URL to fetch and the client credentials the URL may carry in
// its user information (APIcast's http://client:secret@idp/realms/x form).
type Issuer struct {
	// URL is the issuer without user information.
	URL string
	// ConfigurationURL is URL/.well-known/openid-configuration.
	ConfigurationURL string
	// ClientID and ClientSecret come from the user information, if any.
	ClientID, ClientSecret string
}

// ParseIssuer checks an issuer URL: an absolute http:// or https:// URL
// with a host, without query or fragment.
func ParseIssuer(raw string) (Issuer, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Issuer{}, fmt.Errorf("%q is not a URL: %w", raw, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Issuer{}, fmt.Errorf("%q is not an http:// or https:// URL with a host", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return Issuer{}, fmt.Errorf("%q has a query or a fragment; an issuer has neither", raw)
	}
	var is Issuer
	if u.User != nil {
		is.ClientID = u.User.Username()
		is.ClientSecret, _ = u.User.Password()
		u.User = nil
	}
	is.URL = u.String()
	is.ConfigurationURL = strings.TrimSuffix(is.URL, "/") + "/.well-known/openid-configuration"
	return is, nil
}

// maxDocument bounds the metadata document read from a provider.
const maxDocument = 1 << 20

// Discovery is a provider's metadata, fetched when first asked for and
// cached. Once older than its refresh interval the cached metadata keeps
// serving while one background fetch replaces it; a failed fetch keeps
// the last good metadata. Fetches are at least MinInterval apart, so a
// provider that is down is not asked on every request. It is safe for
// concurrent use.
type Discovery struct {
	url         string
	client      *http.Client
	refresh     time.Duration
	minInterval time.Duration
	logger      *slog.Logger
	now         func() time.Time

	cur        atomic.Pointer[Metadata]
	fetchedAt  atomic.Int64 // Unix nanoseconds of cur's fetch
	refreshing atomic.Bool

	mu      sync.Mutex // serialises fetches, guards triedAt and lastErr
	triedAt time.Time
	lastErr error
}

// Options tune a Discovery; zero fields take the defaults.
type Options struct {
	// Client makes the requests; nil means a client with a 5 s timeout.
	Client *http.Client
	// Refresh is how long fetched metadata is used before it is fetched
	// again (default 5 minutes).
	Refresh time.Duration
	// MinInterval is the least time between two fetches (default 10 s).
	MinInterval time.Duration
	// Logger reports failed fetches; nil means slog.Default().
	Logger *slog.Logger
	// Clock replaces time.Now, for tests.
	Clock func() time.Time
}

// NewDiscovery returns the metadata source of issuer. Nothing is fetched
// until the metadata is first asked for.
func NewDiscovery(issuer Issuer, o Options) *Discovery {
	d := &Discovery{url: issuer.ConfigurationURL, client: o.Client, refresh: o.Refresh,
		minInterval: o.MinInterval, logger: o.Logger, now: o.Clock}
	if d.client == nil {
		d.client = &http.Client{Timeout: 5 * time.Second}
	}
	if d.refresh <= 0 {
		d.refresh = 5 * time.Minute
	}
	if d.minInterval <= 0 {
		d.minInterval = 10 * time.Second
	}
	if d.minInterval > d.refresh {
		d.minInterval = d.refresh
	}
	if d.logger == nil {
		d.logger = slog.Default()
	}
	if d.now == nil {
		d.now = time.Now
	}
	return d
}

// URL returns the address the metadata is fetched from.
func (d *Discovery) URL() string { return d.url }

// Get returns the cached metadata, fetching it when there is none yet.
// The hot path is two atomic loads.
func (d *Discovery) Get() (*Metadata, error) {
	if md := d.cur.Load(); md != nil {
		if d.now().UnixNano()-d.fetchedAt.Load() >= int64(d.refresh) && d.refreshing.CompareAndSwap(false, true) {
			go func() {
				defer d.refreshing.Store(false)
				_, _ = d.fetch()
			}()
		}
		return md, nil
	}
	md, err := d.fetch()
	if md != nil {
		return md, nil
	}
	return nil, err
}

// fetch gets the metadata unless a fetch started less than minInterval
// ago, in which case it returns what is cached and that fetch's error.
func (d *Discovery) fetch() (*Metadata, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	if !d.triedAt.IsZero() && now.Sub(d.triedAt) < d.minInterval {
		return d.cur.Load(), d.lastErr
	}
	d.triedAt = now
	md, err := d.get()
	if err != nil {
		d.lastErr = fmt.Errorf("%w: %v", ErrUnavailable, err)
		d.logger.Warn("oidc: fetching the provider metadata failed; keeping the last good one", "url", d.url, "err", err)
		return d.cur.Load(), d.lastErr
	}
	d.lastErr = nil
	d.fetchedAt.Store(now.UnixNano())
	d.cur.Store(md)
	return md, nil
}

func (d *Discovery) get() (*Metadata, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := d.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDocument))
		return nil, fmt.Errorf("GET %s: status %d", d.url, resp.StatusCode)
	}
	if !IsJSON(resp.Header.Get("Content-Type")) {
		return nil, fmt.Errorf("GET %s: Content-Type %q is not JSON", d.url, resp.Header.Get("Content-Type"))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocument+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", d.url, err)
	}
	if len(body) > maxDocument {
		return nil, fmt.Errorf("GET %s: document larger than %d bytes", d.url, maxDocument)
	}
	return ParseMetadata(body)
}

// ParseMetadata reads a metadata document: a JSON object whose issuer,
// when present, is a string, and whose endpoints are absolute http:// or
// https:// URLs.
func ParseMetadata(data []byte) (*Metadata, error) {
	var md Metadata
	if err := json.Unmarshal(data, &md); err != nil {
		return nil, fmt.Errorf("provider metadata is not a JSON object of the expected shape: %w", err)
	}
	for _, f := range [...]struct{ name, value string }{
		{"jwks_uri", md.JWKSURI},
		{"introspection_endpoint", md.IntrospectionEndpoint},
		{"token_introspection_endpoint", md.TokenIntrospectionEndpoint},
	} {
		if f.value == "" {
			continue
		}
		if u, err := url.Parse(f.value); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("provider metadata: %s %q is not an http:// or https:// URL", f.name, f.value)
		}
	}
	return &md, nil
}

// IsJSON reports whether a Content-Type names JSON: application/json,
// application/jwk-set+json or another application/*+json type.
func IsJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}
