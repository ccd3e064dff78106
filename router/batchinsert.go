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
