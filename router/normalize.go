package router

import (
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/mysql"
	"github.com/pingcap/tidb/pkg/parser/opcode"
	driver "github.com/pingcap/tidb/pkg/parser/test_driver"

	"github.com/mosaicdb/mosaic/router/sqltypes"
)

// normalizer replaces literals and ? markers with bind variables named
// v1, v2, ... in the order the AST is walked, so that one plan serves
// every value. Literals are left in place where their text matters:
// inside select-list expressions (MySQL names a column after its text),
// as ORDER BY / GROUP BY positions, booleans, NULL, decimals, hex and bit
// literals, and strings with a charset introducer other than utf8mb4.
type normalizer struct {
	bv     BindVars
	n      int
	params map[int]string // ? offset in the text → bind variable name
	// inField counts the select fields being walked.
	inField int
	// session holds the session-value bind variables that replaced
	// functions and system variables (LAST_INSERT_ID(), DATABASE(), ...).
	session map[string]bool
}

// sessionFuncs maps functions without arguments whose value only the gate
// knows to their bind variable.
var sessionFuncs = map[string]string{
	"last_insert_id": LastInsertIDBind,
	"database":       DatabaseBind,
	"schema":         DatabaseBind,
	"found_rows":     FoundRowsBind,
	"row_count":      RowCountBind,
	"connection_id":  ConnectionIDBind,
	"user":           UserBind,
	"session_user":   UserBind,
	"system_user":    UserBind,
	"current_user":   CurrentUserBind,
}

// sessionVars maps session system variables the gate owns to their bind
// variable.
var sessionVars = map[string]string{
	"autocommit":       AutocommitBind,
	"warning_count":    WarningCountBind,
	"error_count":      ErrorCountBind,
	"transaction_mode": TransactionModeBind,
	"in_transaction":   InTransactionBind,
	"last_insert_id":   LastInsertIDBind,
	"identity":         LastInsertIDBind,
	// The gate enforces its own packet limit: drivers size their packets
	// and batches by what this says.
	"max_allowed_packet": MaxAllowedPacketBind,
}

// sessionBinds returns the sorted names of the session binds used.
func (nz *normalizer) sessionBinds() []string {
	if len(nz.session) == 0 {
		return nil
	}
	out := make([]string, 0, len(nz.session))
	for n := range nz.session {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// sessionBind stands for a session value: column is its column
// definition in mysqld.
func (nz *normalizer) sessionBind(name string, column *sessionColumnDef) ast.Node {
	if nz.session == nil {
		nz.session = map[string]bool{}
	}
	nz.session[name] = true
	b := newBindVar(name, bindScalar)
	b.column = column
	return b
}

func normalize(stmt ast.StmtNode) (BindVars, []string, []string) {
	nz := &normalizer{bv: BindVars{}, params: map[int]string{}}
	stmt.Accept(nz)
	var params []string
	if len(nz.params) > 0 {
		offsets := make([]int, 0, len(nz.params))
		for off := range nz.params {
			offsets = append(offsets, off)
		}
		sort.Ints(offsets)
		for _, off := range offsets {
			params = append(params, nz.params[off])
		}
	}
	return nz.bv, params, nz.sessionBinds()
}

func (nz *normalizer) next() string {
	nz.n++
	return "v" + strconv.Itoa(nz.n)
}

func (nz *normalizer) Enter(n ast.Node) (ast.Node, bool) {
	switch n := n.(type) {
	case *ast.SelectStmt:
		// Name computed columns after their text before the text of
		// literals is lost.
		aliasFields(n)
	case *ast.SelectField, *ast.AggregateFuncExpr, *ast.WindowFuncExpr:
		// COUNT(*) holds a literal 1 that must stay as it is.
		nz.inField++
	case *ast.ByItem:
		if _, ok := n.Expr.(*driver.ValueExpr); ok {
			return n, true
		}
	case *ast.UnaryOperationExpr:
		// -7 is a minus applied to 7: bind the negative value, so that a
		// negative vindex value routes and inserts like a positive one.
		if nz.inField > 0 || n.Op != opcode.Minus {
			break
		}
		if lit, ok := n.V.(*driver.ValueExpr); ok {
			if v, ok := negatedLiteral(lit); ok {
				name := nz.next()
				nz.bv[name] = v
				return newBindVar(name, bindScalar), true
			}
		}
	}
	return n, false
}

// negatedLiteral returns the value of -lit for integer and float literals
// whose negation is exact in its type.
func negatedLiteral(lit *driver.ValueExpr) (any, bool) {
	if lit.Type.GetFlag()&mysql.IsBooleanFlag != 0 {
		return nil, false
	}
	switch lit.Kind() {
	case driver.KindInt64:
		if i := lit.GetInt64(); i != math.MinInt64 {
			return -i, true
		}
	case driver.KindUint64:
		if u := lit.GetUint64(); u <= 1<<63 {
			return int64(-u), true
		}
	case driver.KindFloat64:
		return -lit.GetFloat64(), true
	}
	return nil, false
}

func (nz *normalizer) Leave(n ast.Node) (ast.Node, bool) {
	switch n := n.(type) {
	case *ast.SelectField, *ast.AggregateFuncExpr, *ast.WindowFuncExpr:
		nz.inField--
	case *ast.FuncCallExpr:
		if b, ok := sessionFuncs[n.FnName.L]; ok && len(n.Args) == 0 {
			return nz.sessionBind(b, sessionFuncColumns[b]), true
		}
	case *ast.VariableExpr:
		if b, ok := sessionVars[strings.ToLower(n.Name)]; ok && n.IsSystem && !n.IsGlobal && n.Value == nil {
			return nz.sessionBind(b, sessionVarColumns[b]), true
		}
	case *driver.ParamMarkerExpr:
		name := nz.next()
		nz.params[n.Offset] = name
		return newBindVar(name, bindScalar), true
	case *driver.ValueExpr:
		if nz.inField > 0 {
			return n, true
		}
		if v, ok := literalValue(n); ok {
			name := nz.next()
			nz.bv[name] = v
			return newBindVar(name, bindScalar), true
		}
	}
	return n, true
}

// literalValue returns the bind value of a literal worth normalizing.
func literalValue(n *driver.ValueExpr) (any, bool) {
	switch n.Kind() {
	case driver.KindInt64:
		if n.Type.GetFlag()&mysql.IsBooleanFlag != 0 {
			return nil, false
		}
		return n.GetInt64(), true
	case driver.KindUint64:
		return n.GetUint64(), true
	case driver.KindFloat64:
		return n.GetFloat64(), true
	case driver.KindString:
		if cs := n.Type.GetCharset(); cs == "" || cs == mysql.DefaultCharset {
			return n.GetString(), true
		}
		if n.Type.GetCharset() == "binary" {
			// _binary'...': bytes, written back the same way (or as X'..'
			// when they are not UTF-8).
			return []byte(n.GetString()), true
		}
	}
	return nil, false
}

// constValue returns the value of a literal left in the AST, for routing.
func constValue(n *driver.ValueExpr) (any, bool) {
	if v, ok := literalValue(n); ok {
		return v, true
	}
	switch n.Kind() {
	case driver.KindNull:
		return nil, true
	case driver.KindInt64:
		return n.GetInt64(), true
	case driver.KindMysqlDecimal:
		return sqltypes.DecimalLiteral(n.GetMysqlDecimal().String()), true
	case driver.KindString:
		return n.GetString(), true
	}
	return nil, false
}
