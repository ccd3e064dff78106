package router

import (
	"sort"

	"github.com/pingcap/tidb/pkg/parser/ast"
	driver "github.com/pingcap/tidb/pkg/parser/test_driver"

	"github.com/mosaicdb/mosaic/sqlerr"
)

// BatchInsert turns a prepared INSERT or REPLACE ... VALUES and a batch of
// its executions (MariaDB's COM_STMT_BULK_EXECUTE) into one statement
// whose VALUES hold every execution's rows, as MariaDB runs such a batch:
// one statement, all or nothing, planned once and split by shard as any
// multi-row INSERT. It serves one batch: Text changes its syntax tree
// while it writes.
type BatchInsert struct {
	stmt *ast.InsertStmt
	// rows are the statement's VALUES rows.
	rows [][]ast.ExprNode
	// bare[j][c] is the parameter that value c of row j is, when it is a
	// marker alone; -1 otherwise.
	bare [][]int
	// params[j][c] are the parameters inside value c of row j, in the
	// order of their markers.
	params [][][]int
	mode   ParseMode
}

// BatchParam names the value that fills a marker of a batch's statement:
// parameter Param of execution Exec.
type BatchParam struct{ Exec, Param int }

// NewBatchInsert returns the BatchInsert of sql, a statement with
// numParams markers; ok is false (and the executions must run one by one)
// unless sql is an INSERT or REPLACE ... VALUES whose markers all lie in
// its VALUES rows (none in ON DUPLICATE KEY UPDATE, whose values would
// differ between executions).
func (r *Router) NewBatchInsert(sql string, mode ParseMode, numParams int) (b *BatchInsert, ok bool, err error) {
	stmt, err := r.Parse(sql, mode)
	if err != nil {
		return nil, false, err
	}
	ins, isInsert := stmt.(*ast.InsertStmt)
	if !isInsert || ins.Select != nil || ins.Setlist || len(ins.Lists) == 0 || numParams == 0 {
		return nil, false, nil
	}
	fixRestore(ins, sql)
	// Markers, by their place in the text: the i-th is parameter i.
	var all markerList
	ins.Accept(&all)
	if len(all) != numParams {
		return nil, false, nil
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Offset < all[j].Offset })
	index := make(map[*driver.ParamMarkerExpr]int, len(all))
	for i, m := range all {
		index[m] = i
	}
	b = &BatchInsert{stmt: ins, rows: ins.Lists, mode: mode}
	found := 0
	for _, row := range ins.Lists {
		bare := make([]int, len(row))
		params := make([][]int, len(row))
		for c, v := range row {
			bare[c] = -1
			if m, isMarker := v.(*driver.ParamMarkerExpr); isMarker {
				bare[c] = index[m]
			}
			var in markerList
			v.Accept(&in)
			for _, m := range in {
				params[c] = append(params[c], index[m])
			}
			sort.Slice(params[c], func(i, j int) bool {
				return all[params[c][i]].Offset < all[params[c][j]].Offset
			})
			found += len(in)
		}
		b.bare = append(b.bare, bare)
		b.params = append(b.params, params)
	}
	if found != numParams {
		return nil, false, nil
	}
	return b, true, nil
}

// Text returns the statement for execs executions and, in the order of
// its markers, the value each takes. useDefault(e, p) says that
// parameter p of execution e stands for the column's default (MariaDB's
// DEFAULT and IGNORE indicators): its value becomes DEFAULT, which only a
// marker that is a whole value can be (ErrBatchDefault otherwise).
func (b *BatchInsert) Text(execs int, useDefault func(exec, param int) bool) (string, []BatchParam, error) {
	lists := make([][]ast.ExprNode, 0, execs*len(b.rows))
	var order []BatchParam
	for e := range execs {
		for j, row := range b.rows {
			out, copied := row, false
			for c := range row {
				if p := b.bare[j][c]; p >= 0 && useDefault(e, p) {
					if !copied {
						out, copied = append([]ast.ExprNode(nil), row...), true
					}
					out[c] = &ast.DefaultExpr{}
					continue
				}
				for _, p := range b.params[j][c] {
					if useDefault(e, p) {
						return "", nil, ErrBatchDefault
					}
					order = append(order, BatchParam{Exec: e, Param: p})
				}
			}
			lists = append(lists, out)
		}
	}
	b.stmt.Lists = lists
	defer func() { b.stmt.Lists = b.rows }()
	text, err := restoreSQLIn(b.stmt, b.mode)
	if err != nil {
		return "", nil, err
	}
	return text, order, nil
}

// ErrBatchDefault is MariaDB's refusal of DEFAULT or IGNORE for a
// parameter that is not a whole value of the statement.
var ErrBatchDefault = sqlerr.New(sqlerr.ERInvalidDefaultParam, "Default/ignore value is not supported for such parameter usage")

// markerList collects the parameter markers of a syntax tree.
type markerList []*driver.ParamMarkerExpr

func (l *markerList) Enter(n ast.Node) (ast.Node, bool) {
	if m, ok := n.(*driver.ParamMarkerExpr); ok {
		*l = append(*l, m)
	}
	return n, false
}

func (l *markerList) Leave(n ast.Node) (ast.Node, bool) { return n, true }

// ParamUse says what one execution's parameter stands for, as MariaDB's
// bulk indicators do.
type ParamUse int

const (
	// ParamValue: its value.
	ParamValue ParamUse = iota
	// ParamDefault: the column's default.
	ParamDefault
	// ParamIgnore: the column's default in an INSERT's VALUES; in an
	// assignment the column is left as it is (in UPDATE's SET, as
	// MariaDB 10.11 does, unless it is NULL: then its default).
	ParamIgnore
)

// WithDefaults writes sql, a statement with numParams markers, again for
// one execution whose parameters use says: a marker standing for
// ParamDefault that is a whole value of an INSERT's VALUES or of an
// assignment (UPDATE's SET, ON DUPLICATE KEY UPDATE) becomes DEFAULT; one
// for ParamIgnore becomes DEFAULT in VALUES and the column itself in an
// assignment (col = col, which changes nothing). It returns the text and
// the parameters whose markers remain, in their order. Any other marker
// standing for either is ErrBatchDefault, as in MariaDB.
func (r *Router) WithDefaults(sql string, mode ParseMode, numParams int, use func(param int) ParamUse) (string, []int, error) {
	stmt, err := r.Parse(sql, mode)
	if err != nil {
		return "", nil, err
	}
	fixRestore(stmt, sql)
	var all markerList
	stmt.Accept(&all)
	if len(all) != numParams {
		return "", nil, sqlerr.New(sqlerr.ERWrongArguments, "Incorrect arguments to mysqld_stmt_bulk_execute")
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Offset < all[j].Offset })
	index := make(map[*driver.ParamMarkerExpr]int, len(all))
	for i, m := range all {
		index[m] = i
	}
	useOf := func(e ast.ExprNode) ParamUse {
		if m, ok := e.(*driver.ParamMarkerExpr); ok {
			return use(index[m])
		}
		return ParamValue
	}
	assign := func(list []*ast.Assignment, update bool) {
		for _, a := range list {
			switch useOf(a.Expr) {
			case ParamDefault:
				a.Expr = &ast.DefaultExpr{}
			case ParamIgnore:
				a.Expr = &ast.ColumnNameExpr{Name: a.Column}
				if update {
					// MariaDB 10.11 leaves the column as it is,
					// but sets one that is NULL to its default.
					a.Expr = &ast.FuncCallExpr{FnName: ast.NewCIStr("COALESCE"), Args: []ast.ExprNode{
						&ast.ColumnNameExpr{Name: a.Column}, &ast.DefaultExpr{Name: a.Column}}}
				}
			}
		}
	}
	switch s := stmt.(type) {
	case *ast.UpdateStmt:
		assign(s.List, true)
	case *ast.InsertStmt:
		for _, row := range s.Lists {
			for c, v := range row {
				if useOf(v) != ParamValue {
					row[c] = &ast.DefaultExpr{}
				}
			}
		}
		assign(s.OnDuplicate, false)
	}
	var left markerList
	stmt.Accept(&left)
	sort.Slice(left, func(i, j int) bool { return left[i].Offset < left[j].Offset })
	params := make([]int, len(left))
	for i, m := range left {
		if params[i] = index[m]; use(params[i]) != ParamValue {
			return "", nil, ErrBatchDefault
		}
	}
	text, err := restoreSQLIn(stmt, mode)
	if err != nil {
		return "", nil, err
	}
	return text, params, nil
}
