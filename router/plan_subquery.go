package router

import (
	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/opcode"

	"github.com/mosaicdb/mosaic/sqlerr"
)

// handleSubqueries decides, for each subquery in the statement's WHERE,
// select list, HAVING and ORDER BY, whether it runs inside the outer
// statement's route (it reads only tables that route reaches whole:
// the same unsharded keyspace, reference tables, or a sharded table
// correlated on the same vindex column) or is pulled out: run first and
// its result bound (uncorrelated subqueries only).
func (p *planner) handleSubqueries(node ast.Node, g *routeGroup) ([]*PulloutSubquery, error) {
	sv := &subqueryVisitor{p: p, g: g}
	switch n := node.(type) {
	case *ast.SelectStmt:
		if n.Where != nil {
			n.Where = sv.rewrite(n.Where)
		}
		if n.Fields != nil {
			for _, f := range n.Fields.Fields {
				if f.Expr != nil {
					f.Expr = sv.rewrite(f.Expr)
				}
			}
		}
		if n.Having != nil {
			n.Having.Expr = sv.rewrite(n.Having.Expr)
		}
		if n.OrderBy != nil {
			for _, by := range n.OrderBy.Items {
				by.Expr = sv.rewrite(by.Expr)
			}
		}
		if n.From != nil {
			for _, e := range joinOns(n.From.TableRefs) {
				e.On.Expr = sv.rewrite(e.On.Expr)
			}
		}
	case *ast.UpdateStmt:
		if n.Where != nil {
			n.Where = sv.rewrite(n.Where)
		}
		for _, a := range n.List {
			a.Expr = sv.rewrite(a.Expr)
		}
	case *ast.DeleteStmt:
		if n.Where != nil {
			n.Where = sv.rewrite(n.Where)
		}
	}
	return sv.pullouts, sv.err
}

func joinOns(rs ast.ResultSetNode) []*ast.Join {
	j, ok := rs.(*ast.Join)
	if !ok {
		return nil
	}
	out := append(joinOns(j.Left), joinOns(j.Right)...)
	if j.On != nil {
		out = append(out, j)
	}
	return out
}

type subqueryVisitor struct {
	p        *planner
	g        *routeGroup
	pullouts []*PulloutSubquery
	err      error
}

func (sv *subqueryVisitor) rewrite(e ast.ExprNode) ast.ExprNode {
	if sv.err != nil || e == nil {
		return e
	}
	n, _ := e.Accept(sv)
	if n == nil {
		return e
	}
	return n.(ast.ExprNode)
}

func (sv *subqueryVisitor) Enter(n ast.Node) (ast.Node, bool) {
	if sv.err != nil {
		return n, true
	}
	switch x := n.(type) {
	case *ast.PatternInExpr:
		sq, ok := x.Sel.(*ast.SubqueryExpr)
		if !ok {
			return n, false
		}
		x.Expr = sv.rewrite(x.Expr)
		inline, err := sv.inline(sq)
		if err != nil || inline {
			sv.err = err
			return n, true
		}
		name := sv.pullout(sq, SubqueryIn)
		if sv.err != nil {
			return n, true
		}
		return &ast.PatternInExpr{Expr: x.Expr, Not: x.Not, List: []ast.ExprNode{newBindVar(name, bindSubqueryList)}}, true
	case *ast.ExistsSubqueryExpr:
		sq, ok := x.Sel.(*ast.SubqueryExpr)
		if !ok {
			return n, true
		}
		inline, err := sv.inline(sq)
		if err != nil || inline {
			sv.err = err
			return n, true
		}
		name := sv.pullout(sq, SubqueryExists)
		var out ast.ExprNode = newBindVar(name, bindScalar)
		if x.Not {
			out = &ast.UnaryOperationExpr{Op: opcode.Not, V: out}
		}
		return out, true
	case *ast.CompareSubqueryExpr:
		sq, ok := x.R.(*ast.SubqueryExpr)
		if !ok {
			return n, false
		}
		inline, err := sv.inline(sq)
		if err != nil || inline {
			sv.err = err
			return n, true
		}
		if x.All || x.Op != opcode.EQ {
			sv.err = sqlerr.NotSupported("ANY / ALL subqueries across shards")
			return n, true
		}
		name := sv.pullout(sq, SubqueryIn)
		return &ast.PatternInExpr{Expr: sv.rewrite(x.L), List: []ast.ExprNode{newBindVar(name, bindSubqueryList)}}, true
	case *ast.SubqueryExpr:
		inline, err := sv.inline(x)
		if err != nil || inline {
			sv.err = err
			return n, true
		}
		name := sv.pullout(x, SubqueryScalar)
		return newBindVar(name, bindScalar), true
	}
	return n, false
}

func (sv *subqueryVisitor) Leave(n ast.Node) (ast.Node, bool) { return n, true }

// inline reports whether a subquery can run inside the outer route.
func (sv *subqueryVisitor) inline(sq *ast.SubqueryExpr) (bool, error) {
	names := allTableNames(sq.Query)
	g := sv.g
	local := map[string]bool{}
	allWithOuter := true
	var innerSharded []*tableInfo
	for _, tn := range names {
		alias := tn.Name.L
		ti, err := sv.p.resolveTable(tn, "")
		if err != nil {
			return false, err
		}
		local[alias] = true
		switch {
		case ti.system:
		case ti.ks != g.ks:
			allWithOuter = false
		case !ti.ks.Sharded, ti.isReference():
		default:
			innerSharded = append(innerSharded, ti)
		}
	}
	for _, a := range sourceAliases(sq.Query) {
		local[a] = true
	}
	if allWithOuter && len(innerSharded) == 0 && g.kind != "system" {
		return true, nil
	}
	correlated := sv.correlatedOn(sq.Query, local)
	if allWithOuter && g.kind == "sharded" && len(innerSharded) == 1 && correlated {
		// Correlated on the outer's vindex column: each shard holds every
		// row the subquery can see.
		if sv.vindexCorrelated(sq.Query, innerSharded[0]) {
			return true, nil
		}
	}
	if correlated {
		return false, sqlerr.NotSupported("a correlated subquery that spans shards")
	}
	return false, nil
}

// sourceAliases lists the aliases of the table sources under n.
func sourceAliases(n ast.Node) []string {
	c := &aliasCollector{}
	n.Accept(c)
	return c.aliases
}

type aliasCollector struct{ aliases []string }

func (c *aliasCollector) Enter(n ast.Node) (ast.Node, bool) {
	if ts, ok := n.(*ast.TableSource); ok {
		if ts.AsName.L != "" {
			c.aliases = append(c.aliases, ts.AsName.L)
		} else if tn, ok := ts.Source.(*ast.TableName); ok {
			c.aliases = append(c.aliases, tn.Name.L)
		}
	}
	return n, false
}

func (c *aliasCollector) Leave(n ast.Node) (ast.Node, bool) { return n, true }

// correlatedOn reports whether the subquery qualifies a column with a
// table that it does not define itself. Unqualified columns are taken as
// the subquery's own.
func (sv *subqueryVisitor) correlatedOn(q ast.Node, local map[string]bool) bool {
	c := &qualifierCollector{}
	q.Accept(c)
	for _, t := range c.tables {
		if !local[t] {
			return true
		}
	}
	return false
}

type qualifierCollector struct{ tables []string }

func (c *qualifierCollector) Enter(n ast.Node) (ast.Node, bool) {
	if cn, ok := n.(*ast.ColumnName); ok && cn.Table.L != "" {
		c.tables = append(c.tables, cn.Table.L)
	}
	return n, false
}

func (c *qualifierCollector) Leave(n ast.Node) (ast.Node, bool) { return n, true }

// vindexCorrelated reports whether the subquery's WHERE equates the inner
// table's vindex column with the vindex column of an outer sharded table.
func (sv *subqueryVisitor) vindexCorrelated(q ast.Node, inner *tableInfo) bool {
	sel, ok := q.(*ast.SelectStmt)
	if !ok {
		return false
	}
	innerAlias := inner.alias
	for _, a := range sourceAliases(sel) {
		_ = a
	}
	if sel.From != nil {
		if ts, ok := sel.From.TableRefs.Left.(*ast.TableSource); ok && ts.AsName.L != "" {
			innerAlias = ts.AsName.L
		}
	}
	iv := inner.tbl.PrimaryVindex()
	for _, c := range splitAnd(sel.Where) {
		b, ok := c.(*ast.BinaryOperationExpr)
		if !ok || b.Op != opcode.EQ {
			continue
		}
		l, lok := b.L.(*ast.ColumnNameExpr)
		r, rok := b.R.(*ast.ColumnNameExpr)
		if !lok || !rok {
			continue
		}
		for _, pair := range [][2]*ast.ColumnNameExpr{{l, r}, {r, l}} {
			in, out := pair[0].Name, pair[1].Name
			if (in.Table.L != innerAlias && in.Table.L != "") || in.Name.L != iv.Column || out.Table.L == "" {
				continue
			}
			ot := sv.g.tableByAlias(out.Table.L)
			if ot != nil && ot.sharded() && ot.tbl.PrimaryVindex().Column == out.Name.L &&
				ot.tbl.PrimaryVindex().Vindex.Type() == iv.Vindex.Type() {
				return true
			}
		}
	}
	return false
}

func (sv *subqueryVisitor) pullout(sq *ast.SubqueryExpr, kind SubqueryKind) string {
	prim, err := sv.p.planQuery(sq.Query)
	if err != nil {
		sv.err = err
		return ""
	}
	name := sv.p.newBind("sq")
	sv.pullouts = append(sv.pullouts, &PulloutSubquery{Kind: kind, Bind: name, Sub: prim})
	return name
}
