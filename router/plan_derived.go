package router

import (
	"github.com/pingcap/tidb/pkg/parser/ast"
)

// mergeDerivedTables merges into sel the derived tables (subqueries in
// FROM) that are simple SELECTs (no GROUP BY, HAVING, DISTINCT,
// aggregates, LIMIT, window functions): the subquery's tables take the
// derived table's place in FROM, its WHERE joins the outer WHERE (or the
// ON of the LEFT JOIN that makes it nullable), and the outer query's
// references to its columns become the subquery's expressions, as
// MariaDB's optimizer merges them. The merged statement is then planned
// as any other: across shards as a scatter, an aggregate or a join. A
// derived table it cannot merge is left as it is (and planned, or
// refused, as before). It merges only where the derived table would not
// run on one shard as written: a derived table alone in FROM whose
// subquery routes to one shard keeps its plan.
func (p *planner) mergeDerivedTables(sel *ast.SelectStmt) {
	if sel.From == nil || sel.From.TableRefs == nil {
		return
	}
	top := sel.From.TableRefs
	var sources []*derivedSource
	collectDerived(top, nil, &sources)
	if len(sources) == 0 {
		return
	}
	aliases := map[string]int{}
	countAliases(top, aliases)
	for _, d := range sources {
		if len(sources) == 1 && top.Right == nil && p.runsOnOneShard(d.inner) {
			return
		}
		p.mergeOne(sel, d, aliases, top.Right == nil)
	}
}

// derivedSource is a derived table in FROM: its table source, the join
// whose right side it is (nil for the first table), and its subquery.
type derivedSource struct {
	ts    *ast.TableSource
	join  *ast.Join
	inner *ast.SelectStmt
}

func collectDerived(rs ast.ResultSetNode, parent *ast.Join, out *[]*derivedSource) {
	switch n := rs.(type) {
	case *ast.Join:
		collectDerived(n.Left, nil, out)
		if n.Right != nil {
			collectDerived(n.Right, n, out)
		}
	case *ast.TableSource:
		if in, ok := n.Source.(*ast.SelectStmt); ok {
			*out = append(*out, &derivedSource{ts: n, join: parent, inner: in})
		}
	}
}

func countAliases(rs ast.ResultSetNode, out map[string]int) {
	switch n := rs.(type) {
	case *ast.Join:
		countAliases(n.Left, out)
		if n.Right != nil {
			countAliases(n.Right, out)
		}
	case *ast.TableSource:
		a := n.AsName.L
		if tn, ok := n.Source.(*ast.TableName); ok && a == "" {
			a = tn.Name.L
		}
		out[a]++
	}
}

// runsOnOneShard reports a subquery whose tables route to one shard.
func (p *planner) runsOnOneShard(in *ast.SelectStmt) bool {
	entries, err := p.flattenFrom(tableRefs(in), nil)
	if err != nil || len(entries) == 0 {
		return false
	}
	for _, e := range entries {
		if e.derived != nil {
			return false
		}
	}
	g, err := p.groupTables(entries, in.Where)
	if err != nil || g == nil {
		return false
	}
	r, err := p.routeForGroup(g, in.Where)
	return err == nil && singleShard(r)
}

// mergeable reports a subquery simple enough to merge: a SELECT over one
// table (or an inner join of tables) with plain fields.
func mergeable(in *ast.SelectStmt) bool {
	if in.Kind != ast.SelectStmtKindSelect || in.With != nil || in.GroupBy != nil || in.Having != nil ||
		in.Distinct || in.Limit != nil || len(in.WindowSpecs) > 0 || in.SelectIntoOpt != nil || in.LockInfo != nil ||
		in.From == nil || in.From.TableRefs == nil || in.Fields == nil || hasAggregate(in.Fields) {
		return false
	}
	if in.SelectStmtOpts != nil && (in.SelectStmtOpts.CalcFoundRows || in.SelectStmtOpts.StraightJoin) {
		return false
	}
	wf := &windowFinder{}
	in.Fields.Accept(wf)
	if wf.found || hasSubquery(in.Fields) {
		return false
	}
	if !innerJoinOfTables(in.From.TableRefs) {
		return false
	}
	for _, f := range in.Fields.Fields {
		if f.WildCard != nil && (f.WildCard.Table.L != "" || len(in.Fields.Fields) != 1 || in.From.TableRefs.Right != nil) {
			return false
		}
	}
	return true
}

func innerJoinOfTables(rs ast.ResultSetNode) bool {
	switch n := rs.(type) {
	case *ast.Join:
		if n.Right != nil && (n.Tp != ast.CrossJoin || n.NaturalJoin || len(n.Using) > 0 || n.StraightJoin) {
			return false
		}
		return innerJoinOfTables(n.Left) && (n.Right == nil || innerJoinOfTables(n.Right))
	case *ast.TableSource:
		_, ok := n.Source.(*ast.TableName)
		return ok
	}
	return false
}

// mergeOne merges one derived table when it can; alone says it is the
// only table in FROM (unqualified columns then refer to it).
func (p *planner) mergeOne(sel *ast.SelectStmt, d *derivedSource, aliases map[string]int, alone bool) {
	in := d.inner
	if !mergeable(in) {
		return
	}
	nullable := d.join != nil && d.join.Tp == ast.LeftJoin
	if d.join != nil && d.join.Tp == ast.RightJoin {
		return
	}
	if nullable && in.From.TableRefs.Right != nil {
		return
	}
	if d.join != nil && (d.join.NaturalJoin || len(d.join.Using) > 0) {
		return
	}
	name := d.ts.AsName.L
	// The subquery's table names must not clash with the outer ones.
	inner := map[string]int{}
	countAliases(in.From.TableRefs, inner)
	for a := range inner {
		if aliases[a] > 0 && a != name {
			return
		}
	}
	var star *ast.TableSource
	cols := map[string]ast.ExprNode{}
	var order []string
	single := ""
	if in.From.TableRefs.Right == nil {
		ts := in.From.TableRefs.Left.(*ast.TableSource)
		single = ts.AsName.O
		if single == "" {
			single = ts.Source.(*ast.TableName).Name.O
		}
	}
	if len(in.Fields.Fields) == 1 && in.Fields.Fields[0].WildCard != nil {
		star = in.From.TableRefs.Left.(*ast.TableSource)
	} else {
		for _, f := range in.Fields.Fields {
			n := f.AsName.O
			if n == "" {
				c, ok := f.Expr.(*ast.ColumnNameExpr)
				if !ok {
					return // a computed column named by its text
				}
				n = c.Name.Name.O
			}
			if _, dup := cols[lower(n)]; dup {
				return
			}
			e := f.Expr
			_, isCol := e.(*ast.ColumnNameExpr)
			if nullable && !isCol {
				// A NULL-extended row must show NULL, not the expression.
				return
			}
			if single != "" && !hasSubquery(e) {
				n, _ := e.Accept(&qualifier{table: ast.NewCIStr(single)})
				e = n.(ast.ExprNode)
			}
			cols[lower(n)] = e
			order = append(order, n)
		}
	}
	starAlias := ""
	if star != nil {
		starAlias = single
	}
	r := &derivedRewriter{name: name, alone: alone, cols: cols, starAlias: starAlias, used: map[string]int{}}
	if alone {
		r.outerAliases = map[string]bool{}
		for _, f := range sel.Fields.Fields {
			if f.AsName.L != "" {
				r.outerAliases[f.AsName.L] = true
			}
		}
	}
	var ons []*ast.OnCondition
	collectOns(sel.From.TableRefs, &ons)
	// First a dry run that only checks, then the rewrite.
	for _, dry := range []bool{true, false} {
		r.dry, r.used = dry, map[string]int{}
		var fields []*ast.SelectField
		for _, f := range sel.Fields.Fields {
			if f.WildCard != nil {
				w := f.WildCard.Table.L
				if w == name || (w == "" && alone) {
					if star != nil {
						fields = append(fields, &ast.SelectField{WildCard: &ast.WildCardField{Table: ast.NewCIStr(starAlias)}})
						continue
					}
					for _, n := range order {
						fields = append(fields, &ast.SelectField{Expr: r.use(lower(n)), AsName: ast.NewCIStr(n)})
					}
					continue
				}
				if w == "" {
					return // * over several tables: the subquery's columns' places are unknown
				}
				fields = append(fields, f)
				continue
			}
			if c, ok := f.Expr.(*ast.ColumnNameExpr); ok && f.AsName.L == "" && r.refers(c.Name, false) && !dry {
				f.AsName = c.Name.Name
			}
			fields = append(fields, f)
		}
		rewrite := func(e ast.ExprNode, clause bool) ast.ExprNode {
			if e == nil {
				return e
			}
			r.clause = clause
			n, _ := e.Accept(r)
			return n.(ast.ExprNode)
		}
		for _, f := range fields {
			if f.Expr != nil {
				f.Expr = rewrite(f.Expr, false)
			}
		}
		where := rewrite(sel.Where, false)
		if sel.GroupBy != nil {
			for _, by := range sel.GroupBy.Items {
				by.Expr = rewrite(by.Expr, true)
			}
		}
		if sel.Having != nil {
			sel.Having.Expr = rewrite(sel.Having.Expr, true)
		}
		if sel.OrderBy != nil {
			for _, by := range sel.OrderBy.Items {
				by.Expr = rewrite(by.Expr, true)
			}
		}
		for _, on := range ons {
			on.Expr = rewrite(on.Expr, false)
		}
		if r.failed {
			return
		}
		if !dry {
			sel.Fields.Fields, sel.Where = fields, where
		}
	}
	for a := range inner {
		aliases[a]++
	}
	// FROM: the subquery's tables in the derived table's place.
	var src ast.ResultSetNode = in.From.TableRefs
	if in.From.TableRefs.Right == nil {
		src = in.From.TableRefs.Left
	}
	if ts, ok := src.(*ast.TableSource); ok {
		*d.ts = *ts
	} else {
		d.ts.Source = src.(*ast.Join)
		d.ts.AsName = ast.NewCIStr("")
		replaceSource(sel.From.TableRefs, d.ts, src)
	}
	if in.Where != nil && single != "" {
		// The subquery's columns are its one table's: say so, as the
		// outer query may join other tables.
		n, _ := in.Where.Accept(&qualifier{table: ast.NewCIStr(single)})
		in.Where = n.(ast.ExprNode)
	}
	if in.Where != nil {
		switch {
		case nullable && d.join.On != nil:
			d.join.On.Expr = andAll([]ast.ExprNode{d.join.On.Expr, in.Where})
		case nullable:
			d.join.On = &ast.OnCondition{Expr: in.Where}
		case sel.Where == nil:
			sel.Where = in.Where
		default:
			sel.Where = andAll([]ast.ExprNode{sel.Where, in.Where})
		}
	}
}

func collectOns(rs ast.ResultSetNode, out *[]*ast.OnCondition) {
	if j, ok := rs.(*ast.Join); ok {
		collectOns(j.Left, out)
		if j.Right != nil {
			collectOns(j.Right, out)
		}
		if j.On != nil {
			*out = append(*out, j.On)
		}
	}
}

// replaceSource puts join in the place of ts in the FROM tree.
func replaceSource(rs ast.ResultSetNode, ts *ast.TableSource, join ast.ResultSetNode) bool {
	j, ok := rs.(*ast.Join)
	if !ok {
		return false
	}
	if j.Left == ts {
		j.Left = join
		return true
	}
	if j.Right == ts {
		j.Right = join
		return true
	}
	return replaceSource(j.Left, ts, join) || (j.Right != nil && replaceSource(j.Right, ts, join))
}

// derivedRewriter replaces the outer query's references to a derived
// table's columns with the subquery's expressions.
type derivedRewriter struct {
	name      string
	alone     bool
	cols      map[string]ast.ExprNode
	starAlias string
	// outerAliases are the outer select list's names: an unqualified name
	// in GROUP BY, HAVING or ORDER BY (clause) may mean them.
	outerAliases map[string]bool
	clause       bool
	used         map[string]int
	failed       bool
	// dry only checks: it replaces nothing.
	dry bool
}

func (r *derivedRewriter) refers(c *ast.ColumnName, clause bool) bool {
	if c.Schema.L != "" {
		return false
	}
	if c.Table.L == "" {
		if !r.alone || (clause && r.outerAliases[c.Name.L]) {
			return false
		}
	} else if c.Table.L != r.name {
		return false
	}
	if r.starAlias != "" {
		return true
	}
	_, ok := r.cols[c.Name.L]
	return ok || c.Table.L == r.name
}

// use returns the expression of column n: a fresh column reference, or
// the subquery's expression itself, which may be placed only once.
func (r *derivedRewriter) use(n string) ast.ExprNode {
	if r.starAlias != "" {
		return &ast.ColumnNameExpr{Name: &ast.ColumnName{Table: ast.NewCIStr(r.starAlias), Name: ast.NewCIStr(n)}}
	}
	e, ok := r.cols[n]
	if !ok {
		r.failed = true
		return &ast.ColumnNameExpr{Name: &ast.ColumnName{Table: ast.NewCIStr(r.name), Name: ast.NewCIStr(n)}}
	}
	if c, ok := e.(*ast.ColumnNameExpr); ok {
		return &ast.ColumnNameExpr{Name: &ast.ColumnName{Schema: c.Name.Schema, Table: c.Name.Table, Name: c.Name.Name}}
	}
	r.used[n]++
	if r.used[n] > 1 {
		r.failed = true
	}
	if r.dry {
		return nil
	}
	return &ast.ParenthesesExpr{Expr: e}
}

func (r *derivedRewriter) Enter(n ast.Node) (ast.Node, bool) {
	switch n.(type) {
	case *ast.ColumnNameExpr:
		return n, true
	case *ast.SubqueryExpr:
		// A subquery may name the derived table's columns too; leave it
		// and fail the merge if it does.
		if len(sourceAliases(n)) > 0 {
			q := qualifiers(n)
			if q[r.name] || (r.alone && q[""]) {
				r.failed = true
			}
		}
		return n, true
	}
	return n, false
}

func (r *derivedRewriter) Leave(n ast.Node) (ast.Node, bool) {
	c, ok := n.(*ast.ColumnNameExpr)
	if !ok || !r.refers(c.Name, r.clause) {
		return n, true
	}
	e := r.use(c.Name.Name.L)
	if r.dry {
		return n, true
	}
	return e, true
}

func lower(s string) string { return ast.NewCIStr(s).L }

// qualifier qualifies unqualified columns with table, outside subqueries.
type qualifier struct{ table ast.CIStr }

func (q *qualifier) Enter(n ast.Node) (ast.Node, bool) {
	switch n.(type) {
	case *ast.SubqueryExpr, *ast.ColumnNameExpr:
		return n, true
	}
	return n, false
}

func (q *qualifier) Leave(n ast.Node) (ast.Node, bool) {
	if c, ok := n.(*ast.ColumnNameExpr); ok && c.Name.Table.L == "" && c.Name.Schema.L == "" {
		return &ast.ColumnNameExpr{Name: &ast.ColumnName{Table: q.table, Name: c.Name.Name}}, true
	}
	return n, true
}
