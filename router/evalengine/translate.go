package evalengine

import (
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/mysql"
	"github.com/pingcap/tidb/pkg/parser/opcode"
	driver "github.com/pingcap/tidb/pkg/parser/test_driver"

	"github.com/mosaicdb/mosaic/router/sqltypes"
)

// Hook translates the nodes only the caller knows (columns, its own bind
// variable nodes, aggregates it computed): handled is false for a node it
// leaves to Translate.
type Hook func(e ast.ExprNode) (out Expr, handled bool, err error)

// Translate turns a parsed expression into one the gate evaluates. hook
// gets every node first. It fails (ErrUnsupported) for what the gate does
// not evaluate: column references the hook does not resolve, subqueries,
// functions SupportedFunc does not list, CAST, COLLATE, bit operators.
func Translate(e ast.ExprNode, hook Hook) (Expr, error) {
	if hook != nil {
		out, ok, err := hook(e)
		if err != nil || ok {
			return out, err
		}
	}
	tr := func(x ast.ExprNode) (Expr, error) { return Translate(x, hook) }
	switch x := e.(type) {
	case *ast.ParenthesesExpr:
		return tr(x.Expr)
	case *driver.ValueExpr:
		return literalOf(x)
	case *ast.BinaryOperationExpr:
		l, err := tr(x.L)
		if err != nil {
			return nil, err
		}
		r, err := tr(x.R)
		if err != nil {
			return nil, err
		}
		switch x.Op {
		case opcode.LogicAnd:
			return Logic{Op: OpAnd, L: l, R: r}, nil
		case opcode.LogicOr:
			return Logic{Op: OpOr, L: l, R: r}, nil
		case opcode.LogicXor:
			return Logic{Op: OpXor, L: l, R: r}, nil
		case opcode.EQ:
			return Compare{Op: OpEQ, L: l, R: r}, nil
		case opcode.NE:
			return Compare{Op: OpNE, L: l, R: r}, nil
		case opcode.LT:
			return Compare{Op: OpLT, L: l, R: r}, nil
		case opcode.LE:
			return Compare{Op: OpLE, L: l, R: r}, nil
		case opcode.GT:
			return Compare{Op: OpGT, L: l, R: r}, nil
		case opcode.GE:
			return Compare{Op: OpGE, L: l, R: r}, nil
		case opcode.NullEQ:
			return Compare{Op: OpNullSafeEQ, L: l, R: r}, nil
		case opcode.Plus:
			return Arith{Op: OpAdd, L: l, R: r}, nil
		case opcode.Minus:
			return Arith{Op: OpSub, L: l, R: r}, nil
		case opcode.Mul:
			return Arith{Op: OpMul, L: l, R: r}, nil
		case opcode.Div:
			return Arith{Op: OpDiv, L: l, R: r}, nil
		case opcode.IntDiv:
			return Arith{Op: OpIntDiv, L: l, R: r}, nil
		case opcode.Mod:
			return Arith{Op: OpMod, L: l, R: r}, nil
		}
		return nil, unsupported("the operator %s", x.Op)
	case *ast.UnaryOperationExpr:
		in, err := tr(x.V)
		if err != nil {
			return nil, err
		}
		switch x.Op {
		case opcode.Minus:
			return Neg{E: in}, nil
		case opcode.Plus:
			return in, nil
		case opcode.Not, opcode.Not2:
			if n, ok := in.(IsNull); ok {
				// MariaDB's parser turns NOT (x IS NULL) into x IS NOT
				// NULL and back (neg_transformer), which decides whether
				// x is evaluated at all (see IsNull).
				n.Not = !n.Not
				return n, nil
			}
			return Not{E: in}, nil
		}
		return nil, unsupported("the operator %s", x.Op)
	case *ast.IsNullExpr:
		in, err := tr(x.Expr)
		if err != nil {
			return nil, err
		}
		return IsNull{E: in, Not: x.Not}, nil
	case *ast.IsTruthExpr:
		in, err := tr(x.Expr)
		if err != nil {
			return nil, err
		}
		return IsTruth{E: in, Truth: x.True != 0, Not: x.Not}, nil
	case *ast.PatternInExpr:
		if x.Sel != nil {
			return nil, unsupported("IN (subquery)")
		}
		in, err := tr(x.Expr)
		if err != nil {
			return nil, err
		}
		out := In{E: in, Not: x.Not}
		for _, item := range x.List {
			it, err := tr(item)
			if err != nil {
				return nil, err
			}
			out.List = append(out.List, it)
		}
		return out, nil
	case *ast.BetweenExpr:
		in, err := tr(x.Expr)
		if err != nil {
			return nil, err
		}
		lo, err := tr(x.Left)
		if err != nil {
			return nil, err
		}
		hi, err := tr(x.Right)
		if err != nil {
			return nil, err
		}
		return Between{E: in, Lo: lo, Hi: hi, Not: x.Not}, nil
	case *ast.CaseExpr:
		out := Case{}
		var err error
		if x.Value != nil {
			if out.Base, err = tr(x.Value); err != nil {
				return nil, err
			}
		}
		for _, w := range x.WhenClauses {
			c, err := tr(w.Expr)
			if err != nil {
				return nil, err
			}
			r, err := tr(w.Result)
			if err != nil {
				return nil, err
			}
			out.Whens = append(out.Whens, When{Cond: c, Then: r})
		}
		if x.ElseClause != nil {
			if out.Else, err = tr(x.ElseClause); err != nil {
				return nil, err
			}
		}
		return out, nil
	case *ast.FuncCallExpr:
		name := x.FnName.L
		switch name {
		case ast.DateLiteral, ast.TimestampLiteral:
			return temporalLiteral(name == ast.DateLiteral, x)
		}
		if !SupportedFunc(name, len(x.Args)) {
			return nil, unsupported("the function %s", strings.ToUpper(x.FnName.O))
		}
		out := Func{Name: name}
		for _, a := range x.Args {
			t, err := tr(a)
			if err != nil {
				return nil, err
			}
			out.Args = append(out.Args, t)
		}
		return out, nil
	}
	return nil, unsupported("%s", nodeName(e))
}

func nodeName(e ast.ExprNode) string {
	switch e.(type) {
	case *ast.ColumnNameExpr:
		return "this column reference"
	case *ast.SubqueryExpr, *ast.ExistsSubqueryExpr, *ast.CompareSubqueryExpr:
		return "subqueries"
	case *ast.FuncCastExpr:
		return "CAST and CONVERT"
	case *ast.SetCollationExpr:
		return "COLLATE"
	case *ast.AggregateFuncExpr:
		return "aggregate functions"
	case *ast.WindowFuncExpr:
		return "window functions"
	case *ast.PatternLikeOrIlikeExpr:
		return "LIKE"
	case *ast.PatternRegexpExpr:
		return "REGEXP"
	case *ast.VariableExpr:
		return "variables"
	}
	var b strings.Builder
	b.WriteString("this expression")
	return b.String()
}

// literalOf translates a literal as MariaDB reads it.
func literalOf(x *driver.ValueExpr) (Expr, error) {
	switch x.Kind() {
	case driver.KindNull:
		return Literal{}, nil
	case driver.KindInt64:
		return Literal{Value: x.GetInt64()}, nil
	case driver.KindUint64:
		return Literal{Value: x.GetUint64()}, nil
	case driver.KindFloat64:
		return Literal{Value: x.GetFloat64()}, nil
	case driver.KindMysqlDecimal:
		return Literal{Value: sqltypes.DecimalLiteral(x.GetMysqlDecimal().String())}, nil
	case driver.KindString:
		switch cs := x.Type.GetCharset(); cs {
		case "", mysql.DefaultCharset:
			return Literal{Value: x.GetString()}, nil
		case "binary":
			return Literal{Value: []byte(x.GetString())}, nil
		}
		return nil, unsupported("a string with a character set introducer")
	case driver.KindBinaryLiteral:
		if cs := x.Type.GetCharset(); cs != "" && cs != "binary" && cs != mysql.DefaultCharset {
			return nil, unsupported("a binary literal with a character set introducer")
		}
		// x'..' and 0x.. read as strings or numbers depending on where
		// they are, b'..' as numbers, in ways the gate does not follow.
		return nil, unsupported("hexadecimal and bit literals")
	}
	return nil, unsupported("this literal")
}

// temporalLiteral is DATE '...' or TIMESTAMP '...'.
func temporalLiteral(date bool, x *ast.FuncCallExpr) (Expr, error) {
	if len(x.Args) != 1 {
		return nil, unsupported("this date literal")
	}
	lit, ok := x.Args[0].(*driver.ValueExpr)
	if !ok || lit.Kind() != driver.KindString {
		return nil, unsupported("this date literal")
	}
	s, err := parseDatetime([]byte(lit.GetString()))
	if err != nil {
		return nil, err
	}
	d, clock, _ := strings.Cut(s, " ")
	if date {
		if clock != "" {
			return nil, unsupported("DATE literal with a time")
		}
		return temporal{kind: KindDate, text: d}, nil
	}
	if clock == "" {
		s += " 00:00:00"
	}
	return temporal{kind: KindDatetime, text: s}, nil
}

// temporal is a DATE or TIMESTAMP literal.
type temporal struct {
	kind Kind
	text string
}

func (e temporal) format(b *strings.Builder) { b.WriteString(e.kind.String() + " '" + e.text + "'") }

func (e temporal) compile(*compiler) (*compiled, error) {
	t := Type{Kind: e.kind, Literal: true}
	if _, frac, ok := strings.Cut(e.text, "."); ok {
		t.Scale = uint32(len(frac))
	}
	return constant(t, Value{kind: e.kind, b: []byte(e.text)}), nil
}
