package pdp

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/verdict-policy/verdict/pdl"
)

// Metrics are the decision metrics of a Handler.
type Metrics struct {
	decisions *prometheus.CounterVec
	duration  *prometheus.HistogramVec
}

// NewMetrics creates the decision metrics and registers them with reg:
//
//	verdict_decisions_total{document,decision}
//	verdict_decision_duration_seconds{document}
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "verdict_decisions_total",
			Help: "Decisions made, by document and outcome.",
		}, []string{"document", "decision"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "verdict_decision_duration_seconds",
			Help: "Time spent evaluating a document, without decoding the request or encoding the answer.",
			// A decision takes microseconds; the buckets run from 1 µs to about 0.26 s.
			Buckets: prometheus.ExponentialBuckets(1e-6, 4, 10),
		}, []string{"document"}),
	}
	for _, c := range []prometheus.Collector{m.decisions, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register decision metrics: %w", err)
		}
	}
	return m, nil
}

// documentMetrics are the metrics of one document, looked up once when the
// document is loaded so that a decision only increments and observes.
type documentMetrics struct {
	decisions [pdl.Indeterminate + 1]prometheus.Counter
	duration  prometheus.Observer
}

func (m *Metrics) forDocument(name string) documentMetrics {
	var dm documentMetrics
	if m == nil {
		return dm
	}
	for e := pdl.NotApplicable; e <= pdl.Indeterminate; e++ {
		dm.decisions[e] = m.decisions.WithLabelValues(name, e.String())
	}
	dm.duration = m.duration.WithLabelValues(name)
	return dm
}

// forget drops the series of a document that is no longer loaded.
func (m *Metrics) forget(name string) {
	if m == nil {
		return
	}
	m.decisions.DeletePartialMatch(prometheus.Labels{"document": name})
	m.duration.DeleteLabelValues(name)
}
