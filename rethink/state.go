package rethink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/verdict-policy/verdict/internal/jsonenc"
)

// State is the shared state the enforcer reads and feeds: sliding-window
// event counts (address allocations per runtime) and keyed tables whose
// entries expire one by one (the registry cache and the registrations
// waiting for the Domain Registry's answer). It is the subset of Verdict's
// store that the messaging node needs, so a store.Store serves as a State;
// MemoryState is a self-contained one for a single process and for tests.
type State interface {
	// AddEvent records one event for key now and returns how many events
	// key had in the last window, this one included.
	AddEvent(ctx context.Context, key string, window time.Duration) (int64, error)
	// CountEvents returns how many events key had in the last window.
	CountEvents(ctx context.Context, key string, window time.Duration) (int64, error)
	// TablePut stores a copy of value under key in table; it expires after
	// ttl (> 0). The caller may reuse value once TablePut returns.
	TablePut(ctx context.Context, table, key string, value []byte, ttl time.Duration) error
	// TableGet returns the entry's value and whether it exists.
	TableGet(ctx context.Context, table, key string) ([]byte, bool, error)
	// TableDelete removes the entry.
	TableDelete(ctx context.Context, table, key string) error
	// TableAll returns every live entry of table.
	TableAll(ctx context.Context, table string) (map[string][]byte, error)
}

// Names of the state the enforcer keeps. Registrations are stored once per
// address they are found by (the user, the hyperty and the runtime), so
// that each look-up reads one small table.
const (
	allocationPrefix = "rethink:alloc:"
	registryPrefix   = "rethink:registry:"
	pendingTable     = "rethink:pending"
	// allocationWindow is the window of addrAllastMin.
	allocationWindow = time.Minute
)

// RegistryEntry is one hyperty registration the node has seen the Domain
// Registry accept. Its JSON form uses the registry's field names.
type RegistryEntry struct {
	// UserID is the user URL, e.g. user://gmail.com/chiang.zju.
	UserID string `json:"userID,omitempty"`
	// HypertyID is the hyperty's address, the entry's key.
	HypertyID string `json:"hypertyID"`
	// Runtime is the address of the runtime the hyperty runs in.
	Runtime string `json:"runtime,omitempty"`
	// Descriptor is the hyperty's catalogue descriptor URL.
	Descriptor string `json:"descriptor,omitempty"`
	// Resources and DataSchemes are what the hyperty offers.
	Resources   []any `json:"resources,omitempty"`
	DataSchemes []any `json:"dataSchemes,omitempty"`
	// Status is the registration's status, e.g. live.
	Status string `json:"status,omitempty"`
	// Expires is the registration's lifetime in seconds.
	Expires int64 `json:"expires,omitempty"`
}

// encode appends the JSON form of e, with the field names of its tags.
func (e RegistryEntry) encode(b []byte) []byte {
	b = append(b, '{')
	if e.UserID != "" {
		b = appendString(append(b, `"userID":`...), e.UserID)
		b = append(b, ',')
	}
	b = appendString(append(b, `"hypertyID":`...), e.HypertyID)
	b = appendField(b, `,"runtime":`, e.Runtime)
	b = appendField(b, `,"descriptor":`, e.Descriptor)
	// The lists come from a decoded message: plain values that always
	// encode.
	if len(e.Resources) > 0 {
		b = appendList(append(b, `,"resources":`...), e.Resources)
	}
	if len(e.DataSchemes) > 0 {
		b = appendList(append(b, `,"dataSchemes":`...), e.DataSchemes)
	}
	b = appendField(b, `,"status":`, e.Status)
	if e.Expires != 0 {
		b = strconv.AppendInt(append(b, `,"expires":`...), e.Expires, 10)
	}
	return append(b, '}')
}

// appendList appends the JSON form of a decoded list, element by
// element, so that the list is not boxed.
func appendList(b []byte, l []any) []byte {
	b = append(b, '[')
	for i, v := range l {
		if i > 0 {
			b = append(b, ',')
		}
		b, _ = jsonenc.AppendValue(b, v)
	}
	return append(b, ']')
}

// appendField appends a string field, prefix holding its name, unless v
// is empty.
func appendField(b []byte, prefix, v string) []byte {
	if v == "" {
		return b
	}
	return appendString(append(b, prefix...), v)
}

// attributeValue is the entry as policies see it in userRegistries.
func (e RegistryEntry) attributeValue() map[string]any {
	m := map[string]any{"hypertyID": e.HypertyID}
	put := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	put("userID", e.UserID)
	put("runtime", e.Runtime)
	put("descriptor", e.Descriptor)
	put("status", e.Status)
	if e.Resources != nil {
		m["resources"] = e.Resources
	}
	if e.DataSchemes != nil {
		m["dataSchemes"] = e.DataSchemes
	}
	if e.Expires != 0 {
		m["expires"] = float64(e.Expires)
	}
	return m
}

// entryFrom reads a registry entry from a registration's value or from an
// entry of a registry search reply. It reports false when the object names
// no hyperty.
func entryFrom(v map[string]any) (RegistryEntry, bool) {
	str := func(k string) string { s, _ := v[k].(string); return s }
	e := RegistryEntry{
		UserID:     str("userID"),
		HypertyID:  str("hypertyID"),
		Runtime:    str("runtime"),
		Descriptor: str("descriptor"),
		Status:     str("status"),
	}
	if e.UserID == "" {
		e.UserID = str("user")
	}
	if e.HypertyID == "" {
		e.HypertyID = str("url")
	}
	e.Resources, _ = v["resources"].([]any)
	e.DataSchemes, _ = v["dataSchemes"].([]any)
	if f, ok := v["expires"].(float64); ok && f > 0 {
		e.Expires = int64(f)
	}
	return e, scheme(e.HypertyID) == "hyperty"
}

// registryTTL is how long an entry stays: its own expires, or an hour.
func registryTTL(e RegistryEntry) time.Duration {
	if e.Expires > 0 {
		return time.Duration(e.Expires) * time.Second
	}
	return time.Hour
}

// putRegistration stores e under each address it is looked up by.
func putRegistration(ctx context.Context, st State, e RegistryEntry) error {
	data := e.encode(make([]byte, 0, 512))
	ttl := registryTTL(e)
	for _, addr := range [...]string{e.HypertyID, e.UserID, e.Runtime} {
		if addr == "" {
			continue
		}
		if err := st.TablePut(ctx, registryPrefix+addr, e.HypertyID, data, ttl); err != nil {
			return fmt.Errorf("registry cache: %w", err)
		}
	}
	return nil
}

// registrations returns the live entries whose user, hyperty or runtime is
// addr, ordered by hyperty address so that "the first entry" is stable.
// They are appended to buf[:0], which may spare an allocation.
func (e *Enforcer) registrations(ctx context.Context, addr string, buf []*decodedEntry) ([]*decodedEntry, error) {
	all, err := e.state.TableAll(ctx, registryPrefix+addr)
	if err != nil {
		return nil, fmt.Errorf("registry cache: %w", err)
	}
	if len(all) == 0 {
		return nil, nil
	}
	out := buf[:0]
	for key, data := range all {
		d, err := e.decoded.decode(data)
		if err != nil {
			return nil, fmt.Errorf("registry cache: entry %s: %w", key, err)
		}
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b *decodedEntry) int { return strings.Compare(a.HypertyID, b.HypertyID) })
	return out, nil
}

// decodedEntry is a registry entry and its value as policies see it. Both
// are shared between decisions and must not be changed.
type decodedEntry struct {
	RegistryEntry
	value map[string]any
}

// maxDecoded bounds the decoded entries an enforcer remembers.
const maxDecoded = 4096

// entryCache remembers registry entries by their encoded form, so that a
// registration read again and again is decoded once, whichever instance
// stored it.
type entryCache struct {
	mu sync.RWMutex
	m  map[string]*decodedEntry
}

func (c *entryCache) decode(data []byte) (*decodedEntry, error) {
	c.mu.RLock()
	d := c.m[string(data)]
	c.mu.RUnlock()
	if d != nil {
		return d, nil
	}
	d = new(decodedEntry)
	if err := json.Unmarshal(data, &d.RegistryEntry); err != nil {
		return nil, err
	}
	d.value = d.attributeValue()
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxDecoded {
		c.m = make(map[string]*decodedEntry)
	}
	c.m[string(data)] = d
	c.mu.Unlock()
	return d, nil
}

// pendingKey names a registration waiting for its answer: the reply goes
// back to the sender with the same id.
func pendingKey(addr string, id any) string {
	switch x := id.(type) {
	case float64:
		return addr + " " + strconv.FormatFloat(x, 'f', -1, 64)
	case string:
		return addr + " " + strconv.Quote(x)
	}
	return addr + " " + fmt.Sprint(id)
}

// MemoryState is a State held in this process: the default for a single
// Verdict instance, and the one tests use. It is bounded: at most
// MaxEntries table entries and event keys live at once; expired ones are
// reclaimed as new ones arrive. Its clock can be set, for tests.
type MemoryState struct {
	mu      sync.Mutex
	now     func() time.Time
	max     int
	size    int // table entries plus event keys
	events  map[string][]time.Time
	tables  map[string]map[string]memoryEntry
	sweepAt int // size at which the next sweep runs
}

type memoryEntry struct {
	value   []byte
	expires time.Time
}

// ErrStateFull is returned when a MemoryState holds its maximum number of
// live entries.
var ErrStateFull = errors.New("rethink state is full")

// DefaultMaxEntries bounds a MemoryState made with max 0.
const DefaultMaxEntries = 100_000

// NewMemoryState returns an empty MemoryState holding at most max entries
// (DefaultMaxEntries when max <= 0). now is its clock; nil means time.Now.
func NewMemoryState(max int, now func() time.Time) *MemoryState {
	if max <= 0 {
		max = DefaultMaxEntries
	}
	if now == nil {
		now = time.Now
	}
	return &MemoryState{now: now, max: max, events: map[string][]time.Time{},
		tables: map[string]map[string]memoryEntry{}, sweepAt: max / 2}
}

// Len returns how many table entries and event keys the state holds,
// expired ones not yet reclaimed included.
func (s *MemoryState) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.size
}

// trim drops the events of key older than window and returns the rest.
func (s *MemoryState) trim(key string, now time.Time, window time.Duration) []time.Time {
	ev := s.events[key]
	cut := now.Add(-window)
	i := 0
	for i < len(ev) && !ev[i].After(cut) {
		i++
	}
	if i == 0 {
		return ev
	}
	ev = append(ev[:0], ev[i:]...)
	if len(ev) == 0 {
		delete(s.events, key)
		s.size--
		return nil
	}
	s.events[key] = ev
	return ev
}

// AddEvent implements State.
func (s *MemoryState) AddEvent(_ context.Context, key string, window time.Duration) (int64, error) {
	if window <= 0 {
		return 0, fmt.Errorf("event window must be positive, not %s", window)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	ev := s.trim(key, now, window)
	if ev == nil {
		if err := s.grow(now, window); err != nil {
			return 0, err
		}
	}
	// A key's events are kept for one window only; a burst bigger than the
	// bound is counted but not remembered event by event.
	if len(ev) < s.max {
		ev = append(ev, now)
	}
	s.events[key] = ev
	return int64(len(ev)), nil
}

// CountEvents implements State.
func (s *MemoryState) CountEvents(_ context.Context, key string, window time.Duration) (int64, error) {
	if window <= 0 {
		return 0, fmt.Errorf("event window must be positive, not %s", window)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return int64(len(s.trim(key, s.now(), window))), nil
}

// grow makes room for one more entry, sweeping expired ones when the
// state has grown since the last sweep. window is the longest event
// window in use, to judge which event keys are stale.
func (s *MemoryState) grow(now time.Time, window time.Duration) error {
	if s.size >= s.sweepAt || s.size >= s.max {
		s.sweep(now, window)
		s.sweepAt = max(s.size*2, s.max/2)
	}
	if s.size >= s.max {
		return ErrStateFull
	}
	s.size++
	return nil
}

// sweep reclaims expired table entries and event keys with no event in
// the window.
func (s *MemoryState) sweep(now time.Time, window time.Duration) {
	for name, t := range s.tables {
		for k, e := range t {
			if !now.Before(e.expires) {
				delete(t, k)
				s.size--
			}
		}
		if len(t) == 0 {
			delete(s.tables, name)
		}
	}
	for key := range s.events {
		s.trim(key, now, max(window, allocationWindow))
	}
}

// TablePut implements State.
func (s *MemoryState) TablePut(_ context.Context, table, key string, value []byte, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("table entry ttl must be positive, not %s", ttl)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	t := s.tables[table]
	if _, ok := t[key]; !ok {
		if err := s.grow(now, allocationWindow); err != nil {
			return err
		}
		if t = s.tables[table]; t == nil { // the sweep may have dropped it
			t = map[string]memoryEntry{}
			s.tables[table] = t
		}
	}
	t[key] = memoryEntry{value: slices.Clone(value), expires: now.Add(ttl)}
	return nil
}

// TableGet implements State.
func (s *MemoryState) TableGet(_ context.Context, table, key string) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.tables[table][key]
	if !ok || !s.now().Before(e.expires) {
		return nil, false, nil
	}
	return e.value, true, nil
}

// TableDelete implements State.
func (s *MemoryState) TableDelete(_ context.Context, table, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.tables[table]; ok {
		if _, ok := t[key]; ok {
			delete(t, key)
			s.size--
			if len(t) == 0 {
				delete(s.tables, table)
			}
		}
	}
	return nil
}

// TableAll implements State.
func (s *MemoryState) TableAll(_ context.Context, table string) (map[string][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tables[table]
	if len(t) == 0 {
		return nil, nil
	}
	now := s.now()
	out := make(map[string][]byte, len(t))
	for k, e := range t {
		if now.Before(e.expires) {
			out[k] = e.value
		}
	}
	return out, nil
}

var _ State = (*MemoryState)(nil)
