package pexip

import (
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/verdict-policy/verdict/internal/logbuf"
	"github.com/verdict-policy/verdict/pdl"
)

// jsonContentType is shared by every JSON answer; net/http does not modify
// header values it is given.
var jsonContentType = []string{"application/json"}

var outcomes = []string{outAnswer, outReject, outRedirect, outFallback, outError, outBadRequest, outUnauthorized}

// metrics are the door's Prometheus collectors, with every label
// combination created up front so the hot path only adds.
type metrics struct {
	requests map[string]*[numKinds]prometheus.Counter
	duration [numKinds]prometheus.Observer
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "verdict_pexip_requests_total",
		Help: "Pexip external policy requests, by request type and outcome.",
	}, []string{"request_type", "outcome"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "verdict_pexip_request_duration_seconds",
		Help:    "Time to answer a Pexip external policy request, by request type.",
		Buckets: prometheus.ExponentialBuckets(10e-6, 4, 10), // 10 µs to 2.6 s
	}, []string{"request_type"})
	if reg != nil {
		for _, c := range []prometheus.Collector{requests, duration} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	m := &metrics{requests: map[string]*[numKinds]prometheus.Counter{}}
	for _, o := range outcomes {
		var byKind [numKinds]prometheus.Counter
		for k := range numKinds {
			byKind[k] = requests.WithLabelValues(k.String(), o)
		}
		m.requests[o] = &byKind
	}
	for k := range numKinds {
		m.duration[k] = duration.WithLabelValues(k.String())
	}
	return m, nil
}

// logLine collects what the request log line says.
type logLine struct {
	kind        kind
	start       time.Time
	outcome     string
	status      int
	document    string
	decision    pdl.Effect
	path        string
	localAlias  string
	remoteAlias string
	alias       string
	aliasMode   string // LogPlain, LogHash or LogOmit
	err         string
}

// shownAlias is an alias as the log line shows it: as sent, as a digest
// of its normalised form (so every form of one alias gives one digest), or
// not at all ("").
func (lg *logLine) shownAlias(a string) string {
	switch lg.aliasMode {
	case LogOmit:
		return ""
	case LogHash:
		if n := NormalizeAlias(a); n.User != "" {
			a = n.String()
		}
		sum := sha256.Sum256([]byte(a))
		return "sha256:" + hex.EncodeToString(sum[:8])
	}
	return a
}

// finish counts the request and writes its log line.
func (d *Door) finish(r *http.Request, lg *logLine) {
	elapsed := time.Since(lg.start)
	if c, ok := d.metrics.requests[lg.outcome]; ok {
		c[lg.kind].Inc()
	}
	d.metrics.duration[lg.kind].Observe(elapsed.Seconds())
	level := slog.LevelInfo
	switch {
	case lg.outcome == outError:
		level = slog.LevelError
	case lg.err != "": // answered, but something was wrong on the way
		level = slog.LevelWarn
	}
	ctx := r.Context()
	if !d.logger.Enabled(ctx, level) {
		return
	}
	ap := d.attrs.Get().(*[]slog.Attr)
	attrs := append((*ap)[:0],
		slog.String("request_type", lg.kind.String()),
		slog.String("outcome", lg.outcome),
		slog.Int("status", lg.status),
	)
	for _, a := range [...]struct{ key, val string }{
		{"local_alias", lg.localAlias}, {"remote_alias", lg.remoteAlias}, {"alias", lg.alias},
	} {
		if a.val == "" {
			continue
		}
		if v := lg.shownAlias(a.val); v != "" {
			attrs = append(attrs, slog.String(a.key, v))
		}
	}
	if lg.document != "" {
		attrs = append(attrs, slog.String("document", lg.document),
			slog.String("decision", lg.decision.String()), slog.String("policy", lg.path))
	}
	if lg.err != "" {
		attrs = append(attrs, slog.String("error", lg.err))
	}
	attrs = append(attrs, slog.Duration("latency", elapsed))
	// The record goes straight to the handler: Logger.LogAttrs would also
	// walk the stack for a source position, which says nothing about a
	// request and costs a tenth of the request. A handler that takes the
	// attributes as a slice is spared the record, which would allocate
	// for more than five.
	now := lg.start.Add(elapsed)
	if h, ok := d.logger.Handler().(logbuf.AttrsHandler); ok {
		_ = h.HandleAttrs(ctx, now, level, "pexip request", attrs)
	} else {
		rec := slog.NewRecord(now, level, "pexip request", 0)
		rec.AddAttrs(attrs...)
		_ = d.logger.Handler().Handle(ctx, rec)
	}
	clear(attrs)
	*ap = attrs[:0]
	d.attrs.Put(ap)
}
