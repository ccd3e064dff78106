package memstore

import (
	"context"
	"sync"
	"time"

	"github.com/mosaicdb/mosaic/topo"
)

// memLease is a key held by a lease. A memory store lives in one process
// with its holders, so a lease never expires by itself; ExpireLease plays
// a holder that died.
type memLease struct {
	s    *Store
	key  string
	lost chan struct{}
	once sync.Once
}

func (l *memLease) Lost() <-chan struct{} { return l.lost }

func (l *memLease) Release(ctx context.Context) error {
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	if l.s.leases[l.key] == l {
		delete(l.s.data, l.key)
		l.s.dropLeaseLocked(l.key)
		l.s.rev++
		l.s.notify(topo.WatchEvent{KV: topo.KV{Key: l.key, Version: l.s.rev}, Deleted: true})
	}
	l.once.Do(func() { close(l.lost) })
	return nil
}

// Lease implements topo.Store. ttl is accepted and ignored.
func (s *Store) Lease(ctx context.Context, key string, value []byte, ttl time.Duration) (topo.Lease, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, topo.ErrClosed
	}
	if _, ok := s.data[key]; ok {
		return nil, topo.ErrNodeExists
	}
	s.put(key, value)
	l := &memLease{s: s, key: key, lost: make(chan struct{})}
	s.leases[key] = l
	return l, nil
}

// ExpireLease deletes a leased key as the store would when its holder
// stopped renewing it, and tells the holder its lease is lost. It reports
// whether key was leased.
func (s *Store) ExpireLease(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.leases[key]; !ok {
		return false
	}
	delete(s.data, key)
	s.dropLeaseLocked(key)
	s.rev++
	s.notify(topo.WatchEvent{KV: topo.KV{Key: key, Version: s.rev}, Deleted: true})
	return true
}

// dropLeaseLocked forgets the lease on key, if any, and marks it lost: its
// key was deleted or overwritten. s.mu is held.
func (s *Store) dropLeaseLocked(key string) {
	if l, ok := s.leases[key]; ok {
		delete(s.leases, key)
		l.once.Do(func() { close(l.lost) })
	}
}
