// Package chain runs APIcast-style policy chains: ordered lists of policies
// acting in phases. It owns the phases, the small interfaces a policy
// implements for the phases it acts in, the per-request Context that all
// policies of a request share, the Service view and the shared Store that
// policies are built with (Env), the registry of policy factories, the
// compiled Chain that runs a phase over its policies, and the order in
// which a request goes through the phases (Chain.Begin and the steps after
// it), which the gateway and the test harnesses follow. It knows no
// concrete policy (they live under policies/), no configuration file and
// no HTTP serving (the gateway sends requests upstream).
package chain

import "fmt"

// Phase is a point in the life of a request (or of the process) at which
// policies act.
type Phase uint8

// The phases, in the order a request meets them. Init and InitWorker run
// when a chain is loaded; Metrics runs when /metrics is scraped.
const (
	PhaseInit Phase = iota
	PhaseInitWorker
	PhaseSSLCertificate
	PhaseRewrite
	PhaseAccess
	PhaseContent
	PhaseBalancer
	PhaseHeaderFilter
	PhaseBodyFilter
	PhasePostAction
	PhaseLog
	PhaseMetrics
	numPhases
)

var phaseNames = [...]string{
	"init", "init_worker", "ssl_certificate", "rewrite", "access", "content",
	"balancer", "header_filter", "body_filter", "post_action", "log", "metrics",
}

// String returns the phase's APIcast name, e.g. header_filter.
func (p Phase) String() string {
	if int(p) < len(phaseNames) {
		return phaseNames[p]
	}
	return fmt.Sprintf("phase(%d)", uint8(p))
}

// Phases lists every phase in order.
func Phases() []Phase {
	out := make([]Phase, numPhases)
	for i := range out {
		out[i] = Phase(i)
	}
	return out
}

// ParsePhase returns the phase with the given APIcast name.
func ParsePhase(name string) (Phase, bool) {
	for i, n := range phaseNames {
		if n == name {
			return Phase(i), true
		}
	}
	return 0, false
}

// Policy is a chain policy. It acts in a phase by implementing that
// phase's interface below; a policy implementing none does nothing. A
// policy value holds its configuration only and is shared by all requests:
// per-request state goes in the Context.
type Policy any

// Initializer acts once when the chain is loaded (APIcast's init). An error
// fails the load.
type Initializer interface {
	Init() error
}

// WorkerInitializer acts once when the chain starts serving (APIcast's
// init_worker). An error fails the load.
type WorkerInitializer interface {
	InitWorker() error
}

// SSLCertificateHandler acts during a TLS handshake.
type SSLCertificateHandler interface {
	SSLCertificate(c *Context) error
}

// Rewriter acts at the start of a request, before any access check.
type Rewriter interface {
	Rewrite(c *Context) error
}

// Accessor decides whether a request may proceed, after every Rewrite.
type Accessor interface {
	Access(c *Context) error
}

// ContentProducer may produce the response: by answering locally
// (Context.Respond) or by choosing an upstream to proxy to
// (Context.ProxyTo). It returns handled=false to let the next producer in
// the chain act; the first that handles the request answers it.
type ContentProducer interface {
	Content(c *Context) (handled bool, err error)
}

// UpstreamBalancer acts once per attempt to reach the upstream (the
// balancer phase), before it is made; it may change the upstream's address.
type UpstreamBalancer interface {
	Balance(c *Context) error
}

// HeaderFilter acts on the response status and headers before they are
// sent, for proxied and for locally generated responses alike.
type HeaderFilter interface {
	HeaderFilter(c *Context) error
}

// BodyFilter acts on each chunk of the response body as it passes; eof is
// true for the last call. It returns the bytes to send in place of chunk
// (chunk itself to pass it unchanged).
type BodyFilter interface {
	BodyFilter(c *Context, chunk []byte, eof bool) ([]byte, error)
}

// PostActioner acts after the response has been sent, even when a policy
// ended the request early.
type PostActioner interface {
	PostAction(c *Context) error
}

// Logger acts last, to record the request.
type Logger interface {
	Log(c *Context) error
}

// MetricsCollector acts when the metrics endpoint is scraped.
type MetricsCollector interface {
	Metrics() error
}

// Exporter publishes static values to every request's Context: values that
// do not depend on the request (APIcast's export()). The first policy in
// the chain wins on a clash, and values a request sets win over exports.
type Exporter interface {
	Export() map[string]any
}

// Closer releases what a policy holds when the chain is replaced by a reload.
type Closer interface {
	Close() error
}

// FailureGuard is a policy that answers for its chain's failures, as
// APIcast's on_failed does. When a chain holds one, a policy failing in a
// request phase ends the request with FailureStatus instead of the
// chain's fail status, and a chain that BuildTolerant left a policy out of
// refuses every request with FailureStatus before any policy runs. The
// first guard of a chain counts.
type FailureGuard interface {
	FailureStatus() int
}
