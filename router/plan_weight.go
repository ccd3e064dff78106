package router

import (
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/mysql"
	driver "github.com/pingcap/tidb/pkg/parser/test_driver"
)

// Collation weights.
//
// The gate merges what several shards return: it orders, groups and
// compares text. The column definitions MariaDB sends carry the
// connection's collation (utf8mb4_general_ci here), not the column's, so
// the gate cannot tell a utf8mb4_unicode_ci or utf8mb4_bin column from a
// utf8mb4_general_ci one. Instead it asks each shard for
// WEIGHT_STRING(RTRIM(expr)) beside every text key and merges by those
// bytes: the shards' own collation decides. RTRIM makes PAD SPACE
// collations' trailing spaces not count, as in comparisons. (Two known
// gaps: text ending in characters that sort below the space, such as a
// tab, and NO PAD collations, whose trailing spaces do count.) At run
// time a key whose value column is not text ignores its weight column.

// weightStringOf returns WEIGHT_STRING(RTRIM(e)).
func weightStringOf(e ast.ExprNode) ast.ExprNode {
	return &ast.FuncCallExpr{FnName: ast.NewCIStr(ast.WeightString), Args: []ast.ExprNode{
		&ast.FuncCallExpr{FnName: ast.NewCIStr(ast.RTrim), Args: []ast.ExprNode{e}},
	}}
}

// notTextFuncs return numbers or temporal values.
var notTextFuncs = map[string]bool{
	"abs": true, "ceil": true, "ceiling": true, "floor": true, "round": true, "truncate": true,
	"mod": true, "sign": true, "sqrt": true, "pow": true, "power": true, "exp": true, "ln": true,
	"log": true, "log2": true, "log10": true, "pi": true, "rand": true, "crc32": true,
	"length": true, "char_length": true, "character_length": true, "octet_length": true,
	"bit_length": true, "locate": true, "instr": true, "position": true, "ascii": true, "ord": true,
	"strcmp": true, "field": true, "find_in_set": true, "isnull": true,
	"year": true, "month": true, "day": true, "dayofmonth": true, "dayofweek": true, "dayofyear": true,
	"hour": true, "minute": true, "second": true, "microsecond": true, "quarter": true, "week": true,
	"weekday": true, "weekofyear": true, "yearweek": true, "datediff": true, "timestampdiff": true,
	"to_days": true, "to_seconds": true, "unix_timestamp": true, "period_diff": true, "period_add": true,
	"extract": true, "date": true, "now": true, "curdate": true, "current_date": true,
	"current_timestamp": true, "sysdate": true, "utc_timestamp": true, "utc_date": true,
	"date_add": true, "date_sub": true, "adddate": true, "subdate": true, "from_days": true,
	"from_unixtime": true, "makedate": true, "last_day": true, "timestamp": true,
	"last_insert_id": true, "row_count": true, "found_rows": true, "connection_id": true,
}

// textAggs return a value of their argument's type.
var textAggs = map[string]bool{"min": true, "max": true, "any_value": true, "group_concat": true}

// mayBeText reports whether e may have a character string type, so that
// merging by it needs the shards' collation weights. Without the schema
// it errs on the side of yes; it says no for numbers, booleans, dates,
// arithmetic, and columns that an integer vindex (hash, numeric) reads
// or that the VSchema's columns list types as other than text.
func (p *planner) mayBeText(e ast.ExprNode, g *routeGroup) bool {
	switch x := e.(type) {
	case *ast.ParenthesesExpr:
		return p.mayBeText(x.Expr, g)
	case *driver.ValueExpr:
		k := x.Kind()
		return k == driver.KindString || k == driver.KindBytes
	case *bindVarExpr:
		return true
	case *ast.BinaryOperationExpr:
		return false // arithmetic, comparisons, logic
	case *ast.UnaryOperationExpr, *ast.IsNullExpr, *ast.IsTruthExpr, *ast.PatternInExpr,
		*ast.BetweenExpr, *ast.PatternLikeOrIlikeExpr, *ast.PatternRegexpExpr,
		*ast.ExistsSubqueryExpr, *ast.CompareSubqueryExpr:
		return false
	case *ast.AggregateFuncExpr:
		if textAggs[strings.ToLower(x.F)] && len(x.Args) > 0 {
			return p.mayBeText(x.Args[0], g)
		}
		return false
	case *ast.FuncCallExpr:
		return !notTextFuncs[x.FnName.L]
	case *ast.FuncCastExpr:
		if x.Tp == nil {
			return true
		}
		switch x.Tp.GetType() {
		case mysql.TypeVarchar, mysql.TypeVarString, mysql.TypeString, mysql.TypeBlob,
			mysql.TypeTinyBlob, mysql.TypeMediumBlob, mysql.TypeLongBlob:
			return true
		}
		return false
	case *ast.ColumnNameExpr:
		return p.columnMayBeText(x.Name, g)
	}
	return true
}

// columnMayBeText says whether a column may be text, from what the VSchema
// knows of the tables of g.
func (p *planner) columnMayBeText(c *ast.ColumnName, g *routeGroup) bool {
	if g == nil {
		return true
	}
	for _, t := range g.tables() {
		if t.tbl == nil || (c.Table.L != "" && c.Table.L != t.alias) {
			continue
		}
		if typ, ok := t.tbl.ColumnTypes[c.Name.L]; ok && typ != "" {
			return textType(typ)
		}
		if cv := t.tbl.PrimaryVindex(); cv != nil && cv.Column == c.Name.L {
			switch cv.Vindex.Type() {
			case "hash", "numeric":
				return false // these vindexes read integers only
			}
		}
	}
	return true
}

// textType reports whether a column type of a VSchema's columns list is a
// character string type.
func textType(typ string) bool {
	t := strings.ToLower(strings.TrimSpace(typ))
	if i := strings.IndexAny(t, "( "); i >= 0 {
		t = t[:i]
	}
	switch t {
	case "tinyint", "smallint", "mediumint", "int", "integer", "bigint", "decimal", "numeric",
		"dec", "fixed", "float", "double", "real", "bit", "bool", "boolean", "year", "date",
		"datetime", "timestamp", "time", "binary", "varbinary", "tinyblob", "blob",
		"mediumblob", "longblob", "int8", "int16", "int32", "int64", "uint8", "uint16",
		"uint32", "uint64", "float32", "float64":
		return false
	}
	return true
}
