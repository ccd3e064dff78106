package router

import (
	"fmt"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/format"
	driver "github.com/pingcap/tidb/pkg/parser/test_driver"
)

// The TiDB parser restores a few forms differently from how MariaDB
// reads them, and the router regenerates the SQL each shard receives from
// the syntax tree. fixRestore replaces those nodes, right after parsing,
// with nodes that restore in MariaDB's words:
//
//   - 0x04 is a hexadecimal number in numeric context (0x04 = 4), x'04' a
//     binary string (x'04' = 4 is false): the parser keeps one kind of
//     literal for both and restores it as x'04';
//   - INSERT(str, pos, len, newstr) and CHAR(n, ... [USING cs]) become
//     functions named INSERT_FUNC and CHAR_FUNC, which MariaDB lacks.
//
// text is the statement exactly as parsed: a literal's place in it tells
// 0x04 from x'04'.
func fixRestore(stmt ast.Node, text string) {
	stmt.Accept(&restoreFixer{text: text})
}

type restoreFixer struct{ text string }

func (f *restoreFixer) Enter(n ast.Node) (ast.Node, bool) { return n, false }

func (f *restoreFixer) Leave(n ast.Node) (ast.Node, bool) {
	switch x := n.(type) {
	case *driver.ValueExpr:
		if x.Kind() != driver.KindBinaryLiteral {
			break
		}
		pos := x.OriginTextPosition()
		if pos >= 0 && pos+1 < len(f.text) && f.text[pos] == '0' && (f.text[pos+1] == 'x' || f.text[pos+1] == 'X') {
			return &hexNumberExpr{ValueExpr: x}, true
		}
	case *ast.FuncCallExpr:
		switch x.FnName.L {
		case ast.InsertFunc:
			x.FnName = ast.NewCIStr("INSERT")
		case ast.CharFunc:
			if len(x.Args) == 0 {
				break
			}
			c := &charFuncExpr{FuncCallExpr: x}
			if cs, ok := x.Args[len(x.Args)-1].(*driver.ValueExpr); ok && cs.Kind() == driver.KindString {
				c.using = cs.GetString()
			}
			x.Args = x.Args[:len(x.Args)-1]
			return c, true
		}
	}
	return n, true
}

// hexNumberExpr is a hexadecimal literal written 0x...: it restores as
// written, not as x'...'.
type hexNumberExpr struct {
	*driver.ValueExpr
}

func (h *hexNumberExpr) Restore(ctx *format.RestoreCtx) error {
	const digits = "0123456789abcdef"
	b := h.GetBytes()
	out := make([]byte, 0, 2+2*len(b))
	out = append(out, '0', 'x')
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	if len(b) == 0 {
		// 0x with no digits is no literal; x'' is the empty string.
		out = append(out[:0], "x''"...)
	}
	ctx.WritePlain(string(out))
	return nil
}

func (h *hexNumberExpr) Accept(v ast.Visitor) (ast.Node, bool) {
	n, _ := v.Enter(h)
	return v.Leave(n)
}

// charFuncExpr is CHAR(n, ...) or CHAR(n, ... USING cs): the parser's
// CHAR_FUNC, whose last argument (NULL or the character set's name) is
// taken off its arguments into using.
type charFuncExpr struct {
	*ast.FuncCallExpr
	using string
}

func (c *charFuncExpr) Restore(ctx *format.RestoreCtx) error {
	ctx.WriteKeyWord("CHAR")
	ctx.WritePlain("(")
	for i, a := range c.Args {
		if i > 0 {
			ctx.WritePlain(", ")
		}
		if err := a.Restore(ctx); err != nil {
			return err
		}
	}
	if c.using != "" {
		for _, r := range c.using {
			if !(r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
				return fmt.Errorf("character set name %q", c.using)
			}
		}
		ctx.WriteKeyWord(" USING ")
		ctx.WritePlain(c.using)
	}
	ctx.WritePlain(")")
	return nil
}

func (c *charFuncExpr) Accept(v ast.Visitor) (ast.Node, bool) {
	n, skip := v.Enter(c)
	if skip {
		return v.Leave(n)
	}
	for i, a := range c.Args {
		node, ok := a.Accept(v)
		if !ok {
			return c, false
		}
		c.Args[i] = node.(ast.ExprNode)
	}
	return v.Leave(n)
}
