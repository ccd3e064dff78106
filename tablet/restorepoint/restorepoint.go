// Package restorepoint takes keyspace-wide consistent restore points: for
// an instant no distributed (twopc) transaction commits on any shard of
// the keyspace, and each shard's primary position is recorded in topo
// under one id. Restoring every shard to its position (mosaicctl restore
// --restore-point) shows each distributed transaction wholly or not at
// all, once the gates' resolver has settled the branches left prepared.
//
// How: every primary serving the keyspace takes a commit hold (the
// HoldCommits RPC: StartCommit, CommitPrepared and ConcludeTransaction
// wait; single-shard commits and XA PREPARE do not), and returns once the
// commit-phase calls it was running are done. Once all hold, each primary
// reads its position and lifts its hold. A transaction decided before the
// holds has every branch prepared at every position and its decision in
// the coordinator's; one decided after has no decision at any position.
// A hold lifts by itself after its time to live, and a position read
// after that is refused, so a taker that dies or stalls costs a pause,
// never a wrong restore point.
package restorepoint

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mosaicdb/mosaic/proto/tabletmanagerpb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/topo"
)

// Dialer returns a TabletManager client for a tablet and its closer.
type Dialer func(t *topodatapb.Tablet) (tabletmanagerpb.TabletManagerClient, func(), error)

// Options tune Take.
type Options struct {
	// TTL is how long a hold holds if nobody lifts it (default 2 s).
	TTL time.Duration
	// Timeout bounds the whole take (default 10 s).
	Timeout time.Duration
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.TTL <= 0 {
		o.TTL = 2 * time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// ErrChanged says the keyspace's shards or primaries changed while the
// restore point was taken (a failover, a traffic switch): take it again.
var ErrChanged = errors.New("the keyspace's serving shards or primaries changed during the restore point")

// primaries returns the tablet record of each shard serving primary
// traffic in ks, and the keyspace record's version.
func primaries(ctx context.Context, ts *topo.Server, ks string) (map[string]*topodatapb.Tablet, topo.Version, error) {
	rec, v, err := ts.GetKeyspaceVersion(ctx, ks)
	if err != nil {
		return nil, 0, err
	}
	out := map[string]*topodatapb.Tablet{}
	for _, shard := range topo.ServedShards(rec, topodatapb.TabletType_PRIMARY) {
		sh, _, err := ts.GetShard(ctx, ks, shard)
		if err != nil {
			return nil, 0, err
		}
		if sh.PrimaryAlias == nil {
			return nil, 0, fmt.Errorf("shard %s/%s has no primary", ks, shard)
		}
		t, err := ts.GetTablet(ctx, sh.PrimaryAlias)
		if err != nil {
			return nil, 0, fmt.Errorf("primary of %s/%s: %w", ks, shard, err)
		}
		out[shard] = t
	}
	if len(out) == 0 {
		return nil, 0, fmt.Errorf("keyspace %s has no shard serving primary traffic", ks)
	}
	return out, v, nil
}

// Take takes a restore point of ks and records it in topo.
func Take(ctx context.Context, ts *topo.Server, ks string, dial Dialer, opts Options) (*topodatapb.RestorePoint, error) {
	opts = opts.withDefaults()
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	prims, version, err := primaries(ctx, ts, ks)
	if err != nil {
		return nil, err
	}
	var peers []peer
	for shard, t := range prims {
		c, closer, err := dial(t)
		if err != nil {
			return nil, fmt.Errorf("dial the primary of %s/%s: %w", ks, shard, err)
		}
		defer closer()
		peers = append(peers, peer{shard, c})
	}
	var now time.Time
	var positions map[string]string
	var holdTime time.Duration
	for attempt := 0; ; attempt++ {
		now = opts.Now()
		var busy bool
		positions, holdTime, busy, err = hold(ctx, ks, topo.RestorePointID(now), peers, opts.TTL)
		if err == nil {
			break
		}
		if !busy || ctx.Err() != nil {
			return nil, err
		}
		// Another taker holds them (mosaicctl beside the schedule): again
		// in a moment.
		select {
		case <-time.After(time.Duration(10+rand.IntN(40)) * time.Millisecond):
		case <-ctx.Done():
			return nil, err
		}
	}
	id := topo.RestorePointID(now)
	// The holds were taken on the shards that served: a failover or a
	// switch meanwhile makes them the wrong ones.
	after, afterVersion, err := primaries(ctx, ts, ks)
	if err != nil {
		return nil, err
	}
	if afterVersion != version || len(after) != len(prims) {
		return nil, ErrChanged
	}
	for shard, t := range prims {
		if a := after[shard]; a == nil || topo.AliasString(a.Alias) != topo.AliasString(t.Alias) {
			return nil, ErrChanged
		}
	}
	rp := &topodatapb.RestorePoint{Id: id, Keyspace: ks, TimeUnixNano: now.UnixNano(), Positions: positions, HoldNs: holdTime.Nanoseconds()}
	if err := ts.CreateRestorePoint(ctx, rp); err != nil {
		return nil, err
	}
	return rp, nil
}

// peer is one primary a restore point holds.
type peer struct {
	shard  string
	client tabletmanagerpb.TabletManagerClient
}

// hold holds every peer's distributed commits, then reads each one's
// position and lifts its hold. busy says a peer refused because another
// restore point held it (worth another try).
func hold(ctx context.Context, ks, id string, peers []peer, ttl time.Duration) (positions map[string]string, holdTime time.Duration, busy bool, err error) {
	holdID := ks + "/" + id
	// each runs fn on every primary at once and returns their errors.
	each := func(fn func(i int, p peer) error) error {
		var wg sync.WaitGroup
		errs := make([]error, len(peers))
		for i, p := range peers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = fn(i, p)
			}()
		}
		wg.Wait()
		return errors.Join(errs...)
	}
	start := time.Now()
	held := make([]bool, len(peers))
	var mu sync.Mutex
	err = each(func(i int, p peer) error {
		_, err := p.client.HoldCommits(ctx, &tabletmanagerpb.HoldCommitsRequest{HoldId: holdID, TtlMs: ttl.Milliseconds()})
		if status.Code(err) == codes.Aborted {
			mu.Lock()
			busy = true
			mu.Unlock()
		}
		if err != nil {
			return fmt.Errorf("hold distributed commits on %s/%s: %w", ks, p.shard, err)
		}
		held[i] = true
		return nil
	})
	positions = map[string]string{}
	// Lift every hold taken, reading the positions if all were taken. A
	// lift runs even when ctx has ended: it must not wait for the TTL.
	lctx, lcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer lcancel()
	lifted := each(func(i int, p peer) error {
		if !held[i] {
			return nil
		}
		resp, lerr := p.client.HoldCommits(lctx, &tabletmanagerpb.HoldCommitsRequest{HoldId: holdID, Release: true})
		if lerr != nil {
			return fmt.Errorf("lift the commit hold on %s/%s: %w", ks, p.shard, lerr)
		}
		if !resp.Held || resp.Position == "" {
			return fmt.Errorf("the commit hold on %s/%s lifted by itself (after %v) before its position was read", ks, p.shard, ttl)
		}
		mu.Lock()
		positions[p.shard] = resp.Position
		mu.Unlock()
		return nil
	})
	holdTime = time.Since(start)
	if err != nil {
		return nil, holdTime, busy, err
	}
	if lifted != nil {
		return nil, holdTime, false, lifted
	}
	return positions, holdTime, false, nil
}

// Prune deletes the restore points of ks older than keep, and returns how
// many it deleted.
func Prune(ctx context.Context, ts *topo.Server, ks string, keep time.Duration, now time.Time) (int, error) {
	rps, err := ts.ListRestorePoints(ctx, ks)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, rp := range rps {
		if now.Sub(time.Unix(0, rp.TimeUnixNano)) <= keep {
			break
		}
		if err := ts.DeleteRestorePoint(ctx, ks, rp.Id); err != nil && !errors.Is(err, topo.ErrNoNode) {
			return n, err
		}
		n++
	}
	return n, nil
}
