package proxy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/proxy/tabletgw"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// Two-phase commit, the gate's side (docs/transactions.md has the whole
// protocol and its guarantees). The first shard a twopc transaction
// touches is its metadata manager (MM): a plain transaction. Every other
// shard is an XA branch whose xid is (dtid, MM's "keyspace/shard"). At
// COMMIT, with more than one shard written:
//
//  1. CreateTransaction writes the record (dtid, PREPARE, participants)
//     on the MM, committed on its own;
//  2. every written branch is prepared (XA PREPARE): from here it
//     survives the gate, its connection and a restart of its mysqld;
//  3. StartCommit is the commit point: in the MM's own transaction the
//     record goes to COMMIT and the transaction commits, data and
//     decision at once. A resolver that decided to roll back first has
//     set the record to ROLLBACK, and then StartCommit fails: the row's
//     lock decides who wins;
//  4. the prepared branches commit (XA COMMIT);
//  5. ConcludeTransaction deletes the record.
//
// Whatever stops the gate between the steps, the resolver
// (twopc_resolver.go) finishes the transaction the same way everywhere.

// TwoPCStep names the points of a two-phase commit where
// Config.TwoPCTestHook is called.
type TwoPCStep string

const (
	// TwoPCCreated: the record is written, nothing is prepared.
	TwoPCCreated TwoPCStep = "created"
	// TwoPCPrepared: every branch is prepared; the decision is not made.
	TwoPCPrepared TwoPCStep = "prepared"
	// TwoPCCommitted: the decision to commit is durable; the prepared
	// branches are not committed yet.
	TwoPCCommitted TwoPCStep = "committed"
)

// errTwoPCStopped is what a commit stopped by the test hook returns.
type errTwoPCStopped struct{ err error }

func (e errTwoPCStopped) Error() string {
	return "two-phase commit stopped by test hook: " + e.err.Error()
}

func (g *Gate) hook(step TwoPCStep, dtid string) error {
	if g.cfg.TwoPCTestHook == nil {
		return nil
	}
	if err := g.cfg.TwoPCTestHook(step, dtid); err != nil {
		return sqlerr.Wrap(sqlerr.ERErrorDuringCommit, errTwoPCStopped{err}, "two-phase commit of %s stopped at %s: %v", dtid, step, err)
	}
	return nil
}

func primaryTarget(k shardKey) *querypb.Target {
	return &querypb.Target{Keyspace: k.keyspace, Shard: k.shard, TabletType: topodatapb.TabletType_PRIMARY}
}

// onPrimary runs fn against the shard's primary, trying again for up to
// patience while it fails (the tablet restarting, a primary changing).
func (g *Gate) onPrimary(ctx context.Context, k shardKey, patience time.Duration, fn func(ctx context.Context, c querypb.QueryClient, t *querypb.Target) error) error {
	t := primaryTarget(k)
	deadline := time.Now().Add(patience)
	for {
		err := g.gw.Call(ctx, t, func(th *tabletgw.TabletHealth) error { return fn(ctx, th.Client, t) })
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil || sqlerr.FromError(err).Num == erBranchGone {
			return wrapShardErr(err)
		}
		select {
		case <-ctx.Done():
			return wrapShardErr(err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// commitTwoPC commits a transaction in which several shards wrote.
func (g *Gate) commitTwoPC(ctx context.Context, st txState, txs []*shardTx) error {
	dtid, mmKey := st.dtid, st.mm
	// Past the commit point nothing may stop the commit: a client that
	// goes away or a KILL must not leave it half done.
	bg := context.WithoutCancel(ctx)
	var mm *shardTx
	var parts, readers []*shardTx
	for _, tx := range txs {
		switch {
		case tx.key == mmKey:
			mm = tx
		case tx.wrote:
			// An XA branch; anything else fails to prepare and the whole
			// transaction rolls back, never half commits.
			parts = append(parts, tx)
		default:
			readers = append(readers, tx)
		}
	}
	// Shards that only read need no atomicity: commit them first. One
	// whose transaction is gone ends the whole transaction, before
	// anything is recorded or committed.
	if err := commitInOrder(ctx, readers); err != nil {
		rest := parts
		if mm != nil {
			rest = append([]*shardTx{mm}, parts...)
		}
		rctx, cancel := context.WithTimeout(bg, g.cfg.TabletWait+5*time.Second)
		rollbackAll(rctx, rest)
		cancel()
		return commitLostError(shardKey{}, err)
	}
	if len(parts) == 0 || (len(parts) == 1 && (mm == nil || !mm.wrote)) {
		var rest []*shardTx
		if mm != nil {
			rest = append(rest, mm)
		}
		return commitInOrder(ctx, append(rest, parts...))
	}
	participants := make([]*querypb.Participant, len(parts))
	for i, p := range parts {
		participants[i] = &querypb.Participant{Keyspace: p.key.keyspace, Shard: p.key.shard}
	}
	g.m.twopc.WithLabelValues("started").Inc()

	// 1. The record.
	err := g.onPrimary(ctx, mmKey, 0, func(ctx context.Context, c querypb.QueryClient, t *querypb.Target) error {
		_, err := c.CreateTransaction(ctx, &querypb.CreateTransactionRequest{Target: t, Dtid: dtid, Participants: participants})
		return err
	})
	if err != nil {
		all := parts
		if mm != nil {
			all = append([]*shardTx{mm}, parts...)
		}
		rctx, cancel := context.WithTimeout(bg, g.cfg.TabletWait+5*time.Second)
		rollbackAll(rctx, all)
		cancel()
		g.m.twopc.WithLabelValues("rolled_back").Inc()
		return commitFailed(err, "could not record distributed transaction %s on %s; every shard was rolled back", dtid, mmKey)
	}
	if err := g.hook(TwoPCCreated, dtid); err != nil {
		return err
	}

	// 2. Prepare every branch.
	// No prepare is cancelled by another's failure, so that each branch's
	// state is known.
	prepared := make([]bool, len(parts))
	perrs := make([]error, len(parts))
	g.gw.All(ctx, len(parts), func(ctx context.Context, i int) {
		p := parts[i]
		if _, err := p.tablet.Client.Prepare(ctx, &querypb.PrepareRequest{Target: p.target, TransactionId: p.txID}); err != nil {
			perrs[i] = fmt.Errorf("prepare on %s: %w", p.key, err)
			return
		}
		prepared[i] = true
	})
	if err := errors.Join(perrs...); err != nil {
		g.abortTwoPC(bg, dtid, mmKey, mm, parts, prepared)
		g.m.twopc.WithLabelValues("rolled_back").Inc()
		return commitFailed(err, "distributed transaction %s was rolled back on every shard", dtid)
	}
	if err := g.hook(TwoPCPrepared, dtid); err != nil {
		return err
	}

	// 3. The commit point.
	if mm != nil {
		_, err = mm.tablet.Client.StartCommit(ctx, &querypb.StartCommitRequest{Target: mm.target, TransactionId: mm.txID, Dtid: dtid})
	} else {
		err = g.onPrimary(ctx, mmKey, 0, func(ctx context.Context, c querypb.QueryClient, t *querypb.Target) error {
			_, err := c.StartCommit(ctx, &querypb.StartCommitRequest{Target: t, Dtid: dtid})
			return err
		})
	}
	if err != nil {
		// Did the commit happen? The record says, once nobody can change
		// it any more: moving it to ROLLBACK waits for the MM transaction's
		// lock, and fails if the record went to COMMIT.
		sctx, cancel := context.WithTimeout(bg, g.cfg.TabletWait+5*time.Second)
		state, serr := g.setRollback(sctx, mmKey, dtid)
		cancel()
		switch {
		case serr != nil:
			g.m.twopc.WithLabelValues("unknown").Inc()
			return commitFailed(err, "the outcome of distributed transaction %s is not known yet (%v); the gate's resolver will commit or roll back every shard alike", dtid, serr)
		case state == querypb.TransactionState_TRANSACTION_STATE_ROLLBACK:
			g.abortTwoPC(bg, dtid, mmKey, nil, parts, prepared)
			g.m.twopc.WithLabelValues("rolled_back").Inc()
			return commitFailed(err, "distributed transaction %s was rolled back on every shard", dtid)
		case state != querypb.TransactionState_TRANSACTION_STATE_COMMIT:
			// The record is gone: a resolver finished the transaction
			// meanwhile, one way or the other, and nothing here tells which.
			g.m.twopc.WithLabelValues("unknown").Inc()
			return commitFailed(err, "the outcome of distributed transaction %s is not known: a resolver finished it meanwhile, on every shard alike", dtid)
		}
	}
	g.m.twopc.WithLabelValues("committed").Inc()
	if err := g.hook(TwoPCCommitted, dtid); err != nil {
		return err
	}

	// 4 and 5. The decision is made: finish, or leave it to the resolver.
	keys := make([]shardKey, len(parts))
	for i, p := range parts {
		keys[i] = p.key
	}
	fctx, cancel := context.WithTimeout(bg, g.cfg.TabletWait+5*time.Second)
	defer cancel()
	if err := g.resolvePrepared(fctx, dtid, mmKey, keys, true); err != nil {
		if sqlerr.FromError(err).Num == erBranchGone {
			// Decided to commit, but a shard says its prepared branch is
			// gone: that shard's part is lost. The record stays for
			// operators to see; the client must not hear OK.
			g.log.Error("distributed transaction committed but a shard lost its prepared branch", "dtid", dtid, "err", err)
			return commitFailed(err, "distributed transaction %s was committed, but a shard lost its part", dtid)
		}
		g.log.Warn("distributed transaction committed; a shard will apply it when the resolver reaches it", "dtid", dtid, "err", err)
		return nil
	}
	g.conclude(fctx, mmKey, dtid)
	return nil
}

// commitFailed is the client's error for a commit that did not happen.
func commitFailed(cause error, format string, args ...any) error {
	e := sqlerr.FromError(cause)
	return sqlerr.Wrap(sqlerr.ERErrorDuringCommit, cause, "%s: %s", fmt.Sprintf(format, args...), e.Message)
}

// abortTwoPC rolls a distributed transaction back everywhere: first the
// decision, so that no resolver commits it, then every shard.
func (g *Gate) abortTwoPC(ctx context.Context, dtid string, mmKey shardKey, mm *shardTx, parts []*shardTx, prepared []bool) {
	ctx, cancel := context.WithTimeout(ctx, g.cfg.TabletWait+5*time.Second)
	defer cancel()
	if _, err := g.setRollback(ctx, mmKey, dtid); err != nil {
		g.log.Warn("cannot record the rollback of a distributed transaction; the resolver will", "dtid", dtid, "err", err)
		return
	}
	if mm != nil {
		rollbackAll(ctx, []*shardTx{mm})
	}
	// A branch whose prepare failed in transit may be prepared all the
	// same: every branch is rolled back as prepared too once its
	// transaction is (a branch that is not prepared counts as done).
	var open []*shardTx
	var keys []shardKey
	for i, p := range parts {
		keys = append(keys, p.key)
		if !prepared[i] {
			open = append(open, p)
		}
	}
	rollbackAll(ctx, open)
	if err := g.resolvePrepared(ctx, dtid, mmKey, keys, false); err != nil {
		g.log.Warn("prepared branches left for the resolver to roll back", "dtid", dtid, "err", err)
		return
	}
	g.conclude(ctx, mmKey, dtid)
}

// setRollback moves the record from PREPARE to ROLLBACK and returns its
// state after.
func (g *Gate) setRollback(ctx context.Context, mmKey shardKey, dtid string) (querypb.TransactionState, error) {
	var state querypb.TransactionState
	err := g.onPrimary(ctx, mmKey, g.cfg.TabletWait, func(ctx context.Context, c querypb.QueryClient, t *querypb.Target) error {
		resp, err := c.SetRollback(ctx, &querypb.SetRollbackRequest{Target: t, Dtid: dtid})
		if err != nil {
			return err
		}
		state = resp.State
		return nil
	})
	return state, err
}

// erBranchGone is the tablet's error for a branch it can prove is not
// prepared and did not end as asked (queryservice's finishBranch).
const erBranchGone = 1397

// resolvePrepared commits (or rolls back) the prepared branches of dtid on
// the shards keys, in parallel, each on its shard's current primary. It
// succeeds once every shard confirmed; no shard's call is cancelled by
// another's failure.
func (g *Gate) resolvePrepared(ctx context.Context, dtid string, mmKey shardKey, keys []shardKey, commit bool) error {
	xid := &querypb.Xid{Gtrid: dtid, Bqual: mmKey.String()}
	errs := make([]error, len(keys))
	g.gw.All(ctx, len(keys), func(ctx context.Context, i int) {
		k := keys[i]
		err := g.onPrimary(ctx, k, g.cfg.TabletWait, func(ctx context.Context, c querypb.QueryClient, t *querypb.Target) error {
			if commit {
				_, err := c.CommitPrepared(ctx, &querypb.CommitPreparedRequest{Target: t, Xid: xid})
				return err
			}
			_, err := c.RollbackPrepared(ctx, &querypb.RollbackPreparedRequest{Target: t, Xid: xid})
			return err
		})
		if err != nil {
			errs[i] = fmt.Errorf("%s: %w", k, err)
		}
	})
	var first error
	for _, err := range errs {
		if err != nil && sqlerr.FromError(err).Num == erBranchGone {
			return err
		}
		if first == nil {
			first = err
		}
	}
	return first
}

func (g *Gate) conclude(ctx context.Context, mmKey shardKey, dtid string) {
	err := g.onPrimary(ctx, mmKey, g.cfg.TabletWait, func(ctx context.Context, c querypb.QueryClient, t *querypb.Target) error {
		_, err := c.ConcludeTransaction(ctx, &querypb.ConcludeTransactionRequest{Target: t, Dtid: dtid})
		return err
	})
	if err != nil {
		g.log.Warn("cannot delete a resolved distributed transaction's record; the resolver will", "dtid", dtid, "err", err)
	}
}

// parseMM reads the metadata manager's shard from a branch's bqual.
func parseMM(bqual string) (shardKey, bool) {
	ks, sh, ok := strings.Cut(bqual, "/")
	if !ok || ks == "" || sh == "" {
		return shardKey{}, false
	}
	return shardKey{ks, sh}, true
}
