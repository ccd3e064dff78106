package proxy

import (
	"context"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proxy/tabletgw"
	"github.com/mosaicdb/mosaic/router"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// A statement that reads rows streams them (StreamExecute), so that a
// large result never sits whole in the gate. A gRPC stream costs the gate
// more than a single call, though, and most results are small: a plan
// whose results have all been small sends its one-shard query with
// Execute and small_result instead, and the tablet gives up (too_large)
// on a result bigger than one stream chunk, which the gate then streams.
// A plan that has had a large result streams from then on, so a
// statement runs twice at most once per cached plan.

// smallFirst reports whether the query of a plan should try Execute first.
func smallFirst(stats *router.PlanStats) bool {
	return stats != nil && stats.Execs() > 0 && !stats.Large()
}

// executeSmall runs q with Execute, asking for the whole result only if it
// is small, and hands it to cb. It returns false, having called nothing,
// when the tablet found the result too large.
func (e *sessionExecutor) executeSmall(ctx context.Context, q router.ShardQuery, cb func(int, *querypb.QueryResult) error) (bool, error) {
	// The request is pooled: nothing keeps it once Execute returned (see
	// smallRequest).
	sr, _ := e.gw.smallReqs.Get().(*smallRequest)
	if sr == nil {
		sr = new(smallRequest)
	}
	defer e.gw.releaseSmall(sr)
	req, target := &sr.req, &sr.target
	target.Keyspace, target.Shard, target.TabletType = q.Keyspace, q.Shard, e.s.TabletType
	req.Target, req.Sql, req.Options, req.SmallResult = target, q.SQL, e.options(), true
	var res *querypb.QueryResult
	tooLarge := false
	err := e.gw.Call(ctx, target, func(th *tabletgw.TabletHealth) error {
		resp, err := th.Client.Execute(ctx, req)
		if err != nil {
			return err
		}
		res, tooLarge = resp.Result, resp.TooLarge
		return nil
	})
	if err != nil {
		return true, wrapShardErr(err)
	}
	if tooLarge {
		return false, nil
	}
	if ws := res.GetWarningList(); len(ws) > 0 {
		e.s.addWarnings(ws)
	}
	if err := cb(0, res); err != nil {
		return true, wrapShardErr(sqlerr.NotRetryable(err))
	}
	return true, nil
}

// smallRequest is the request executeSmall sends, pooled: two
// allocations a statement fewer. Neither the tablet client nor the
// gateway keeps a request or its target past the call. (Several may be
// under way on one executor: a merge streams each shard's query alone.)
type smallRequest struct {
	target querypb.Target
	req    querypb.ExecuteRequest
}

// releaseSmall drops what r points to and returns it to the pool.
func (g *gateway) releaseSmall(r *smallRequest) {
	r.req.Target, r.req.Sql, r.req.Options = nil, "", nil
	g.smallReqs.Put(r)
}
