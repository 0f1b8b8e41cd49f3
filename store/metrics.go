package store

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics count the store's failures. One value may be shared by every
// store a process opens, across reloads.
type Metrics struct {
	errors *prometheus.CounterVec
}

// NewMetrics creates the store metrics and registers them with reg:
//
//	verdict_store_errors_total{op}
//
// When reg already holds them (a store opened again after a reload), the
// registered ones are reused.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "verdict_store_errors_total",
		Help: "Store operations that failed to reach the backend, by operation.",
	}, []string{"op"})
	if err := reg.Register(c); err != nil {
		var dup prometheus.AlreadyRegisteredError
		if !errors.As(err, &dup) {
			return nil, fmt.Errorf("register store metrics: %w", err)
		}
		existing, ok := dup.ExistingCollector.(*prometheus.CounterVec)
		if !ok {
			return nil, fmt.Errorf("register store metrics: %w", err)
		}
		c = existing
	}
	return &Metrics{errors: c}, nil
}

// failed counts one failed operation; a nil Metrics counts nothing.
func (m *Metrics) failed(op string) {
	if m == nil {
		return
	}
	m.errors.WithLabelValues(op).Inc()
}
