package threescale

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics count what the client and the authorizers do. One value may be
// shared by every client and authorizer of a process, across reloads; a
// nil *Metrics counts nothing.
type Metrics struct {
	calls     *prometheus.CounterVec
	cacheHit  prometheus.Counter
	cacheMiss prometheus.Counter
	dropped   prometheus.Counter
	storeErrs prometheus.Counter
}

// NewMetrics creates the metrics and registers them with reg:
//
//	verdict_threescale_backend_calls_total{endpoint,status}
//	verdict_threescale_auth_cache_total{result}
//	verdict_threescale_report_dropped_total
//	verdict_threescale_store_errors_total
//
// endpoint is authrep, auth or report (as APIcast's threescale_backend_calls
// names them); status is 2xx, 4xx, 5xx or none (no answer). When reg
// already holds them, the registered ones are reused.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	calls, err := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "verdict_threescale_backend_calls_total",
		Help: "Calls to the 3scale backend, by endpoint and status class.",
	}, []string{"endpoint", "status"}))
	if err != nil {
		return nil, err
	}
	cache, err := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "verdict_threescale_auth_cache_total",
		Help: "Authorizations looked up in the cache, by result (hit or miss).",
	}, []string{"result"}))
	if err != nil {
		return nil, err
	}
	dropped, err := register(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "verdict_threescale_report_dropped_total",
		Help: "Report transactions the backend refused and that were dropped.",
	}))
	if err != nil {
		return nil, err
	}
	storeErrs, err := register(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "verdict_threescale_store_errors_total",
		Help: "Shared-store operations of the 3scale authorizers that failed.",
	}))
	if err != nil {
		return nil, err
	}
	return &Metrics{
		calls:     calls,
		cacheHit:  cache.WithLabelValues("hit"),
		cacheMiss: cache.WithLabelValues("miss"),
		dropped:   dropped,
		storeErrs: storeErrs,
	}, nil
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var dup prometheus.AlreadyRegisteredError
		if errors.As(err, &dup) {
			if existing, ok := dup.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, fmt.Errorf("register 3scale metrics: %w", err)
	}
	return c, nil
}

func statusClass(status int) string {
	switch {
	case status == 0:
		return "none"
	case status < 300:
		return "2xx"
	case status < 400:
		return "3xx"
	case status < 500:
		return "4xx"
	default:
		return "5xx"
	}
}

func (m *Metrics) call(endpoint string, status int) {
	if m == nil {
		return
	}
	m.calls.WithLabelValues(endpoint, statusClass(status)).Inc()
}

func (m *Metrics) cache(hit bool) {
	if m == nil {
		return
	}
	if hit {
		m.cacheHit.Inc()
	} else {
		m.cacheMiss.Inc()
	}
}

func (m *Metrics) reportDropped(n int) {
	if m != nil {
		m.dropped.Add(float64(n))
	}
}

func (m *Metrics) storeError() {
	if m != nil {
		m.storeErrs.Inc()
	}
}
