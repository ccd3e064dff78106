package router

import (
	"github.com/pingcap/tidb/pkg/parser/ast"
)

// Derived tables grouped by the sharding column.
//
// A derived table whose subquery groups by the primary vindex column of
// its tables has each group on one shard: every shard computes its part of
// the derived table whole. It then plans as a table sharded by that
// column: alone, the outer query runs on every shard around it (a
// scatter, merged as over a table); in a join, it joins tables sharded by
// the same vindex on that column in one route, as Vitess merges it.

// shardLocal returns the route group of a derived table whose rows each
// shard computes whole from its own rows: a SELECT over sharded tables
// that share a route, grouped by the primary vindex column of one of them
// (every row of a group lives on one shard), without LIMIT, DISTINCT,
// window functions or subqueries. The outer query then runs on every
// shard as over a table, its results merged as a scatter's. nil
// otherwise.
func (p *planner) shardLocal(n ast.ResultSetNode) *routeGroup {
	in, ok := n.(*ast.SelectStmt)
	if !ok || in.Kind != ast.SelectStmtKindSelect || in.With != nil || in.GroupBy == nil || in.Limit != nil ||
		in.Distinct || in.SelectIntoOpt != nil || len(in.WindowSpecs) > 0 || hasSubquery(in) ||
		(in.SelectStmtOpts != nil && in.SelectStmtOpts.CalcFoundRows) || in.GroupBy.Rollup {
		return nil
	}
	wf := &windowFinder{}
	in.Fields.Accept(wf)
	if wf.found {
		return nil
	}
	entries, err := p.flattenFrom(tableRefs(in), nil)
	if err != nil || len(entries) == 0 {
		return nil
	}
	for _, e := range entries {
		if e.derived != nil {
			return nil
		}
	}
	g, err := p.groupTables(entries, in.Where)
	if err != nil || g == nil || g.kind != "sharded" {
		return nil
	}
	for _, by := range in.GroupBy.Items {
		c, ok := by.Expr.(*ast.ColumnNameExpr)
		if !ok {
			continue
		}
		if g.vindexColumnTable(c.Name) != nil {
			return g
		}
	}
	return nil
}

// shardLocalTable returns the table a derived table each shard computes
// whole (shardLocal) stands for in a route: a sharded table of its
// keyspace whose primary vindex column is the derived table's column
// holding the grouping vindex column, so that joins on it, and conditions
// on it, route as on a table's. nil when it is no such derived table or
// does not show that column.
func (p *planner) shardLocalTable(e *fromEntry) *tableInfo {
	g := p.shardLocal(e.derived)
	if g == nil || e.alias == "" {
		return nil
	}
	in := e.derived.(*ast.SelectStmt)
	for _, by := range in.GroupBy.Items {
		c, ok := by.Expr.(*ast.ColumnNameExpr)
		if !ok {
			continue
		}
		t := g.vindexColumnTable(c.Name)
		if t == nil {
			continue
		}
		for _, f := range in.Fields.Fields {
			fc, ok := f.Expr.(*ast.ColumnNameExpr)
			if !ok || g.vindexColumnTable(fc.Name) != t {
				continue
			}
			name := fc.Name.Name.L
			if f.AsName.L != "" {
				name = f.AsName.L
			}
			cv := t.tbl.PrimaryVindex()
			return &tableInfo{alias: e.alias, ks: g.ks, tbl: &Table{Name: e.alias, Keyspace: g.ks, Type: TableNormal,
				ColumnVindexes: []*ColumnVindex{{Column: name, Name: cv.Name, Vindex: cv.Vindex}}}}
		}
	}
	return nil
}

// planShardLocal plans a query over a derived table each shard computes
// whole (shardLocal): the outer WHERE's conditions on its group keys move
// into it, where they may route it; the statement then runs on that
// route as over a table (a scatter merges, aggregates, sorts and limits
// the shards' results as for any table).
func (p *planner) planShardLocal(sel *ast.SelectStmt, e *fromEntry, g *routeGroup) (Primitive, error) {
	d, err := p.newDerivedRows(e)
	if err != nil {
		return nil, err
	}
	if sel.Where != nil {
		sel.Where = d.pushFilters(sel.Where)
	}
	route, err := p.routeForGroup(g, d.sel.Where)
	if err != nil {
		return nil, err
	}
	if singleShard(route) {
		if route.Query, err = newTemplate(sel, p.mode); err != nil {
			return nil, err
		}
		return route, nil
	}
	return p.planScatterSelect(sel, route, g)
}
