package router

import (
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
)

// firstTable returns the first table stmt names, lower-cased, or "".
func firstTable(stmt ast.StmtNode) string {
	var f tableFinder
	stmt.Accept(&f)
	return f.name
}

// usesTables reports whether a statement reads or writes tables, given
// the first table it names.
func usesTables(stmt ast.StmtNode, first string) bool {
	switch s := stmt.(type) {
	case *ast.ShowStmt:
		return s.Tp != ast.ShowWarnings && s.Tp != ast.ShowErrors
	case ast.DDLNode:
		return true
	}
	return first != ""
}

// tableFinder finds the first table a statement names.
type tableFinder struct{ name string }

func (f *tableFinder) Enter(n ast.Node) (ast.Node, bool) {
	if t, ok := n.(*ast.TableName); ok && f.name == "" {
		f.name = strings.ToLower(t.Name.O)
		return n, true
	}
	return n, f.name != ""
}

func (f *tableFinder) Leave(n ast.Node) (ast.Node, bool) { return n, true }
