package proxy

import (
	"context"
	"sync/atomic"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proxy/mysqlsrv"
	"github.com/mosaicdb/mosaic/proxy/tabletgw"
	"github.com/mosaicdb/mosaic/router"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// sessionExecutor runs the router's shard queries for one session: on the
// session's tablet type, inside its transaction when it has one. Every
// shard's warnings are recorded in the session for SHOW WARNINGS.
type sessionExecutor struct {
	gw *gateway
	s  *Session
	// opts, when set, replaces the session's settings, and the queries run
	// outside any transaction: SET evaluates candidate settings with it.
	opts *querypb.ExecuteOptions
	// stats, when set, are the running plan's: they say whether its
	// results are small enough for Execute (see smallresult.go).
	stats *router.PlanStats
	// readVars, when set, are user variables the tablet reads after the
	// statement (a CALL's OUT arguments, see call.go).
	readVars []string
	// ran is set once a query of the statement may have run: a statement
	// whose keyspace switched traffic is planned and run again only when
	// none did (switched.go, and tabletgw's switch buffer).
	ran atomic.Bool
	// stmtTag tags the statement's side transactions outside a
	// transaction (sidetx.go).
	stmtTag *querypb.TransactionTag
}

var (
	_ router.ShardExecutor = (*sessionExecutor)(nil)
	_ router.Spawner       = (*sessionExecutor)(nil)
)

// Go runs fn on one of the gate's fan-out workers (router.Spawner).
func (e *sessionExecutor) Go(fn func()) { e.gw.Go(fn) }

func (e *sessionExecutor) target(q router.ShardQuery) *querypb.Target {
	return &querypb.Target{Keyspace: q.Keyspace, Shard: q.Shard, TabletType: e.s.TabletType}
}

func (e *sessionExecutor) inTx() bool { return e.opts == nil && e.s.InTransaction }

func (e *sessionExecutor) options() *querypb.ExecuteOptions {
	if e.opts != nil {
		return withReadVars(e.opts, e.readVars)
	}
	return withReadVars(e.s.Options(), e.readVars)
}

// Execute runs each query, in parallel when there are several.
func (e *sessionExecutor) Execute(ctx context.Context, qs []router.ShardQuery) ([]*querypb.QueryResult, error) {
	if err := e.awaitSwitch(ctx, qs); err != nil {
		return nil, err
	}
	if lockQuery(qs) {
		res, err := e.executeLock(ctx, qs[0])
		return []*querypb.QueryResult{res}, err
	}
	return e.each(ctx, qs, e.inTx())
}

// ExecuteAutocommit runs each query outside the session's transaction.
func (e *sessionExecutor) ExecuteAutocommit(ctx context.Context, qs []router.ShardQuery) ([]*querypb.QueryResult, error) {
	if err := e.awaitSwitch(ctx, qs); err != nil {
		return nil, err
	}
	return e.each(ctx, qs, false)
}

func (e *sessionExecutor) each(ctx context.Context, qs []router.ShardQuery, inTx bool) ([]*querypb.QueryResult, error) {
	if inTx {
		keys := make([]shardKey, len(qs))
		for i, q := range qs {
			keys[i] = shardKey{q.Keyspace, q.Shard}
		}
		if err := e.s.checkShards(keys); err != nil {
			return nil, err
		}
		out, err := e.eachInTx(ctx, qs)
		e.noteRanInTx(len(qs), err)
		return out, e.switchedAfter(ctx, err, qs[0].Keyspace)
	}
	out := make([]*querypb.QueryResult, len(qs))
	if len(qs) == 1 {
		r, err := e.executeOne(ctx, qs[0], false, "")
		e.noteRan(err)
		out[0] = r
		return out, e.switchedAfter(ctx, err, qs[0].Keyspace)
	}
	err := e.gw.Parallel(ctx, len(qs), func(ctx context.Context, i int) error {
		r, err := e.executeOne(ctx, qs[i], false, "")
		e.noteRan(err)
		out[i] = r
		return err
	})
	return out, e.switchedAfter(ctx, err, qs[0].Keyspace)
}

// executeOne runs one query. Inside the transaction, sp (when set) is the
// statement's implicit savepoint, set on the shard before the query
// (stmtatomic.go).
func (e *sessionExecutor) executeOne(ctx context.Context, q router.ShardQuery, inTx bool, sp string) (*querypb.QueryResult, error) {
	target := e.target(q)
	opts := e.options()
	if !inTx {
		var res *querypb.QueryResult
		err := e.gw.Call(ctx, target, func(th *tabletgw.TabletHealth) error {
			resp, err := th.Client.Execute(ctx, &querypb.ExecuteRequest{Target: target, Sql: q.SQL, Options: opts})
			if err != nil {
				return err
			}
			res = resp.Result
			return nil
		})
		if err == nil {
			e.s.addWarnings(res.GetWarningList())
		}
		return res, wrapShardErr(err)
	}
	key := shardKey{q.Keyspace, q.Shard}
	var sps []string
	if sp != "" {
		sps = []string{sp}
	}
	if tx := e.s.getTx(key); tx != nil {
		resp, err := tx.tablet.Client.Execute(ctx, &querypb.ExecuteRequest{Target: tx.target, Sql: q.SQL, TransactionId: tx.txID, Options: opts, Savepoints: sps})
		if err != nil {
			err = shardTxErr(key, err)
			if sqlerr.IsTxEnded(err) {
				e.s.markTxLost(err)
			}
			return nil, err
		}
		e.s.ran(tx)
		e.s.addWarnings(resp.Result.GetWarningList())
		return resp.Result, nil
	}
	// A shard new to the transaction: it begins with the session's
	// savepoints set, in order, then the statement's, so that rolling back
	// to any of them undoes everything it did.
	if names := e.s.savepointList(); len(names) > 0 {
		sps = append(names, sps...)
	}
	bo, xa, err := e.s.beginOptionsFor(key)
	if err != nil {
		return nil, err
	}
	var res *querypb.QueryResult
	err = e.gw.Call(ctx, target, func(th *tabletgw.TabletHealth) error {
		resp, err := th.Client.BeginExecute(ctx, &querypb.BeginExecuteRequest{Target: target, Sql: q.SQL, Options: opts, BeginOptions: bo, Savepoints: sps})
		if err != nil {
			return err
		}
		if resp.TransactionId != 0 && !resp.Error.GetTransactionEnded() {
			tx := &shardTx{key: key, target: target, tablet: th, txID: resp.TransactionId, xa: xa}
			e.s.addTx(tx)
			if resp.Error == nil {
				e.s.ran(tx)
			}
		}
		if resp.Error != nil {
			return sqlerr.FromProto(resp.Error)
		}
		res = resp.Result
		return nil
	})
	if err == nil {
		e.s.addWarnings(res.GetWarningList())
	}
	return res, wrapShardErr(err)
}

// Stream streams each query's result. Inside a transaction the statements
// run on the transaction's connections, whose results are not streamed.
func (e *sessionExecutor) Stream(ctx context.Context, qs []router.ShardQuery, cb func(int, *querypb.QueryResult) error) error {
	if err := e.awaitSwitch(ctx, qs); err != nil {
		return err
	}
	if e.inTx() || lockQuery(qs) {
		res, err := e.Execute(ctx, qs)
		if err != nil {
			return err
		}
		for i, r := range res {
			if err := cb(i, r); err != nil {
				return err
			}
		}
		return nil
	}
	if len(qs) == 1 {
		if smallFirst(e.stats) {
			if done, err := e.executeSmall(ctx, qs[0], cb); done {
				e.noteRan(err)
				return e.switchedAfter(ctx, err, qs[0].Keyspace)
			}
			e.stats.MarkLarge()
		}
		err := e.streamOne(ctx, 0, qs[0], cb)
		e.noteRan(err)
		return e.switchedAfter(ctx, err, qs[0].Keyspace)
	}
	err := e.gw.Parallel(ctx, len(qs), func(ctx context.Context, i int) error {
		err := e.streamOne(ctx, i, qs[i], cb)
		e.noteRan(err)
		return err
	})
	return e.switchedAfter(ctx, err, qs[0].Keyspace)
}

func (e *sessionExecutor) streamOne(ctx context.Context, i int, q router.ShardQuery, cb func(int, *querypb.QueryResult) error) error {
	target := e.target(q)
	opts := e.options()
	started := false
	chunks := 0
	err := e.gw.Call(ctx, target, func(th *tabletgw.TabletHealth) error {
		sctx, cancel := context.WithCancel(ctx)
		defer cancel()
		st, err := th.Client.StreamExecute(sctx, &querypb.ExecuteRequest{Target: target, Sql: q.SQL, Options: opts})
		if err != nil {
			return err
		}
		for {
			resp, err := st.Recv()
			if err != nil {
				if mysqlsrv.IsEOF(err) {
					return nil
				}
				if started {
					// Rows already went out: never retry elsewhere.
					return sqlerr.NotRetryable(err)
				}
				return err
			}
			started = true
			if ws := resp.Result.GetWarningList(); len(ws) > 0 {
				e.s.addWarnings(ws)
				if len(resp.Result.Fields) == 0 && len(resp.Result.Rows) == 0 {
					// The warnings' own message: nothing for the client.
					continue
				}
			}
			if len(resp.Result.Rows) > 0 {
				// A result of several chunks is more than Execute should
				// carry whole.
				if chunks++; chunks == 2 && e.stats != nil {
					e.stats.MarkLarge()
				}
			}
			if err := cb(i, resp.Result); err != nil {
				return sqlerr.NotRetryable(err)
			}
		}
	})
	return wrapShardErr(err)
}

// wrapShardErr turns a tablet error into the client's MySQL error.
func wrapShardErr(err error) error {
	if err == nil {
		return nil
	}
	return sqlerr.FromError(err)
}
