package proxy

import (
	"context"
	"time"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proxy/tabletgw"
	"github.com/mosaicdb/mosaic/router"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// sideTx is a transaction on one shard outside the session's own
// (router.SideTransactor): lookup vindexes hold their entries' row locks
// in it while the owner's rows are written. It lives for one statement,
// on the tablet it began on.
type sideTx struct {
	e      *sessionExecutor
	begin  *querypb.BeginOptions
	target *querypb.Target
	tablet *tabletgw.TabletHealth
	id     int64
}

var (
	_ router.SideTransactor = (*sessionExecutor)(nil)
	_ router.SideTransactor = autocommitExecutor{}
)

// BeginSide returns a side transaction on the shard; it begins with its
// first statement (one round trip for both).
func (e *sessionExecutor) BeginSide(ctx context.Context, keyspace, shard string, readCommitted bool) (router.SideTx, error) {
	q := router.ShardQuery{Keyspace: keyspace, Shard: shard}
	if err := e.awaitSwitch(ctx, []router.ShardQuery{q}); err != nil {
		return nil, err
	}
	// The side transactions carry the tag of the session's transaction,
	// or outside one the statement's own, so that the deadlock detector
	// sees a wait that goes through them and the session's rows as one
	// transaction's (tablet/deadlock).
	tx := &sideTx{e: e, target: e.target(q), begin: &querypb.BeginOptions{Tag: e.sideTag()}}
	if readCommitted {
		tx.begin.Isolation = "READ COMMITTED"
	}
	return tx, nil
}

// sideTag is the tag of the statement's side transactions.
func (e *sessionExecutor) sideTag() *querypb.TransactionTag {
	if e.s.InTransaction {
		return e.s.txTag()
	}
	if e.stmtTag == nil {
		e.stmtTag = &querypb.TransactionTag{Dtid: newDTID(), StartUnixNano: time.Now().UnixNano()}
	}
	return e.stmtTag
}

func (a autocommitExecutor) BeginSide(ctx context.Context, keyspace, shard string, readCommitted bool) (router.SideTx, error) {
	return a.e.BeginSide(ctx, keyspace, shard, readCommitted)
}

func (t *sideTx) Execute(ctx context.Context, sql string) (*querypb.QueryResult, error) {
	opts := t.e.options()
	if t.tablet == nil {
		var res *querypb.QueryResult
		err := t.e.gw.Call(ctx, t.target, func(th *tabletgw.TabletHealth) error {
			resp, err := th.Client.BeginExecute(ctx, &querypb.BeginExecuteRequest{Target: t.target, Sql: sql, Options: opts, BeginOptions: t.begin})
			if err != nil {
				return err
			}
			if resp.TransactionId != 0 {
				t.tablet, t.id = th, resp.TransactionId
			}
			if resp.Error != nil {
				return sqlerr.FromProto(resp.Error)
			}
			res = resp.Result
			return nil
		})
		t.e.noteRan(err)
		if err != nil {
			return nil, wrapShardErr(err)
		}
		t.e.s.addWarnings(res.GetWarningList())
		return res, nil
	}
	resp, err := t.tablet.Client.Execute(ctx, &querypb.ExecuteRequest{Target: t.target, Sql: sql, TransactionId: t.id, Options: opts})
	t.e.noteRan(err)
	if err != nil {
		return nil, wrapShardErr(err)
	}
	t.e.s.addWarnings(resp.Result.GetWarningList())
	return resp.Result, nil
}

func (t *sideTx) Commit(ctx context.Context) error {
	if t.tablet == nil {
		return nil
	}
	_, err := t.tablet.Client.Commit(ctx, &querypb.CommitRequest{Target: t.target, TransactionId: t.id})
	t.tablet = nil
	return wrapShardErr(err)
}

func (t *sideTx) Rollback(ctx context.Context) {
	if t.tablet == nil {
		return
	}
	// Also when the statement's context has ended (a KILL, a timeout):
	// the locks must go now, not when the tablet's idle timeout fires.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_, _ = t.tablet.Client.Rollback(rctx, &querypb.RollbackRequest{Target: t.target, TransactionId: t.id})
	t.tablet = nil
}
