package server

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/verdict-policy/verdict/config"
	"github.com/verdict-policy/verdict/store"
)

// sharedStores opens the shared store of each store configuration once and
// keeps it for the life of the process, so that every reload of the same
// settings reuses one connection pool and its counters.
type sharedStores struct {
	mu      sync.Mutex
	open    map[config.Store]store.Store
	metrics *store.Metrics
}

func newSharedStores(reg *prometheus.Registry) (*sharedStores, error) {
	m, err := store.NewMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("store metrics: %w", err)
	}
	return &sharedStores{open: map[config.Store]store.Store{}, metrics: m}, nil
}

// get returns the store of cfg, opening it on first use.
func (s *sharedStores) get(cfg config.Store) (store.Store, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.open[cfg]; ok {
		return st, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := store.Open(ctx, cfg, s.metrics)
	if err != nil {
		return nil, err
	}
	s.open[cfg] = st
	return st, nil
}

// close closes every store opened.
func (s *sharedStores) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for cfg, st := range s.open {
		if err := st.Close(); err != nil {
			errs = append(errs, err)
		}
		delete(s.open, cfg)
	}
	return errors.Join(errs...)
}
