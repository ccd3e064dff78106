package router

import (
	"context"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// unshardedRoute sends a statement unchanged to the single shard of an
// unsharded keyspace.
type unshardedRoute struct {
	keyspace string
	shard    string
	sql      string
}

func (r *unshardedRoute) query() []ShardQuery {
	return []ShardQuery{{Keyspace: r.keyspace, Shard: r.shard, SQL: r.sql}}
}

func (r *unshardedRoute) Execute(ctx context.Context, exec ShardExecutor, bv BindVars) (*querypb.QueryResult, error) {
	res, err := exec.Execute(ctx, r.query())
	if err != nil {
		return nil, err
	}
	if len(res) != 1 {
		return nil, sqlerr.New(sqlerr.ERUnknown, "executor returned %d results for 1 query", len(res))
	}
	return res[0], nil
}

func (r *unshardedRoute) Stream(ctx context.Context, exec ShardExecutor, bv BindVars, callback func(*querypb.QueryResult) error) error {
	return exec.Stream(ctx, r.query(), func(_ int, chunk *querypb.QueryResult) error {
		return callback(chunk)
	})
}

func (r *unshardedRoute) Describe() map[string]any {
	return map[string]any{"operator": "Route", "variant": "Unsharded", "keyspace": r.keyspace, "shard": r.shard, "query": r.sql}
}
