package router

import (
	"errors"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
	driver "github.com/pingcap/tidb/pkg/parser/test_driver"

	"github.com/mosaicdb/mosaic/router/evalengine"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// Derived tables that span shards.
//
// A derived table (or a CTE reference, planned as the derived table it
// stands for) that cannot run on one shard, cannot be merged into the
// outer query (it groups, aggregates, is DISTINCT, has a LIMIT, or is a
// UNION) and is not grouped by the sharding column (plan_derivedlocal.go)
// is planned as Vitess plans it: its subquery is planned as any query is
// (a scatter with the gate's Aggregate, Distinct, Sort and Limit above
// it), and the outer query runs in the gate over the rows it returns.
//
// Outer WHERE conditions on a grouped subquery's keys move into its WHERE
// (pushFilters). A Projection makes the columns the outer query reads
// (its fields, group and order keys, aggregate arguments): each is a
// column of the subquery passed through; or, when it reads no aggregate
// of the subquery, an expression the subquery computes as a column added
// to its select list (MariaDB's types and collations); or else an
// expression the gate evaluates (router/evalengine, which refuses text).
// The other WHERE conditions are such columns too, kept by an EvalFilter.
// GROUP BY, aggregates, HAVING, DISTINCT, ORDER BY and LIMIT then plan as
// over the raw rows of a join (planScatterAggregate with raw rows), or as
// a Sort and a Limit. Columns are added only where that does not change
// which rows the subquery returns (not to a UNION; to a DISTINCT only
// collation weights and constants, which follow their row). Text keys are
// ordered and grouped by the subquery's WEIGHT_STRING; a text key whose
// weight no one can compute (a UNION's column, an aggregate's text) is
// refused (1235) when the rows show it is text.

// derivedRows is a derived table whose rows the gate produces.
type derivedRows struct {
	alias string
	node  ast.ResultSetNode // *ast.SelectStmt or *ast.SetOprStmt
	// names are the derived table's columns as it shows them; exprs the
	// subquery's expression of each (nil for a UNION's).
	names []string
	exprs []ast.ExprNode
	// sel is the subquery when it is a SELECT; push says expressions may
	// be added to its select list, weights says weights may.
	sel           *ast.SelectStmt
	push, weights bool
	added         int
	group         *routeGroup
}

// derivedOnOneShard reports a derived table whose subquery runs on one
// shard as written, as planned before the gate learned to evaluate
// derived tables (it is then sent whole, with the outer query).
func (p *planner) derivedOnOneShard(n ast.ResultSetNode) bool {
	if _, kind, err := p.derivedKind(n); err == nil && kind != "" {
		return true
	}
	in, ok := n.(*ast.SelectStmt)
	return ok && in.Kind == ast.SelectStmtKindSelect && in.With == nil && p.runsOnOneShard(in)
}

func (p *planner) newDerivedRows(e *fromEntry) (*derivedRows, error) {
	d := &derivedRows{alias: e.alias, node: e.derived}
	if d.alias == "" {
		return nil, sqlerr.New(1248, "Every derived table must have its own alias")
	}
	first := firstSelect(e.derived)
	if first == nil {
		return nil, sqlerr.NotSupported("this derived table across shards")
	}
	if in, ok := e.derived.(*ast.SelectStmt); ok {
		d.sel = in
		d.weights = in.Kind == ast.SelectStmtKindSelect && in.With == nil && in.SelectIntoOpt == nil
		d.push = d.weights && !in.Distinct
		if err := p.expandInnerStar(in); err != nil {
			return nil, err
		}
		if entries, err := p.flattenFrom(tableRefs(in), nil); err == nil && len(entries) > 0 {
			d.group, _ = p.groupTables(entries, in.Where)
		}
	} else {
		for _, f := range first.Fields.Fields {
			if f.WildCard != nil {
				return nil, sqlerr.NotSupported("a UNION with * as a derived table that spans shards")
			}
		}
	}
	aliasFields(first)
	seen := map[string]bool{}
	for _, f := range first.Fields.Fields {
		name := f.AsName.O
		if name == "" {
			switch x := f.Expr.(type) {
			case *ast.ColumnNameExpr:
				name = x.Name.Name.O
			case *driver.ValueExpr:
				name = strings.TrimSpace(f.Text())
			}
		}
		if name == "" {
			return nil, sqlerr.NotSupported("an unnamed column of a derived table that spans shards (name it with AS)")
		}
		if seen[lower(name)] {
			return nil, sqlerr.New(1060, "Duplicate column name '%s'", name)
		}
		seen[lower(name)] = true
		d.names = append(d.names, name)
		if d.sel != nil {
			d.exprs = append(d.exprs, f.Expr)
		} else {
			d.exprs = append(d.exprs, nil)
		}
	}
	return d, nil
}

// firstSelect is the SELECT whose select list names a query's columns.
func firstSelect(n ast.ResultSetNode) *ast.SelectStmt {
	switch x := n.(type) {
	case *ast.SelectStmt:
		if x.Fields == nil {
			return nil
		}
		return x
	case *ast.SetOprStmt:
		if x.SelectList == nil || len(x.SelectList.Selects) == 0 {
			return nil
		}
		switch s := x.SelectList.Selects[0].(type) {
		case *ast.SelectStmt:
			return firstSelect(s)
		case *ast.SetOprSelectList:
			return firstSelect(&ast.SetOprStmt{SelectList: s})
		case *ast.SetOprStmt:
			return firstSelect(s)
		}
	}
	return nil
}

// expandInnerStar writes the * of a subquery over one table as that
// table's columns, which the outer query then names.
func (p *planner) expandInnerStar(in *ast.SelectStmt) error {
	star := false
	for _, f := range in.Fields.Fields {
		star = star || f.WildCard != nil
	}
	if !star {
		return nil
	}
	unknown := sqlerr.NotSupported("SELECT * in a derived table that spans shards, over more than one table or one whose columns the gate does not know")
	if in.From == nil || in.From.TableRefs == nil || in.From.TableRefs.Right != nil {
		return unknown
	}
	ts, ok := in.From.TableRefs.Left.(*ast.TableSource)
	if !ok {
		return unknown
	}
	tn, ok := ts.Source.(*ast.TableName)
	if !ok {
		// * over a derived table: its columns.
		src := ts.Source
		switch src.(type) {
		case *ast.SelectStmt, *ast.SetOprStmt:
		default:
			return unknown
		}
		if ts.AsName.L == "" {
			return unknown
		}
		inner, err := p.newDerivedRows(&fromEntry{derived: src, alias: ts.AsName.L})
		if err != nil {
			return err
		}
		var fields []*ast.SelectField
		for _, f := range in.Fields.Fields {
			if f.WildCard == nil {
				fields = append(fields, f)
				continue
			}
			if f.WildCard.Table.L != "" && f.WildCard.Table.L != ts.AsName.L {
				return unknown
			}
			for _, n := range inner.names {
				fields = append(fields, &ast.SelectField{Expr: &ast.ColumnNameExpr{Name: &ast.ColumnName{
					Table: ts.AsName, Name: ast.NewCIStr(n)}}})
			}
		}
		in.Fields.Fields = fields
		return nil
	}
	ti, err := p.resolveTable(tn, ts.AsName.O)
	if err != nil {
		return err
	}
	if ti.tbl == nil {
		return unknown
	}
	cols := ti.tbl.Columns
	if !ti.tbl.ColumnListAuthoritative || len(cols) == 0 {
		if p.cols == nil {
			return unknown
		}
		c, ok := p.cols.Columns(ti.ks.Name, ti.tbl.Name)
		if !ok || len(c) == 0 {
			return columnsNeeded(ti.tbl, unknown)
		}
		cols = c
		p.learned = true
	}
	var fields []*ast.SelectField
	for _, f := range in.Fields.Fields {
		if f.WildCard == nil {
			fields = append(fields, f)
			continue
		}
		if f.WildCard.Table.L != "" && f.WildCard.Table.L != ti.alias {
			return unknown
		}
		for _, c := range cols {
			fields = append(fields, &ast.SelectField{Expr: &ast.ColumnNameExpr{Name: &ast.ColumnName{
				Table: ast.NewCIStr(ti.alias), Name: ast.NewCIStr(c)}}})
		}
	}
	in.Fields.Fields = fields
	return nil
}

// column finds the derived table's column c names.
func (d *derivedRows) column(c *ast.ColumnName) (int, bool) {
	if c.Schema.L != "" || (c.Table.L != "" && c.Table.L != lower(d.alias)) {
		return 0, false
	}
	for i, n := range d.names {
		if lower(n) == c.Name.L {
			return i, true
		}
	}
	return 0, false
}

// gateExpr translates an expression over the derived table's columns for
// the gate.
func (d *derivedRows) gateExpr(e ast.ExprNode) (evalengine.Expr, error) {
	return evalengine.Translate(e, func(x ast.ExprNode) (evalengine.Expr, bool, error) {
		switch n := x.(type) {
		case *ast.ColumnNameExpr:
			i, ok := d.column(n.Name)
			if !ok {
				return nil, true, unknownColumn(n.Name)
			}
			return evalengine.Column{Index: i}, true, nil
		case *bindVarExpr:
			if n.kind != bindScalar {
				// A join's keys, or a subquery's rows: usable in IN only.
				return evalengine.ListBind{Name: n.name}, true, nil
			}
			return evalengine.Bind{Name: n.name}, true, nil
		}
		return nil, false, nil
	})
}

func unknownColumn(c *ast.ColumnName) error {
	n := c.Name.O
	if c.Table.O != "" {
		n = c.Table.O + "." + n
	}
	return sqlerr.New(sqlerr.ERBadFieldError, "Unknown column '%s' in 'field list'", n)
}

// inner returns e with the derived table's columns replaced by the
// subquery's expressions, for the subquery's select list; ok is false
// when e names something else.
func (d *derivedRows) inner(e ast.ExprNode) (ast.ExprNode, bool) {
	r := &innerRewriter{d: d, ok: true}
	// Accept rewrites in place: rewrite a copy.
	n, _ := cloneAST(e).Accept(r)
	return n.(ast.ExprNode), r.ok
}

type innerRewriter struct {
	d  *derivedRows
	ok bool
}

func (r *innerRewriter) Enter(n ast.Node) (ast.Node, bool) {
	switch n.(type) {
	case *ast.SubqueryExpr, *ast.AggregateFuncExpr, *ast.WindowFuncExpr:
		r.ok = false
		return n, true
	case *ast.ColumnNameExpr:
		return n, true
	}
	return n, false
}

func (r *innerRewriter) Leave(n ast.Node) (ast.Node, bool) {
	c, ok := n.(*ast.ColumnNameExpr)
	if !ok {
		return n, true
	}
	i, found := r.d.column(c.Name)
	if !found || r.d.exprs[i] == nil {
		r.ok = false
		return n, true
	}
	e := cloneAST(r.d.exprs[i]).(ast.ExprNode)
	if _, col := e.(*ast.ColumnNameExpr); col {
		return e, true
	}
	return &ast.ParenthesesExpr{Expr: e}, true
}

// pushFilters moves the conjuncts of the outer WHERE that read only the
// group keys of a grouped subquery into its WHERE, substituted: keeping
// the groups whose keys pass is keeping the rows whose keys pass, and the
// shards then compare text in their columns' collations. It returns the
// conjuncts the gate still evaluates.
func (d *derivedRows) pushFilters(where ast.ExprNode) ast.ExprNode {
	in := d.sel
	if in == nil || !d.weights || in.GroupBy == nil || in.Limit != nil || in.Having != nil ||
		(in.SelectStmtOpts != nil && in.SelectStmtOpts.CalcFoundRows) {
		return where
	}
	wf := &windowFinder{}
	in.Fields.Accept(wf)
	if wf.found {
		return where
	}
	keys := map[int]bool{}
	for _, by := range in.GroupBy.Items {
		if pe, ok := by.Expr.(*ast.PositionExpr); ok && pe.P == nil {
			keys[pe.N-1] = true
			continue
		}
		bt, err := restoreSQL(by.Expr)
		if err != nil {
			continue
		}
		// A name in GROUP BY means a column of FROM before a select
		// alias: match the expression as written, never an alias.
		for i, f := range in.Fields.Fields[:len(d.names)] {
			if ft, err := restoreSQL(f.Expr); err == nil && ft == bt {
				keys[i] = true
			}
		}
	}
	var keep, push []ast.ExprNode
	for _, c := range splitAnd(where) {
		ok := !hasSubquery(c) && !hasAggregate(c)
		cc := &colCollector{}
		c.Accept(cc)
		for _, cn := range cc.cols {
			i, found := d.column(cn)
			ok = ok && found && keys[i] && !hasAggregate(d.exprs[i])
		}
		if ok {
			if x, subst := d.inner(c); subst {
				push = append(push, x)
				continue
			}
		}
		keep = append(keep, c)
	}
	if len(push) > 0 {
		if in.Where != nil {
			push = append([]ast.ExprNode{in.Where}, push...)
		}
		in.Where = andAll(push)
	}
	return andAll(keep)
}

// computable returns e over the subquery's expressions when the subquery
// can compute it as an added column: e reads the derived table's columns,
// and they are no aggregates (a grouped subquery computes an expression
// of its group keys for each group).
func (d *derivedRows) computable(e ast.ExprNode) (ast.ExprNode, bool) {
	if !d.push {
		return nil, false
	}
	cc := &colCollector{}
	e.Accept(cc)
	if len(cc.cols) == 0 {
		return nil, false
	}
	in, ok := d.inner(e)
	if !ok || hasAggregate(in) {
		return nil, false
	}
	wf := &windowFinder{}
	in.Accept(wf)
	return in, !wf.found
}

// add appends e to the subquery's select list and returns its column.
func (d *derivedRows) add(e ast.ExprNode) int {
	d.added++
	d.sel.Fields.Fields = append(d.sel.Fields.Fields, &ast.SelectField{Expr: e,
		AsName: ast.NewCIStr("__d" + itoa(d.added))})
	return len(d.names) + d.added - 1
}

// planDerivedSpan plans SELECT ... FROM (subquery) AS d when the subquery
// spans shards: the outer query runs in the gate over its rows.
func (p *planner) planDerivedSpan(sel *ast.SelectStmt, e *fromEntry) (Primitive, error) {
	switch {
	case sel.SelectIntoOpt != nil:
		return nil, sqlerr.NotSupported("SELECT ... INTO across shards")
	case sel.SelectStmtOpts != nil && sel.SelectStmtOpts.CalcFoundRows:
		return nil, sqlerr.NotSupported("SQL_CALC_FOUND_ROWS across shards")
	case sel.GroupBy != nil && sel.GroupBy.Rollup:
		return nil, sqlerr.NotSupported("GROUP BY ... WITH ROLLUP across shards")
	case len(sel.WindowSpecs) > 0:
		return nil, sqlerr.NotSupported("window functions across shards")
	case sel.LockInfo != nil && sel.LockInfo.LockType != ast.SelectLockNone:
		return nil, sqlerr.NotSupported("a locking read of a derived table that spans shards")
	}
	wf := &windowFinder{}
	sel.Fields.Accept(wf)
	if wf.found {
		return nil, sqlerr.NotSupported("window functions across shards")
	}
	// Uncorrelated subqueries run first; their results are bound values
	// the gate reads.
	pullouts, err := p.handleSubqueries(sel, &routeGroup{kind: "derived"})
	if err != nil {
		return nil, err
	}
	prim, err := p.planOverDerivedRows(sel, e)
	if err != nil {
		return nil, err
	}
	return wrapPullouts(prim, pullouts), nil
}

// planOverDerivedRows plans the outer query over the derived table's rows.
func (p *planner) planOverDerivedRows(sel *ast.SelectStmt, e *fromEntry) (Primitive, error) {
	parts := []ast.Node{sel.Fields}
	if sel.Where != nil {
		parts = append(parts, sel.Where)
	}
	if sel.GroupBy != nil {
		parts = append(parts, sel.GroupBy)
	}
	if sel.Having != nil {
		parts = append(parts, sel.Having)
	}
	if sel.OrderBy != nil {
		parts = append(parts, sel.OrderBy)
	}
	for _, n := range parts {
		if hasSubquery(n) {
			return nil, sqlerr.NotSupported("this subquery over a derived table that spans shards")
		}
	}
	d, err := p.newDerivedRows(e)
	if err != nil {
		return nil, err
	}
	// * and d.* are the derived table's columns.
	var fields []*ast.SelectField
	for _, f := range sel.Fields.Fields {
		if f.WildCard == nil {
			fields = append(fields, f)
			continue
		}
		if f.WildCard.Schema.L != "" || (f.WildCard.Table.L != "" && f.WildCard.Table.L != lower(d.alias)) {
			return nil, sqlerr.New(1051, "Unknown table '%s'", f.WildCard.Table.O)
		}
		for _, n := range d.names {
			fields = append(fields, &ast.SelectField{Expr: &ast.ColumnNameExpr{Name: &ast.ColumnName{
				Table: ast.NewCIStr(d.alias), Name: ast.NewCIStr(n)}}, AsName: ast.NewCIStr(n)})
		}
	}
	sel.Fields.Fields = fields
	var where evalengine.Expr
	if sel.Where != nil {
		sel.Where = d.pushFilters(sel.Where)
	}
	// Each other condition the subquery computes as an added column when
	// it can (in its columns' types and collations), the gate filtering
	// by its truth; else the gate evaluates it.
	for _, c := range splitAnd(sel.Where) {
		var x evalengine.Expr
		if in, ok := d.computable(c); ok {
			x = evalengine.Column{Index: d.add(in)}
		} else if x, err = d.gateExpr(c); err != nil {
			return nil, derivedRefusal(err, "this WHERE condition", c)
		}
		if where == nil {
			where = x
		} else {
			where = evalengine.Logic{Op: evalengine.OpAnd, L: where, R: x}
		}
	}
	s, err := p.newScatterSelect(sel, nil)
	if err != nil {
		return nil, err
	}
	finish := func() (Primitive, error) { return p.derivedInput(d, s, where) }
	if aggregates(sel) {
		s.raw, s.rawScatter = true, true
		return p.planScatterAggregate(s, finish)
	}
	var keys []keyRef
	if sel.OrderBy != nil {
		for _, by := range sel.OrderBy.Items {
			if fc, ok := by.Expr.(*ast.FuncCallExpr); ok && fc.FnName.L == "rand" {
				return nil, sqlerr.NotSupported("ORDER BY RAND() across shards")
			}
			c, ok, err := s.fieldFor(by.Expr, true)
			if err != nil {
				return nil, err
			}
			if !ok {
				c = s.addHidden(by.Expr)
			}
			keys = append(keys, keyRef{col: c, desc: by.Desc, weight: s.weightOf(c)})
		}
	}
	lim, err := s.limitOf()
	if err != nil {
		return nil, err
	}
	prim, err := finish()
	if err != nil {
		return nil, err
	}
	if len(keys) > 0 {
		prim = &Sort{Input: prim, Keys: s.resolveKeys(keys)}
	}
	if lim != nil {
		lim.Input = prim
		prim = lim
	}
	if len(s.hidden) > 0 {
		prim = &Truncate{Input: prim, Hidden: len(s.hidden)}
	}
	return prim, nil
}

// derivedRefusal says what the gate cannot evaluate over a derived table.
func derivedRefusal(err error, what string, e ast.ExprNode) error {
	if errors.Is(err, evalengine.ErrUnsupported) {
		t, _ := restoreSQL(e)
		return sqlerr.NotSupported("%s over a derived table that spans shards (%s): %v", what, t, err)
	}
	return err
}

// derivedInput makes the rows the outer query's operators read: the
// subquery's rows, filtered by the outer WHERE, projected to s's fields
// and hidden columns.
func (p *planner) derivedInput(d *derivedRows, s *scatterSelect, where evalengine.Expr) (Primitive, error) {
	var exprs []ast.ExprNode
	var names []string
	for _, f := range s.sel.Fields.Fields[:s.nfields] {
		exprs = append(exprs, f.Expr)
		names = append(names, f.AsName.O)
	}
	for _, f := range s.hidden {
		exprs = append(exprs, f.Expr)
		names = append(names, "")
	}
	for i, n := range names {
		if n == "" && i < s.nfields {
			if c, ok := exprs[i].(*ast.ColumnNameExpr); ok {
				names[i] = c.Name.Name.O
			} else {
				names[i] = s.origText[i]
			}
		}
	}
	// valueOf maps a weight column to the column whose weight it is.
	valueOf := map[int]int{}
	for v, w := range s.weights {
		valueOf[s.index(w)] = s.index(v)
	}
	cols := make([]evalengine.Expr, len(exprs))
	var noText []int
	for i, x := range exprs {
		if arg, ok := weightArg(x); ok {
			c, ok := p.derivedWeight(d, arg)
			cols[i] = c
			if ok {
				continue
			}
			// No one computes the weight: the value it stands beside
			// must not be text.
			v, isWeight := valueOf[i]
			if !isWeight {
				v = sameExpr(exprs, arg)
			}
			if v < 0 {
				return nil, derivedRefusal(evalengine.ErrUnsupported, "the collation weight of this text", arg)
			}
			noText = append(noText, v)
			continue
		}
		if c, ok := x.(*ast.ColumnNameExpr); ok {
			j, found := d.column(c.Name)
			if !found {
				return nil, unknownColumn(c.Name)
			}
			cols[i] = evalengine.Column{Index: j}
			continue
		}
		if in, ok := d.computable(x); ok {
			cols[i] = evalengine.Column{Index: d.add(in)}
			continue
		}
		g, err := d.gateExpr(x)
		if err == nil {
			cols[i] = g
			continue
		}
		if !errors.Is(err, evalengine.ErrUnsupported) {
			return nil, err
		}
		in, ok := d.inner(x)
		cc := &colCollector{}
		x.Accept(cc)
		// A DISTINCT subquery may compute a constant (@@group_concat_max_len):
		// it changes no row's distinctness.
		if !ok || !(d.push || d.weights && len(cc.cols) == 0) {
			return nil, derivedRefusal(err, "this expression", x)
		}
		cols[i] = evalengine.Column{Index: d.add(in)}
	}
	inner, err := p.planQuery(d.node)
	if err != nil {
		return nil, err
	}
	if where != nil {
		inner = &EvalFilter{Input: inner, Cond: where, Tail: len(d.names) + d.added}
	}
	return &Projection{Input: inner, Cols: cols, Names: names, NoText: noText}, nil
}

// weightArg returns e of WEIGHT_STRING(RTRIM(e)).
func weightArg(x ast.ExprNode) (ast.ExprNode, bool) {
	f, ok := x.(*ast.FuncCallExpr)
	if !ok || f.FnName.L != strings.ToLower(ast.WeightString) || len(f.Args) != 1 {
		return nil, false
	}
	r, ok := f.Args[0].(*ast.FuncCallExpr)
	if !ok || r.FnName.L != strings.ToLower(ast.RTrim) || len(r.Args) != 1 {
		return nil, false
	}
	return r.Args[0], true
}

// derivedWeight returns the column of the collation weight of e, an
// expression over the derived table's columns: NULL when e cannot be
// text, a column the subquery adds when it can, ok false when no one can
// compute it.
func (p *planner) derivedWeight(d *derivedRows, e ast.ExprNode) (evalengine.Expr, bool) {
	null := evalengine.Expr(evalengine.Literal{})
	if in, ok := d.inner(e); ok {
		if !p.mayBeText(in, d.group) {
			return null, true
		}
		// The weight of an aggregate's result (MAX(name)) is not
		// computed: the value must then not be text.
		if d.weights && !hasAggregate(in) {
			return evalengine.Column{Index: d.add(weightStringOf(in))}, true
		}
	}
	return null, false
}

// sameExpr returns the index of the expression of exprs written as e, or -1.
func sameExpr(exprs []ast.ExprNode, e ast.ExprNode) int {
	t, err := restoreSQL(e)
	if err != nil {
		return -1
	}
	for i, x := range exprs {
		if xt, err := restoreSQL(x); err == nil && xt == t {
			return i
		}
	}
	return -1
}
