package router

import (
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
	driver "github.com/pingcap/tidb/pkg/parser/test_driver"

	"github.com/mosaicdb/mosaic/sqlerr"
)

// planJoinAggregate plans GROUP BY, HAVING, DISTINCT and aggregates over a
// join across shards: the join returns, for every joined row, the values
// the aggregates read, the group keys and their weights, and the gate
// groups and aggregates them all (Aggregate over rows), then filters
// (HAVING), sorts and limits, as over a scatter's partial aggregates.
// The shards cannot aggregate first: a group's rows come from both sides.
func (p *planner) planJoinAggregate(sel *ast.SelectStmt, entries []*fromEntry) (Primitive, error) {
	switch {
	case sel.SelectIntoOpt != nil:
		return nil, sqlerr.NotSupported("SELECT ... INTO across shards")
	case sel.SelectStmtOpts != nil && sel.SelectStmtOpts.CalcFoundRows:
		return nil, sqlerr.NotSupported("SQL_CALC_FOUND_ROWS across shards")
	case sel.GroupBy != nil && sel.GroupBy.Rollup:
		return nil, sqlerr.NotSupported("GROUP BY ... WITH ROLLUP across shards")
	case len(sel.WindowSpecs) > 0:
		return nil, sqlerr.NotSupported("window functions across shards")
	case hasSubquery(sel):
		return nil, sqlerr.NotSupported("subqueries in a join across shards")
	}
	wf := &windowFinder{}
	sel.Fields.Accept(wf)
	if wf.found {
		return nil, sqlerr.NotSupported("window functions across shards")
	}
	s, err := p.newScatterSelect(sel, nil)
	if err != nil {
		return nil, err
	}
	s.raw = true
	return p.planScatterAggregate(s, func() (Primitive, error) {
		sel.Fields.Fields = append(sel.Fields.Fields, s.hidden...)
		return p.planJoin(sel, entries)
	})
}

// planRawAgg plans one aggregate the gate computes from every joined
// row: the field becomes the aggregate's argument, which the join
// returns, and the gate aggregates its values.
func (s *scatterSelect) planRawAgg(name string, agg *ast.AggregateFuncExpr, at colRef, set func(ast.ExprNode)) error {
	if len(agg.Args) == 0 {
		return sqlerr.NotSupported("aggregate function %s without arguments %s", name, s.rawWhere())
	}
	ap := aggPlan{col: at}
	switch name {
	case "count":
		set(agg.Args[0])
		ap.op = AggCountValues
		if agg.Distinct {
			ap.op = AggCountDistinct
			ap.weight = s.weightOf(at)
			for _, a := range agg.Args[1:] {
				ap.args = append(ap.args, s.addHidden(a))
			}
		} else if len(agg.Args) != 1 {
			return sqlerr.NotSupported("COUNT of several arguments")
		}
	case "sum", "avg", "min", "max", "bit_and", "bit_or", "bit_xor":
		if len(agg.Args) != 1 {
			return sqlerr.NotSupported("%s of several arguments %s", name, s.rawWhere())
		}
		set(agg.Args[0])
		switch {
		case name == "sum" && agg.Distinct:
			ap.op = AggSumDistinct
		case name == "sum":
			ap.op = AggSum
		case name == "avg" && agg.Distinct:
			ap.op = AggAvgDistinct
		case name == "avg":
			ap.op = AggAvgValues
		case name == "min":
			ap.op, ap.weight = AggMin, s.weightOf(at)
		case name == "max":
			ap.op, ap.weight = AggMax, s.weightOf(at)
		case name == "bit_and":
			ap.op = AggBitAnd
		case name == "bit_or":
			ap.op = AggBitOr
		default:
			ap.op = AggBitXor
		}
	case "group_concat":
		// GROUP_CONCAT(a, b ORDER BY c SEPARATOR s): Args end with the
		// separator.
		n := len(agg.Args) - 1
		sep, ok := agg.Args[n].(*driver.ValueExpr)
		if !ok || n < 1 {
			return sqlerr.NotSupported("this GROUP_CONCAT %s", s.rawWhere())
		}
		set(agg.Args[0])
		ap.op = AggGroupConcat
		ap.distinct = agg.Distinct
		ap.separator = sep.GetString()
		for _, a := range agg.Args[1:n] {
			ap.args = append(ap.args, s.addHidden(a))
		}
		if agg.Distinct {
			ap.weight = s.weightOf(at)
		}
		if agg.Order != nil {
			for _, by := range agg.Order.Items {
				if _, ok := by.Expr.(*ast.PositionExpr); ok {
					return sqlerr.NotSupported("GROUP_CONCAT ordered by a column position %s", s.rawWhere())
				}
				c := s.addHidden(by.Expr)
				ap.order = append(ap.order, keyRef{col: c, desc: by.Desc, weight: s.weightOf(c)})
			}
		}
		// The result is cut at the session's group_concat_max_len, which
		// the shards' sessions share with the client's.
		ml := s.addHidden(&ast.VariableExpr{Name: "group_concat_max_len", IsSystem: true})
		ap.maxLen = &ml
	default:
		return sqlerr.NotSupported("aggregate function %s %s", strings.ToUpper(name), s.rawWhere())
	}
	s.aggs = append(s.aggs, ap)
	return nil
}

// rawWhere says where raw rows come from, for refusals.
func (s *scatterSelect) rawWhere() string {
	if s.rawScatter {
		return "across shards"
	}
	return "over a join across shards"
}

// rawOnly are the aggregates the gate computes only from raw rows: the
// shards cannot compute a part of them that the gate could merge.
var rawOnly = map[string]bool{"group_concat": true, "bit_and": true, "bit_or": true, "bit_xor": true}

// needsRawRows reports a grouping SELECT with an aggregate of rawOnly.
func needsRawRows(sel *ast.SelectStmt) bool {
	f := &rawAggFinder{}
	sel.Fields.Accept(f)
	if sel.Having != nil {
		sel.Having.Accept(f)
	}
	if sel.OrderBy != nil {
		sel.OrderBy.Accept(f)
	}
	return f.found
}

type rawAggFinder struct{ found bool }

func (a *rawAggFinder) Enter(n ast.Node) (ast.Node, bool) {
	switch x := n.(type) {
	case *ast.AggregateFuncExpr:
		if rawOnly[strings.ToLower(x.F)] {
			a.found = true
		}
		return n, true
	case *ast.SubqueryExpr:
		return n, true
	}
	return n, false
}

func (a *rawAggFinder) Leave(n ast.Node) (ast.Node, bool) { return n, true }
