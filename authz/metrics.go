package authz

import (
	"github.com/prometheus/client_golang/prometheus"
)

// adapters and answers label the answer counters.
var (
	adapterNames = [...]string{"envoy", "envoy_grpc", "nginx", "forward", "authzen"}
	answerNames  = [...]string{"allow", "deny", "invalid"}
)

type adapter uint8

const (
	adEnvoy adapter = iota
	adEnvoyGRPC
	adNginx
	adForward
	adAuthZEN
)

type answer uint8

const (
	ansAllow answer = iota
	ansDeny
	ansInvalid // the call could not be read: a 4xx or a gRPC error
)

// metrics counts answers by adapter, with every series looked up once so
// a request only increments.
type metrics struct {
	answers [len(adapterNames)][len(answerNames)]prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "verdict_authz_answers_total",
		Help: "Answers of the proxy authorizers and AuthZEN, by adapter and answer (allow, deny, invalid).",
	}, []string{"adapter", "answer"})
	if reg != nil {
		// The names are fixed and the registry is the process's own: a
		// clash is a programming error.
		reg.MustRegister(vec)
	}
	m := &metrics{}
	for a, an := range adapterNames {
		for r, rn := range answerNames {
			m.answers[a][r] = vec.WithLabelValues(an, rn)
		}
	}
	return m
}

func (m *metrics) count(a adapter, allow bool) {
	if allow {
		m.answers[a][ansAllow].Inc()
	} else {
		m.answers[a][ansDeny].Inc()
	}
}

func (m *metrics) invalid(a adapter) { m.answers[a][ansInvalid].Inc() }
