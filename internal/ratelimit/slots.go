package ratelimit

import (
	"context"
	"sync"
)

// Slots caps how many holders one key (a server host, an account) has
// at once. Safe for concurrent use.
type Slots struct {
	limit int
	mu    sync.Mutex
	keys  map[string]chan struct{}
}

// NewSlots allows limit holders per key, or returns nil (no limit) when
// limit is 0 or less.
func NewSlots(limit int) *Slots {
	if limit <= 0 {
		return nil
	}
	return &Slots{limit: limit, keys: map[string]chan struct{}{}}
}

// Acquire waits for a free slot of key and returns the function that
// gives it back (safe to call more than once).
func (s *Slots) Acquire(ctx context.Context, key string) (release func(), err error) {
	if s == nil {
		return func() {}, nil
	}
	s.mu.Lock()
	ch := s.keys[key]
	if ch == nil {
		ch = make(chan struct{}, s.limit)
		s.keys[key] = ch
	}
	s.mu.Unlock()
	select {
	case ch <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	var once sync.Once
	return func() { once.Do(func() { <-ch }) }, nil
}

// InUse returns how many slots of key are held.
func (s *Slots) InUse(key string) int {
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.keys[key])
}
