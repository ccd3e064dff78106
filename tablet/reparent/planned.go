package reparent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mosaicdb/mosaic/proto/tabletmanagerpb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/topo"
)

// Planned moves a healthy shard's primary to another tablet with no
// acknowledged write lost and only a short pause in writes:
//
//  1. take the shard lock; the old primary must answer;
//  2. pick the new primary (opts.NewPrimary, else the most advanced
//     replica, preferring the old primary's cell) and let it catch up to
//     the old primary's position while writes still flow;
//  3. DemotePrimary on the old one: it stops serving (its health says so,
//     and gates start buffering the shard's writes), rolls back what stays
//     open past its demote timeout, turns read-only, gives its lease back
//     and reports its final position;
//  4. the new primary waits for that position;
//  5. the shard record names the new primary with a new term;
//  6. PromoteReplica: it takes the lease and writes; gates see it serve
//     and release the buffered writes;
//  7. every other tablet, the old primary too, replicates from it.
//
// A failure before step 5 promotes the old primary again; a failure in
// step 6 writes the old primary back into the record and promotes it.
func Planned(ctx context.Context, ts *topo.Server, keyspace, shard string, opts Options) (*Result, error) {
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
	if sh.PrimaryAlias == nil {
		return nil, fmt.Errorf("shard %s/%s has no primary: use an emergency reparent", keyspace, shard)
	}
	st, err := loadShard(ctx, ts, keyspace, shard, opts)
	if err != nil {
		return nil, err
	}
	defer st.close()
	oldAlias, oldTerm := sh.PrimaryAlias, sh.PrimaryTermStartUnixNano
	old := st.tablet(oldAlias)
	if old == nil {
		return nil, fmt.Errorf("primary %s has no tablet record", topo.AliasString(oldAlias))
	}
	res := &Result{Keyspace: keyspace, Shard: shard, OldPrimary: oldAlias}
	log := opts.Log.With("keyspace", keyspace, "shard", shard)

	cctx, cancel := st.short(ctx)
	pp, err := st.tm(oldAlias).PrimaryPosition(cctx, &tabletmanagerpb.PrimaryPositionRequest{})
	cancel()
	if err != nil {
		return nil, fmt.Errorf("the primary %s does not answer (%w): use an emergency reparent", topo.AliasString(oldAlias), err)
	}
	cand, err := st.pickPlanned(ctx, old, opts.NewPrimary)
	if err != nil {
		return nil, err
	}
	if proto.Equal(cand.Alias, oldAlias) {
		res.NewPrimary, res.Term, res.Position = oldAlias, oldTerm, pp.Position
		res.Duration = time.Since(start)
		log.Info("tablet is the primary already", "tablet", topo.AliasString(oldAlias))
		return res, nil
	}
	newAlias := cand.Alias
	log.Info("planned reparent", "from", topo.AliasString(oldAlias), "to", topo.AliasString(newAlias))
	// Catch up while writes flow, so that the pause is short.
	if err := st.waitFor(ctx, newAlias, pp.Position); err != nil {
		return nil, fmt.Errorf("%s did not catch up before the switch: %w", topo.AliasString(newAlias), err)
	}

	undo := func(cause error) error {
		uctx, cancel := st.short(context.WithoutCancel(ctx))
		defer cancel()
		if _, err := st.tm(oldAlias).PromoteReplica(uctx, &tabletmanagerpb.PromoteReplicaRequest{PrimaryTermStartUnixNano: oldTerm}); err != nil {
			return fmt.Errorf("%w; promoting %s back failed too: %v", cause, topo.AliasString(oldAlias), err)
		}
		st.repoint(context.WithoutCancel(ctx), oldAlias, nil)
		return fmt.Errorf("%w (%s is the primary again)", cause, topo.AliasString(oldAlias))
	}

	pauseStart := time.Now()
	cctx, cancel = context.WithTimeout(ctx, opts.TabletTimeout+time.Minute)
	demoted, err := st.tm(oldAlias).DemotePrimary(cctx, &tabletmanagerpb.DemotePrimaryRequest{})
	cancel()
	if err != nil {
		return nil, undo(fmt.Errorf("demote %s: %w", topo.AliasString(oldAlias), err))
	}
	if err := st.waitFor(ctx, newAlias, demoted.Position); err != nil {
		return nil, undo(fmt.Errorf("%s did not reach the demoted primary's position %s: %w", topo.AliasString(newAlias), demoted.Position, err))
	}
	term := newTerm(oldTerm)
	if err := st.setPrimary(ctx, lock, newAlias, term, recordState{oldAlias, oldTerm}); err != nil {
		return nil, undo(err)
	}
	cctx, cancel = st.short(ctx)
	promoted, err := st.tm(newAlias).PromoteReplica(cctx, &tabletmanagerpb.PromoteReplicaRequest{PrimaryTermStartUnixNano: term})
	cancel()
	if err != nil {
		cause := fmt.Errorf("promote %s: %w", topo.AliasString(newAlias), err)
		rctx, rcancel := st.short(context.WithoutCancel(ctx))
		rerr := st.setPrimary(rctx, lock, oldAlias, oldTerm, recordState{newAlias, term})
		rcancel()
		if rerr != nil {
			return nil, fmt.Errorf("%w; restoring the shard record failed too: %v", cause, rerr)
		}
		return nil, undo(cause)
	}
	res.WritePause = time.Since(pauseStart)
	res.NewPrimary, res.Term, res.Position = newAlias, term, promoted.Position
	log.Info("new primary takes writes", "tablet", topo.AliasString(newAlias), "pause", res.WritePause)
	res.RepointErrors = st.repoint(ctx, newAlias, nil)
	res.Duration = time.Since(start)
	return res, nil
}

// waitFor waits until a tablet has applied pos.
func (st *shardTablets) waitFor(ctx context.Context, alias *topodatapb.TabletAlias, pos string) error {
	if pos == "" {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, st.opts.WaitReplicasTimeout+5*time.Second)
	defer cancel()
	_, err := st.tm(alias).WaitForPosition(wctx, &tabletmanagerpb.WaitForPositionRequest{Position: pos, TimeoutMs: st.opts.WaitReplicasTimeout.Milliseconds()})
	return err
}

// pickPlanned returns the tablet a planned reparent promotes: want when
// set (it must be a replica of the shard), else the replica with the most
// advanced position among those that replicate, preferring old's cell.
func (st *shardTablets) pickPlanned(ctx context.Context, old *topodatapb.Tablet, want *topodatapb.TabletAlias) (*topodatapb.Tablet, error) {
	if want != nil {
		t := st.tablet(want)
		if t == nil {
			return nil, fmt.Errorf("tablet %s is not in shard %s/%s", topo.AliasString(want), st.keyspace, st.shard)
		}
		if !proto.Equal(t.Alias, old.Alias) && t.Type != topodatapb.TabletType_REPLICA {
			return nil, fmt.Errorf("tablet %s is %v: only a replica can become the primary", topo.AliasString(want), t.Type)
		}
		return t, nil
	}
	type cand struct {
		t   *topodatapb.Tablet
		pos string
	}
	var cands []cand
	for _, t := range st.tablets {
		if proto.Equal(t.Alias, old.Alias) || t.Type != topodatapb.TabletType_REPLICA {
			continue
		}
		cctx, cancel := st.short(ctx)
		rs, err := st.tm(t.Alias).ReplicationStatus(cctx, &tabletmanagerpb.ReplicationStatusRequest{})
		cancel()
		if err != nil || !rs.Status.GetIoRunning() || !rs.Status.GetSqlRunning() {
			continue
		}
		cands = append(cands, cand{t, rs.Status.Position})
	}
	if len(cands) == 0 {
		return nil, fmt.Errorf("%w: no replica of %s/%s replicates now", errNoCandidate, st.keyspace, st.shard)
	}
	fl := st.flavorOf(old)
	best := cands[0]
	for _, c := range cands[1:] {
		ahead, err1 := fl.PositionAtLeast(c.pos, best.pos)
		behind, err2 := fl.PositionAtLeast(best.pos, c.pos)
		if err1 != nil || err2 != nil {
			continue
		}
		sameCell := c.t.Alias.Cell == old.Alias.Cell
		bestSameCell := best.t.Alias.Cell == old.Alias.Cell
		switch {
		case ahead && !behind:
			best = c
		case ahead && behind && sameCell && !bestSameCell:
			best = c
		}
	}
	return best.t, nil
}

// IsNoCandidate reports whether err says no tablet could be promoted.
func IsNoCandidate(err error) bool { return errors.Is(err, errNoCandidate) }
