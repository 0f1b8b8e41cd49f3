package certs

import (
	"context"
	"crypto/tls"
	"sync"
	"sync/atomic"
)

// Slot is a listener's place for its Set: a reload of the configuration
// builds a new Set and installs it, and handshakes from then on use it,
// while the listener keeps one tls.Config. Session tickets issued before
// the change stay valid after it, as their keys belong to the Slot's
// configuration. The Slot watches the installed Set's files (Set.Watch)
// until the next Install or Close.
type Slot struct {
	base    *tls.Config
	cur     atomic.Pointer[Set]
	chooser atomic.Pointer[Chooser]

	mu   sync.Mutex
	stop context.CancelFunc
	done chan struct{}
}

// NewSlot returns a Slot serving set.
func NewSlot(set *Set) *Slot {
	s := &Slot{}
	s.base = &tls.Config{
		MinVersion:         tls.VersionTLS12,
		CipherSuites:       CipherSuites,
		GetConfigForClient: s.configForClient,
	}
	s.Install(set)
	return s
}

func (s *Slot) configForClient(hello *tls.ClientHelloInfo) (*tls.Config, error) {
	return s.cur.Load().configForClient(hello)
}

// TLSConfig returns the configuration to serve the listener with. Do not
// change it.
func (s *Slot) TLSConfig() *tls.Config { return s.base }

// Set returns the Set in service.
func (s *Slot) Set() *Set { return s.cur.Load() }

// Install puts set in service, with the Slot's Chooser, and watches its
// files instead of the previous Set's.
func (s *Slot) Install(set *Set) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.chooser.Load(); c != nil {
		set.SetChooser(*c)
	}
	s.cur.Store(set)
	s.stopLocked()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	s.stop, s.done = stop, done
	go func() {
		defer close(done)
		set.Watch(ctx)
	}()
}

// SetChooser gives c the first say in every handshake, with this Set and
// those installed later; nil takes it back.
func (s *Slot) SetChooser(c Chooser) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c == nil {
		s.chooser.Store(nil)
	} else {
		s.chooser.Store(&c)
	}
	s.cur.Load().SetChooser(c)
}

// Close stops watching files. The listener may go on serving the Set in
// service.
func (s *Slot) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
}

func (s *Slot) stopLocked() {
	if s.stop != nil {
		s.stop()
		<-s.done
		s.stop, s.done = nil, nil
	}
}
