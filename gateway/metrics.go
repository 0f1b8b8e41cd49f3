package gateway

import (
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/verdict-policy/verdict/chain"
)

// metrics are the gateway's Prometheus metrics. Label values for the
// service are the service id, "" for requests that matched no service.
type metrics struct {
	requests *prometheus.CounterVec
	failures *prometheus.CounterVec
	upstream *prometheus.HistogramVec
	phases   *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "verdict_gateway_requests_total",
			Help: "Requests answered by the gateway, by service and status.",
		}, []string{"service", "status"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "verdict_gateway_policy_errors_total",
			Help: "Chain policies that failed (returned an error or panicked), by service, policy and phase.",
		}, []string{"service", "policy", "phase"}),
		upstream: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "verdict_gateway_upstream_duration_seconds",
			Help:    "Time from sending a request upstream to receiving the response header, by service.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"service"}),
		phases: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "verdict_gateway_phase_duration_seconds",
			Help: "Time spent in the chain's policies per request phase (body_filter summed over a response's chunks), by service and phase; phases without policies are not observed.",
			Buckets: []float64{.000005, .00001, .000025, .00005, .0001, .00025, .0005, .001,
				.0025, .005, .01, .05},
		}, []string{"service", "phase"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.failures, m.upstream, m.phases} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("gateway metrics: %w", err)
		}
	}
	return m, nil
}

// statusText holds the label value of every status, so counting a
// request does not format a number.
var statusText = func() (t [600]string) {
	for i := range t {
		t[i] = strconv.Itoa(i)
	}
	return
}()

// serviceMetrics are one service's metrics, looked up once when the
// configuration is built so that a request costs no label hashing.
type serviceMetrics struct {
	m        *metrics
	service  string
	wait     prometheus.Observer
	phase    [chain.PhaseMetrics]prometheus.Observer
	statuses [600]atomic.Pointer[counter]
}

type counter struct{ prometheus.Counter }

func (m *metrics) forService(service string) *serviceMetrics {
	sm := &serviceMetrics{m: m, service: service, wait: m.upstream.WithLabelValues(service)}
	for p := chain.PhaseRewrite; p < chain.PhaseMetrics; p++ {
		sm.phase[p] = m.phases.WithLabelValues(service, p.String())
	}
	return sm
}

// observe records the time of one request phase since start.
func (sm *serviceMetrics) observe(p chain.Phase, start time.Time) {
	sm.phase[p].Observe(time.Since(start).Seconds())
}

// PhaseTook records the time of one request phase; it makes the metrics
// the chain's Timer.
func (sm *serviceMetrics) PhaseTook(p chain.Phase, d time.Duration) {
	sm.phase[p].Observe(d.Seconds())
}

func (sm *serviceMetrics) request(status int) {
	if status < 0 || status >= len(sm.statuses) {
		sm.m.requests.WithLabelValues(sm.service, "other").Inc()
		return
	}
	c := sm.statuses[status].Load()
	if c == nil {
		c = &counter{sm.m.requests.WithLabelValues(sm.service, statusText[status])}
		sm.statuses[status].Store(c)
	}
	c.Inc()
}

func (m *metrics) onFailure(service string) func(policy string, phase chain.Phase, err error) {
	return func(policy string, phase chain.Phase, _ error) {
		m.failures.WithLabelValues(service, policy, phase.String()).Inc()
	}
}

// metricsPhase runs the global chain's metrics phase whenever the registry
// is gathered, that is on every scrape of /metrics, so that policies can
// refresh what they export before it is read. It describes no metrics of
// its own (an unchecked collector).
type metricsPhase struct{ g *Gateway }

func (metricsPhase) Describe(chan<- *prometheus.Desc) {}

func (m metricsPhase) Collect(chan<- prometheus.Metric) {
	st := m.g.acquire()
	defer st.release()
	st.global.Metrics(m.g.logger)
}
