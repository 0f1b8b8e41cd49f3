package rethink

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics count the messages a Handler answers:
//
//	verdict_messages_total{direction,decision,forward}
//	verdict_message_duration_seconds{direction}
//
// The duration covers attribute extraction, the decision, obligations and
// state updates, not decoding the request or encoding the answer.
type Metrics struct {
	// messages[direction][decision][forward], decisions in the order of
	// decisionNames.
	messages [2][5][2]prometheus.Counter
	duration [2]prometheus.Observer
}

// decisionNames are the decision label values: pdl's effects in their
// order, then invalid.
var decisionNames = [5]string{"not_applicable", "permit", "deny", "indeterminate", "invalid"}

// NewMetrics creates the message metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	messages := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "verdict_messages_total",
		Help: "reTHINK messages decided, by direction, decision and whether they were forwarded.",
	}, []string{"direction", "decision", "forward"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "verdict_message_duration_seconds",
		Help: "Time spent enforcing a reTHINK message, without decoding the request or encoding the answer.",
		// Enforcing takes microseconds, more when a shared state is read;
		// the buckets run from 1 µs to about 0.26 s.
		Buckets: prometheus.ExponentialBuckets(1e-6, 4, 10),
	}, []string{"direction"})
	for _, c := range []prometheus.Collector{messages, duration} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register message metrics: %w", err)
		}
	}
	m := &Metrics{}
	for d, dir := range [2]Direction{Ingress, Egress} {
		for i, dec := range decisionNames {
			for f, fwd := range [2]string{"false", "true"} {
				m.messages[d][i][f] = messages.WithLabelValues(dir.String(), dec, fwd)
			}
		}
		m.duration[d] = duration.WithLabelValues(dir.String())
	}
	return m, nil
}

// observe records one enforced message.
func (m *Metrics) observe(dir Direction, r *Result, elapsed time.Duration) {
	if m == nil {
		return
	}
	dec := int(r.Decision.Effect) // pdl's effects are the first four names
	if r.Invalid != "" || dec >= len(decisionNames) {
		dec = len(decisionNames) - 1
	}
	fwd := 0
	if r.Forward {
		fwd = 1
	}
	d := int(dir) & 1
	m.messages[d][dec][fwd].Inc()
	m.duration[d].Observe(elapsed.Seconds())
}
