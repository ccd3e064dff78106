package router

import (
	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/opcode"

	"github.com/mosaicdb/mosaic/sqlerr"
)

// planJoin plans a SELECT whose tables cannot run as one statement: the
// FROM splits into a left and a right group of tables, each one route,
// joined in the gate on one equality (see Join).
func (p *planner) planJoin(sel *ast.SelectStmt, entries []*fromEntry) (Primitive, error) {
	for _, e := range entries {
		switch {
		case e.derived != nil:
			return nil, sqlerr.NotSupported("a derived table in a join across shards")
		case e.natural || len(e.using) > 0:
			return nil, sqlerr.NotSupported("NATURAL JOIN or JOIN ... USING across shards (use ON)")
		case e.join == -1:
			return nil, sqlerr.NotSupported("nested joins across shards")
		case e.join == ast.RightJoin:
			return nil, sqlerr.NotSupported("RIGHT JOIN across shards (write it as a LEFT JOIN)")
		}
	}
	if sel.GroupBy != nil || sel.Having != nil || sel.Distinct || hasAggregate(sel.Fields) {
		return nil, sqlerr.NotSupported("GROUP BY, DISTINCT or aggregates over a join across shards")
	}
	if hasSubquery(sel) {
		return nil, sqlerr.NotSupported("subqueries in a join across shards")
	}
	if sel.With != nil || sel.SelectIntoOpt != nil || len(sel.WindowSpecs) > 0 {
		return nil, sqlerr.NotSupported("this SELECT form over a join across shards")
	}
	split := -1
	var lgroup, rgroup *routeGroup
	for k := len(entries) - 1; k >= 1; k-- {
		lg, err := p.groupTables(entries[:k], sel.Where)
		if err != nil {
			return nil, err
		}
		rg, err := p.groupTables(entries[k:], sel.Where)
		if err != nil {
			return nil, err
		}
		if lg != nil && rg != nil {
			split, lgroup, rgroup = k, lg, rg
			break
		}
	}
	groupOf := func(right bool) *routeGroup {
		if right {
			return rgroup
		}
		return lgroup
	}
	if split < 0 {
		return nil, sqlerr.NotSupported("a join of more than two groups of tables on different shards")
	}
	left, right := entries[:split], entries[split:]
	leftJoin := right[0].join == ast.LeftJoin
	for _, e := range right[1:] {
		if e.join != ast.CrossJoin {
			return nil, sqlerr.NotSupported("an outer join after a join across shards")
		}
	}
	side := func(refs map[string]bool) (inLeft, inRight bool, err error) {
		for a := range refs {
			switch {
			case a == "":
				return false, false, sqlerr.NotSupported("unqualified columns in a join across shards: qualify them with their table")
			case hasAlias(left, a):
				inLeft = true
			case hasAlias(right, a):
				inRight = true
			default:
				return false, false, sqlerr.New(sqlerr.ERBadFieldError, "Unknown table '%s'", a)
			}
		}
		return inLeft, inRight, nil
	}
	var leftConds, rightConds []ast.ExprNode
	var lkey, rkey *ast.ColumnNameExpr
	classify := func(c ast.ExprNode, fromOn bool) error {
		l, r, err := side(qualifiers(c))
		if err != nil {
			return err
		}
		switch {
		case l && r:
			b, ok := c.(*ast.BinaryOperationExpr)
			if ok && b.Op == opcode.EQ && lkey == nil {
				lc, lok := b.L.(*ast.ColumnNameExpr)
				rc, rok := b.R.(*ast.ColumnNameExpr)
				if lok && rok {
					if hasAlias(right, lc.Name.Table.L) {
						lc, rc = rc, lc
					}
					if hasAlias(left, lc.Name.Table.L) && hasAlias(right, rc.Name.Table.L) {
						lkey, rkey = lc, rc
						return nil
					}
				}
			}
			t, _ := restoreSQL(c)
			return sqlerr.NotSupported("join condition %s across shards (one column equality is supported)", t)
		case r:
			if leftJoin && !fromOn {
				return sqlerr.NotSupported("WHERE conditions on the right table of a LEFT JOIN across shards")
			}
			rightConds = append(rightConds, c)
		default:
			if leftJoin && fromOn {
				return sqlerr.NotSupported("ON conditions on the left table of a LEFT JOIN across shards")
			}
			leftConds = append(leftConds, c)
		}
		return nil
	}
	for _, c := range splitAnd(right[0].on) {
		if err := classify(c, true); err != nil {
			return nil, err
		}
	}
	for _, c := range splitAnd(sel.Where) {
		if err := classify(c, false); err != nil {
			return nil, err
		}
	}
	if lkey == nil {
		return nil, sqlerr.NotSupported("a join across shards without an equality between a column of each side")
	}
	// Output columns.
	j := &Join{LeftJoin: leftJoin, JoinBind: p.newBind("jk")}
	var lfields, rfields []*ast.SelectField
	star := len(sel.Fields.Fields) == 1 && sel.Fields.Fields[0].WildCard != nil && sel.Fields.Fields[0].WildCard.Table.L == ""
	if star {
		for _, e := range left {
			lfields = append(lfields, &ast.SelectField{WildCard: &ast.WildCardField{Table: ast.NewCIStr(e.alias)}})
		}
		for _, e := range right {
			rfields = append(rfields, &ast.SelectField{WildCard: &ast.WildCardField{Table: ast.NewCIStr(e.alias)}})
		}
	} else {
		aliasFields(sel)
		for _, f := range sel.Fields.Fields {
			if f.WildCard != nil {
				return nil, sqlerr.NotSupported("t.* mixed with other columns in a join across shards")
			}
			l, r, err := side(qualifiers(f.Expr))
			if err != nil {
				return nil, err
			}
			switch {
			case l && r:
				return nil, sqlerr.NotSupported("an expression over columns of both sides of a join across shards (%s)", f.Text())
			case r:
				j.Cols = append(j.Cols, joinCol{right: true, idx: len(rfields)})
				rfields = append(rfields, f)
			default:
				j.Cols = append(j.Cols, joinCol{idx: len(lfields)})
				lfields = append(lfields, f)
			}
		}
	}
	var lhidden, rhidden []*ast.SelectField
	type hiddenRef struct {
		right bool
		j     int
	}
	var hiddenRefs []hiddenRef
	var keys []orderKey
	nout := len(sel.Fields.Fields)
	// addHidden adds a hidden column to a side and returns a placeholder
	// column, fixed once the number of hidden columns is known.
	addHidden := func(e ast.ExprNode, right bool) int {
		if right {
			rhidden = append(rhidden, &ast.SelectField{Expr: e})
			hiddenRefs = append(hiddenRefs, hiddenRef{right: true, j: len(rhidden) - 1})
		} else {
			lhidden = append(lhidden, &ast.SelectField{Expr: e})
			hiddenRefs = append(hiddenRefs, hiddenRef{j: len(lhidden) - 1})
		}
		return -(1 << 20) - (len(hiddenRefs) - 1)
	}
	if sel.OrderBy != nil {
		for _, by := range sel.OrderBy.Items {
			expr := by.Expr
			key := orderKey{desc: by.Desc}
			found := false
			if !star {
				s := &scatterSelect{sel: sel, nfields: nout}
				for _, f := range sel.Fields.Fields {
					t, _ := restoreSQL(f.Expr)
					s.origText = append(s.origText, t)
				}
				c, ok, err := s.fieldFor(by.Expr, true)
				if err != nil {
					return nil, err
				}
				if ok {
					key.col, expr, found = c.i, sel.Fields.Fields[c.i].Expr, true
				}
			}
			l, r, err := side(qualifiers(expr))
			if err != nil {
				return nil, err
			}
			if l && r {
				return nil, sqlerr.NotSupported("ORDER BY an expression over both sides of a join across shards")
			}
			if !found {
				key.col = addHidden(expr, r)
			}
			// Text orders by the shards' weights (see plan_weight.go).
			if p.mayBeText(expr, groupOf(r)) {
				key.weight, key.hasWeight = addHidden(weightStringOf(expr), r), true
			}
			keys = append(keys, key)
		}
	}
	nh := len(hiddenRefs)
	fix := func(c int) int {
		if c <= -(1 << 20) {
			return -(c + (1 << 20)) - nh // negative from the end of the join output
		}
		return c
	}
	for i := range keys {
		keys[i].col = fix(keys[i].col)
		if keys[i].hasWeight {
			keys[i].weight = fix(keys[i].weight)
		}
	}
	// Each side ends with its hidden columns, the join key and, for a key
	// that may be text, the key's weight: text keys match by the shards'
	// weights, in their columns' collation (MariaDB compares two columns
	// only when they share one).
	tail := []ast.ExprNode{lkey}
	rtail := []ast.ExprNode{rkey}
	if p.mayBeText(lkey, lgroup) && p.mayBeText(rkey, rgroup) {
		tail = append(tail, weightStringOf(lkey))
		rtail = append(rtail, weightStringOf(rkey))
		j.LeftWeight, j.RightWeight, j.HasWeights = -1, -1, true
	}
	for _, h := range hiddenRefs {
		if h.right {
			j.Hidden = append(j.Hidden, joinCol{right: true, idx: h.j - len(rhidden) - len(tail)})
		} else {
			j.Hidden = append(j.Hidden, joinCol{idx: h.j - len(lhidden) - len(tail)})
		}
	}
	lfields = append(lfields, lhidden...)
	rfields = append(rfields, rhidden...)
	for i := range tail {
		lfields = append(lfields, &ast.SelectField{Expr: tail[i]})
		rfields = append(rfields, &ast.SelectField{Expr: rtail[i]})
	}
	j.LeftKey, j.RightKey = -len(tail), -len(tail)
	j.LeftHidden, j.RightHidden = len(lhidden)+len(tail), len(rhidden)+len(tail)
	rightConds = append(rightConds, &ast.PatternInExpr{Expr: rkey, List: []ast.ExprNode{newBindVar(j.JoinBind, bindSubqueryList)}})
	lsel := &ast.SelectStmt{Kind: ast.SelectStmtKindSelect, SelectStmtOpts: &ast.SelectStmtOpts{SQLCache: true}, Fields: &ast.FieldList{Fields: lfields},
		From: &ast.TableRefsClause{TableRefs: joinTree(left)}, Where: andAll(leftConds), LockInfo: sel.LockInfo}
	rsel := &ast.SelectStmt{Kind: ast.SelectStmtKindSelect, SelectStmtOpts: &ast.SelectStmtOpts{SQLCache: true}, Fields: &ast.FieldList{Fields: rfields},
		From: &ast.TableRefsClause{TableRefs: joinTree(right)}, Where: andAll(rightConds), LockInfo: sel.LockInfo}
	var err error
	if j.Left, err = p.planSelect(lsel); err != nil {
		return nil, err
	}
	if j.Right, err = p.planSelect(rsel); err != nil {
		return nil, err
	}
	var prim Primitive = j
	if len(keys) > 0 {
		prim = &Sort{Input: prim, Keys: keys}
	}
	if sel.Limit != nil {
		s := &scatterSelect{sel: sel}
		lim, err := s.limitOf()
		if err != nil {
			return nil, err
		}
		lim.Input = prim
		prim = lim
	}
	if nh > 0 {
		prim = &Truncate{Input: prim, Hidden: nh}
	}
	return prim, nil
}

func hasAlias(entries []*fromEntry, a string) bool {
	for _, e := range entries {
		if e.alias == a {
			return true
		}
	}
	return false
}

// qualifiers returns the table qualifiers of the columns under n ("" for
// an unqualified column).
func qualifiers(n ast.Node) map[string]bool {
	out := map[string]bool{}
	if n == nil {
		return out
	}
	c := &colCollector{}
	n.Accept(c)
	for _, cn := range c.cols {
		out[cn.Table.L] = true
	}
	return out
}

type colCollector struct{ cols []*ast.ColumnName }

func (c *colCollector) Enter(n ast.Node) (ast.Node, bool) {
	if cn, ok := n.(*ast.ColumnName); ok {
		c.cols = append(c.cols, cn)
	}
	return n, false
}

func (c *colCollector) Leave(n ast.Node) (ast.Node, bool) { return n, true }

func hasSubquery(n ast.Node) bool {
	f := &subqueryFinder{}
	n.Accept(f)
	return f.found
}

type subqueryFinder struct{ found bool }

func (f *subqueryFinder) Enter(n ast.Node) (ast.Node, bool) {
	if _, ok := n.(*ast.SubqueryExpr); ok {
		f.found = true
		return n, true
	}
	return n, false
}

func (f *subqueryFinder) Leave(n ast.Node) (ast.Node, bool) { return n, true }

func joinTree(entries []*fromEntry) *ast.Join {
	var acc ast.ResultSetNode = entries[0].src
	for _, e := range entries[1:] {
		j := &ast.Join{Left: acc, Right: e.src, Tp: e.join}
		if e.on != nil {
			j.On = &ast.OnCondition{Expr: e.on}
		}
		acc = j
	}
	if j, ok := acc.(*ast.Join); ok {
		return j
	}
	return &ast.Join{Left: acc}
}

func andAll(conds []ast.ExprNode) ast.ExprNode {
	if len(conds) == 0 {
		return nil
	}
	acc := conds[0]
	for _, c := range conds[1:] {
		acc = &ast.BinaryOperationExpr{Op: opcode.LogicAnd, L: acc, R: c}
	}
	return acc
}
