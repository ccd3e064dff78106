package reparent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/proto"

	"github.com/mosaicdb/mosaic/proto/tabletmanagerpb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/tablet/flavor"
	"github.com/mosaicdb/mosaic/tablet/tmclient"
	"github.com/mosaicdb/mosaic/topo"
)

// Options tune a reparent. The zero value takes the defaults.
type Options struct {
	// NewPrimary names the tablet to promote; nil lets the reparent pick
	// one (the most advanced replica, preferring the old primary's cell).
	NewPrimary *topodatapb.TabletAlias
	// WaitReplicasTimeout bounds how long the new primary may take to
	// apply what it is missing (30 s).
	WaitReplicasTimeout time.Duration
	// LeaseWait bounds how long an emergency reparent waits for the old
	// primary's lease to go away: it goes at once when that primary sees
	// the shard record, or when its lease expires (15 s).
	LeaseWait time.Duration
	// TabletTimeout bounds each short call to one tablet (10 s).
	TabletTimeout time.Duration
	// OnlyIfPrimaryDown makes Emergency do nothing (ErrPrimaryHealthy)
	// when, under the shard lock, the record names a primary that holds
	// the primary lease: what a failure detector wants after it waited for
	// the lock.
	OnlyIfPrimaryDown bool
	// FailHungPrimary, with OnlyIfPrimaryDown, counts a primary that holds
	// its lease as down when its tablet says, under the shard lock, that
	// its mysqld does not answer: the tablet, once fenced, kills that
	// mysqld and gives the lease back.
	FailHungPrimary bool
	// Log receives progress; nil discards it.
	Log *slog.Logger
	// Creds secure the calls to the tablets: an operator's certificate
	// (mtls.Source.ClientCredentials), or tmclient.Insecure() for tablets
	// run with --insecure. Required.
	Creds credentials.TransportCredentials
}

func (o Options) withDefaults() Options {
	if o.WaitReplicasTimeout <= 0 {
		o.WaitReplicasTimeout = 30 * time.Second
	}
	if o.LeaseWait <= 0 {
		o.LeaseWait = 15 * time.Second
	}
	if o.TabletTimeout <= 0 {
		o.TabletTimeout = 10 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return o
}

// Result says what a reparent did.
type Result struct {
	Keyspace, Shard string
	OldPrimary      *topodatapb.TabletAlias
	NewPrimary      *topodatapb.TabletAlias
	// Term is the new primary's term start (unix nanoseconds).
	Term int64
	// Position is the new primary's GTID position when it took writes.
	Position string
	// WritePause is how long the shard took no writes: from the old
	// primary's demotion (planned) or from the start (emergency) to the
	// new primary's promotion.
	WritePause time.Duration
	// Duration is the whole reparent, shard lock included.
	Duration time.Duration
	// RepointErrors lists tablets that could not be pointed at the new
	// primary; they follow the shard record by themselves when they can.
	RepointErrors []error
}

// shardTablets is the state a reparent works on: the shard's tablets and
// a client for each, closed by close.
type shardTablets struct {
	ts       *topo.Server
	keyspace string
	shard    string
	opts     Options
	tablets  []*topodatapb.Tablet
	clients  map[string]*tmclient.Client
}

func loadShard(ctx context.Context, ts *topo.Server, keyspace, shard string, opts Options) (*shardTablets, error) {
	tablets, err := ts.ShardTablets(ctx, keyspace, shard)
	if err != nil {
		return nil, err
	}
	st := &shardTablets{ts: ts, keyspace: keyspace, shard: shard, opts: opts, tablets: tablets, clients: map[string]*tmclient.Client{}}
	for _, t := range tablets {
		c, err := tmclient.DialTablet(t, opts.Creds)
		if err != nil {
			st.close()
			return nil, err
		}
		st.clients[topo.AliasString(t.Alias)] = c
	}
	return st, nil
}

func (st *shardTablets) close() {
	for _, c := range st.clients {
		c.Close()
	}
}

func (st *shardTablets) tablet(alias *topodatapb.TabletAlias) *topodatapb.Tablet {
	for _, t := range st.tablets {
		if proto.Equal(t.Alias, alias) {
			return t
		}
	}
	return nil
}

func (st *shardTablets) tm(alias *topodatapb.TabletAlias) tabletmanagerpb.TabletManagerClient {
	return st.clients[topo.AliasString(alias)].TM
}

// short returns a context for a short call to one tablet.
func (st *shardTablets) short(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, st.opts.TabletTimeout)
}

// flavorOf returns the replication flavor of the shard's tablets.
func (st *shardTablets) flavorOf(t *topodatapb.Tablet) flavor.Flavor {
	fl, err := flavor.ByName(t.GetDbFlavor())
	if err != nil {
		return flavor.MariaDB{}
	}
	return fl
}

// repoint points every tablet but the new primary at it, in parallel.
// Errors are returned, not fatal: a tablet that misses it follows the
// shard record by itself.
func (st *shardTablets) repoint(ctx context.Context, primary *topodatapb.TabletAlias, skip func(*topodatapb.Tablet) bool) []error {
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for _, t := range st.tablets {
		if proto.Equal(t.Alias, primary) || (skip != nil && skip(t)) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := st.short(ctx)
			defer cancel()
			_, err := st.tm(t.Alias).SetReplicationSource(cctx, &tabletmanagerpb.SetReplicationSourceRequest{Parent: primary, StartReplication: true})
			if err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("point %s at %s: %w", topo.AliasString(t.Alias), topo.AliasString(primary), err))
				mu.Unlock()
				return
			}
			st.opts.Log.Info("tablet points at the new primary", "tablet", topo.AliasString(t.Alias), "primary", topo.AliasString(primary))
		}()
	}
	wg.Wait()
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return errs
}

// setPrimary writes the shard record's primary and term. The record must
// still be want (what this reparent read or wrote last under its lock),
// and the lock must still be held: a reparent that lost its lock while it
// was stopped (a frozen process whose etcd session expired) and finds
// that another reparent moved the shard on must not write over it.
func (st *shardTablets) setPrimary(ctx context.Context, lock *shardLock, alias *topodatapb.TabletAlias, term int64, want recordState) error {
	if err := lock.check(); err != nil {
		return err
	}
	_, err := st.ts.UpdateShardFields(ctx, st.keyspace, st.shard, func(s *topodatapb.Shard) error {
		if err := want.check(s); err != nil {
			return err
		}
		s.PrimaryAlias = alias
		if term != 0 {
			s.PrimaryTermStartUnixNano = term
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("update the shard record of %s/%s: %w", st.keyspace, st.shard, err)
	}
	return nil
}

// checkRecord returns an error unless the lock is held and the shard
// record holds want.
func (st *shardTablets) checkRecord(ctx context.Context, lock *shardLock, want recordState) error {
	if err := lock.check(); err != nil {
		return err
	}
	sh, _, err := st.ts.GetShard(ctx, st.keyspace, st.shard)
	if err != nil {
		return err
	}
	return want.check(sh)
}

// recordState is the primary and term a reparent expects the shard record
// to hold.
type recordState struct {
	primary *topodatapb.TabletAlias
	term    int64
}

// check returns ErrShardMovedOn unless s holds r's primary and term.
func (r recordState) check(s *topodatapb.Shard) error {
	if !proto.Equal(s.PrimaryAlias, r.primary) || s.PrimaryTermStartUnixNano != r.term {
		return fmt.Errorf("%w: the record names %s (term %d), this reparent expected %s (term %d)", ErrShardMovedOn,
			topo.AliasString(s.PrimaryAlias), s.PrimaryTermStartUnixNano, topo.AliasString(r.primary), r.term)
	}
	return nil
}

// shardLock is a held shard lock.
type shardLock struct {
	u   topo.Unlocker
	ctx context.Context
}

// lockShard takes the shard lock.
func lockShard(ctx context.Context, ts *topo.Server, keyspace, shard string) (*shardLock, error) {
	u, err := ts.LockShard(ctx, keyspace, shard)
	if err != nil {
		return nil, err
	}
	return &shardLock{u: u, ctx: ctx}, nil
}

// check returns ErrLockLost once the lock is lost.
func (l *shardLock) check() error {
	select {
	case <-l.u.Lost():
		return ErrLockLost
	default:
		return nil
	}
}

// unlock releases the lock.
func (l *shardLock) unlock() {
	uctx, cancel := context.WithTimeout(context.WithoutCancel(l.ctx), 10*time.Second)
	defer cancel()
	_ = l.u.Unlock(uctx)
}

// newTerm returns a term start after old: terms only grow, even with a
// clock that stepped back.
func newTerm(old int64) int64 {
	t := time.Now().UnixNano()
	if t <= old {
		t = old + 1
	}
	return t
}

// errNoCandidate means no tablet can become the primary.
var errNoCandidate = errors.New("no tablet can become the primary")

// ErrPrimaryHealthy is returned by Emergency with OnlyIfPrimaryDown when
// the shard's primary is fine after all.
var ErrPrimaryHealthy = errors.New("the shard's primary holds its lease")

// ErrLockLost is returned by a reparent whose shard lock was lost (its
// topo session expired) before it wrote the shard record.
var ErrLockLost = errors.New("the shard lock was lost")

// ErrShardMovedOn is returned by a reparent that finds the shard record
// changed by someone else since it took the lock: another reparent ran
// meanwhile, and this one stops without writing.
var ErrShardMovedOn = errors.New("the shard record changed under the reparent")
