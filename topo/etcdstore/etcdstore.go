package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/mosaicdb/mosaic/mtls"
	"github.com/mosaicdb/mosaic/topo"
)

// DefaultRoot is the key prefix of Mosaic's records in etcd.
const DefaultRoot = "/mosaic"

// Config says how to reach etcd.
type Config struct {
	Endpoints   []string
	Root        string
	DialTimeout time.Duration
	// LockTTL is the lease of a lock: a dead holder releases it after this.
	LockTTL time.Duration
	// TLS, when set, secures the connection: its CA bundle verifies
	// etcd's certificate and host name, and its certificate, if it has
	// one, authenticates the client (etcd's --client-cert-auth; with
	// etcd's auth on, the certificate's common name is the etcd user).
	// It is read again at every new connection, so a reload takes effect
	// without a restart.
	TLS *mtls.Source
	// Username and Password authenticate to an etcd with RBAC users. They
	// need TLS: a password never crosses the network in the clear.
	Username, Password string
}

// DefaultConfig reaches a local etcd on its default port.
func DefaultConfig() Config {
	return Config{
		Endpoints:   []string{"127.0.0.1:2379"},
		Root:        DefaultRoot,
		DialTimeout: 5 * time.Second,
		LockTTL:     30 * time.Second,
	}
}

// Validate checks a Config.
func (c Config) Validate() error {
	if len(c.Endpoints) == 0 {
		return errors.New("etcd: no endpoints")
	}
	if !strings.HasPrefix(c.Root, "/") {
		return fmt.Errorf("etcd: root %q must start with /", c.Root)
	}
	if c.LockTTL < time.Second {
		return fmt.Errorf("etcd: lock ttl %v below 1s", c.LockTTL)
	}
	if (c.Username == "") != (c.Password == "") {
		return errors.New("etcd: give a user name and its password, or neither")
	}
	if c.Password != "" && c.TLS == nil {
		return errors.New("etcd: a password needs TLS (a CA bundle to verify etcd with)")
	}
	return nil
}

// Store is a topo.Store over etcd.
type Store struct {
	cli  *clientv3.Client
	root string
	ttl  int

	mu     sync.Mutex
	closed bool
	stop   chan struct{}
}

var _ topo.Store = (*Store)(nil)

// New connects to etcd. It does not wait for the cluster to answer; the
// first call does.
func New(cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ccfg := clientv3.Config{
		Endpoints:   cfg.Endpoints,
		DialTimeout: cfg.DialTimeout,
		Logger:      zap.NewNop(),
		Username:    cfg.Username,
		Password:    cfg.Password,
	}
	if cfg.TLS != nil {
		// The client's own TLS setup reads its tls.Config once; these
		// credentials, given last, win over it and read the Source at
		// every handshake.
		ccfg.DialOptions = append(ccfg.DialOptions, grpc.WithTransportCredentials(cfg.TLS.TopoClientCredentials()))
	}
	cli, err := clientv3.New(ccfg)
	if err != nil {
		return nil, fmt.Errorf("connect etcd %v: %w", cfg.Endpoints, err)
	}
	return &Store{cli: cli, root: strings.TrimSuffix(cfg.Root, "/"), ttl: int(cfg.LockTTL / time.Second), stop: make(chan struct{})}, nil
}

func (s *Store) key(k string) string { return s.root + "/" + k }

func (s *Store) unkey(k string) string { return strings.TrimPrefix(k, s.root+"/") }

func (s *Store) check() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return topo.ErrClosed
	}
	return nil
}

func (s *Store) Get(ctx context.Context, key string) ([]byte, topo.Version, error) {
	if err := s.check(); err != nil {
		return nil, 0, err
	}
	resp, err := s.cli.Get(ctx, s.key(key))
	if err != nil {
		return nil, 0, fmt.Errorf("etcd get %s: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, 0, topo.ErrNoNode
	}
	return resp.Kvs[0].Value, topo.Version(resp.Kvs[0].ModRevision), nil
}

func (s *Store) Create(ctx context.Context, key string, value []byte) (topo.Version, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	k := s.key(key)
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
		Then(clientv3.OpPut(k, string(value))).
		Commit()
	if err != nil {
		return 0, fmt.Errorf("etcd create %s: %w", key, err)
	}
	if !resp.Succeeded {
		return 0, topo.ErrNodeExists
	}
	return topo.Version(resp.Header.Revision), nil
}

func (s *Store) Update(ctx context.Context, key string, value []byte, version topo.Version) (topo.Version, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	k := s.key(key)
	if version == 0 {
		resp, err := s.cli.Put(ctx, k, string(value))
		if err != nil {
			return 0, fmt.Errorf("etcd put %s: %w", key, err)
		}
		return topo.Version(resp.Header.Revision), nil
	}
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(k), "=", int64(version))).
		Then(clientv3.OpPut(k, string(value))).
		Else(clientv3.OpGet(k, clientv3.WithCountOnly())).
		Commit()
	if err != nil {
		return 0, fmt.Errorf("etcd update %s: %w", key, err)
	}
	if !resp.Succeeded {
		if resp.Responses[0].GetResponseRange().Count == 0 {
			return 0, topo.ErrNoNode
		}
		return 0, topo.ErrBadVersion
	}
	return topo.Version(resp.Header.Revision), nil
}

func (s *Store) Delete(ctx context.Context, key string, version topo.Version) error {
	if err := s.check(); err != nil {
		return err
	}
	k := s.key(key)
	cmp := clientv3.Compare(clientv3.CreateRevision(k), "!=", 0)
	if version != 0 {
		cmp = clientv3.Compare(clientv3.ModRevision(k), "=", int64(version))
	}
	resp, err := s.cli.Txn(ctx).
		If(cmp).
		Then(clientv3.OpDelete(k)).
		Else(clientv3.OpGet(k, clientv3.WithCountOnly())).
		Commit()
	if err != nil {
		return fmt.Errorf("etcd delete %s: %w", key, err)
	}
	if !resp.Succeeded {
		if resp.Responses[0].GetResponseRange().Count == 0 {
			return topo.ErrNoNode
		}
		return topo.ErrBadVersion
	}
	return nil
}

func (s *Store) List(ctx context.Context, prefix string) ([]topo.KV, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	resp, err := s.cli.Get(ctx, s.key(prefix), clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return nil, fmt.Errorf("etcd list %s: %w", prefix, err)
	}
	out := make([]topo.KV, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		out = append(out, topo.KV{Key: s.unkey(string(kv.Key)), Value: kv.Value, Version: topo.Version(kv.ModRevision)})
	}
	return out, nil
}

func (s *Store) Watch(ctx context.Context, prefix string) ([]topo.KV, <-chan topo.WatchEvent, error) {
	if err := s.check(); err != nil {
		return nil, nil, err
	}
	p := s.key(prefix)
	resp, err := s.cli.Get(ctx, p, clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return nil, nil, fmt.Errorf("etcd watch %s: %w", prefix, err)
	}
	initial := make([]topo.KV, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		initial = append(initial, topo.KV{Key: s.unkey(string(kv.Key)), Value: kv.Value, Version: topo.Version(kv.ModRevision)})
	}
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	wch := s.cli.Watch(wctx, p, clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1))
	out := make(chan topo.WatchEvent)
	go func() {
		defer cancel()
		defer close(out)
		send := func(ev topo.WatchEvent) bool {
			select {
			case out <- ev:
				return ev.Err == nil
			case <-ctx.Done():
				return false
			}
		}
		for {
			select {
			case <-s.stop:
				send(topo.WatchEvent{Err: topo.ErrClosed})
				return
			case <-ctx.Done():
				return
			case wr, ok := <-wch:
				if !ok {
					if ctx.Err() == nil {
						send(topo.WatchEvent{Err: fmt.Errorf("etcd watch %s ended", prefix)})
					}
					return
				}
				if err := wr.Err(); err != nil {
					send(topo.WatchEvent{Err: fmt.Errorf("etcd watch %s: %w", prefix, err)})
					return
				}
				for _, ev := range wr.Events {
					te := topo.WatchEvent{KV: topo.KV{Key: s.unkey(string(ev.Kv.Key)), Version: topo.Version(ev.Kv.ModRevision)}}
					if ev.Type == clientv3.EventTypeDelete {
						te.Deleted = true
					} else {
						te.Value = ev.Kv.Value
					}
					if !send(te) {
						return
					}
				}
			}
		}
	}()
	return initial, out, nil
}

// Commit implements topo.Store with one etcd transaction: the ops'
// conditions as its comparisons, their writes as its success branch, and
// a read of every key as its failure branch, to tell which op failed.
func (s *Store) Commit(ctx context.Context, ops []topo.Op) (topo.Version, error) {
	if err := topo.CheckOps(ops); err != nil {
		return 0, err
	}
	if err := s.check(); err != nil {
		return 0, err
	}
	var cmps []clientv3.Cmp
	var writes, reads []clientv3.Op
	for _, op := range ops {
		k := s.key(op.Key)
		switch {
		case op.Kind == topo.OpCreate:
			cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(k), "=", 0))
		case op.Version != 0:
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(k), "=", int64(op.Version)))
		case op.Kind != topo.OpPut:
			cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(k), "!=", 0))
		}
		switch op.Kind {
		case topo.OpPut, topo.OpCreate:
			writes = append(writes, clientv3.OpPut(k, string(op.Value)))
		case topo.OpDelete:
			writes = append(writes, clientv3.OpDelete(k))
		}
		reads = append(reads, clientv3.OpGet(k, clientv3.WithKeysOnly()))
	}
	resp, err := s.cli.Txn(ctx).If(cmps...).Then(writes...).Else(reads...).Commit()
	if err != nil {
		return 0, fmt.Errorf("etcd commit of %d ops: %w", len(ops), err)
	}
	if resp.Succeeded {
		return topo.Version(resp.Header.Revision), nil
	}
	for i, op := range ops {
		var current topo.Version
		if kvs := resp.Responses[i].GetResponseRange().GetKvs(); len(kvs) > 0 {
			current = topo.Version(kvs[0].ModRevision)
		}
		if err := topo.OpFailure(op, current); err != nil {
			return 0, err
		}
	}
	// Unreachable: the reads ran at the revision the comparisons failed
	// at. Report it as a race all the same.
	return 0, fmt.Errorf("etcd commit: %w", topo.ErrBadVersion)
}

type unlocker struct {
	cli     *clientv3.Client
	session *concurrency.Session
	mutex   *concurrency.Mutex
	once    sync.Once
}

// Unlock deletes the lock key and revokes the session's lease, both
// bounded by ctx. The session's own Close would bound the revoke by the
// lease's TTL only, not by ctx.
func (u *unlocker) Unlock(ctx context.Context) error {
	var err error
	u.once.Do(func() {
		err = u.mutex.Unlock(ctx)
		u.session.Orphan()
		if _, rerr := u.cli.Revoke(ctx, u.session.Lease()); err == nil && rerr != nil && !errors.Is(rerr, rpctypes.ErrLeaseNotFound) {
			err = rerr
		}
	})
	return err
}

func (u *unlocker) Lost() <-chan struct{} { return u.session.Done() }

// Lock takes an etcd mutex under a lease of the configured TTL, kept alive
// while this process lives. ctx bounds every step. The concurrency
// package's session grants its lease with the client's own context, and
// its Mutex.Lock cleans up a failed wait with it too: both wait for an
// unreachable etcd until the client closes. So the lease is granted here
// and the wait for the holder is a TryLock loop with ctx.
func (s *Store) Lock(ctx context.Context, key string) (topo.Unlocker, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	grant, err := s.cli.Grant(ctx, int64(s.ttl))
	if err != nil {
		return nil, fmt.Errorf("etcd lock %s: grant: %w", key, err)
	}
	session, err := concurrency.NewSession(s.cli, concurrency.WithTTL(s.ttl), concurrency.WithLease(grant.ID))
	if err != nil {
		s.revokeSoon(ctx, grant.ID)
		return nil, fmt.Errorf("etcd lock %s: %w", key, err)
	}
	m := concurrency.NewMutex(session, s.key(key))
	for {
		err := m.TryLock(ctx)
		if err == nil {
			return &unlocker{cli: s.cli, session: session, mutex: m}, nil
		}
		if errors.Is(err, concurrency.ErrLocked) {
			err = s.waitUnlocked(ctx, s.key(key)+"/")
		}
		if err != nil {
			// Revoking the lease deletes any key of ours under the lock.
			session.Orphan()
			s.revokeSoon(ctx, grant.ID)
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("etcd lock %s: %w", key, err)
		}
	}
}

// waitUnlocked waits until the holder of the lock under pfx (the key with
// the lowest create revision) is deleted, or ctx ends.
func (s *Store) waitUnlocked(ctx context.Context, pfx string) error {
	resp, err := s.cli.Get(ctx, pfx, clientv3.WithFirstCreate()...)
	if err != nil {
		return err
	}
	if len(resp.Kvs) == 0 {
		return nil
	}
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	wch := s.cli.Watch(wctx, string(resp.Kvs[0].Key), clientv3.WithRev(resp.Header.Revision+1))
	for wr := range wch {
		if err := wr.Err(); err != nil {
			return err
		}
		for _, ev := range wr.Events {
			if ev.Type == clientv3.EventTypeDelete {
				return nil
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return errors.New("watch of the lock holder ended")
}

// revokeSoon revokes a lease on a failure path, best effort: the lease
// expires by itself after its TTL, so this waits at most a second.
func (s *Store) revokeSoon(ctx context.Context, id clientv3.LeaseID) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	_, _ = s.cli.Revoke(rctx, id)
}

// Client returns the etcd client, for elections and other etcd-only needs.
func (s *Store) Client() *clientv3.Client { return s.cli }

// Root returns the key prefix of the store.
func (s *Store) Root() string { return s.root }

func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.stop)
	s.mu.Unlock()
	return s.cli.Close()
}
