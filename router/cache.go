package router

import (
	"container/list"
	"sync"
	"sync/atomic"
)

// lru is a bounded least-recently-used map, safe for concurrent use.
type lru[V any] struct {
	mu    sync.Mutex
	max   int
	ll    *list.List
	items map[string]*list.Element
}

type lruEntry[V any] struct {
	key string
	val V
}

func newLRU[V any](max int) *lru[V] {
	return &lru[V]{max: max, ll: list.New(), items: map[string]*list.Element{}}
}

func (c *lru[V]) get(key string) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hitLocked(c.items[key])
}

// getBytes is get with the key as bytes, which it does not copy.
func (c *lru[V]) getBytes(key []byte) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hitLocked(c.items[string(key)])
}

// hitLocked returns the value of the entry a lookup found (nil: none) and
// marks it used. c.mu is held.
func (c *lru[V]) hitLocked(e *list.Element) (V, bool) {
	if e == nil {
		var zero V
		return zero, false
	}
	c.ll.MoveToFront(e)
	return e.Value.(*lruEntry[V]).val, true
}

func (c *lru[V]) put(key string, val V) {
	if c.max <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[key]; ok {
		e.Value.(*lruEntry[V]).val = val
		c.ll.MoveToFront(e)
		return
	}
	c.items[key] = c.ll.PushFront(&lruEntry[V]{key: key, val: val})
	for c.ll.Len() > c.max {
		last := c.ll.Back()
		c.ll.Remove(last)
		delete(c.items, last.Value.(*lruEntry[V]).key)
	}
}

func (c *lru[V]) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ll.Init()
	c.items = map[string]*list.Element{}
}

// each calls fn for every entry, most recently used first, with the
// cache locked: fn must not use the cache.
func (c *lru[V]) each(fn func(key string, val V)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for e := c.ll.Front(); e != nil; e = e.Next() {
		en := e.Value.(*lruEntry[V])
		fn(en.key, en.val)
	}
}

func (c *lru[V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}

// CacheStats are the plan cache's counters since the router was made.
type CacheStats struct {
	// Hits counts statements whose exact text was cached (no parse).
	Hits uint64
	// NormalizedHits counts statements whose plan was cached for the same
	// statement with other literal values: found by the statement's shape
	// without parsing (shape.go), or parsed and normalized.
	NormalizedHits uint64
	// Misses counts statements planned from scratch.
	Misses uint64
	// Size is the number of cached plans (statements of unsharded
	// keyspaces sent as written count once per shape); Capacity the bound.
	Size, Capacity int
}

type cacheCounters struct {
	hits, normHits, misses atomic.Uint64
}
