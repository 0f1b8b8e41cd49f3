package store_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/verdict-policy/verdict/store"
)

// A limiter asks the store for a fixed-window step and, when the store
// cannot answer, follows its own on_store_error setting.
func ExampleStore_Window() {
	s := store.NewMemory(store.MemoryOptions{})
	defer s.Close()
	ctx := context.Background()

	denyOnStoreError := false // on_store_error: allow
	allow := func(client string) bool {
		r, err := s.Window(ctx, "service-42:"+client, 2, time.Hour)
		if errors.Is(err, store.ErrUnavailable) {
			return !denyOnStoreError
		}
		if err != nil {
			return false
		}
		return r.Allowed
	}
	fmt.Println(allow("alice"), allow("alice"), allow("alice"), allow("bob"))
	// Output: true true false true
}

// A connection limiter holds a lease for the length of a request.
func ExampleStore_Acquire() {
	s := store.NewMemory(store.MemoryOptions{})
	defer s.Close()
	ctx := context.Background()

	first, _ := s.Acquire(ctx, "upstream", 1, time.Minute)
	second, _ := s.Acquire(ctx, "upstream", 1, time.Minute)
	fmt.Println(first.Allowed, second.Allowed)
	_ = first.Release(ctx)
	third, _ := s.Acquire(ctx, "upstream", 1, time.Minute)
	fmt.Println(third.Allowed)
	// Output:
	// true false
	// true
}

// The reTHINK attribute addrAllastMin counts a runtime's address
// allocations in the last minute.
func ExampleStore_AddEvent() {
	s := store.NewMemory(store.MemoryOptions{})
	defer s.Close()
	ctx := context.Background()

	for range 3 {
		_, _ = s.AddEvent(ctx, "hyperty-runtime://example.com/123", time.Minute)
	}
	n, _ := s.CountEvents(ctx, "hyperty-runtime://example.com/123", time.Minute)
	fmt.Println(n)
	// Output: 3
}
