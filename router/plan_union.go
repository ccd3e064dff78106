package router

import (
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"

	"github.com/mosaicdb/mosaic/sqlerr"
)

// planUnion plans UNION [ALL|DISTINCT]: whole on one route when every part
// runs on the same single shard, else part by part with the gate
// concatenating, removing duplicates, sorting and limiting.
func (p *planner) planUnion(u *ast.SetOprStmt) (Primitive, error) {
	if u.With != nil {
		// Each reference to a CTE becomes a derived table (plan_cte.go).
		with := u.With
		u.With = nil
		if err := inlineWith(with, u); err != nil {
			return nil, err
		}
		p.rewrote = true
	}
	var parts []Primitive
	var ops []ast.SetOprType
	var firstSel *ast.SelectStmt
	for i, n := range u.SelectList.Selects {
		var prim Primitive
		var err error
		var op ast.SetOprType
		switch s := n.(type) {
		case *ast.SelectStmt:
			if s.AfterSetOperator != nil {
				op = *s.AfterSetOperator
			}
			if i == 0 {
				firstSel = s
			}
			prim, err = p.planSelect(s)
		case *ast.SetOprSelectList:
			if s.AfterSetOperator != nil {
				op = *s.AfterSetOperator
			}
			prim, err = p.planUnion(&ast.SetOprStmt{SelectList: s})
		default:
			return nil, sqlerr.NotSupported("this UNION part (%T)", n)
		}
		if err != nil {
			return nil, err
		}
		if i > 0 && op != ast.Union && op != ast.UnionAll {
			return nil, sqlerr.NotSupported("INTERSECT and EXCEPT on a sharded keyspace")
		}
		parts = append(parts, prim)
		ops = append(ops, op)
	}
	// Same single shard for every part: push the whole UNION.
	if r0, ok := parts[0].(*Route); ok && singleShard(r0) {
		same := true
		for _, part := range parts[1:] {
			r, ok := part.(*Route)
			if !ok || !sameShard(r0, r) {
				same = false
				break
			}
		}
		if same {
			t, err := newTemplate(u, p.mode)
			if err != nil {
				return nil, err
			}
			out := *r0
			out.Query = t
			return &out, nil
		}
	}
	distinct := make([]bool, len(parts))
	for i := 1; i < len(parts); i++ {
		distinct[i] = ops[i] == ast.Union
	}
	var acc Primitive = &Union{Sources: parts, Distinct: distinct}
	if u.OrderBy != nil {
		var keys []orderKey
		for _, by := range u.OrderBy.Items {
			col, err := unionOrderCol(firstSel, by.Expr)
			if err != nil {
				return nil, err
			}
			keys = append(keys, orderKey{col: col, desc: by.Desc})
		}
		acc = &Sort{Input: acc, Keys: keys}
	}
	if u.Limit != nil {
		s := &scatterSelect{sel: &ast.SelectStmt{Limit: u.Limit}}
		lim, err := s.limitOf()
		if err != nil {
			return nil, err
		}
		lim.Input = acc
		acc = lim
	}
	return acc, nil
}

// sameShard reports whether two single-shard routes surely hit the same shard.
func sameShard(a, b *Route) bool {
	if a.Keyspace != b.Keyspace || a.Opcode != b.Opcode {
		return false
	}
	switch a.Opcode {
	case Unsharded, AnyShard:
		return true
	case Pinned:
		return a.PinnedShard == b.PinnedShard
	}
	return false
}

// unionOrderCol resolves a UNION's ORDER BY item to a column of its
// first SELECT: by position, alias or column name.
func unionOrderCol(first *ast.SelectStmt, e ast.ExprNode) (int, error) {
	if first == nil || first.Fields == nil {
		return 0, sqlerr.NotSupported("ORDER BY on this UNION")
	}
	if pe, ok := e.(*ast.PositionExpr); ok && pe.P == nil && pe.N >= 1 && pe.N <= len(first.Fields.Fields) {
		return pe.N - 1, nil
	}
	if c, ok := e.(*ast.ColumnNameExpr); ok {
		for i, f := range first.Fields.Fields {
			if f.WildCard != nil {
				break
			}
			if f.AsName.L != "" {
				if f.AsName.L == c.Name.Name.L {
					return i, nil
				}
				continue
			}
			if fc, ok := f.Expr.(*ast.ColumnNameExpr); ok && fc.Name.Name.L == c.Name.Name.L {
				return i, nil
			}
		}
	}
	t, _ := restoreSQL(e)
	return 0, sqlerr.NotSupported("ORDER BY %s on a UNION across shards (order by a selected column)", strings.TrimSpace(t))
}
