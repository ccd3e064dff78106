package router

import (
	"maps"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/opcode"
	driver "github.com/pingcap/tidb/pkg/parser/test_driver"
)

// schemaColumns are the information_schema columns that name a database.
var schemaColumns = map[string]bool{
	"table_schema": true, "schema_name": true, "constraint_schema": true,
	"unique_constraint_schema": true, "referenced_table_schema": true,
	"routine_schema": true, "trigger_schema": true, "event_object_schema": true,
	"event_schema": true, "index_schema": true,
}

// systemKeyspace is the keyspace whose tablets answer the statement's
// system tables (information_schema and the like). A tablet's mysqld
// holds only its own keyspace's database, so a statement that names
// databases by literals in its schema columns (`table_schema = 'customer'`,
// `schema_name IN (...)`, `table_schema LIKE 'customer'`) goes to the one
// keyspace among those names; any other goes to the session's keyspace
// (or the first one when there is none), as before.
//
// Which keyspace answers then depends on a literal's value: the plan is
// marked so that it is cached by its exact text only, never for other
// values of its literals (planner.byLiteral).
func (p *planner) systemKeyspace() (*Keyspace, error) {
	if p.sysKs != nil {
		return p.sysKs, nil
	}
	touchedBefore := maps.Clone(p.touched)
	def, err := p.defaultKeyspace()
	if err != nil {
		return nil, err
	}
	p.sysKs = def
	if p.stmt == nil {
		return def, nil
	}
	f := &schemaFilter{bv: p.bv, names: map[string]bool{}}
	p.stmt.Accept(f)
	if !f.found {
		return def, nil
	}
	p.byLiteral, p.rewrote = true, true
	if f.unknown {
		return def, nil
	}
	var only *Keyspace
	for name := range f.names {
		ks := p.vs.Keyspaces[name]
		if ks == nil {
			continue
		}
		if only != nil && only != ks {
			// Two keyspaces' databases: no one tablet knows both.
			return def, nil
		}
		only = ks
	}
	if only == nil || only.Error != nil || len(only.Shards) == 0 {
		return def, nil
	}
	p.sysKs = only
	if def != only {
		// The default keyspace does not answer after all.
		p.touched = touchedBefore
	}
	p.touch(only)
	return only, nil
}

// schemaFilter collects the database names a statement compares its
// schema columns with.
type schemaFilter struct {
	bv BindVars
	// found is set by any comparison of a schema column; unknown when one
	// compares it with something other than a string literal.
	found, unknown bool
	names          map[string]bool
}

func (f *schemaFilter) Enter(n ast.Node) (ast.Node, bool) {
	switch x := n.(type) {
	case *ast.BinaryOperationExpr:
		if x.Op != opcode.EQ {
			break
		}
		if isSchemaColumn(x.L) {
			f.found = true
			f.add(x.R, false)
		} else if isSchemaColumn(x.R) {
			f.found = true
			f.add(x.L, false)
		}
	case *ast.PatternInExpr:
		if isSchemaColumn(x.Expr) {
			f.found = true
			if x.Not || x.Sel != nil {
				f.unknown = true
				break
			}
			for _, item := range x.List {
				f.add(item, false)
			}
		}
	case *ast.PatternLikeOrIlikeExpr:
		if isSchemaColumn(x.Expr) {
			f.found = true
			if x.Not || !x.IsLike {
				f.unknown = true
				break
			}
			f.add(x.Pattern, true)
		}
	}
	return n, false
}

func (f *schemaFilter) Leave(n ast.Node) (ast.Node, bool) { return n, true }

// add records the database name e stands for; like says e is a LIKE
// pattern, which names one database only without wildcards.
func (f *schemaFilter) add(e ast.ExprNode, like bool) {
	var v any
	switch x := e.(type) {
	case *bindVarExpr:
		if x.kind == bindScalar {
			v = f.bv[x.name]
		}
	case *driver.ValueExpr:
		v, _ = literalValue(x)
	}
	s, ok := v.(string)
	if !ok || (like && strings.ContainsAny(s, `%_\`)) {
		f.unknown = true
		return
	}
	f.names[s] = true
}

func isSchemaColumn(e ast.ExprNode) bool {
	c, ok := e.(*ast.ColumnNameExpr)
	return ok && schemaColumns[c.Name.Name.L]
}
