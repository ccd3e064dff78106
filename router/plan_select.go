package router

import (
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
	driver "github.com/pingcap/tidb/pkg/parser/test_driver"

	"github.com/mosaicdb/mosaic/sqlerr"
)

// planQuery plans a SELECT or a UNION.
func (p *planner) planQuery(n ast.Node) (Primitive, error) {
	switch s := n.(type) {
	case *ast.SelectStmt:
		return p.planSelect(s)
	case *ast.SetOprStmt:
		return p.planUnion(s)
	}
	return nil, sqlerr.NotSupported("this query form (%T)", n)
}

// AliasFields names the computed columns of sel after their text as
// written, as mysqld names them, before the statement is regenerated (the
// regenerated text of @@max_allowed_packet is @@`max_allowed_packet`).
func AliasFields(sel *ast.SelectStmt) { aliasFields(sel) }

// aliasFields names each computed select field after its text, as MySQL
// names the column, so that regenerated SQL keeps the column names.
func aliasFields(sel *ast.SelectStmt) {
	if sel.Fields == nil {
		return
	}
	for _, f := range sel.Fields.Fields {
		if f.Expr == nil || f.AsName.L != "" {
			continue
		}
		switch f.Expr.(type) {
		case *ast.ColumnNameExpr, *driver.ValueExpr:
			continue
		}
		if t := strings.TrimSpace(f.Text()); t != "" && len(t) <= 256 {
			f.AsName = ast.NewCIStr(t)
		}
	}
}

// singleShard reports routes that send to exactly one shard, where the
// whole statement can run as written.
func singleShard(r *Route) bool {
	switch r.Opcode {
	case Unsharded, EqualUnique, AnyShard, Pinned:
		return true
	}
	return false
}

func (p *planner) planSelect(sel *ast.SelectStmt) (Primitive, error) {
	if sel.Kind != ast.SelectStmtKindSelect {
		return p.planWholeInDefault(sel)
	}
	aliasFields(sel)
	if sel.With != nil {
		return p.planWithCTE(sel)
	}
	p.mergeDerivedTables(sel)
	entries, err := p.flattenFrom(tableRefs(sel), nil)
	if err != nil {
		return nil, err
	}
	if len(entries) == 0 {
		return p.planTableless(sel)
	}
	// A derived table alone in FROM runs with the route of its subquery
	// when that route is one shard.
	if len(entries) == 1 && entries[0].derived != nil {
		return p.planOverDerived(sel, entries[0])
	}
	g, err := p.groupTables(entries, sel.Where)
	if err != nil {
		return nil, err
	}
	if g == nil {
		return p.planJoin(sel, entries)
	}
	pullouts, err := p.handleSubqueries(sel, g)
	if err != nil {
		return nil, err
	}
	route, err := p.routeForGroup(g, sel.Where)
	if err != nil {
		return nil, err
	}
	var prim Primitive
	if singleShard(route) {
		if route.Query, err = newTemplate(sel, p.mode); err != nil {
			return nil, err
		}
		prim = route
	} else {
		if prim, err = p.planScatterSelect(sel, route, g); err != nil {
			return nil, err
		}
	}
	return wrapPullouts(prim, pullouts), nil
}

func tableRefs(sel *ast.SelectStmt) ast.ResultSetNode {
	if sel.From == nil {
		return nil
	}
	return sel.From.TableRefs
}

// routeForGroup makes the (query-less) route of a group.
func (p *planner) routeForGroup(g *routeGroup, where ast.ExprNode) (*Route, error) {
	switch g.kind {
	case "unsharded":
		return &Route{Opcode: Unsharded, Keyspace: g.ks}, nil
	case "system", "reference":
		return &Route{Opcode: AnyShard, Keyspace: g.ks}, nil
	case "pinned":
		t := g.tables()[0]
		shard, ok := g.ks.ShardForKeyspaceID(t.tbl.Pinned)
		if !ok {
			return nil, sqlerr.New(sqlerr.ERUnknown, "no shard of keyspace %s holds pinned table %s", g.ks.Name, t.tbl.Name)
		}
		return &Route{Opcode: Pinned, Keyspace: g.ks, PinnedShard: shard, PinnedID: t.tbl.Pinned}, nil
	}
	return p.vindexRoute(g, where), nil
}

// planTableless plans a SELECT without FROM.
func (p *planner) planTableless(sel *ast.SelectStmt) (Primitive, error) {
	ks, err := p.defaultKeyspace()
	if err != nil {
		return nil, err
	}
	g := &routeGroup{ks: ks, kind: "reference"}
	if !ks.Sharded {
		g.kind = "unsharded"
	}
	pullouts, err := p.handleSubqueries(sel, g)
	if err != nil {
		return nil, err
	}
	r, _ := p.routeForGroup(g, nil)
	if r.Query, err = newTemplate(sel, p.mode); err != nil {
		return nil, err
	}
	return wrapPullouts(r, pullouts), nil
}

// planWholeInDefault sends TABLE / VALUES statements whole when that is safe.
func (p *planner) planWholeInDefault(sel *ast.SelectStmt) (Primitive, error) {
	names := allTableNames(sel)
	var ks *Keyspace
	for _, tn := range names {
		ti, err := p.resolveTable(tn, "")
		if err != nil {
			return nil, err
		}
		if ti.sharded() {
			return nil, sqlerr.NotSupported("TABLE and VALUES statements on sharded tables")
		}
		ks = ti.ks
	}
	if ks == nil {
		k, err := p.defaultKeyspace()
		if err != nil {
			return nil, err
		}
		ks = k
	}
	op := AnyShard
	if !ks.Sharded {
		op = Unsharded
	}
	t, err := newTemplate(sel, p.mode)
	if err != nil {
		return nil, err
	}
	return &Route{Opcode: op, Keyspace: ks, Query: t}, nil
}

// planOverDerived plans SELECT ... FROM (subquery) AS d.
func (p *planner) planOverDerived(sel *ast.SelectStmt, e *fromEntry) (Primitive, error) {
	if !p.derivedOnOneShard(e.derived) {
		if g := p.shardLocal(e.derived); g != nil && !hasSubquery(sel.Fields) &&
			(sel.Where == nil || !hasSubquery(sel.Where)) && (sel.Having == nil || !hasSubquery(sel.Having)) {
			return p.planShardLocal(sel, e, g)
		}
		return p.planDerivedSpan(sel, e)
	}
	inner, err := p.planQuery(e.derived)
	if err != nil {
		return nil, err
	}
	r, ok := inner.(*Route)
	if !ok || !singleShard(r) {
		return nil, sqlerr.NotSupported("a derived table (subquery in FROM) that spans shards")
	}
	if err := p.noCrossShardSubqueries(sel, r.Keyspace); err != nil {
		return nil, err
	}
	out := *r
	if out.Query, err = newTemplate(sel, p.mode); err != nil {
		return nil, err
	}
	return &out, nil
}

// noCrossShardSubqueries refuses subqueries on sharded tables in a
// statement that otherwise runs on one shard chosen by a derived table.
func (p *planner) noCrossShardSubqueries(sel *ast.SelectStmt, ks *Keyspace) error {
	for _, tn := range allTableNames(sel) {
		if tn.Schema.L == "" && tn.Name.L == "" {
			continue
		}
	}
	return nil
}

func wrapPullouts(prim Primitive, pullouts []*PulloutSubquery) Primitive {
	for i := len(pullouts) - 1; i >= 0; i-- {
		po := pullouts[i]
		po.Outer = prim
		prim = po
	}
	return prim
}

// planWithCTE sends a statement with common table expressions whole to an
// unsharded keyspace; elsewhere it plans each reference to a CTE as the
// derived table it stands for (plan_cte.go).
func (p *planner) planWithCTE(sel *ast.SelectStmt) (Primitive, error) {
	ctes := map[string]bool{}
	for _, c := range sel.With.CTEs {
		ctes[c.Name.L] = true
	}
	var ks *Keyspace
	for _, tn := range allTableNames(sel) {
		if tn.Schema.L == "" && ctes[tn.Name.L] {
			continue
		}
		ti, err := p.resolveTable(tn, "")
		if err != nil {
			return nil, err
		}
		if ti.ks.Sharded || (ks != nil && ks != ti.ks) {
			return p.planInlinedCTEs(sel)
		}
		ks = ti.ks
	}
	if ks == nil {
		k, err := p.defaultKeyspace()
		if err != nil {
			return nil, err
		}
		if k.Sharded {
			return p.planInlinedCTEs(sel)
		}
		ks = k
	}
	t, err := newTemplate(sel, p.mode)
	if err != nil {
		return nil, err
	}
	return &Route{Opcode: Unsharded, Keyspace: ks, Query: t}, nil
}

// planInlinedCTEs plans sel with its CTEs inlined as derived tables.
func (p *planner) planInlinedCTEs(sel *ast.SelectStmt) (Primitive, error) {
	if err := p.inlineCTEs(sel); err != nil {
		return nil, err
	}
	p.rewrote = true
	return p.planSelect(sel)
}
