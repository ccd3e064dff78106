package proxy

import (
	"context"
	"strconv"
	"time"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proxy/tabletgw"
	"github.com/mosaicdb/mosaic/router"
	"github.com/mosaicdb/mosaic/router/sqltypes"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// SELECT SQL_CALC_FOUND_ROWS runs where the router sends it (one shard:
// the router refuses it across shards) on a connection that then answers
// SELECT FOUND_ROWS(): the session's transaction, or a short read-only
// transaction of its own. The count becomes the session's FOUND_ROWS().

// foundRowsExecutor runs a plan's queries like the session's executor,
// but on transaction connections, and reads FOUND_ROWS() after each.
type foundRowsExecutor struct {
	*sessionExecutor
	found uint64
}

func (e *foundRowsExecutor) Execute(ctx context.Context, qs []router.ShardQuery) ([]*querypb.QueryResult, error) {
	out := make([]*querypb.QueryResult, len(qs))
	for i, q := range qs {
		res, err := e.executeCounting(ctx, q)
		if err != nil {
			return nil, err
		}
		out[i] = res
	}
	return out, nil
}

func (e *foundRowsExecutor) Stream(ctx context.Context, qs []router.ShardQuery, cb func(int, *querypb.QueryResult) error) error {
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

// executeCounting runs q, then SELECT FOUND_ROWS() on the same connection.
func (e *foundRowsExecutor) executeCounting(ctx context.Context, q router.ShardQuery) (*querypb.QueryResult, error) {
	s := e.s
	if s.InTransaction {
		rs, err := e.each(ctx, []router.ShardQuery{q}, true)
		if err != nil {
			return nil, err
		}
		res := rs[0]
		tx := s.getTx(shardKey{q.Keyspace, q.Shard})
		if tx == nil {
			return nil, sqlerr.New(sqlerr.ERUnknown, "no transaction on %s/%s after SQL_CALC_FOUND_ROWS", q.Keyspace, q.Shard)
		}
		n, err := e.readFoundRows(ctx, tx.tablet, tx.target, tx.txID)
		e.found = n
		return res, err
	}
	target := e.target(q)
	opts := e.options()
	var res *querypb.QueryResult
	err := e.gw.Call(ctx, target, func(th *tabletgw.TabletHealth) error {
		resp, err := th.Client.BeginExecute(ctx, &querypb.BeginExecuteRequest{Target: target, Sql: q.SQL, Options: opts})
		if err != nil {
			return err
		}
		if resp.TransactionId != 0 {
			defer func() {
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
				defer cancel()
				th.Client.Rollback(rctx, &querypb.RollbackRequest{Target: target, TransactionId: resp.TransactionId})
			}()
		}
		if resp.Error != nil {
			return sqlerr.FromProto(resp.Error)
		}
		res = resp.Result
		s.addWarnings(res.GetWarningList())
		n, err := e.readFoundRows(ctx, th, target, resp.TransactionId)
		e.found = n
		return err
	})
	return res, wrapShardErr(err)
}

func (e *foundRowsExecutor) readFoundRows(ctx context.Context, th *tabletgw.TabletHealth, target *querypb.Target, txID int64) (uint64, error) {
	resp, err := th.Client.Execute(ctx, &querypb.ExecuteRequest{Target: target, Sql: "SELECT FOUND_ROWS()", TransactionId: txID})
	if err != nil {
		return 0, err
	}
	if len(resp.Result.Rows) != 1 {
		return 0, sqlerr.New(sqlerr.ERUnknown, "SELECT FOUND_ROWS() returned %d rows", len(resp.Result.Rows))
	}
	vals, err := sqltypes.DecodeRow(resp.Result.Rows[0], 1)
	if err != nil {
		return 0, err
	}
	n, _ := strconv.ParseUint(string(vals[0]), 10, 64)
	return n, nil
}

// runCalcFoundRows runs a SELECT SQL_CALC_FOUND_ROWS plan.
func (cc *clientConn) runCalcFoundRows(ctx context.Context, plan *router.Plan, bv router.BindVars) error {
	exec := &foundRowsExecutor{sessionExecutor: &sessionExecutor{gw: cc.g.gw, s: cc.s}}
	res, err := plan.Execute(ctx, exec, bv)
	if err != nil {
		return err
	}
	if err := cc.writeResult(res); err != nil {
		return err
	}
	cc.s.FoundRows = exec.found
	return nil
}
