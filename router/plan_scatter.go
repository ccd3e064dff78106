package router

import (
	"errors"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/opcode"
	driver "github.com/pingcap/tidb/pkg/parser/test_driver"

	"github.com/mosaicdb/mosaic/router/evalengine"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// colRef points at a column of the shard query: one of the original
// fields, or the i-th hidden one appended after them.
type colRef struct {
	hidden bool
	i      int
}

// scatterSelect collects what a multi-shard SELECT adds to its fields.
type scatterSelect struct {
	p        *planner
	g        *routeGroup // nil when unknown: every key may then be text
	sel      *ast.SelectStmt
	nfields  int // original fields
	hasStar  bool
	origText []string // restored original field expressions
	hidden   []*ast.SelectField
	aggs     []aggPlan
	// extraGroup are expressions added to the shard GROUP BY.
	extraGroup []ast.ExprNode
	// weights maps a column to the hidden column of its WEIGHT_STRING.
	weights map[colRef]colRef
	// raw: the input returns every row (a join across shards), not the
	// shards' groups; aggregates read values, not partial aggregates.
	raw bool
	// rawScatter says the raw rows come from a scatter, not a join.
	rawScatter bool
}

type aggPlan struct {
	col      colRef
	op       AggOp
	countCol colRef
	weight   *colRef
	// args are further argument columns (COUNT(DISTINCT a, b)).
	args []colRef
	// distinct, separator, order and maxLen are GROUP_CONCAT's.
	distinct  bool
	separator string
	order     []keyRef
	maxLen    *colRef
}

// keyRef is an ORDER BY key while hidden columns are still being added
// (their final indexes are known once they all are).
type keyRef struct {
	col    colRef
	desc   bool
	weight *colRef
}

func (s *scatterSelect) resolveKeys(refs []keyRef) []orderKey {
	out := make([]orderKey, len(refs))
	for i, r := range refs {
		out[i] = orderKey{col: s.index(r.col), desc: r.desc}
		if r.weight != nil {
			out[i].weight, out[i].hasWeight = s.index(*r.weight), true
		}
	}
	return out
}

// exprOf returns the expression of a column of the shard query.
func (s *scatterSelect) exprOf(c colRef) ast.ExprNode {
	if c.hidden {
		return s.hidden[c.i].Expr
	}
	return s.sel.Fields.Fields[c.i].Expr
}

// weightOf returns the hidden column holding WEIGHT_STRING(RTRIM(e)) for
// the expression of column c, adding it the first time, or nil when that
// expression cannot be text. Merging text by the shards' weights orders,
// groups and compares it in the collation of the shards' own column.
func (s *scatterSelect) weightOf(c colRef) *colRef {
	if w, ok := s.weights[c]; ok {
		return &w
	}
	e := s.exprOf(c)
	if e == nil || !s.p.mayBeText(e, s.g) {
		return nil
	}
	w := s.addHidden(weightStringOf(e))
	if s.weights == nil {
		s.weights = map[colRef]colRef{}
	}
	s.weights[c] = w
	return &w
}

func (s *scatterSelect) addHidden(e ast.ExprNode) colRef {
	s.hidden = append(s.hidden, &ast.SelectField{Expr: e})
	return colRef{hidden: true, i: len(s.hidden) - 1}
}

// index turns a colRef into a result column index (negative from the end
// when a * makes the field count unknown).
func (s *scatterSelect) index(c colRef) int {
	if !c.hidden {
		return c.i
	}
	if s.hasStar {
		return c.i - len(s.hidden)
	}
	return s.nfields + c.i
}

// fieldFor finds the select field an ORDER BY / GROUP BY / HAVING
// expression refers to.
func (s *scatterSelect) fieldFor(e ast.ExprNode, byPosition bool) (colRef, bool, error) {
	if pe, ok := e.(*ast.PositionExpr); ok && byPosition {
		if pe.P != nil {
			return colRef{}, false, sqlerr.NotSupported("a bound column position in ORDER BY or GROUP BY across shards")
		}
		pos := int64(pe.N)
		if pos < 1 || int(pos) > s.nfields {
			return colRef{}, false, sqlerr.New(sqlerr.ERBadFieldError, "Unknown column '%d' in 'order clause'", pos)
		}
		for _, f := range s.sel.Fields.Fields[:pos-1] {
			if f.WildCard != nil {
				return colRef{}, false, sqlerr.NotSupported("a column position after * in ORDER BY or GROUP BY across shards")
			}
		}
		return colRef{i: int(pos - 1)}, true, nil
	}
	if c, ok := e.(*ast.ColumnNameExpr); ok && c.Name.Table.L == "" {
		for i, f := range s.sel.Fields.Fields[:s.nfields] {
			if f.AsName.L == c.Name.Name.L && f.AsName.L != "" {
				return colRef{i: i}, true, nil
			}
		}
	}
	text, err := restoreSQL(e)
	if err != nil {
		return colRef{}, false, err
	}
	for i, t := range s.origText {
		if t != "" && strings.EqualFold(t, text) {
			return colRef{i: i}, true, nil
		}
	}
	// t.c matches a field c and c matches a field t.c.
	if c, ok := e.(*ast.ColumnNameExpr); ok {
		for i, f := range s.sel.Fields.Fields[:s.nfields] {
			if fc, ok := f.Expr.(*ast.ColumnNameExpr); ok && fc.Name.Name.L == c.Name.Name.L &&
				(fc.Name.Table.L == "" || c.Name.Table.L == "" || fc.Name.Table.L == c.Name.Table.L) && f.AsName.L == "" {
				return colRef{i: i}, true, nil
			}
		}
	}
	return colRef{}, false, nil
}

// groupsByColumn reports whether a GROUP BY name that is also the alias of
// another select expression (SELECT name AS tier ... GROUP BY tier) means
// a column of the FROM tables: mysqld looks a GROUP BY name up in the FROM
// tables before the select list (ORDER BY the other way round). It needs
// the tables' columns, learned from the shards when the VSchema does not
// list them (a ColumnsNeededError); with a FROM of another kind (a derived
// table) it refuses rather than guess.
func (s *scatterSelect) groupsByColumn(e ast.ExprNode) (bool, error) {
	c, ok := e.(*ast.ColumnNameExpr)
	if !ok || c.Name.Table.L != "" {
		return false, nil
	}
	name := c.Name.Name.L
	aliased := false
	for _, f := range s.sel.Fields.Fields[:s.nfields] {
		if f.AsName.L != name {
			continue
		}
		if fc, ok := f.Expr.(*ast.ColumnNameExpr); ok && fc.Name.Name.L == name {
			return false, nil // the alias names the column itself
		}
		aliased = true
	}
	if !aliased {
		return false, nil
	}
	refuse := sqlerr.NotSupported("GROUP BY %s across shards, where %s is both a select alias and maybe a column of the tables (mysqld groups by the column): qualify it, or name the expression", name, name)
	if s.p == nil || s.sel.From == nil {
		return false, refuse
	}
	var sources []*ast.TableSource
	var walk func(n ast.ResultSetNode) bool
	walk = func(n ast.ResultSetNode) bool {
		switch x := n.(type) {
		case *ast.Join:
			return walk(x.Left) && (x.Right == nil || walk(x.Right))
		case *ast.TableSource:
			if _, ok := x.Source.(*ast.TableName); !ok {
				return false
			}
			sources = append(sources, x)
			return true
		}
		return false
	}
	if !walk(s.sel.From.TableRefs) {
		return false, refuse
	}
	for _, ts := range sources {
		ti, err := s.p.resolveTable(ts.Source.(*ast.TableName), ts.AsName.O)
		if err != nil || ti.tbl == nil {
			return false, refuse
		}
		cols := ti.tbl.Columns
		if !ti.tbl.ColumnListAuthoritative || len(cols) == 0 {
			if s.p.cols == nil {
				return false, refuse
			}
			learned, ok := s.p.cols.Columns(ti.ks.Name, ti.tbl.Name)
			if !ok || len(learned) == 0 {
				return false, columnsNeeded(ti.tbl, refuse)
			}
			cols = learned
			s.p.learned = true
		}
		for _, col := range cols {
			if strings.EqualFold(col, name) {
				return true, nil
			}
		}
	}
	return false, nil
}

func hasAggregate(e ast.Node) bool {
	if e == nil {
		return false
	}
	f := &aggFinder{}
	e.Accept(f)
	return f.found
}

type aggFinder struct{ found bool }

func (a *aggFinder) Enter(n ast.Node) (ast.Node, bool) {
	switch n.(type) {
	case *ast.AggregateFuncExpr:
		a.found = true
		return n, true
	case *ast.SubqueryExpr:
		return n, true
	}
	return n, false
}

func (a *aggFinder) Leave(n ast.Node) (ast.Node, bool) { return n, true }

type windowFinder struct{ found bool }

func (a *windowFinder) Enter(n ast.Node) (ast.Node, bool) {
	if _, ok := n.(*ast.WindowFuncExpr); ok {
		a.found = true
		return n, true
	}
	if _, ok := n.(*ast.SubqueryExpr); ok {
		return n, true
	}
	return n, false
}

func (a *windowFinder) Leave(n ast.Node) (ast.Node, bool) { return n, true }

// planScatterSelect plans a SELECT that reads several shards: the shards
// get a rewritten statement and the gate merges.
func (p *planner) planScatterSelect(sel *ast.SelectStmt, route *Route, g *routeGroup) (Primitive, error) {
	if sel.SelectIntoOpt != nil {
		return nil, sqlerr.NotSupported("SELECT ... INTO across shards")
	}
	if sel.SelectStmtOpts != nil && sel.SelectStmtOpts.CalcFoundRows {
		return nil, sqlerr.NotSupported("SQL_CALC_FOUND_ROWS across shards")
	}
	wf := &windowFinder{}
	sel.Fields.Accept(wf)
	if wf.found || len(sel.WindowSpecs) > 0 {
		return nil, sqlerr.NotSupported("window functions across shards")
	}
	if sel.GroupBy != nil && sel.GroupBy.Rollup {
		return nil, sqlerr.NotSupported("GROUP BY ... WITH ROLLUP across shards")
	}
	s, err := p.newScatterSelect(sel, g)
	if err != nil {
		return nil, err
	}
	if !aggregates(sel) {
		return p.planScatterPlain(s, route)
	}
	if needsRawRows(sel) {
		// GROUP_CONCAT and BIT_*: the shards send their rows, and the gate
		// aggregates them all, as over a join (within the statement's
		// memory limit).
		s.raw, s.rawScatter = true, true
	}
	return p.planScatterAggregate(s, func() (Primitive, error) {
		if err := s.finishRoute(route); err != nil {
			return nil, err
		}
		return route, nil
	})
}

func (p *planner) newScatterSelect(sel *ast.SelectStmt, g *routeGroup) (*scatterSelect, error) {
	s := &scatterSelect{p: p, g: g, sel: sel, nfields: len(sel.Fields.Fields)}
	for _, f := range sel.Fields.Fields {
		if f.WildCard != nil {
			s.hasStar = true
			s.origText = append(s.origText, "")
			continue
		}
		t, err := restoreSQL(f.Expr)
		if err != nil {
			return nil, err
		}
		s.origText = append(s.origText, t)
	}
	return s, nil
}

// aggregates reports a SELECT that groups: GROUP BY, HAVING, DISTINCT or
// an aggregate function in its fields or ORDER BY.
func aggregates(sel *ast.SelectStmt) bool {
	if sel.GroupBy != nil || hasAggregate(sel.Fields) || sel.Having != nil || sel.Distinct {
		return true
	}
	if sel.OrderBy != nil {
		for _, by := range sel.OrderBy.Items {
			if hasAggregate(by.Expr) {
				return true
			}
		}
	}
	return false
}

// finishRoute adds the hidden fields to the shard query and makes its
// template.
func (s *scatterSelect) finishRoute(route *Route) error {
	s.sel.Fields.Fields = append(s.sel.Fields.Fields, s.hidden...)
	t, err := newTemplate(s.sel, s.p.mode)
	if err != nil {
		return err
	}
	route.Query = t
	return nil
}

func (s *scatterSelect) limitOf() (*Limit, error) {
	l := s.sel.Limit
	if l == nil {
		return nil, nil
	}
	count, ok := valueOf(l.Count)
	if !ok {
		return nil, sqlerr.NotSupported("this LIMIT expression across shards")
	}
	out := &Limit{Count: count}
	if l.Offset != nil {
		off, ok := valueOf(l.Offset)
		if !ok {
			return nil, sqlerr.NotSupported("this LIMIT offset across shards")
		}
		out.Offset = &off
	}
	return out, nil
}

// planScatterPlain: no aggregation. Shards sort and limit; the gate
// merges sorted streams and applies the limit.
func (p *planner) planScatterPlain(s *scatterSelect, route *Route) (Primitive, error) {
	sel := s.sel
	var keys []keyRef
	if sel.OrderBy != nil {
		for _, by := range sel.OrderBy.Items {
			if fc, ok := by.Expr.(*ast.FuncCallExpr); ok && strings.EqualFold(fc.FnName.L, "rand") {
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
	if lim != nil {
		sel.Limit = &ast.Limit{Count: newBindVar(upperLimitBind, bindScalar)}
	}
	if err := s.finishRoute(route); err != nil {
		return nil, err
	}
	route.OrderBy = s.resolveKeys(keys)
	var prim Primitive = route
	if lim != nil {
		lim.Input = prim
		prim = lim
	}
	if len(s.hidden) > 0 {
		prim = &Truncate{Input: prim, Hidden: len(s.hidden)}
	}
	return prim, nil
}

// planScatterAggregate: shards aggregate per group; the gate merges the
// partial aggregates, then filters (HAVING), sorts and limits. When
// s.raw, the input returns plain rows (a join across shards) and the gate
// aggregates them all. finish makes the input from s.sel once its fields
// are rewritten.
func (p *planner) planScatterAggregate(s *scatterSelect, finish func() (Primitive, error)) (Primitive, error) {
	sel := s.sel
	if s.hasStar {
		return nil, sqlerr.NotSupported("SELECT * with GROUP BY, DISTINCT or aggregates across shards")
	}
	// DISTINCT over aggregates or groups: the gate aggregates as without
	// it, then keeps one of each distinct output row (distinctAfter).
	distinctAfter := sel.Distinct && (hasAggregate(sel.Fields) || sel.GroupBy != nil)
	var distinctCols []distinctCol
	if distinctAfter {
		sel.Distinct = false
		var err error
		if distinctCols, err = s.distinctCols(); err != nil {
			return nil, err
		}
	}
	type groupKey struct {
		col    colRef
		weight *colRef
	}
	var groupKeys []groupKey
	var projects []ProjectCol
	for i, f := range sel.Fields.Fields {
		agg, ok := f.Expr.(*ast.AggregateFuncExpr)
		if !ok {
			if hasAggregate(f.Expr) {
				// The gate computes the expression over the merged
				// aggregates; the shards send NULL in its place.
				e, err := s.overAggregates(f.Expr)
				if err != nil {
					return nil, err
				}
				name := f.AsName.O
				if name == "" {
					name = s.origText[i]
				}
				projects = append(projects, ProjectCol{Col: i, Expr: e, Name: name})
				f.Expr = ast.NewValueExpr(nil, "", "")
				continue
			}
			if sel.Distinct {
				groupKeys = append(groupKeys, groupKey{col: colRef{i: i}})
			}
			continue
		}
		if err := s.planAgg(agg, colRef{i: i}, func(e ast.ExprNode) { f.Expr = e }); err != nil {
			return nil, err
		}
	}
	if sel.GroupBy != nil {
		for _, by := range sel.GroupBy.Items {
			if hasAggregate(by.Expr) {
				return nil, sqlerr.New(1056, "Can't group on an aggregate")
			}
			column, err := s.groupsByColumn(by.Expr)
			if err != nil {
				return nil, err
			}
			c, ok, err := s.fieldFor(by.Expr, true)
			if err != nil {
				return nil, err
			}
			if !ok || column {
				c = s.addHidden(by.Expr)
			} else if !c.hidden {
				if _, isAgg := sel.Fields.Fields[c.i].Expr.(*ast.AggregateFuncExpr); isAgg {
					return nil, sqlerr.New(1056, "Can't group on an aggregate")
				}
			}
			groupKeys = append(groupKeys, groupKey{col: c})
		}
	}
	for i := range groupKeys {
		groupKeys[i].weight = s.weightOf(groupKeys[i].col)
	}
	var pred gexpr
	if sel.Having != nil {
		var err error
		if pred, err = s.gateExpr(sel.Having.Expr); err != nil {
			return nil, err
		}
	}
	var keys []keyRef
	if sel.OrderBy != nil {
		for _, by := range sel.OrderBy.Items {
			var c colRef
			if agg, ok := by.Expr.(*ast.AggregateFuncExpr); ok {
				var err error
				if c, err = s.aggCol(agg); err != nil {
					return nil, err
				}
			} else if hasAggregate(by.Expr) {
				return nil, sqlerr.NotSupported("ORDER BY an expression over aggregates across shards")
			} else {
				found, ok, err := s.fieldFor(by.Expr, true)
				if err != nil {
					return nil, err
				}
				if !ok {
					if sel.Distinct {
						return nil, sqlerr.NotSupported("SELECT DISTINCT ordered by a column it does not select, across shards")
					}
					found = s.addHidden(by.Expr)
				}
				c = found
			}
			keys = append(keys, keyRef{col: c, desc: by.Desc, weight: s.weightOf(c)})
		}
	}
	lim, err := s.limitOf()
	if err != nil {
		return nil, err
	}
	// The shard statement: same fields (aggregates rewritten) plus hidden
	// ones, grouped by the original keys plus the DISTINCT arguments.
	sel.Having, sel.OrderBy, sel.Limit = nil, nil, nil
	if len(s.extraGroup) > 0 {
		if sel.GroupBy == nil {
			sel.GroupBy = &ast.GroupByClause{}
		}
		for _, e := range s.extraGroup {
			sel.GroupBy.Items = append(sel.GroupBy.Items, &ast.ByItem{Expr: e, NullOrder: true})
		}
	}
	scalar := sel.GroupBy == nil && !sel.Distinct
	if s.raw {
		sel.GroupBy, sel.Distinct = nil, false
	}
	input, err := finish()
	if err != nil {
		return nil, err
	}
	agg := &Aggregate{Input: input, Scalar: scalar}
	for _, k := range groupKeys {
		col := s.index(k.col)
		agg.GroupKeys = append(agg.GroupKeys, col)
		if k.weight != nil {
			if agg.GroupWeights == nil {
				agg.GroupWeights = map[int]int{}
			}
			agg.GroupWeights[col] = s.index(*k.weight)
		}
	}
	if len(s.extraGroup) > 0 && len(groupKeys) == 0 {
		agg.Scalar = true
	}
	for _, a := range s.aggs {
		ac := AggCol{Col: s.index(a.col), Op: a.op}
		if a.op == AggAvg {
			ac.CountCol = s.index(a.countCol)
		}
		if a.weight != nil {
			ac.Weight, ac.HasWeight = s.index(*a.weight), true
		}
		for _, c := range a.args {
			ac.Args = append(ac.Args, s.index(c))
		}
		ac.Distinct, ac.Separator, ac.Order = a.distinct, a.separator, s.resolveKeys(a.order)
		if a.maxLen != nil {
			ac.MaxLenCol, ac.HasMaxLen = s.index(*a.maxLen), true
		}
		agg.Aggs = append(agg.Aggs, ac)
	}
	// Every non-aggregate column keeps its first value within a group.
	var prim Primitive = agg
	if len(projects) > 0 {
		prim = &Project{Input: prim, Cols: projects}
	}
	if pred != nil {
		prim = &Filter{Input: prim, Pred: pred}
	}
	if distinctAfter {
		d, err := s.distinctOver(prim, distinctCols, groupKeyWeights(agg))
		if err != nil {
			return nil, err
		}
		prim = d
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

// planAgg rewrites one aggregate for the shards and records how the gate
// merges it. set replaces the aggregate in its field.
func (s *scatterSelect) planAgg(agg *ast.AggregateFuncExpr, at colRef, set func(ast.ExprNode)) error {
	name := strings.ToLower(agg.F)
	if s.raw {
		return s.planRawAgg(name, agg, at, set)
	}
	switch name {
	case "count", "sum", "avg":
		if agg.Distinct {
			// The shards group by the arguments; the gate counts or adds
			// the distinct values of the merged groups.
			if len(agg.Args) != 1 && name != "count" {
				return sqlerr.NotSupported("%s(DISTINCT) of several columns across shards", name)
			}
			set(agg.Args[0])
			s.extraGroup = append(s.extraGroup, agg.Args...)
			op := map[string]AggOp{"count": AggCountDistinct, "sum": AggSumDistinct, "avg": AggAvgDistinct}[name]
			ap := aggPlan{col: at, op: op}
			if op == AggCountDistinct {
				ap.weight = s.weightOf(at)
			}
			for _, a := range agg.Args[1:] {
				ap.args = append(ap.args, s.addHidden(a))
			}
			s.aggs = append(s.aggs, ap)
			return nil
		}
		if name == "avg" {
			set(&ast.AggregateFuncExpr{F: "sum", Args: agg.Args})
			cnt := s.addHidden(&ast.AggregateFuncExpr{F: "count", Args: agg.Args})
			s.aggs = append(s.aggs, aggPlan{col: at, op: AggAvg, countCol: cnt})
			return nil
		}
		op := AggCount
		if name == "sum" {
			op = AggSum
		}
		s.aggs = append(s.aggs, aggPlan{col: at, op: op})
	case "min", "max":
		op := AggMin
		if name == "max" {
			op = AggMax
		}
		s.aggs = append(s.aggs, aggPlan{col: at, op: op, weight: s.weightOf(at)})
	default:
		return sqlerr.NotSupported("aggregate function %s across shards", strings.ToUpper(name))
	}
	return nil
}

// aggCol finds or adds (hidden) an aggregate for HAVING or ORDER BY.
func (s *scatterSelect) aggCol(agg *ast.AggregateFuncExpr) (colRef, error) {
	text, err := restoreSQL(agg)
	if err != nil {
		return colRef{}, err
	}
	for i, t := range s.origText {
		if strings.EqualFold(t, text) {
			return colRef{i: i}, nil
		}
	}
	f := &ast.SelectField{Expr: agg}
	s.hidden = append(s.hidden, f)
	c := colRef{hidden: true, i: len(s.hidden) - 1}
	return c, s.planAgg(agg, c, func(e ast.ExprNode) { f.Expr = e })
}

// gateExpr converts a HAVING condition to a gate expression over the
// merged columns.
func (s *scatterSelect) gateExpr(e ast.ExprNode) (gexpr, error) {
	switch x := e.(type) {
	case *ast.ParenthesesExpr:
		return s.gateExpr(x.Expr)
	case *ast.AggregateFuncExpr:
		c, err := s.aggCol(x)
		if err != nil {
			return nil, err
		}
		return gcol{idx: s.index(c)}, nil
	case *bindVarExpr:
		return glit{src: valueSource{bind: x.name}}, nil
	case *driver.ValueExpr:
		v, ok := constValue(x)
		if !ok {
			return nil, sqlerr.NotSupported("this literal in HAVING across shards")
		}
		return glit{src: valueSource{isConst: true, val: v}}, nil
	case *ast.ColumnNameExpr:
		c, ok, err := s.fieldFor(x, false)
		if err != nil {
			return nil, err
		}
		if !ok {
			c = s.addHidden(x)
		}
		return gcol{idx: s.index(c)}, nil
	case *ast.IsNullExpr:
		in, err := s.gateExpr(x.Expr)
		if err != nil {
			return nil, err
		}
		return gisnull{e: in, not: x.Not}, nil
	case *ast.UnaryOperationExpr:
		in, err := s.gateExpr(x.V)
		if err != nil {
			return nil, err
		}
		switch x.Op {
		case opcode.Not, opcode.Not2:
			return gnot{e: in}, nil
		case opcode.Minus:
			return gbinary{op: "-", l: glit{src: valueSource{isConst: true, val: int64(0)}}, r: in}, nil
		case opcode.Plus:
			return in, nil
		}
	case *ast.BetweenExpr:
		// x BETWEEN a AND b is a <= x AND x <= b; NOT BETWEEN negates it.
		x0, err := s.gateExpr(x.Expr)
		if err != nil {
			return nil, err
		}
		lo, err := s.gateExpr(x.Left)
		if err != nil {
			return nil, err
		}
		hi, err := s.gateExpr(x.Right)
		if err != nil {
			return nil, err
		}
		var out gexpr = gbinary{op: "and", l: gbinary{op: ">=", l: x0, r: lo}, r: gbinary{op: "<=", l: x0, r: hi}}
		if x.Not {
			out = gnot{e: out}
		}
		return out, nil
	case *ast.PatternInExpr:
		// x IN (a, b) is x = a OR x = b (NULL when no match and a NULL).
		if x.Sel != nil || len(x.List) == 0 {
			break
		}
		x0, err := s.gateExpr(x.Expr)
		if err != nil {
			return nil, err
		}
		var out gexpr
		for _, item := range x.List {
			if b, ok := item.(*bindVarExpr); ok && b.kind != bindScalar {
				return nil, sqlerr.NotSupported("a list bind variable in HAVING across shards")
			}
			e, err := s.gateExpr(item)
			if err != nil {
				return nil, err
			}
			var eq gexpr = gbinary{op: "=", l: x0, r: e}
			if out == nil {
				out = eq
			} else {
				out = gbinary{op: "or", l: out, r: eq}
			}
		}
		if x.Not {
			out = gnot{e: out}
		}
		return out, nil
	case *ast.BinaryOperationExpr:
		ops := map[opcode.Op]string{
			opcode.EQ: "=", opcode.NE: "<>", opcode.LT: "<", opcode.LE: "<=", opcode.GT: ">", opcode.GE: ">=",
			opcode.NullEQ: "<=>", opcode.LogicAnd: "and", opcode.LogicOr: "or", opcode.LogicXor: "xor",
			opcode.Plus: "+", opcode.Minus: "-", opcode.Mul: "*", opcode.Div: "/",
		}
		op, ok := ops[x.Op]
		if !ok {
			break
		}
		l, err := s.gateExpr(x.L)
		if err != nil {
			return nil, err
		}
		r, err := s.gateExpr(x.R)
		if err != nil {
			return nil, err
		}
		return gbinary{op: op, l: l, r: r}, nil
	}
	t, _ := restoreSQL(e)
	return nil, sqlerr.NotSupported("this HAVING expression across shards: %s", t)
}

// overAggregates translates an expression over aggregates for the gate:
// each aggregate becomes the column of its merged result, each other
// column the (hidden) column the shards send, each bind variable its
// value.
func (s *scatterSelect) overAggregates(e ast.ExprNode) (evalengine.Expr, error) {
	out, err := evalengine.Translate(e, func(x ast.ExprNode) (evalengine.Expr, bool, error) {
		switch n := x.(type) {
		case *ast.AggregateFuncExpr:
			c, err := s.aggCol(n)
			if err != nil {
				return nil, true, err
			}
			return evalengine.Column{Index: s.index(c)}, true, nil
		case *ast.ColumnNameExpr:
			c, ok, err := s.fieldFor(n, false)
			if err != nil {
				return nil, true, err
			}
			if !ok {
				c = s.addHidden(n)
			}
			return evalengine.Column{Index: s.index(c)}, true, nil
		case *bindVarExpr:
			if n.kind != bindScalar {
				return nil, true, sqlerr.NotSupported("a list bind variable in an expression over aggregates across shards")
			}
			return evalengine.Bind{Name: n.name}, true, nil
		}
		return nil, false, nil
	})
	if err != nil {
		t, _ := restoreSQL(e)
		if errors.Is(err, evalengine.ErrUnsupported) {
			return nil, sqlerr.NotSupported("this expression over aggregate functions across shards (%s): %v", t, err)
		}
		return nil, err
	}
	return out, nil
}

// groupKeyWeights returns agg's group keys' weight columns, by column.
func groupKeyWeights(agg *Aggregate) map[int]int {
	out := map[int]int{}
	for _, k := range agg.GroupKeys {
		if w, ok := agg.GroupWeights[k]; ok {
			out[k] = w
		}
	}
	return out
}

// distinctCol says how a column of SELECT DISTINCT over aggregates
// compares.
type distinctCol int

const (
	distinctPlain    distinctCol = iota // a number, or text MariaDB compares as the gate does
	distinctByWeight                    // a text group key: by its weight
	distinctRefused                     // text the gate cannot compare as MariaDB
)

// distinctCols classifies the select list, before it is rewritten for
// the shards: a number (COUNT, SUM, AVG, BIT_*, MIN/MAX of a column that
// is no text, an expression over aggregates the gate computes) compares as
// such; a text column must be a group key, which has its weight.
func (s *scatterSelect) distinctCols() ([]distinctCol, error) {
	out := make([]distinctCol, s.nfields)
	for i, f := range s.sel.Fields.Fields[:s.nfields] {
		switch x := f.Expr.(type) {
		case *ast.AggregateFuncExpr:
			switch strings.ToLower(x.F) {
			case "count", "sum", "avg", "bit_and", "bit_or", "bit_xor":
			case "min", "max":
				if len(x.Args) != 1 || s.p.mayBeText(x.Args[0], s.g) {
					out[i] = distinctRefused
				}
			default:
				out[i] = distinctRefused
			}
		default:
			if !hasAggregate(x) && s.p.mayBeText(x, s.g) {
				out[i] = distinctByWeight
			}
		}
		if out[i] == distinctRefused {
			return nil, sqlerr.NotSupported("SELECT DISTINCT over aggregates across shards with column %s, which may be text the gate cannot compare as MariaDB", s.origText[i])
		}
	}
	return out, nil
}

// distinctOver keeps one of each distinct row of in's visible columns
// (SELECT DISTINCT over aggregates); weights are the group keys' weight
// columns.
func (s *scatterSelect) distinctOver(in Primitive, cols []distinctCol, weights map[int]int) (Primitive, error) {
	keys := make([]int, len(cols))
	ws := map[int]int{}
	for i, c := range cols {
		keys[i] = i
		w, ok := weights[i]
		if c == distinctByWeight && !ok {
			return nil, sqlerr.NotSupported("SELECT DISTINCT over aggregates across shards with column %s, which may be text and is not grouped by", s.origText[i])
		}
		if ok {
			ws[i] = w
		}
	}
	return &Aggregate{Input: in, GroupKeys: keys, GroupWeights: ws}, nil
}
