package rethink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/verdict-policy/verdict/config"
	"github.com/verdict-policy/verdict/store"
)

// Door mounts the reTHINK message endpoints on the policy listener: it
// reads the messages section, finds the document it names, opens the
// shared state the store section selects, and hands them to a Handler.
// It serves POST /v1/messages/decide and /v1/messages/decide-batch as
// the configuration says. Its state (the registry cache, the allocation
// counts) outlives reloads as long as the store section does not change.
type Door struct {
	handler *Handler
	logger  *slog.Logger

	mu       sync.Mutex
	st       store.Store
	stConfig store.Config
	shared   func(config.Store) (store.Store, error) // see UseStores
}

// UseStores makes the door take its state's store from src, the
// process's shared stores (opened on first use, never closed by the
// door), instead of opening its own. Call it before the first Prepare.
func (d *Door) UseStores(src func(config.Store) (store.Store, error)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.shared = src
}

// NewDoor returns a Door that answers not_configured until it is prepared and
// installed. logger may be nil; reg, when not nil, receives the message
// metrics (a registration that fails is logged, and the door runs without
// them).
func NewDoor(logger *slog.Logger, reg prometheus.Registerer) *Door {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var m *Metrics
	if reg != nil {
		var err error
		if m, err = NewMetrics(reg); err != nil {
			logger.Warn("rethink: no message metrics", "error", err)
		}
	}
	return &Door{handler: NewHandler(m), logger: logger}
}

// Patterns lists the paths the door serves.
func (d *Door) Patterns() []string { return d.handler.Patterns() }

// ServeHTTP implements http.Handler.
func (d *Door) ServeHTTP(w http.ResponseWriter, r *http.Request) { d.handler.ServeHTTP(w, r) }

// Prepare builds the enforcer cfg describes over its compiled documents,
// without touching the running one; install puts it in service.
func (d *Door) Prepare(cfg *config.Config, docs []config.Document) (func(), error) {
	m := MessagesOf(cfg)
	if m == nil {
		return func() { d.handler.Install(nil, HandlerLimits{}) }, nil
	}
	where := fmt.Sprintf("%s:%d:%d: messages.policy", cfg.File, m.Line, m.Column)
	var doc *config.Document
	names := make([]string, 0, len(docs))
	for i := range docs {
		names = append(names, docs[i].Name)
		if docs[i].Name == m.Policy {
			doc = &docs[i]
		}
	}
	if doc == nil {
		return nil, fmt.Errorf("%s: no policy document named %q; the documents are: %s", where, m.Policy, strings.Join(names, ", "))
	}
	if doc.Vocabulary != "rethink" {
		return nil, fmt.Errorf("%s: document %q must declare vocabulary: rethink to be checked against the message attributes", where, m.Policy)
	}

	d.mu.Lock()
	st, opened := d.st, false
	if d.shared != nil {
		var err error
		if st, err = d.shared(cfg.Store); err != nil {
			d.mu.Unlock()
			return nil, fmt.Errorf("%s: store: %w", cfg.File, err)
		}
	} else if st == nil || d.stConfig != cfg.Store {
		var err error
		st, err = store.Open(context.Background(), cfg.Store, nil)
		if err != nil {
			d.mu.Unlock()
			return nil, fmt.Errorf("%s: store: %w", cfg.File, err)
		}
		opened = true
	}
	d.mu.Unlock()

	e, err := New(doc.Document, Config{
		Domain:            m.Domain,
		DomainRegistry:    m.DomainRegistry,
		Port:              m.Port,
		UseSSL:            m.UseSSL,
		DefaultBehavior:   m.DefaultBehavior,
		CompatibleReply:   m.CompatibleReply,
		StrictObligations: m.StrictObligations,
		State:             st,
		Logger:            d.logger,
	})
	if err != nil {
		if opened {
			_ = st.Close()
		}
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	limits := HandlerLimits{MaxBodyBytes: cfg.Limits.MaxBodyBytes, MaxBatch: m.MaxBatch}
	return func() {
		d.handler.Install(e, limits)
		if !opened {
			return
		}
		d.mu.Lock()
		old := d.st
		d.st, d.stConfig = st, cfg.Store
		d.mu.Unlock()
		if old != nil {
			if err := old.Close(); err != nil && !errors.Is(err, context.Canceled) {
				d.logger.Warn("rethink: closing the previous store", "error", err)
			}
		}
	}, nil
}
