package tablet

import (
	"context"
	"time"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/sqlerr"
	"github.com/mosaicdb/mosaic/tablet/mysqlconn"
	"github.com/mosaicdb/mosaic/tablet/queryservice"
)

// dbaQuerier runs the agent's own statements as root over the unix socket
// (or, over the heartbeat's pool, as the app user).
// It implements flavor.Querier. When ctx ends mid-statement the connection
// is cut and discarded (these statements are short, or bounded by a
// timeout of their own, like MASTER_GTID_WAIT).
type dbaQuerier struct {
	pool *queryservice.Pool
}

func (q dbaQuerier) run(ctx context.Context, sql string, maxRows int) (*querypb.QueryResult, error) {
	pc, err := q.pool.Get(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer pc.Recycle()
	stop := context.AfterFunc(ctx, func() { _ = pc.SetReadDeadline(time.Now()) })
	res, err := pc.Execute(sql, maxRows)
	if !stop() {
		_ = pc.Close()
		if err != nil {
			return nil, sqlerr.Wrap(sqlerr.ERQueryInterrupted, ctx.Err(), "%s: interrupted: %v", sql, ctx.Err())
		}
	}
	return res, err
}

// Exec implements flavor.Querier.
func (q dbaQuerier) Exec(ctx context.Context, sql string) error {
	_, err := q.run(ctx, sql, 0)
	return err
}

// Query implements flavor.Querier.
func (q dbaQuerier) Query(ctx context.Context, sql string) ([]mysqlconn.Row, error) {
	res, err := q.run(ctx, sql, 10000)
	if err != nil {
		return nil, err
	}
	return mysqlconn.NamedRows(res)
}
