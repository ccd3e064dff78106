package reparent

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/proto"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proto/tabletmanagerpb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/tablet/flavor"
	"github.com/mosaicdb/mosaic/tablet/tmclient"
	"github.com/mosaicdb/mosaic/topo"
)

// Emergency gives a shard whose primary is gone (or must go) a new one,
// promoting the most advanced tablet so that no write a replica
// acknowledged (semi-sync) is lost:
//
//  1. take the shard lock;
//  2. fence: the shard record stops naming a primary (the term stays, so
//     the shard is known to need one). A primary that still runs sees the
//     record, stops serving, turns read-only and gives its lease back; one
//     cut off from topo loses its lease, and stops, before the lease
//     expires. The reparent waits until the lease is gone: from then on
//     no tablet takes writes;
//  3. every reachable tablet stops receiving replication (the applier
//     finishes what was received) and reports its positions;
//  4. the winner is the tablet whose position (received or applied) holds
//     every other's: opts.NewPrimary if it qualifies, else preferring a
//     REPLICA over an RDONLY and the old primary's cell;
//  5. the winner applies everything it received;
//  6. the shard record names it with a new term; PromoteReplica;
//  7. every other reachable tablet replicates from it. Unreachable ones
//     follow the record when they come back; one whose data diverged
//     (the old primary with transactions nobody received) rebuilds itself
//     from a peer.
//
// It fails, leaving the record without a primary for a later attempt,
// when no tablet is reachable or none holds every other's transactions.
func Emergency(ctx context.Context, ts *topo.Server, keyspace, shard string, opts Options) (*Result, error) {
	opts = opts.withDefaults()
	start := time.Now()
	lock, err := lockShard(ctx, ts, keyspace, shard)
	if err != nil {
		return nil, err
	}
	defer lock.unlock()
	sh, _, err := ts.GetShard(ctx, keyspace, shard)
	if err != nil {
		return nil, err
	}
	if sh.PrimaryAlias == nil && sh.PrimaryTermStartUnixNano == 0 {
		return nil, fmt.Errorf("shard %s/%s never had a primary: use mosaicctl shard init-primary", keyspace, shard)
	}
	log := opts.Log.With("keyspace", keyspace, "shard", shard)
	if opts.OnlyIfPrimaryDown && sh.PrimaryAlias != nil {
		l, _, err := ts.GetPrimaryLease(ctx, keyspace, shard)
		if err != nil && !errors.Is(err, topo.ErrNoNode) {
			return nil, err
		}
		if err == nil && proto.Equal(l.Alias, sh.PrimaryAlias) {
			if !opts.FailHungPrimary {
				return nil, ErrPrimaryHealthy
			}
			why, err := primaryUnresponsive(ctx, ts, sh.PrimaryAlias, opts)
			if err != nil {
				return nil, fmt.Errorf("%w (%v)", ErrPrimaryHealthy, err)
			}
			if why == "" {
				return nil, ErrPrimaryHealthy
			}
			// Fencing kills the hung mysqld: worth it only when another
			// tablet can take over, else the shard waits for it instead.
			if ok, err := replicaAnswers(ctx, ts, keyspace, shard, sh.PrimaryAlias, opts); !ok {
				return nil, fmt.Errorf("%w: the primary's mysqld does not answer (%s), and no replica of %s/%s answers to take over (%v)", errNoCandidate, why, keyspace, shard, err)
			}
			log.Warn("emergency reparent: the primary holds its lease but its mysqld does not answer", "primary", topo.AliasString(sh.PrimaryAlias), "health", why)
		}
	}
	res := &Result{Keyspace: keyspace, Shard: shard, OldPrimary: sh.PrimaryAlias}
	oldCell := sh.PrimaryAlias.GetCell()
	if sh.PrimaryAlias != nil {
		if err := fenceRecord(ctx, ts, keyspace, shard, lock, sh); err != nil {
			return nil, err
		}
		log.Info("emergency reparent: the shard record names no primary now", "old_primary", topo.AliasString(sh.PrimaryAlias))
	}
	fenced := recordState{term: sh.PrimaryTermStartUnixNano}
	if err := waitLeaseGone(ctx, ts, keyspace, shard, opts.LeaseWait); err != nil {
		return nil, err
	}
	st, err := loadShard(ctx, ts, keyspace, shard, opts)
	if err != nil {
		return nil, err
	}
	defer st.close()

	// Stopping replication is the first step that changes tablets: a
	// reparent that was stopped long enough to lose its lock must not
	// stop the replicas of a primary another reparent has made since.
	if err := st.checkRecord(ctx, lock, fenced); err != nil {
		return nil, err
	}
	cands := st.stopAll(ctx)
	if len(cands) == 0 {
		return nil, fmt.Errorf("%w: no tablet of %s/%s answers", errNoCandidate, keyspace, shard)
	}
	winner, err := st.pickEmergency(cands, opts.NewPrimary, oldCell)
	if err != nil {
		return nil, err
	}
	log.Info("emergency reparent: most advanced tablet", "tablet", topo.AliasString(winner.t.Alias), "position", winner.pos)
	if winner.relay != "" {
		if err := st.waitFor(ctx, winner.t.Alias, winner.relay); err != nil {
			return nil, fmt.Errorf("%s did not apply its relay log up to %s: %w", topo.AliasString(winner.t.Alias), winner.relay, err)
		}
	}
	term := newTerm(sh.PrimaryTermStartUnixNano)
	if err := st.setPrimary(ctx, lock, winner.t.Alias, term, fenced); err != nil {
		return nil, err
	}
	cctx, cancel := st.short(ctx)
	promoted, err := st.tm(winner.t.Alias).PromoteReplica(cctx, &tabletmanagerpb.PromoteReplicaRequest{PrimaryTermStartUnixNano: term})
	cancel()
	if err != nil {
		// The record names it; the failover controller sees no lease and
		// tries again.
		return nil, fmt.Errorf("promote %s: %w", topo.AliasString(winner.t.Alias), err)
	}
	res.WritePause = time.Since(start)
	res.NewPrimary, res.Term, res.Position = winner.t.Alias, term, promoted.Position
	log.Info("emergency reparent: new primary takes writes", "tablet", topo.AliasString(winner.t.Alias), "took", res.WritePause)
	reached := map[string]bool{}
	for _, c := range cands {
		reached[topo.AliasString(c.t.Alias)] = true
	}
	res.RepointErrors = st.repoint(ctx, winner.t.Alias, func(t *topodatapb.Tablet) bool { return !reached[topo.AliasString(t.Alias)] })
	res.Duration = time.Since(start)
	return res, nil
}

// fenceRecord makes the shard record name no primary, keeping the term.
// The record must still be sh, as read under the lock.
func fenceRecord(ctx context.Context, ts *topo.Server, keyspace, shard string, lock *shardLock, sh *topodatapb.Shard) error {
	if err := lock.check(); err != nil {
		return err
	}
	_, err := ts.UpdateShardFields(ctx, keyspace, shard, func(s *topodatapb.Shard) error {
		if err := (recordState{sh.PrimaryAlias, sh.PrimaryTermStartUnixNano}).check(s); err != nil {
			return err
		}
		if s.PrimaryAlias == nil {
			return topo.ErrNoUpdateNeeded
		}
		s.PrimaryAlias = nil
		return nil
	})
	if err != nil {
		return fmt.Errorf("fence %s/%s in its shard record: %w", keyspace, shard, err)
	}
	return nil
}

// replicaAnswers reports whether a REPLICA or RDONLY tablet of the shard
// other than primary says, in its latest health, that its mysqld answers.
// The error says why none does, when known.
func replicaAnswers(ctx context.Context, ts *topo.Server, keyspace, shard string, primary *topodatapb.TabletAlias, opts Options) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, opts.TabletTimeout)
	defer cancel()
	tablets, err := ts.ShardTablets(ctx, keyspace, shard)
	if err != nil {
		return false, err
	}
	found := make(chan bool, len(tablets))
	n := 0
	for _, t := range tablets {
		if proto.Equal(t.Alias, primary) || (t.Type != topodatapb.TabletType_REPLICA && t.Type != topodatapb.TabletType_RDONLY) {
			continue
		}
		n++
		go func() {
			h, err := latestHealth(ctx, t, opts.Creds)
			found <- err == nil && !h.GetRealtimeStats().GetMysqldUnresponsive()
		}()
	}
	for ; n > 0; n-- {
		if <-found {
			return true, nil
		}
	}
	return false, ctx.Err()
}

// latestHealth returns a tablet's latest health message.
func latestHealth(ctx context.Context, t *topodatapb.Tablet, creds credentials.TransportCredentials) (*querypb.StreamHealthResponse, error) {
	c, err := tmclient.DialTablet(t, creds)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.Query.StreamHealth(sctx, &querypb.StreamHealthRequest{})
	if err != nil {
		return nil, fmt.Errorf("health of %s: %w", topo.AliasString(t.Alias), err)
	}
	h, err := stream.Recv()
	if err != nil {
		return nil, fmt.Errorf("health of %s: %w", topo.AliasString(t.Alias), err)
	}
	return h, nil
}

// primaryUnresponsive asks the primary's tablet for its health and
// returns why its mysqld does not answer, or "" when it does. The
// tablet's first health message is its latest.
func primaryUnresponsive(ctx context.Context, ts *topo.Server, alias *topodatapb.TabletAlias, opts Options) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, opts.TabletTimeout)
	defer cancel()
	t, err := ts.GetTablet(ctx, alias)
	if err != nil {
		return "", err
	}
	h, err := latestHealth(ctx, t, opts.Creds)
	if err != nil {
		return "", err
	}
	if !proto.Equal(h.TabletAlias, alias) || !h.GetRealtimeStats().GetMysqldUnresponsive() {
		return "", nil
	}
	if why := h.GetRealtimeStats().GetHealthError(); why != "" {
		return why, nil
	}
	return "mysqld does not answer", nil
}

// waitLeaseGone waits until nobody holds the shard's primary lease.
func waitLeaseGone(ctx context.Context, ts *topo.Server, keyspace, shard string, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		l, _, err := ts.GetPrimaryLease(ctx, keyspace, shard)
		if errors.Is(err, topo.ErrNoNode) {
			return nil
		}
		if err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s still holds the primary lease of %s/%s after %v", topo.AliasString(l.Alias), keyspace, shard, wait)
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// candidate is a tablet that answered the emergency stop.
type candidate struct {
	t       *topodatapb.Tablet
	pos     string // what it holds: received or applied, whichever holds the other
	applied string // what it has applied
	relay   string // received by replication; to apply before promotion
	fl      flavor.Flavor
}

// stopAll stops replication's receiving side on every tablet at once and
// returns the ones that answered, with their positions.
func (st *shardTablets) stopAll(ctx context.Context) []*candidate {
	var mu sync.Mutex
	var out []*candidate
	var wg sync.WaitGroup
	for _, t := range st.tablets {
		switch t.Type {
		case topodatapb.TabletType_PRIMARY, topodatapb.TabletType_REPLICA, topodatapb.TabletType_RDONLY:
		default:
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := st.short(ctx)
			defer cancel()
			resp, err := st.tm(t.Alias).StopReplication(cctx, &tabletmanagerpb.StopReplicationRequest{IoThreadOnly: true})
			if err != nil {
				st.opts.Log.Warn("emergency reparent: tablet does not answer", "tablet", topo.AliasString(t.Alias), "err", err)
				return
			}
			fl := st.flavorOf(t)
			c := &candidate{t: t, fl: fl, pos: resp.Status.GetPosition(), applied: resp.Status.GetPosition()}
			if relay := resp.Status.GetRelayPosition(); relay != "" && resp.Status.GetSourceHost() != "" {
				if ok, err := fl.PositionAtLeast(relay, c.pos); err == nil && ok {
					c.pos, c.relay = relay, relay
				}
			}
			mu.Lock()
			out = append(out, c)
			mu.Unlock()
		}()
	}
	wg.Wait()
	sort.Slice(out, func(i, j int) bool { return topo.AliasString(out[i].t.Alias) < topo.AliasString(out[j].t.Alias) })
	return out
}

// pickEmergency returns the candidate whose position holds every other's.
func (st *shardTablets) pickEmergency(cands []*candidate, want *topodatapb.TabletAlias, oldCell string) (*candidate, error) {
	dominates := func(c *candidate) bool {
		for _, o := range cands {
			if ok, err := c.fl.PositionAtLeast(c.pos, o.pos); err != nil || !ok {
				return false
			}
		}
		return true
	}
	if want != nil {
		for _, c := range cands {
			if proto.Equal(c.t.Alias, want) {
				if !dominates(c) {
					return nil, fmt.Errorf("%s (position %s) lacks transactions other tablets have", topo.AliasString(want), c.pos)
				}
				return c, nil
			}
		}
		return nil, fmt.Errorf("%s did not answer", topo.AliasString(want))
	}
	var best *candidate
	rank := func(c *candidate) int {
		r := 0
		if c.t.Type != topodatapb.TabletType_RDONLY {
			r += 2
		}
		if c.t.Alias.GetCell() == oldCell {
			r++
		}
		return r
	}
	// applied reports whether a has applied at least what b has: among
	// equals, the one with the least relay log to apply promotes sooner.
	applied := func(a, b *candidate) bool {
		ok, err := a.fl.PositionAtLeast(a.applied, b.applied)
		return err == nil && ok
	}
	for _, c := range cands {
		if !dominates(c) {
			continue
		}
		switch {
		case best == nil, rank(c) > rank(best):
			best = c
		case rank(c) == rank(best) && applied(c, best) && !applied(best, c):
			best = c
		}
	}
	if best == nil {
		var desc []string
		for _, c := range cands {
			desc = append(desc, topo.AliasString(c.t.Alias)+"="+c.pos)
		}
		return nil, fmt.Errorf("%w: no tablet holds every other's transactions (%s)", errNoCandidate, strings.Join(desc, ", "))
	}
	return best, nil
}
