package evalengine

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/mosaicdb/mosaic/proto/querypb"
)

// Expr is an expression as planned: compile it for the rows it reads with
// Compile.
type Expr interface {
	compile(c *compiler) (*compiled, error)
	format(b *strings.Builder)
}

// String formats an expression for EXPLAIN and tests.
func String(e Expr) string {
	var b strings.Builder
	e.format(&b)
	return b.String()
}

// compiled is an expression compiled for known column types.
type compiled struct {
	typ  Type
	eval func(row [][]byte) (Value, error)
	// konst is set for an expression without columns: eval gives its value
	// whatever the row.
	konst bool
}

type compiler struct {
	types []Type
	bv    map[string]any
	// noText refuses to read text columns.
	noText bool
}

// operand compiles e, an operand of another expression. A constant
// operand that is out of range (9223372036854775807 * 2) is refused:
// MariaDB evaluates some constants when it prepares the operator that
// uses them, and fails whatever the other operands are (for a NULL n,
// n < -(9223372036854775807 * 2) is an error), others only when it
// needs them (n < 9223372036854775807 * 2 is NULL), while the gate
// evaluates each only when it needs it.
func (c *compiler) operand(e Expr) (*compiled, error) {
	out, err := e.compile(c)
	if err != nil || !out.konst {
		return out, err
	}
	if _, err := out.eval(nil); errors.Is(err, ErrOutOfRange) {
		return nil, unsupported("a constant that is out of range: %v", err)
	}
	return out, nil
}

// ErrOutOfRange is the error of a value out of the range of its type (an
// integer overflow): MariaDB's 1690.
var ErrOutOfRange = errors.New("value is out of range")

// ErrUnsupported wraps the errors of what the gate does not evaluate as
// MariaDB would.
var ErrUnsupported = errors.New("not evaluated in the gate")

func unsupported(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnsupported, fmt.Sprintf(format, args...))
}

// Program is an expression compiled for the column definitions of the
// rows it reads and one execution's bind values.
type Program struct {
	c *compiled
}

// Compile compiles e for rows of the given columns and the bind values
// bv. It fails (ErrUnsupported) when the columns' types are ones the gate
// does not compute with as MariaDB would.
func Compile(e Expr, fields []*querypb.Field, bv map[string]any) (*Program, error) {
	c := &compiler{types: make([]Type, len(fields)), bv: bv}
	for i, f := range fields {
		c.types[i] = TypeOfField(f)
	}
	out, err := e.compile(c)
	if err != nil {
		return nil, err
	}
	return &Program{c: out}, nil
}

// CompileNoText is Compile for rows whose text columns carry a collation
// the gate cannot trust (the connection's, not the column's): an
// expression that reads a text column fails (ErrUnsupported).
func CompileNoText(e Expr, fields []*querypb.Field, bv map[string]any) (*Program, error) {
	c := &compiler{types: make([]Type, len(fields)), bv: bv, noText: true}
	for i, f := range fields {
		c.types[i] = TypeOfField(f)
	}
	out, err := e.compile(c)
	if err != nil {
		return nil, err
	}
	return &Program{c: out}, nil
}

// Type returns the type of the program's results.
func (p *Program) Type() Type { return p.c.typ }

// Eval evaluates the program over one row.
func (p *Program) Eval(row [][]byte) (Value, error) { return p.c.eval(row) }

// Cell evaluates the program over one row as a result cell of its type.
func (p *Program) Cell(row [][]byte) ([]byte, error) {
	v, err := p.c.eval(row)
	if err != nil {
		return nil, err
	}
	return v.Cell(p.c.typ)
}

// Truth evaluates the program as a condition: true only when the value is
// true (not NULL, not zero).
func (p *Program) Truth(row [][]byte) (bool, error) {
	v, err := p.c.eval(row)
	if err != nil {
		return false, err
	}
	t, ok := v.truth()
	return t && ok, nil
}

// constant folds a compiled expression without columns.
func constant(t Type, v Value) *compiled {
	return &compiled{typ: t, konst: true, eval: func([][]byte) (Value, error) { return v, nil }}
}

// Column is the column at Index of the row.
type Column struct{ Index int }

func (e Column) format(b *strings.Builder) { fmt.Fprintf(b, "col(%d)", e.Index) }

func (e Column) compile(c *compiler) (*compiled, error) {
	if e.Index < 0 || e.Index >= len(c.types) {
		return nil, fmt.Errorf("column %d out of range of %d columns", e.Index, len(c.types))
	}
	t, i := c.types[e.Index], e.Index
	if c.noText && t.Kind == KindText {
		return nil, unsupported("text column %d, whose collation the gate does not know", e.Index)
	}
	return &compiled{typ: t, eval: func(row [][]byte) (Value, error) { return valueOfCell(row[i], t) }}, nil
}

// Literal is a constant: nil, int64, uint64, float64, string, []byte or
// sqltypes.DecimalLiteral.
type Literal struct{ Value any }

func (e Literal) format(b *strings.Builder) {
	switch v := e.Value.(type) {
	case nil:
		b.WriteString("NULL")
	case string:
		b.WriteString(strconv.Quote(v))
	default:
		fmt.Fprintf(b, "%v", v)
	}
}

func (e Literal) compile(*compiler) (*compiled, error) {
	v, t, err := valueOfBind(e.Value)
	if err != nil {
		return nil, err
	}
	return constant(t, v), nil
}

// Bind is a bind variable holding one value.
type Bind struct{ Name string }

func (e Bind) format(b *strings.Builder) { b.WriteString(":" + e.Name) }

func (e Bind) compile(c *compiler) (*compiled, error) {
	x, ok := c.bv[e.Name]
	if !ok {
		return nil, fmt.Errorf("missing bind variable %s", e.Name)
	}
	if _, list := x.([]any); list {
		return nil, fmt.Errorf("bind variable %s is a list where a value is expected", e.Name)
	}
	v, t, err := valueOfBind(x)
	if err != nil {
		return nil, err
	}
	return constant(t, v), nil
}

// ListBind is a bind variable holding a list of values (a subquery's
// rows), usable in IN only.
type ListBind struct{ Name string }

func (e ListBind) format(b *strings.Builder) { b.WriteString("::" + e.Name) }

func (e ListBind) compile(*compiler) (*compiled, error) {
	return nil, fmt.Errorf("list bind variable %s where a value is expected", e.Name)
}
