package proxy

import (
	"context"
	"time"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
)

// The resolver finishes distributed transactions whose coordinator went
// away (a gate that died or lost a shard between the steps of a commit).
// Every TwoPCResolveInterval it asks each shard's primary for its records
// older than TwoPCAbandonAge and its Mosaic XA branches prepared that
// long, and:
//   - a record in PREPARE is set to ROLLBACK (which waits for, and loses
//     to, a commit still under way), then handled as below;
//   - a record in COMMIT: its branches are committed, then it is deleted;
//   - a record in ROLLBACK: its branches are rolled back, then deleted;
//   - a prepared branch is committed if its MM's record says COMMIT,
//     rolled back if it says ROLLBACK or there is no record (the
//     transaction never reached its commit point), and left to its
//     record's resolution while that is in PREPARE.
// Every step can be repeated, by this gate or another, with the same
// result.

// runResolver resolves until ctx ends.
func (g *Gate) runResolver(ctx context.Context) {
	t := time.NewTicker(g.cfg.TwoPCResolveInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			g.resolveOnce(ctx)
		}
	}
}

// resolveOnce makes one pass over every shard's primary.
func (g *Gate) resolveOnce(ctx context.Context) {
	seen := map[shardKey]bool{}
	for _, th := range g.tablets.HealthCheck().All() {
		t := th.Target
		if t == nil || !th.Serving || t.TabletType != topodatapb.TabletType_PRIMARY {
			continue
		}
		k := shardKey{t.Keyspace, t.Shard}
		if seen[k] {
			continue
		}
		seen[k] = true
		g.resolveShard(ctx, k)
	}
}

func (g *Gate) resolveShard(ctx context.Context, k shardKey) {
	ctx, cancel := context.WithTimeout(ctx, g.cfg.TabletWait+30*time.Second)
	defer cancel()
	age := int64((g.cfg.TwoPCAbandonAge + time.Second - 1) / time.Second)
	var resp *querypb.UnresolvedTransactionsResponse
	err := g.onPrimary(ctx, k, 0, func(ctx context.Context, c querypb.QueryClient, t *querypb.Target) error {
		var err error
		resp, err = c.UnresolvedTransactions(ctx, &querypb.UnresolvedTransactionsRequest{Target: t, AbandonAgeSeconds: age})
		return err
	})
	if err != nil {
		g.log.Debug("cannot list unresolved distributed transactions", "shard", k.String(), "err", err)
		return
	}
	for _, md := range resp.Transactions {
		g.resolveRecord(ctx, k, md)
	}
	for _, x := range resp.Prepared {
		g.resolveBranch(ctx, k, x)
	}
}

// resolveRecord finishes the transaction of a record kept on mmKey.
func (g *Gate) resolveRecord(ctx context.Context, mmKey shardKey, md *querypb.TransactionMetadata) {
	state := md.State
	if state == querypb.TransactionState_TRANSACTION_STATE_PREPARE {
		var err error
		if state, err = g.setRollback(ctx, mmKey, md.Dtid); err != nil {
			g.log.Warn("cannot decide an abandoned distributed transaction", "dtid", md.Dtid, "err", err)
			return
		}
	}
	var keys []shardKey
	for _, p := range md.Participants {
		keys = append(keys, shardKey{p.Keyspace, p.Shard})
	}
	var commit bool
	switch state {
	case querypb.TransactionState_TRANSACTION_STATE_COMMIT:
		commit = true
	case querypb.TransactionState_TRANSACTION_STATE_ROLLBACK:
	default:
		return // concluded meanwhile
	}
	if err := g.resolvePrepared(ctx, md.Dtid, mmKey, keys, commit); err != nil {
		g.log.Warn("cannot resolve a distributed transaction yet", "dtid", md.Dtid, "commit", commit, "err", err)
		return
	}
	g.conclude(ctx, mmKey, md.Dtid)
	g.m.twopcResolved.WithLabelValues(outcome(commit)).Inc()
	g.log.Info("resolved distributed transaction", "dtid", md.Dtid, "commit", commit, "participants", len(keys))
}

// resolveBranch finishes a branch prepared on shard k long ago.
func (g *Gate) resolveBranch(ctx context.Context, k shardKey, x *querypb.Xid) {
	mmKey, ok := parseMM(x.Bqual)
	if !ok {
		return
	}
	var md *querypb.TransactionMetadata
	err := g.onPrimary(ctx, mmKey, 0, func(ctx context.Context, c querypb.QueryClient, t *querypb.Target) error {
		resp, err := c.ReadTransaction(ctx, &querypb.ReadTransactionRequest{Target: t, Dtid: x.Gtrid})
		if err != nil {
			return err
		}
		md = resp.Metadata
		return nil
	})
	if err != nil {
		g.log.Debug("cannot read a distributed transaction's record", "dtid", x.Gtrid, "err", err)
		return
	}
	var commit bool
	switch md.GetState() {
	case querypb.TransactionState_TRANSACTION_STATE_PREPARE:
		return // its record's resolution handles it
	case querypb.TransactionState_TRANSACTION_STATE_COMMIT:
		commit = true
	}
	if err := g.resolvePrepared(ctx, x.Gtrid, mmKey, []shardKey{k}, commit); err != nil {
		g.log.Warn("cannot resolve a prepared branch yet", "dtid", x.Gtrid, "shard", k.String(), "err", err)
		return
	}
	g.m.twopcResolved.WithLabelValues(outcome(commit)).Inc()
	g.log.Info("resolved prepared branch", "dtid", x.Gtrid, "shard", k.String(), "commit", commit)
}

func outcome(commit bool) string {
	if commit {
		return "committed"
	}
	return "rolled_back"
}
