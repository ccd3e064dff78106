package proxy

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/proxy/tabletgw"
	"github.com/mosaicdb/mosaic/router"
	"github.com/mosaicdb/mosaic/router/sqltypes"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// learnedColumns is the gate's router.ColumnSource: the columns of tables
// as the shards' schema has them, for INSERT and REPLACE without a column
// list. The gate learns a table's columns when the router asks for them
// (a table not known yet, or a row whose length does not match), reading
// information_schema on the primary of the keyspace's first shard, and
// forgets a keyspace's tables when it runs DDL there.
type learnedColumns struct {
	mu     sync.Mutex
	tables map[columnsKey][]string
	// gens counts forget calls per keyspace: columns read before a forget
	// may predate the DDL and are not stored.
	gens map[string]uint64
}

type columnsKey struct {
	keyspace string
	table    string // lower case
}

func newLearnedColumns() *learnedColumns {
	return &learnedColumns{tables: map[columnsKey][]string{}, gens: map[string]uint64{}}
}

var _ router.ColumnSource = (*learnedColumns)(nil)

// Columns returns the learned columns of keyspace's table; it never blocks
// on IO. The slice is shared: callers must not modify it.
func (c *learnedColumns) Columns(keyspace, table string) ([]string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cols, ok := c.tables[columnsKey{keyspace, strings.ToLower(table)}]
	return cols, ok
}

// generation returns the keyspace's forget count, to pass to store.
func (c *learnedColumns) generation(keyspace string) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gens[keyspace]
}

// store records a table's columns read at generation gen, unless the
// keyspace was forgotten since. It reports whether columns already known
// changed (cached plans used the old ones).
func (c *learnedColumns) store(keyspace, table string, gen uint64, cols []string) (changed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gens[keyspace] != gen {
		return false
	}
	k := columnsKey{keyspace, strings.ToLower(table)}
	old, had := c.tables[k]
	c.tables[k] = cols
	return had && !slices.Equal(old, cols)
}

// forget drops every learned table of keyspace: DDL ran there. It reports
// whether any was known.
func (c *learnedColumns) forget(keyspace string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gens[keyspace]++
	had := false
	for k := range c.tables {
		if k.keyspace == keyspace {
			delete(c.tables, k)
			had = true
		}
	}
	return had
}

// planLearning plans sql for keyspace and tablet type tt like Router.PlanAt, given the outcome
// of a first Plan call; when the router asks for a table's columns, the
// gate learns them from the shards and plans once more.
func (g *Gate) planLearning(ctx context.Context, sql, keyspace string, tt topodatapb.TabletType, mode router.ParseMode, plan *router.Plan, bv router.BindVars, err error) (*router.Plan, router.BindVars, error) {
	if err == nil {
		// The common case, without the errors.As target on the heap.
		return plan, bv, nil
	}
	var cn *router.ColumnsNeededError
	if !errors.As(err, &cn) {
		return plan, bv, err
	}
	if lerr := g.learnColumns(ctx, cn.Keyspace, cn.Table); lerr != nil {
		return nil, nil, lerr
	}
	plan, bv, err = g.router.PlanAt(sql, keyspace, tt, mode)
	if errors.As(err, &cn) {
		return nil, nil, cn.Err
	}
	return plan, bv, err
}

// learnColumns reads the columns of keyspace's table, in ordinal order,
// from information_schema on the primary of the keyspace's first shard
// (every shard has the same schema), leaving out invisible columns as an
// INSERT without a column list does. A table without columns does not
// exist: 1146.
func (g *Gate) learnColumns(ctx context.Context, keyspace, table string) error {
	ks, ok := g.router.VSchema().Keyspaces[keyspace]
	if !ok || len(ks.Shards) == 0 {
		return sqlerr.New(sqlerr.ERBadDB, "Unknown database '%s'", keyspace)
	}
	gen := g.columns.generation(keyspace)
	target := &querypb.Target{Keyspace: keyspace, Shard: ks.Shards[0], TabletType: topodatapb.TabletType_PRIMARY}
	sql := "SELECT COLUMN_NAME, EXTRA FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = " +
		string(sqltypes.AppendQuoted(nil, table)) + " ORDER BY ORDINAL_POSITION"
	var res *querypb.QueryResult
	err := g.gw.Call(ctx, target, func(th *tabletgw.TabletHealth) error {
		resp, err := th.Client.Execute(ctx, &querypb.ExecuteRequest{Target: target, Sql: sql})
		if err != nil {
			return err
		}
		res = resp.Result
		return nil
	})
	if err != nil {
		return wrapShardErr(err)
	}
	var cols []string
	for _, raw := range res.Rows {
		vals, err := sqltypes.DecodeRow(raw, 2)
		if err != nil {
			return sqlerr.Wrap(sqlerr.ERUnknown, err, "reading the columns of %s.%s: %v", keyspace, table, err)
		}
		if strings.Contains(strings.ToUpper(string(vals[1])), "INVISIBLE") {
			continue
		}
		cols = append(cols, string(vals[0]))
	}
	if len(cols) == 0 {
		return sqlerr.New(sqlerr.ERNoSuchTable, "Table '%s.%s' doesn't exist", keyspace, table)
	}
	if g.columns.store(keyspace, table, gen, cols) {
		g.router.ColumnsChanged()
	}
	g.log.Debug("learned table columns", "keyspace", keyspace, "table", table, "columns", len(cols))
	return nil
}

// forgetColumns drops what the gate learned of keyspace's tables after it
// ran DDL there (it may have changed any table's columns).
func (g *Gate) forgetColumns(keyspace string) {
	if keyspace != "" && g.columns.forget(keyspace) {
		g.router.ColumnsChanged()
	}
}
