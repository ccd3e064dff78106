package memstore

import (
	"context"
	"sort"
	"strings"
	"sync"

	"github.com/mosaicdb/mosaic/topo"
)

// Store is an in-memory topo.Store.
type Store struct {
	mu       sync.Mutex
	data     map[string]topo.KV
	rev      topo.Version
	watchers map[*watcher]struct{}
	locks    map[string]chan struct{}
	leases   map[string]*memLease
	closed   bool
}

// New returns an empty store.
func New() *Store {
	return &Store{
		data:     map[string]topo.KV{},
		watchers: map[*watcher]struct{}{},
		locks:    map[string]chan struct{}{},
		leases:   map[string]*memLease{},
	}
}

var _ topo.Store = (*Store)(nil)

func (s *Store) Get(ctx context.Context, key string) ([]byte, topo.Version, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, 0, topo.ErrClosed
	}
	kv, ok := s.data[key]
	if !ok {
		return nil, 0, topo.ErrNoNode
	}
	return append([]byte(nil), kv.Value...), kv.Version, nil
}

func (s *Store) Create(ctx context.Context, key string, value []byte) (topo.Version, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, topo.ErrClosed
	}
	if _, ok := s.data[key]; ok {
		return 0, topo.ErrNodeExists
	}
	return s.put(key, value), nil
}

func (s *Store) Update(ctx context.Context, key string, value []byte, version topo.Version) (topo.Version, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, topo.ErrClosed
	}
	if version != 0 {
		kv, ok := s.data[key]
		if !ok {
			return 0, topo.ErrNoNode
		}
		if kv.Version != version {
			return 0, topo.ErrBadVersion
		}
	}
	return s.put(key, value), nil
}

func (s *Store) Delete(ctx context.Context, key string, version topo.Version) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return topo.ErrClosed
	}
	kv, ok := s.data[key]
	if !ok {
		return topo.ErrNoNode
	}
	if version != 0 && kv.Version != version {
		return topo.ErrBadVersion
	}
	delete(s.data, key)
	s.dropLeaseLocked(key)
	s.rev++
	s.notify(topo.WatchEvent{KV: topo.KV{Key: key, Version: s.rev}, Deleted: true})
	return nil
}

// put stores a value under the lock and tells the watchers.
func (s *Store) put(key string, value []byte) topo.Version {
	s.dropLeaseLocked(key)
	s.rev++
	kv := topo.KV{Key: key, Value: append([]byte(nil), value...), Version: s.rev}
	s.data[key] = kv
	s.notify(topo.WatchEvent{KV: kv})
	return s.rev
}

func (s *Store) List(ctx context.Context, prefix string) ([]topo.KV, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, topo.ErrClosed
	}
	return s.listLocked(prefix), nil
}

func (s *Store) listLocked(prefix string) []topo.KV {
	var out []topo.KV
	for k, kv := range s.data {
		if strings.HasPrefix(k, prefix) {
			out = append(out, topo.KV{Key: k, Value: append([]byte(nil), kv.Value...), Version: kv.Version})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// watcher queues events without bound so that a slow reader never blocks
// a writer; its goroutine hands them on in order.
type watcher struct {
	prefix string
	mu     sync.Mutex
	queue  []topo.WatchEvent
	wake   chan struct{}
}

func (w *watcher) push(ev topo.WatchEvent) {
	w.mu.Lock()
	w.queue = append(w.queue, ev)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (s *Store) notify(ev topo.WatchEvent) {
	for w := range s.watchers {
		if strings.HasPrefix(ev.Key, w.prefix) {
			e := ev
			e.Value = append([]byte(nil), ev.Value...)
			w.push(e)
		}
	}
}

func (s *Store) Watch(ctx context.Context, prefix string) ([]topo.KV, <-chan topo.WatchEvent, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, nil, topo.ErrClosed
	}
	w := &watcher{prefix: prefix, wake: make(chan struct{}, 1)}
	s.watchers[w] = struct{}{}
	initial := s.listLocked(prefix)
	s.mu.Unlock()

	out := make(chan topo.WatchEvent)
	go func() {
		defer close(out)
		defer func() {
			s.mu.Lock()
			delete(s.watchers, w)
			s.mu.Unlock()
		}()
		for {
			w.mu.Lock()
			batch := w.queue
			w.queue = nil
			w.mu.Unlock()
			for _, ev := range batch {
				select {
				case out <- ev:
				case <-ctx.Done():
					return
				}
				if ev.Err != nil {
					return
				}
			}
			select {
			case <-w.wake:
			case <-ctx.Done():
				return
			}
		}
	}()
	return initial, out, nil
}

type unlocker struct {
	s    *Store
	key  string
	ch   chan struct{}
	once sync.Once
}

func (u *unlocker) Unlock(ctx context.Context) error {
	u.once.Do(func() {
		u.s.mu.Lock()
		if u.s.locks[u.key] == u.ch {
			delete(u.s.locks, u.key)
		}
		u.s.mu.Unlock()
		close(u.ch)
	})
	return nil
}

// Lost never fires: a memory lock has no lease.
func (u *unlocker) Lost() <-chan struct{} { return nil }

func (s *Store) Lock(ctx context.Context, key string) (topo.Unlocker, error) {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, topo.ErrClosed
		}
		held, ok := s.locks[key]
		if !ok {
			ch := make(chan struct{})
			s.locks[key] = ch
			s.mu.Unlock()
			return &unlocker{s: s, key: key, ch: ch}, nil
		}
		s.mu.Unlock()
		select {
		case <-held:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	for k := range s.leases {
		s.dropLeaseLocked(k)
	}
	for w := range s.watchers {
		w.push(topo.WatchEvent{Err: topo.ErrClosed})
	}
	return nil
}

// Commit implements topo.Store: every op is checked under the lock, then
// all are applied at one new version.
func (s *Store) Commit(ctx context.Context, ops []topo.Op) (topo.Version, error) {
	if err := topo.CheckOps(ops); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, topo.ErrClosed
	}
	for _, op := range ops {
		if err := topo.OpFailure(op, s.data[op.Key].Version); err != nil {
			return 0, err
		}
	}
	s.rev++
	for _, op := range ops {
		switch op.Kind {
		case topo.OpPut, topo.OpCreate:
			s.dropLeaseLocked(op.Key)
			kv := topo.KV{Key: op.Key, Value: append([]byte(nil), op.Value...), Version: s.rev}
			s.data[op.Key] = kv
			s.notify(topo.WatchEvent{KV: kv})
		case topo.OpDelete:
			delete(s.data, op.Key)
			s.dropLeaseLocked(op.Key)
			s.notify(topo.WatchEvent{KV: topo.KV{Key: op.Key, Version: s.rev}, Deleted: true})
		}
	}
	return s.rev, nil
}
