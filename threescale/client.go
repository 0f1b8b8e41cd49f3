package threescale

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Defaults for ClientOptions fields left at zero.
const (
	DefaultConnectTimeout      = 5 * time.Second
	DefaultReadTimeout         = 10 * time.Second
	DefaultMaxIdleConnsPerHost = 64
	DefaultIdleConnTimeout     = 90 * time.Second
	DefaultUserAgent           = "Verdict"
)

// The endpoints of the Service Management API.
const (
	pathAuthrep        = "/transactions/authrep.xml"
	pathOAuthAuthrep   = "/transactions/oauth_authrep.xml"
	pathAuthorize      = "/transactions/authorize.xml"
	pathOAuthAuthorize = "/transactions/oauth_authorize.xml"
	pathReport         = "/transactions.xml"
)

// The extensions asked of the backend with every authorization, as APIcast
// asks for them: why a call is denied (3scale-rejection-reason), the
// limit headers, and no body unless the service needs one.
const (
	optionsWithBody = "rejection_reason_header=1&limit_headers=1"
	optionsNoBody   = optionsWithBody + "&no_body=1"
)

// ClientOptions configure a Client.
type ClientOptions struct {
	// Endpoint is the backend's URL (proxy.backend.endpoint), e.g.
	// https://su1.3scale.net; a path in it is put before the API's paths.
	Endpoint string
	// Host, when set, is the Host header of every call
	// (proxy.backend.host); by default the endpoint's host.
	Host string
	// ConnectTimeout bounds opening a connection (and its TLS handshake);
	// DefaultConnectTimeout when 0.
	ConnectTimeout time.Duration
	// ReadTimeout bounds the wait for an answer once the call is sent;
	// DefaultReadTimeout when 0.
	ReadTimeout time.Duration
	// MaxIdleConnsPerHost is how many kept-alive connections wait for the
	// next call; DefaultMaxIdleConnsPerHost when 0.
	MaxIdleConnsPerHost int
	// IdleConnTimeout closes a kept-alive connection unused that long;
	// DefaultIdleConnTimeout when 0.
	IdleConnTimeout time.Duration
	// TLSConfig, when set, is used for an https endpoint; by default the
	// system's roots verify the backend's certificate.
	TLSConfig *tls.Config
	// UserAgent is sent with every call; DefaultUserAgent when empty.
	UserAgent string
	// Transport, when set, replaces the transport the options above build.
	Transport http.RoundTripper
	// Metrics, when set, counts the calls.
	Metrics *Metrics
}

// Client calls one backend. It keeps a pool of kept-alive connections and
// is safe for concurrent use; services with the same backend share one.
type Client struct {
	scheme, host, path string
	hostHeader         string
	userAgent          string
	timeout            time.Duration
	http               *http.Client
	transport          *http.Transport // nil when the caller gave one
	metrics            *Metrics
}

// NewClient checks the options and builds a client.
func NewClient(o ClientOptions) (*Client, error) {
	u, err := url.Parse(o.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("backend endpoint %q: %w", o.Endpoint, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("backend endpoint %q: scheme must be http or https", o.Endpoint)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("backend endpoint %q: no host", o.Endpoint)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("backend endpoint %q: a query, fragment or user part is not allowed", o.Endpoint)
	}
	if o.ConnectTimeout < 0 || o.ReadTimeout < 0 {
		return nil, errors.New("backend timeouts must not be negative")
	}
	connect := o.ConnectTimeout
	if connect == 0 {
		connect = DefaultConnectTimeout
	}
	read := o.ReadTimeout
	if read == 0 {
		read = DefaultReadTimeout
	}
	c := &Client{
		scheme:     u.Scheme,
		host:       u.Host,
		path:       strings.TrimSuffix(u.EscapedPath(), "/"),
		hostHeader: o.Host,
		userAgent:  o.UserAgent,
		timeout:    connect + read,
		metrics:    o.Metrics,
	}
	if c.userAgent == "" {
		c.userAgent = DefaultUserAgent
	}
	rt := o.Transport
	if rt == nil {
		perHost := o.MaxIdleConnsPerHost
		if perHost <= 0 {
			perHost = DefaultMaxIdleConnsPerHost
		}
		idle := o.IdleConnTimeout
		if idle <= 0 {
			idle = DefaultIdleConnTimeout
		}
		dialer := &net.Dialer{Timeout: connect, KeepAlive: 30 * time.Second}
		c.transport = &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           dialer.DialContext,
			TLSClientConfig:       o.TLSConfig,
			TLSHandshakeTimeout:   connect,
			ResponseHeaderTimeout: read,
			MaxIdleConns:          perHost * 4,
			MaxIdleConnsPerHost:   perHost,
			IdleConnTimeout:       idle,
			DisableCompression:    true,
			ForceAttemptHTTP2:     true,
		}
		rt = c.transport
	}
	c.http = &http.Client{
		Transport: rt,
		// The API never redirects; following one could send the service
		// token to another host.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return c, nil
}

// Endpoint returns the backend's URL.
func (c *Client) Endpoint() string { return c.scheme + "://" + c.host + c.path }

// Close closes the idle connections of a transport the client built.
func (c *Client) Close() {
	if c.transport != nil {
		c.transport.CloseIdleConnections()
	}
}

// Authrep authorizes r and, when authorized, reports its usage in the same
// call (GET /transactions/authrep.xml, oauth_authrep.xml for an oauth
// service). A code above 0 is sent as log[code], the status the client got.
func (c *Client) Authrep(ctx context.Context, r *Request, code int) Result {
	if err := checkRequest(r); err != nil {
		return Result{Err: err}
	}
	path := pathAuthrep
	if r.Service.version == VersionOAuth {
		path = pathOAuthAuthrep
	}
	return c.get(ctx, "authrep", path, r, code)
}

// Authorize authorizes r without reporting (GET
// /transactions/authorize.xml, oauth_authorize.xml for an oauth service);
// the usage is the predicted one the limits are checked against.
func (c *Client) Authorize(ctx context.Context, r *Request) Result {
	if err := checkRequest(r); err != nil {
		return Result{Err: err}
	}
	path := pathAuthorize
	if r.Service.version == VersionOAuth {
		path = pathOAuthAuthorize
	}
	return c.get(ctx, "auth", path, r, 0)
}

// Transaction is one entry of a report.
type Transaction struct {
	// Credentials identify the application.
	Credentials Credentials
	// Usage is what to add to its metrics.
	Usage Usage
	// ResponseCode, when above 0, is logged as the transaction's log[code].
	ResponseCode int
}

// Report sends transactions of service s in one call (POST
// /transactions.xml, form-encoded). The backend answers 202 and processes
// them later.
func (c *Client) Report(ctx context.Context, s *Service, txs []Transaction) Result {
	if s == nil {
		return Result{Err: errors.New("report: no service")}
	}
	if len(txs) == 0 {
		return Result{Err: errors.New("report: no transactions")}
	}
	var body []byte
	for i := range txs {
		body = appendTransaction(body, i, &txs[i])
	}
	u := c.url(pathReport, s.auth)
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return Result{Err: fmt.Errorf("report: %w", err)}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.do(req, "report")
}

func (c *Client) url(path, query string) string {
	var b strings.Builder
	b.Grow(len(c.scheme) + 3 + len(c.host) + len(c.path) + len(path) + 1 + len(query))
	b.WriteString(c.scheme)
	b.WriteString("://")
	b.WriteString(c.host)
	b.WriteString(c.path)
	b.WriteString(path)
	b.WriteByte('?')
	b.WriteString(query)
	return b.String()
}

func (c *Client) get(ctx context.Context, endpoint, path string, r *Request, code int) Result {
	var qb [512]byte
	u := c.url(path, string(appendAuthQuery(qb[:0], r, code)))
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return Result{Err: fmt.Errorf("%s: %w", endpoint, err)}
	}
	if r.Service.nativeOAuth {
		req.Header.Set(headerOptions, optionsWithBody)
	} else {
		req.Header.Set(headerOptions, optionsNoBody)
	}
	return c.do(req, endpoint)
}

func (c *Client) do(req *http.Request, endpoint string) Result {
	req.Header.Set("User-Agent", c.userAgent)
	if c.hostHeader != "" {
		req.Host = c.hostHeader
	}
	res, err := c.http.Do(req)
	if err != nil {
		c.metrics.call(endpoint, 0)
		// url.Error quotes the whole URL, whose query holds the service
		// token and the application's keys: keep them out of errors.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return Result{Err: fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)}
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxBody+1))
	c.metrics.call(endpoint, res.StatusCode)
	if err != nil {
		return Result{Status: res.StatusCode, Err: fmt.Errorf("%s %s: reading the answer: %w", req.Method, req.URL.Path, err)}
	}
	if len(body) > maxBody {
		return Result{Status: res.StatusCode, Err: fmt.Errorf("%s %s: answer larger than %d bytes", req.Method, req.URL.Path, maxBody)}
	}
	return newResult(res.StatusCode, res.Header, body)
}

// checkRequest reports what keeps r from being sent.
func checkRequest(r *Request) error {
	if r == nil || r.Service == nil {
		return errors.New("request without a service")
	}
	return r.Credentials.check(r.Service.version)
}
