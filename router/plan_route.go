package router

import (
	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/opcode"
	driver "github.com/pingcap/tidb/pkg/parser/test_driver"

	"github.com/mosaicdb/mosaic/router/sqltypes"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// fromEntry is one table of a FROM clause, in left-deep join order.
type fromEntry struct {
	ti *tableInfo
	// derived is the subquery of a derived table (ti is nil then).
	derived ast.ResultSetNode
	alias   string
	// join is how this entry joins what precedes it (ignored for the first).
	join    ast.JoinType
	on      ast.ExprNode
	using   []*ast.ColumnName
	natural bool
	// src is the table source as written.
	src *ast.TableSource
}

// flattenFrom lists the tables of a FROM clause. Nested joins on the
// right are flattened when they are inner joins.
func (p *planner) flattenFrom(rs ast.ResultSetNode, out []*fromEntry) ([]*fromEntry, error) {
	switch n := rs.(type) {
	case nil:
		return out, nil
	case *ast.Join:
		var err error
		if out, err = p.flattenFrom(n.Left, out); err != nil {
			return nil, err
		}
		if n.Right == nil {
			return out, nil
		}
		before := len(out)
		if out, err = p.flattenFrom(n.Right, out); err != nil {
			return nil, err
		}
		if len(out)-before > 1 && n.Tp != ast.CrossJoin {
			// a LEFT JOIN (b JOIN c): keep it in one route only.
			for _, e := range out[before:] {
				e.join = -1
			}
		}
		e := out[before]
		if e.join != -1 {
			e.join = n.Tp
		}
		if n.On != nil {
			e.on = n.On.Expr
		}
		e.using, e.natural = n.Using, n.NaturalJoin
		return out, nil
	case *ast.TableSource:
		alias := n.AsName.O
		switch src := n.Source.(type) {
		case *ast.TableName:
			ti, err := p.resolveTable(src, alias)
			if err != nil {
				return nil, err
			}
			return append(out, &fromEntry{ti: ti, alias: ti.alias, src: n}), nil
		case *ast.SelectStmt, *ast.SetOprStmt:
			// A derived table's own non-recursive CTEs are inlined: its
			// tables are then known where it runs.
			if err := inlineDerivedWith(src); err != nil {
				return nil, err
			}
			return append(out, &fromEntry{derived: src, alias: n.AsName.L, src: n}), nil
		}
		return nil, sqlerr.NotSupported("this kind of table source (%T)", n.Source)
	}
	return nil, sqlerr.NotSupported("this kind of FROM clause (%T)", rs)
}

// routeGroup is a set of tables that can run as one statement on the same
// shards.
type routeGroup struct {
	ks      *Keyspace
	entries []*fromEntry
	// kind of the group: "unsharded", "system", "reference", "sharded",
	// "pinned".
	kind string
}

func (g *routeGroup) tables() []*tableInfo {
	var out []*tableInfo
	for _, e := range g.entries {
		if e.ti != nil {
			out = append(out, e.ti)
		}
	}
	return out
}

// tableByAlias finds a table of the group by its qualifier.
func (g *routeGroup) tableByAlias(alias string) *tableInfo {
	for _, t := range g.tables() {
		if t.alias == alias {
			return t
		}
	}
	return nil
}

// vindexColumnTable returns the sharded table of the group whose primary
// vindex column c names, or nil.
func (g *routeGroup) vindexColumnTable(c *ast.ColumnName) *tableInfo {
	if c.Table.L != "" {
		t := g.tableByAlias(c.Table.L)
		if t != nil && t.sharded() && t.tbl.PrimaryVindex() != nil && t.tbl.PrimaryVindex().Column == c.Name.L {
			return t
		}
		return nil
	}
	for _, t := range g.tables() {
		if t.sharded() && t.tbl.PrimaryVindex() != nil && t.tbl.PrimaryVindex().Column == c.Name.L {
			return t
		}
	}
	return nil
}

// entryKind classifies one table.
func entryKind(e *fromEntry) string {
	t := e.ti
	switch {
	case t.system:
		return "system"
	case !t.ks.Sharded:
		return "unsharded"
	case t.isReference():
		return "reference"
	case t.tbl != nil && t.tbl.Pinned != nil:
		return "pinned"
	}
	return "sharded"
}

// groupTables tries to put entries in one route group. It returns nil when
// they cannot all run together.
func (p *planner) groupTables(entries []*fromEntry, where ast.ExprNode) (*routeGroup, error) {
	g := &routeGroup{entries: entries}
	kinds := map[string]bool{}
	var ks *Keyspace
	for _, e := range entries {
		if e.derived != nil {
			dks, kind, err := p.derivedKind(e.derived)
			if err != nil {
				return nil, err
			}
			if kind == "" {
				// A derived table each shard computes whole joins the
				// route as the sharded table it stands for.
				if e.ti == nil {
					e.ti = p.shardLocalTable(e)
				}
				if e.ti == nil || (ks != nil && ks != e.ti.ks) {
					return nil, nil
				}
				ks = e.ti.ks
				kinds["sharded"] = true
				continue
			}
			if ks != nil && ks != dks {
				return nil, nil
			}
			ks = dks
			kinds[kind] = true
			continue
		}
		k := entryKind(e)
		if k == "system" {
			kinds[k] = true
			continue
		}
		if ks != nil && ks != e.ti.ks {
			return nil, nil
		}
		ks = e.ti.ks
		kinds[k] = true
	}
	if ks == nil {
		// Only system tables.
		for _, e := range entries {
			ks = e.ti.ks
		}
		g.ks, g.kind = ks, "system"
		return g, nil
	}
	if kinds["system"] && ks.Sharded {
		return nil, nil
	}
	g.ks = ks
	switch {
	case !ks.Sharded:
		g.kind = "unsharded"
		return g, nil
	case kinds["pinned"]:
		if len(entries) != 1 {
			return nil, nil
		}
		g.kind = "pinned"
		return g, nil
	case !kinds["sharded"]:
		g.kind = "reference"
		return g, nil
	}
	g.kind = "sharded"
	// Every sharded table must be joined to the others on their primary
	// vindex columns with the same vindex type.
	var sharded []*tableInfo
	for _, t := range g.tables() {
		if t.sharded() {
			sharded = append(sharded, t)
		}
	}
	if len(sharded) <= 1 {
		return g, nil
	}
	parent := map[*tableInfo]*tableInfo{}
	var find func(t *tableInfo) *tableInfo
	find = func(t *tableInfo) *tableInfo {
		if parent[t] == nil || parent[t] == t {
			return t
		}
		return find(parent[t])
	}
	union := func(a, b *tableInfo) {
		if a == nil || b == nil || a == b {
			return
		}
		if a.tbl.PrimaryVindex().Vindex.Type() != b.tbl.PrimaryVindex().Vindex.Type() {
			return
		}
		parent[find(a)] = find(b)
	}
	var conds []ast.ExprNode
	outer := false
	for i, e := range entries {
		if i > 0 && e.join == ast.LeftJoin || e.join == ast.RightJoin {
			outer = true
		}
		conds = append(conds, splitAnd(e.on)...)
		for _, u := range e.using {
			// USING (c): c of this table equals c of an earlier one.
			if e.ti == nil || !e.ti.sharded() || e.ti.tbl.PrimaryVindex().Column != u.Name.L {
				continue
			}
			for _, prev := range entries[:i] {
				if prev.ti != nil && prev.ti.sharded() && prev.ti.tbl.PrimaryVindex().Column == u.Name.L {
					union(prev.ti, e.ti)
				}
			}
		}
	}
	if !outer {
		conds = append(conds, splitAnd(where)...)
	}
	for _, c := range conds {
		b, ok := c.(*ast.BinaryOperationExpr)
		if !ok || b.Op != opcode.EQ {
			continue
		}
		l, lok := b.L.(*ast.ColumnNameExpr)
		r, rok := b.R.(*ast.ColumnNameExpr)
		if !lok || !rok || l.Name.Table.L == "" || r.Name.Table.L == "" {
			continue
		}
		union(g.vindexColumnTable(l.Name), g.vindexColumnTable(r.Name))
	}
	root := find(sharded[0])
	for _, t := range sharded[1:] {
		if find(t) != root {
			return nil, nil
		}
	}
	return g, nil
}

// derivedKind says where a derived table's tables live: a keyspace and
// "unsharded" or "reference" when it can join anything of that keyspace
// in one route; kind "" when it spans shards.
func (p *planner) derivedKind(n ast.ResultSetNode) (*Keyspace, string, error) {
	var ks *Keyspace
	kind := "reference"
	for _, tn := range allTableNames(n) {
		ti, err := p.resolveTable(tn, "")
		if err != nil {
			return nil, "", err
		}
		if ti.system {
			continue
		}
		if ks != nil && ks != ti.ks {
			return nil, "", nil
		}
		ks = ti.ks
		switch {
		case !ti.ks.Sharded:
			kind = "unsharded"
		case !ti.isReference():
			return nil, "", nil
		}
	}
	if ks == nil {
		k, err := p.defaultKeyspace()
		return k, "reference", err
	}
	if !ks.Sharded {
		kind = "unsharded"
	}
	return ks, kind, nil
}

// vindexRoute picks the cheapest route for a sharded group from the
// conditions that filter every row (WHERE and inner joins' ON).
func (p *planner) vindexRoute(g *routeGroup, where ast.ExprNode) *Route {
	r := &Route{Opcode: Scatter, Keyspace: g.ks}
	conds := splitAnd(where)
	for i, e := range g.entries {
		if i > 0 && (e.join == ast.CrossJoin) {
			conds = append(conds, splitAnd(e.on)...)
		}
	}
	var in *ast.PatternInExpr
	var inTable *tableInfo
	for _, c := range conds {
		switch x := c.(type) {
		case *ast.BinaryOperationExpr:
			if x.Op != opcode.EQ {
				continue
			}
			col, val := x.L, x.R
			if _, ok := col.(*ast.ColumnNameExpr); !ok {
				col, val = val, col
			}
			cn, ok := col.(*ast.ColumnNameExpr)
			if !ok {
				continue
			}
			t := g.vindexColumnTable(cn.Name)
			if t == nil {
				continue
			}
			src, ok := valueOf(val)
			if !ok {
				continue
			}
			cv := t.tbl.PrimaryVindex()
			return &Route{Opcode: EqualUnique, Keyspace: g.ks, Vindex: cv.Vindex, VindexName: cv.Name, Values: []valueSource{src}}
		case *ast.PatternInExpr:
			if x.Not || x.Sel != nil || in != nil {
				continue
			}
			cn, ok := x.Expr.(*ast.ColumnNameExpr)
			if !ok {
				continue
			}
			t := g.vindexColumnTable(cn.Name)
			if t == nil {
				continue
			}
			all := true
			for _, item := range x.List {
				if _, ok := valueOf(item); !ok {
					all = false
				}
			}
			if all {
				in, inTable = x, t
			}
		}
	}
	if in == nil {
		if lr := p.lookupRoute(g, conds); lr != nil {
			return lr
		}
	}
	if in != nil {
		cv := inTable.tbl.PrimaryVindex()
		r = &Route{Opcode: IN, Keyspace: g.ks, Vindex: cv.Vindex, VindexName: cv.Name}
		if len(in.List) == 1 {
			if b, ok := in.List[0].(*bindVarExpr); ok && b.kind != bindScalar {
				r.ListBind = b.name
				r.Values = []valueSource{{bind: b.name, list: true}}
				return r
			}
		}
		for _, item := range in.List {
			src, _ := valueOf(item)
			r.Values = append(r.Values, src)
		}
		r.ListBind = p.newBind("vals")
		in.List = []ast.ExprNode{newBindVar(r.ListBind, bindList)}
	}
	return r
}

// valueOf returns the routing value of a bind variable or literal.
func valueOf(e ast.ExprNode) (valueSource, bool) {
	switch x := e.(type) {
	case *bindVarExpr:
		return valueSource{bind: x.name, list: x.kind != bindScalar}, true
	case *driver.ValueExpr:
		v, ok := constValue(x)
		if !ok {
			return valueSource{}, false
		}
		return valueSource{isConst: true, val: v}, true
	case *ast.UnaryOperationExpr:
		// A negative literal left in place (statements not normalized,
		// decimals).
		lit, ok := x.V.(*driver.ValueExpr)
		if !ok || x.Op != opcode.Minus {
			break
		}
		if v, ok := negatedLiteral(lit); ok {
			return valueSource{isConst: true, val: v}, true
		}
		if lit.Kind() == driver.KindMysqlDecimal {
			return valueSource{isConst: true, val: sqltypes.DecimalLiteral("-" + lit.GetMysqlDecimal().String())}, true
		}
	}
	return valueSource{}, false
}
