package router

import (
	"errors"
	"strconv"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/opcode"
	driver "github.com/pingcap/tidb/pkg/parser/test_driver"

	"github.com/mosaicdb/mosaic/router/evalengine"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// planJoin plans a SELECT whose tables cannot run as one statement: the
// FROM splits into a left and a right group of tables, each one route,
// joined in the gate on one equality (see Join).
func (p *planner) planJoin(sel *ast.SelectStmt, entries []*fromEntry) (Primitive, error) {
	// a RIGHT JOIN b is b LEFT JOIN a, with a's columns shown first.
	rightFirst := false
	if len(entries) == 2 && entries[1].join == ast.RightJoin && !entries[1].natural && len(entries[1].using) == 0 {
		a, b := *entries[0], *entries[1]
		a.join, a.on, b.join, b.on = ast.LeftJoin, b.on, ast.CrossJoin, nil
		entries, rightFirst = []*fromEntry{&b, &a}, true
	} else if len(entries) == 2 && entries[1].join == ast.CrossJoin && !entries[1].natural && len(entries[1].using) == 0 &&
		p.derivedRereads(entries[1]) && entries[0].derived == nil {
		// The right side runs once per batch of left keys; a derived
		// table that cannot filter its subquery by them would compute
		// it whole each time: it goes left, and runs once.
		a, b := *entries[0], *entries[1]
		a.join, a.on, b.join, b.on = ast.CrossJoin, b.on, ast.CrossJoin, nil
		entries, rightFirst = []*fromEntry{&b, &a}, true
	}
	for _, e := range entries {
		switch {
		case e.natural || len(e.using) > 0:
			return nil, sqlerr.NotSupported("NATURAL JOIN or JOIN ... USING across shards (use ON)")
		case e.join == -1:
			return nil, sqlerr.NotSupported("nested joins across shards")
		case e.join == ast.RightJoin:
			return nil, sqlerr.NotSupported("RIGHT JOIN across shards (write it as a LEFT JOIN)")
		}
	}
	if aggregates(sel) {
		return p.planJoinAggregate(sel, entries)
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
		lg, err := p.joinSide(entries[:k], sel.Where)
		if err != nil {
			return nil, err
		}
		rg, err := p.joinSide(entries[k:], sel.Where)
		if err != nil {
			return nil, err
		}
		if lg != nil && rg != nil {
			split, lgroup, rgroup = k, lg, rg
			break
		}
	}
	if split < 0 {
		// More than two groups: the last group joins the join of the
		// others, which plans as its own join.
		for k := len(entries) - 1; k >= 1; k-- {
			rg, err := p.joinSide(entries[k:], sel.Where)
			if err != nil {
				return nil, err
			}
			if rg != nil {
				split, rgroup = k, rg
				break
			}
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
	// postConds are WHERE conditions on the nullable side of a LEFT JOIN:
	// they hold only after the join, so the gate evaluates them there.
	// guardConds are ON conditions of a LEFT JOIN on the left table alone:
	// the left side computes them, and a row for which they are not true
	// joins nothing.
	var leftConds, rightConds, crossConds, postConds, guardConds []ast.ExprNode
	var lkey, rkey *ast.ColumnNameExpr
	classify := func(c ast.ExprNode, fromOn bool) error {
		l, r, err := side(qualifiers(c))
		if err != nil {
			return err
		}
		switch {
		case r && leftJoin && !fromOn:
			if hasSubquery(c) {
				return sqlerr.NotSupported("subqueries in a join across shards")
			}
			postConds = append(postConds, c)
		case l && r:
			if hasSubquery(c) {
				return sqlerr.NotSupported("subqueries in a join across shards")
			}
			crossConds = append(crossConds, c)
		case r:
			rightConds = append(rightConds, c)
		default:
			if leftJoin && fromOn {
				if hasSubquery(c) {
					return sqlerr.NotSupported("subqueries in a join across shards")
				}
				guardConds = append(guardConds, c)
				return nil
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
	// One equality between a column of each side joins by a hash of its
	// values, the right side read with the left's distinct keys at once;
	// any other condition over both sides makes a nested loop: the right
	// side runs once per distinct left row, with the left's columns in the
	// condition bound as values, so the shards evaluate it.
	if len(crossConds) == 1 {
		lkey, rkey = columnEquality(crossConds[0], left, right)
	}
	var nlVars []nlVar
	if lkey == nil {
		conds, vars := p.bindLeftColumns(crossConds, left)
		rightConds = append(rightConds, conds...)
		nlVars = vars
	}
	// Output columns.
	star := len(sel.Fields.Fields) == 1 && sel.Fields.Fields[0].WildCard != nil && sel.Fields.Fields[0].WildCard.Table.L == ""
	// wilds: the select list is t.* only (as the join of more than two
	// groups gives each of its parts).
	// wilds: the select list has t.* (as the join of more than two
	// groups gives each of its parts, followed by its join keys).
	wilds := false
	for _, f := range sel.Fields.Fields {
		wilds = wilds || !star && f.WildCard != nil
	}
	j := &Join{LeftJoin: leftJoin, JoinBind: p.newBind("jk")}
	// Cols order the columns by the select list; only * needs telling.
	j.RightFirst = rightFirst && star
	var lfields, rfields []*ast.SelectField
	// plains are the plain columns after t.*, each with its place among
	// its side's (fixed once the sides' hidden columns are known).
	var plains []joinCol
	switch {
	case star:
		for _, e := range left {
			lfields = append(lfields, &ast.SelectField{WildCard: &ast.WildCardField{Table: ast.NewCIStr(e.alias)}})
		}
		for _, e := range right {
			rfields = append(rfields, &ast.SelectField{WildCard: &ast.WildCardField{Table: ast.NewCIStr(e.alias)}})
		}
	case wilds:
		// The t.* come first, one side's then the other's; plain columns
		// may follow them, from either side (a join of more than two
		// groups gives its parts their join keys so). The output is each
		// side's t.* columns, then the plain ones, which Cols places.
		aliasFields(sel)
		var order []bool
		plainSeen := false
		for _, f := range sel.Fields.Fields {
			if f.WildCard == nil {
				l, r, err := side(qualifiers(f.Expr))
				if err != nil {
					return nil, err
				}
				if l && r {
					return nil, sqlerr.NotSupported("an expression over columns of both sides of a join across shards (%s)", f.Text())
				}
				plainSeen = true
				if r {
					plains = append(plains, joinCol{right: true, idx: j.RightPlain})
					j.RightPlain++
					rfields = append(rfields, f)
				} else {
					plains = append(plains, joinCol{idx: j.LeftPlain})
					j.LeftPlain++
					lfields = append(lfields, f)
				}
				continue
			}
			if f.WildCard.Table.L == "" || plainSeen {
				return nil, sqlerr.NotSupported("t.* after other columns, or * with them, in a join across shards")
			}
			r := hasAlias(right, f.WildCard.Table.L)
			if !r && !hasAlias(left, f.WildCard.Table.L) {
				e := sqlerr.New(1051, "Unknown table '%s'", f.WildCard.Table.O)
				e.State = "42S02"
				return nil, e
			}
			if r {
				rfields = append(rfields, f)
			} else {
				lfields = append(lfields, f)
			}
			if len(order) == 0 || order[len(order)-1] != r {
				order = append(order, r)
			}
		}
		switch {
		case len(order) == 2 && order[0]:
			j.RightFirst = true
		case len(order) > 2:
			return nil, sqlerr.NotSupported("t.* of the two sides of a join across shards interleaved in the select list")
		}
		j.Wild = true
		star = true
	default:
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
	// The post-join conditions read the last columns of the join's
	// output, hidden ones added for them.
	var post evalengine.Expr
	postTail := 0
	if len(postConds) > 0 {
		first := len(hiddenRefs)
		seen := map[string]int{}
		col := func(e ast.ExprNode) (int, error) {
			_, r, err := side(qualifiers(e))
			if err != nil {
				return 0, err
			}
			t, err := restoreSQL(e)
			if err != nil {
				return 0, err
			}
			key := strconv.FormatBool(r) + t
			if k, ok := seen[key]; ok {
				return k, nil
			}
			addHidden(e, r)
			seen[key] = len(hiddenRefs) - 1 - first
			return seen[key], nil
		}
		var err error
		post, err = evalengine.Translate(andAll(postConds), func(x ast.ExprNode) (evalengine.Expr, bool, error) {
			switch n := x.(type) {
			case *ast.IsNullExpr:
				cn, ok := n.Expr.(*ast.ColumnNameExpr)
				if !ok {
					return nil, false, nil
				}
				// The side computes col IS NULL (0 or 1, of any type, text
				// too); the join makes it NULL where it adds a NULL row.
				k, err := col(&ast.IsNullExpr{Expr: cn})
				if err != nil {
					return nil, true, err
				}
				c := evalengine.Column{Index: k}
				if n.Not {
					return evalengine.Compare{Op: evalengine.OpEQ, L: c, R: evalengine.Literal{Value: int64(0)}}, true, nil
				}
				return evalengine.Logic{Op: evalengine.OpOr, L: evalengine.IsNull{E: c},
					R: evalengine.Compare{Op: evalengine.OpEQ, L: c, R: evalengine.Literal{Value: int64(1)}}}, true, nil
			case *ast.ColumnNameExpr:
				k, err := col(n)
				if err != nil {
					return nil, true, err
				}
				return evalengine.Column{Index: k}, true, nil
			case *ast.BinaryOperationExpr, *ast.PatternLikeOrIlikeExpr, *ast.PatternInExpr, *ast.BetweenExpr, *ast.UnaryOperationExpr:
				// A condition over one side is computed by that side, in
				// its columns' collations: on the preserved side any, on
				// the nullable side one that is NULL when its columns are
				// (as the row the join adds has them).
				l, r, err := side(qualifiers(n))
				if err != nil {
					return nil, true, err
				}
				if l == r || r && !nullWhenColumnsAre(n) {
					return nil, false, nil
				}
				k, err := col(n)
				if err != nil {
					return nil, true, err
				}
				return evalengine.Column{Index: k}, true, nil
			case *bindVarExpr:
				if n.kind != bindScalar {
					return nil, true, sqlerr.NotSupported("a list bind variable in a WHERE condition on the nullable side of an outer join across shards")
				}
				return evalengine.Bind{Name: n.name}, true, nil
			}
			return nil, false, nil
		})
		if err != nil {
			t, _ := restoreSQL(andAll(postConds))
			if errors.Is(err, evalengine.ErrUnsupported) {
				return nil, sqlerr.NotSupported("this WHERE condition on the nullable side of an outer join across shards (%s): %v", t, err)
			}
			return nil, err
		}
		postTail = len(hiddenRefs) - first
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
	var tail, rtail []ast.ExprNode
	if lkey != nil {
		tail, rtail = []ast.ExprNode{lkey}, []ast.ExprNode{rkey}
		if p.mayBeText(lkey, lgroup) && p.mayBeText(rkey, rgroup) {
			tail = append(tail, weightStringOf(lkey))
			rtail = append(rtail, weightStringOf(rkey))
			j.LeftWeight, j.RightWeight, j.HasWeights = -1, -1, true
		}
		j.LeftKey, j.RightKey = -len(tail), -len(tail)
		rightConds = append(rightConds, &ast.PatternInExpr{Expr: rkey, List: []ast.ExprNode{newBindVar(j.JoinBind, bindSubqueryList)}})
	} else {
		j.JoinBind, j.Looped = "", true
		for i, v := range nlVars {
			tail = append(tail, v.col)
			j.Vars = append(j.Vars, JoinVar{Bind: v.bind, Col: i - len(nlVars)})
		}
	}
	if len(guardConds) > 0 {
		tail = append([]ast.ExprNode{andAll(guardConds)}, tail...)
		j.LeftGuard, j.HasGuard = -len(tail), true
	}
	for _, h := range hiddenRefs {
		if h.right {
			j.Hidden = append(j.Hidden, joinCol{right: true, idx: h.j - len(rhidden) - len(rtail)})
		} else {
			j.Hidden = append(j.Hidden, joinCol{idx: h.j - len(lhidden) - len(tail)})
		}
	}
	lfields = append(lfields, lhidden...)
	rfields = append(rfields, rhidden...)
	for i := range tail {
		lfields = append(lfields, &ast.SelectField{Expr: tail[i]})
	}
	for i := range rtail {
		rfields = append(rfields, &ast.SelectField{Expr: rtail[i]})
	}
	j.LeftHidden, j.RightHidden = len(lhidden)+len(tail), len(rhidden)+len(rtail)
	for _, c := range plains {
		// From the end of the side's columns: its plain ones come last
		// among those it shows.
		if c.right {
			c.idx = c.idx - j.RightPlain - j.RightHidden
		} else {
			c.idx = c.idx - j.LeftPlain - j.LeftHidden
		}
		j.Cols = append(j.Cols, c)
	}
	if len(lfields) == 0 {
		// A nested loop whose output is all right columns still needs a
		// row per left row.
		lfields = append(lfields, &ast.SelectField{Expr: ast.NewValueExpr(1, "", "")})
		j.LeftHidden++
	}
	if len(rfields) == 0 {
		rfields = append(rfields, &ast.SelectField{Expr: ast.NewValueExpr(1, "", "")})
		j.RightHidden++
	}
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
	if post != nil {
		prim = &EvalFilter{Input: prim, Cond: post, Tail: postTail}
	}
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

// nullWhenColumnsAre reports a condition whose value is NULL whenever its
// columns are: a comparison, LIKE, IN or BETWEEN of columns, literals and
// bind variables, or NOT of one.
func nullWhenColumnsAre(e ast.ExprNode) bool {
	plain := func(e ast.ExprNode) bool {
		switch x := e.(type) {
		case *ast.ColumnNameExpr, *driver.ValueExpr:
			return true
		case *bindVarExpr:
			return x.kind == bindScalar
		}
		return false
	}
	switch x := e.(type) {
	case *ast.ParenthesesExpr:
		return nullWhenColumnsAre(x.Expr)
	case *ast.UnaryOperationExpr:
		return (x.Op == opcode.Not || x.Op == opcode.Not2) && nullWhenColumnsAre(x.V)
	case *ast.BinaryOperationExpr:
		switch x.Op {
		case opcode.EQ, opcode.NE, opcode.LT, opcode.LE, opcode.GT, opcode.GE:
			return plain(x.L) && plain(x.R)
		}
	case *ast.PatternLikeOrIlikeExpr:
		return plain(x.Expr) && plain(x.Pattern)
	case *ast.BetweenExpr:
		return plain(x.Expr) && plain(x.Left) && plain(x.Right)
	case *ast.PatternInExpr:
		if x.Sel != nil || !plain(x.Expr) {
			return false
		}
		for _, v := range x.List {
			if !plain(v) {
				return false
			}
		}
		return true
	}
	return false
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

// andAll joins conditions with AND; an OR or XOR among them is put in
// parentheses, as AND binds tighter: a OR b AND c is a OR (b AND c).
func andAll(conds []ast.ExprNode) ast.ExprNode {
	if len(conds) == 0 {
		return nil
	}
	wrap := func(c ast.ExprNode) ast.ExprNode {
		if b, ok := c.(*ast.BinaryOperationExpr); ok && (b.Op == opcode.LogicOr || b.Op == opcode.LogicXor) {
			return &ast.ParenthesesExpr{Expr: c}
		}
		return c
	}
	if len(conds) == 1 {
		return conds[0]
	}
	acc := wrap(conds[0])
	for _, c := range conds[1:] {
		acc = &ast.BinaryOperationExpr{Op: opcode.LogicAnd, L: acc, R: wrap(c)}
	}
	return acc
}

// columnEquality returns the columns of c when it is an equality between a
// column of the left side and one of the right.
func columnEquality(c ast.ExprNode, left, right []*fromEntry) (lc, rc *ast.ColumnNameExpr) {
	for {
		p, ok := c.(*ast.ParenthesesExpr)
		if !ok {
			break
		}
		c = p.Expr
	}
	b, ok := c.(*ast.BinaryOperationExpr)
	if !ok || b.Op != opcode.EQ {
		return nil, nil
	}
	lc, lok := b.L.(*ast.ColumnNameExpr)
	rc, rok := b.R.(*ast.ColumnNameExpr)
	if !lok || !rok {
		return nil, nil
	}
	if hasAlias(right, lc.Name.Table.L) {
		lc, rc = rc, lc
	}
	if hasAlias(left, lc.Name.Table.L) && hasAlias(right, rc.Name.Table.L) {
		return lc, rc
	}
	return nil, nil
}

// nlVar is a left column a nested loop binds for the right side.
type nlVar struct {
	bind string
	col  *ast.ColumnNameExpr
}

// bindLeftColumns rewrites conditions over both sides of a join into
// conditions of the right side: each column of the left becomes a bind
// variable, one per distinct column.
func (p *planner) bindLeftColumns(conds []ast.ExprNode, left []*fromEntry) ([]ast.ExprNode, []nlVar) {
	b := &leftBinder{p: p, left: left, byName: map[string]string{}}
	out := make([]ast.ExprNode, len(conds))
	for i, c := range conds {
		n, _ := c.Accept(b)
		out[i] = n.(ast.ExprNode)
	}
	return out, b.vars
}

type leftBinder struct {
	p      *planner
	left   []*fromEntry
	byName map[string]string
	vars   []nlVar
}

func (b *leftBinder) Enter(n ast.Node) (ast.Node, bool) {
	_, isCol := n.(*ast.ColumnNameExpr)
	return n, isCol
}

func (b *leftBinder) Leave(n ast.Node) (ast.Node, bool) {
	c, ok := n.(*ast.ColumnNameExpr)
	if !ok || !hasAlias(b.left, c.Name.Table.L) {
		return n, true
	}
	key := c.Name.Table.L + "." + c.Name.Name.L
	name, seen := b.byName[key]
	if !seen {
		name = b.p.newBind("nl")
		b.byName[key] = name
		b.vars = append(b.vars, nlVar{bind: name, col: &ast.ColumnNameExpr{Name: &ast.ColumnName{Table: c.Name.Table, Name: c.Name.Name}}})
	}
	return newBindVar(name, bindScalar), true
}

// joinSide groups the tables of one side of a join: a derived table that
// cannot join the other tables in one route is a side of its own, whose rows the gate produces
// (plan_derivedrows.go); nil when the entries cannot run together.
func (p *planner) joinSide(entries []*fromEntry, where ast.ExprNode) (*routeGroup, error) {
	g, err := p.groupTables(entries, where)
	if err == nil && g == nil && len(entries) == 1 && entries[0].derived != nil {
		return &routeGroup{entries: entries, kind: "derived"}, nil
	}
	return g, err
}

// derivedRereads reports a derived table the gate evaluates (it spans
// shards, is not grouped by the sharding column) whose subquery cannot
// take a join's keys into its WHERE: it is not grouped, or has a LIMIT or
// HAVING, or is a UNION.
func (p *planner) derivedRereads(e *fromEntry) bool {
	if e.derived == nil || p.derivedOnOneShard(e.derived) || p.shardLocal(e.derived) != nil {
		return false
	}
	in, ok := e.derived.(*ast.SelectStmt)
	return !ok || in.GroupBy == nil || in.Limit != nil || in.Having != nil
}
