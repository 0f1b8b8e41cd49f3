package gateway_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"sync"

	"github.com/verdict-policy/verdict/chain"
)

// step is a test policy that records every phase it runs in and acts as
// its configuration says: exit in a phase, fail (error or panic) in a
// phase, mark responses in header_filter, upper-case bodies in
// body_filter.
type step struct {
	Name      string `json:"name"`
	ExitIn    string `json:"exit_in"`
	ExitPhase string `json:"exit_phase_in"`
	Status    int    `json:"status"`
	PanicIn   string `json:"panic_in"`
	ErrorIn   string `json:"error_in"`
	Mark      bool   `json:"mark"`
	Upper     bool   `json:"upper"`
	Chunks    bool   `json:"chunks"` // record every chunk as name.chunk(bytes)
}

var (
	stepsMu sync.Mutex
	steps   []string
)

func resetSteps() {
	stepsMu.Lock()
	steps = nil
	stepsMu.Unlock()
}

func takeSteps() string {
	stepsMu.Lock()
	defer stepsMu.Unlock()
	return strings.Join(steps, " ")
}

func init() {
	chain.Register(chain.Factory{Name: "test_step", Version: chain.BuiltinVersion,
		New: func(raw json.RawMessage, _ chain.Env) (chain.Policy, error) {
			s := &step{}
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.DisallowUnknownFields()
			if err := dec.Decode(s); err != nil {
				return nil, err
			}
			return s, nil
		}})
}

func (s *step) act(c *chain.Context, phase string) error {
	stepsMu.Lock()
	steps = append(steps, s.Name+"."+phase)
	stepsMu.Unlock()
	switch phase {
	case s.PanicIn:
		panic("test_step " + s.Name + " panics")
	case s.ErrorIn:
		return errors.New("test_step " + s.Name + " fails")
	case s.ExitIn:
		c.Exit(s.Status, s.Name+" ended the request\n")
	case s.ExitPhase:
		c.ExitPhase()
	}
	return nil
}

func (s *step) Rewrite(c *chain.Context) error { return s.act(c, "rewrite") }
func (s *step) Access(c *chain.Context) error  { return s.act(c, "access") }
func (s *step) Content(c *chain.Context) (bool, error) {
	return false, s.act(c, "content")
}
func (s *step) Balance(c *chain.Context) error { return s.act(c, "balancer") }
func (s *step) HeaderFilter(c *chain.Context) error {
	if s.Mark {
		c.Response.Header.Add("X-Seen-By", s.Name)
	}
	return s.act(c, "header_filter")
}
func (s *step) BodyFilter(c *chain.Context, chunk []byte, eof bool) ([]byte, error) {
	if s.Chunks && !eof {
		stepsMu.Lock()
		steps = append(steps, s.Name+".chunk("+string(chunk)+")")
		stepsMu.Unlock()
	}
	if eof {
		if err := s.act(c, "body_filter"); err != nil {
			return nil, err
		}
	}
	if s.Upper {
		return bytes.ToUpper(chunk), nil
	}
	return chunk, nil
}
func (s *step) PostAction(c *chain.Context) error { return s.act(c, "post_action") }
func (s *step) Log(c *chain.Context) error        { return s.act(c, "log") }

var lastCloser *closer

func init() {
	chain.Register(chain.Factory{Name: "test_closer", Version: chain.BuiltinVersion,
		New: func(json.RawMessage, chain.Env) (chain.Policy, error) {
			lastCloser = &closer{closed: make(chan struct{})}
			return lastCloser, nil
		}})
}

func init() {
	chain.Register(chain.Factory{Name: "test_bad_upstream", Version: chain.BuiltinVersion,
		New: func(json.RawMessage, chain.Env) (chain.Policy, error) { return badUpstream{}, nil }})
}

// badUpstream is a content policy that proxies to nowhere.
type badUpstream struct{}

func (badUpstream) Content(c *chain.Context) (bool, error) {
	c.ProxyTo(&chain.Upstream{})
	return true, nil
}
