package tokenintrospection

import (
	"sync"
	"time"
)

// answer is what an introspection said about a token, as far as the
// policy needs it.
type answer struct {
	active bool
	// exp is the token's expiry from the answer's exp claim; zero when
	// the answer has none.
	exp time.Time
}

// tokenCache keeps introspection answers by token, each until its own
// deadline, and drops the least recently used one when full. It is safe
// for concurrent use.
type tokenCache struct {
	mu         sync.Mutex
	max        int
	entries    map[string]*cacheEntry
	head, tail *cacheEntry // most and least recently used
}

type cacheEntry struct {
	token      string
	answer     answer
	until      time.Time
	prev, next *cacheEntry
}

func newTokenCache(max int) *tokenCache {
	return &tokenCache{max: max, entries: make(map[string]*cacheEntry, min(max, 1024))}
}

// get returns the answer kept for token, if it is still valid at now.
func (c *tokenCache) get(token string, now time.Time) (answer, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[token]
	if e == nil {
		return answer{}, false
	}
	if !now.Before(e.until) {
		c.remove(e)
		return answer{}, false
	}
	c.toFront(e)
	return e.answer, true
}

// put keeps a for token until until.
func (c *tokenCache) put(token string, a answer, until time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.entries[token]; e != nil {
		e.answer, e.until = a, until
		c.toFront(e)
		return
	}
	if len(c.entries) >= c.max && c.tail != nil {
		c.remove(c.tail)
	}
	e := &cacheEntry{token: token, answer: a, until: until}
	c.entries[token] = e
	c.toFront(e)
}

// len returns the number of answers kept, expired ones included.
func (c *tokenCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

func (c *tokenCache) remove(e *cacheEntry) {
	c.unlink(e)
	delete(c.entries, e.token)
}

func (c *tokenCache) unlink(e *cacheEntry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else if c.head == e {
		c.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else if c.tail == e {
		c.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

func (c *tokenCache) toFront(e *cacheEntry) {
	if c.head == e {
		return
	}
	c.unlink(e)
	e.next = c.head
	if c.head != nil {
		c.head.prev = e
	}
	c.head = e
	if c.tail == nil {
		c.tail = e
	}
}
