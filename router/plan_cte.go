package router

import (
	"reflect"

	"github.com/pingcap/tidb/pkg/parser/ast"

	"github.com/mosaicdb/mosaic/sqlerr"
)

// Common table expressions on sharded keyspaces.
//
// A non-recursive CTE is planned as the derived table it stands for: each
// reference to it in FROM (in the statement, its subqueries and later
// CTEs) becomes a copy of its query, as a derived table named as the
// reference is. A CTE referenced several times is then planned, and run,
// once per reference: correct, if not the cheapest. The derived tables
// plan as any: merged into the outer query, sent whole with it to one
// shard, or run across shards with the outer query evaluated in the gate
// (plan_derivedrows.go). A recursive CTE runs only where the whole
// statement runs on one unsharded keyspace (planWithCTE).

// inlineCTEs replaces the references to sel's CTEs by their queries and
// drops its WITH.
func (p *planner) inlineCTEs(sel *ast.SelectStmt) error {
	with := sel.With
	sel.With = nil
	return inlineWith(with, sel)
}

// inlineWith inlines the CTEs of with under body.
func inlineWith(with *ast.WithClause, body ast.Node) error {
	if with.IsRecursive {
		return sqlerr.NotSupported("WITH RECURSIVE on a sharded keyspace")
	}
	defs := map[string]*ast.CommonTableExpression{}
	for _, c := range with.CTEs {
		if c.IsRecursive {
			return sqlerr.NotSupported("WITH RECURSIVE on a sharded keyspace")
		}
		if defs[c.Name.L] != nil {
			return sqlerr.New(1066, "Not unique table/alias: '%s'", c.Name.O)
		}
		// A CTE sees the ones before it.
		if err := inlineIn(c.Query.Query, defs); err != nil {
			return err
		}
		if len(c.ColNameList) > 0 {
			if err := renameColumns(c.Query.Query, c.ColNameList); err != nil {
				return err
			}
		}
		defs[c.Name.L] = c
	}
	return inlineIn(body, defs)
}

// renameColumns names a CTE's columns after its column list.
func renameColumns(n ast.ResultSetNode, names []ast.CIStr) error {
	first := firstSelect(n)
	if first == nil {
		return sqlerr.NotSupported("a column list on this common table expression")
	}
	if len(first.Fields.Fields) != len(names) {
		return sqlerr.New(1353, "In definition of view, derived table or common table expression, SELECT list and column names list have different column counts")
	}
	for i, f := range first.Fields.Fields {
		if f.WildCard != nil {
			return sqlerr.NotSupported("a column list on a common table expression over * on a sharded keyspace")
		}
		f.AsName = names[i]
	}
	return nil
}

// inlineIn replaces, under n, each table named as a CTE of defs by a
// copy of its query.
func inlineIn(n ast.Node, defs map[string]*ast.CommonTableExpression) error {
	if len(defs) == 0 {
		return nil
	}
	v := &cteInliner{defs: defs}
	n.Accept(v)
	return v.err
}

type cteInliner struct {
	defs map[string]*ast.CommonTableExpression
	err  error
}

func (v *cteInliner) Enter(n ast.Node) (ast.Node, bool) {
	ts, ok := n.(*ast.TableSource)
	if !ok {
		return n, false
	}
	tn, ok := ts.Source.(*ast.TableName)
	if !ok || tn.Schema.L != "" {
		return n, false
	}
	c := v.defs[tn.Name.L]
	if c == nil {
		return n, false
	}
	if ts.AsName.L == "" {
		ts.AsName = tn.Name
	}
	ts.Source = cloneAST(c.Query.Query).(ast.ResultSetNode)
	// The copy's references were inlined already.
	return n, true
}

func (v *cteInliner) Leave(n ast.Node) (ast.Node, bool) { return n, true }

// cloneAST returns a deep copy of a parsed statement's node: every node
// reachable through exported fields is copied, so planning the copy (which
// rewrites what it plans) leaves the original as it was. Unexported fields
// (parsed text, a literal's datum) are shared, as planning does not
// change them.
func cloneAST(n ast.Node) ast.Node {
	seen := map[uintptr]reflect.Value{}
	return deepCopy(reflect.ValueOf(n), seen).Interface().(ast.Node)
}

func deepCopy(v reflect.Value, seen map[uintptr]reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		if c, ok := seen[v.Pointer()]; ok {
			return c
		}
		c := reflect.New(v.Elem().Type())
		seen[v.Pointer()] = c
		c.Elem().Set(v.Elem())
		copyFields(c.Elem(), seen)
		return c
	case reflect.Interface:
		if v.IsNil() {
			return v
		}
		out := reflect.New(v.Type()).Elem()
		out.Set(deepCopy(v.Elem(), seen))
		return out
	case reflect.Slice:
		if v.IsNil() {
			return v
		}
		c := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := 0; i < v.Len(); i++ {
			c.Index(i).Set(deepCopy(v.Index(i), seen))
		}
		return c
	case reflect.Struct:
		c := reflect.New(v.Type()).Elem()
		c.Set(v)
		copyFields(c, seen)
		return c
	}
	return v
}

func copyFields(s reflect.Value, seen map[uintptr]reflect.Value) {
	for i := 0; i < s.NumField(); i++ {
		if f := s.Field(i); f.CanSet() {
			f.Set(deepCopy(f, seen))
		}
	}
}

// inlineDerivedWith inlines the non-recursive CTEs of a derived table's
// query; a recursive one is left to be sent whole, where it can.
func inlineDerivedWith(n ast.ResultSetNode) error {
	var with *ast.WithClause
	switch x := n.(type) {
	case *ast.SelectStmt:
		with = x.With
		if with != nil && !with.IsRecursive {
			x.With = nil
		}
	case *ast.SetOprStmt:
		with = x.With
		if with != nil && !with.IsRecursive {
			x.With = nil
		}
	}
	if with == nil || with.IsRecursive {
		return nil
	}
	return inlineWith(with, n)
}
