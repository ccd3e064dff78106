package router

import (
	"context"
	"math"
	"strconv"
	"sync"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/router/sqltypes"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// gexpr is an expression the gate evaluates over a result row: HAVING
// conditions on merged aggregates. It supports column references,
// literals, comparisons, AND/OR/NOT, IS [NOT] NULL and + - * /.
type gexpr interface {
	eval(env *evalEnv) (gval, error)
	String() string
}

type evalEnv struct {
	row    [][]byte
	fields []*querypb.Field
	bv     BindVars
}

type gkind int

const (
	gNull gkind = iota
	gNum        // exact decimal (integers too)
	gFloat
	gText
)

type gval struct {
	kind gkind
	dec  sqltypes.Decimal
	f    float64
	s    []byte
	coll uint32
}

func (v gval) float() float64 {
	switch v.kind {
	case gNum:
		f, _ := strconv.ParseFloat(v.dec.String(), 64)
		return f
	case gFloat:
		return v.f
	case gText:
		f, _ := strconv.ParseFloat(string(v.s), 64)
		return f
	}
	return 0
}

func (v gval) truth() (bool, bool) {
	switch v.kind {
	case gNull:
		return false, false
	case gNum:
		return v.dec.Unscaled.Sign() != 0, true
	}
	return v.float() != 0, true
}

func boolVal(b bool) gval {
	var v gval
	v.kind = gNum
	if b {
		v.dec.Unscaled.SetInt64(1)
	}
	return v
}

func anyToGval(x any) gval {
	switch x := x.(type) {
	case nil:
		return gval{}
	case float64:
		return gval{kind: gFloat, f: x}
	case []byte:
		return gval{kind: gText, s: x, coll: sqltypes.CollationBinary}
	case string:
		return gval{kind: gText, s: []byte(x), coll: 45}
	}
	t, _ := sqltypes.ToText(x)
	d, err := sqltypes.ParseDecimal(t)
	if err != nil {
		return gval{kind: gText, s: t, coll: 45}
	}
	return gval{kind: gNum, dec: d}
}

type gcol struct{ idx int }

func (c gcol) String() string { return "col(" + itoa(c.idx) + ")" }

func (c gcol) eval(env *evalEnv) (gval, error) {
	i, err := colIndex(c.idx, len(env.row))
	if err != nil {
		return gval{}, err
	}
	cell := env.row[i]
	if cell == nil {
		return gval{}, nil
	}
	f := env.fields[i]
	switch cl := sqltypes.ClassOf(f.Type, f.Flags, f.Charset); {
	case cl == sqltypes.ClassFloat:
		v, _ := strconv.ParseFloat(string(cell), 64)
		return gval{kind: gFloat, f: v}, nil
	case cl.IsNumeric():
		d, err := sqltypes.ParseDecimal(cell)
		if err != nil {
			return gval{}, sqlerr.New(sqlerr.ERUnknown, "bad number %q from shard", cell)
		}
		return gval{kind: gNum, dec: d}, nil
	}
	return gval{kind: gText, s: cell, coll: f.Charset}, nil
}

type glit struct{ src valueSource }

func (l glit) String() string { return l.src.String() }

func (l glit) eval(env *evalEnv) (gval, error) {
	vals, err := l.src.resolve(env.bv)
	if err != nil {
		return gval{}, err
	}
	if len(vals) != 1 {
		return gval{}, sqlerr.NotSupported("a list where one value is expected")
	}
	return anyToGval(vals[0]), nil
}

type gbinary struct {
	op   string // = <> < <= > >= <=> and or xor + - * /
	l, r gexpr
}

func (b gbinary) String() string { return "(" + b.l.String() + " " + b.op + " " + b.r.String() + ")" }

func compareG(a, b gval) int {
	switch {
	case a.kind == gNum && b.kind == gNum:
		return sqltypes.CompareDecimalText([]byte(a.dec.String()), []byte(b.dec.String()))
	case a.kind == gText && b.kind == gText:
		coll := a.coll
		if coll == 45 || coll == 0 {
			coll = b.coll
		}
		c, err := sqltypes.NewComparator(&querypb.Field{Type: sqltypes.TypeVarString, Charset: coll})
		if err != nil {
			return 0
		}
		return c.Compare(a.s, b.s)
	}
	x, y := a.float(), b.float()
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

func (b gbinary) eval(env *evalEnv) (gval, error) {
	l, err := b.l.eval(env)
	if err != nil {
		return gval{}, err
	}
	r, err := b.r.eval(env)
	if err != nil {
		return gval{}, err
	}
	switch b.op {
	case "and", "or", "xor":
		lt, lok := l.truth()
		rt, rok := r.truth()
		switch b.op {
		case "and":
			if (lok && !lt) || (rok && !rt) {
				return boolVal(false), nil
			}
			if !lok || !rok {
				return gval{}, nil
			}
			return boolVal(true), nil
		case "or":
			if (lok && lt) || (rok && rt) {
				return boolVal(true), nil
			}
			if !lok || !rok {
				return gval{}, nil
			}
			return boolVal(false), nil
		}
		if !lok || !rok {
			return gval{}, nil
		}
		return boolVal(lt != rt), nil
	case "<=>":
		if l.kind == gNull || r.kind == gNull {
			return boolVal(l.kind == r.kind), nil
		}
		return boolVal(compareG(l, r) == 0), nil
	}
	if l.kind == gNull || r.kind == gNull {
		return gval{}, nil
	}
	switch b.op {
	case "=":
		return boolVal(compareG(l, r) == 0), nil
	case "<>":
		return boolVal(compareG(l, r) != 0), nil
	case "<":
		return boolVal(compareG(l, r) < 0), nil
	case "<=":
		return boolVal(compareG(l, r) <= 0), nil
	case ">":
		return boolVal(compareG(l, r) > 0), nil
	case ">=":
		return boolVal(compareG(l, r) >= 0), nil
	}
	if l.kind == gNum && r.kind == gNum && b.op != "/" {
		var out gval
		out.kind = gNum
		switch b.op {
		case "+":
			out.dec = l.dec
			out.dec.Unscaled.Set(&l.dec.Unscaled)
			out.dec.Add(&r.dec)
		case "-":
			neg := r.dec
			neg.Unscaled.Neg(&r.dec.Unscaled)
			out.dec.Unscaled.Set(&l.dec.Unscaled)
			out.dec.Scale = l.dec.Scale
			out.dec.Add(&neg)
		case "*":
			out.dec.Unscaled.Mul(&l.dec.Unscaled, &r.dec.Unscaled)
			out.dec.Scale = l.dec.Scale + r.dec.Scale
		}
		return out, nil
	}
	x, y := l.float(), r.float()
	var f float64
	switch b.op {
	case "+":
		f = x + y
	case "-":
		f = x - y
	case "*":
		f = x * y
	case "/":
		if y == 0 {
			return gval{}, nil
		}
		f = x / y
	}
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return gval{}, nil
	}
	return gval{kind: gFloat, f: f}, nil
}

type gnot struct{ e gexpr }

func (n gnot) String() string { return "not " + n.e.String() }

func (n gnot) eval(env *evalEnv) (gval, error) {
	v, err := n.e.eval(env)
	if err != nil {
		return gval{}, err
	}
	t, ok := v.truth()
	if !ok {
		return gval{}, nil
	}
	return boolVal(!t), nil
}

type gisnull struct {
	e   gexpr
	not bool
}

func (n gisnull) String() string { return n.e.String() + " is null" }

func (n gisnull) eval(env *evalEnv) (gval, error) {
	v, err := n.e.eval(env)
	if err != nil {
		return gval{}, err
	}
	return boolVal((v.kind == gNull) != n.not), nil
}

// Filter keeps the rows for which Pred is true.
type Filter struct {
	Input Primitive
	Pred  gexpr
}

func (f *Filter) Inputs() []Primitive { return []Primitive{f.Input} }

func (f *Filter) Execute(ctx context.Context, exec ShardExecutor, bv BindVars) (*querypb.QueryResult, error) {
	res, err := f.Input.Execute(ctx, exec, bv)
	if err != nil {
		return nil, err
	}
	rows, err := decodeRows(res)
	if err != nil {
		return nil, err
	}
	out := copyResult(res)
	out.Rows = nil
	env := &evalEnv{fields: res.Fields, bv: bv}
	for i, r := range rows {
		env.row = r
		v, err := f.Pred.eval(env)
		if err != nil {
			return nil, err
		}
		if t, ok := v.truth(); ok && t {
			out.Rows = append(out.Rows, res.Rows[i])
		}
	}
	if err := statementMemory(ctx).swap(res, out); err != nil {
		return nil, err
	}
	return out, nil
}

// Stream passes on the rows of each chunk of the input that satisfy the
// predicate, as they come.
func (f *Filter) Stream(ctx context.Context, exec ShardExecutor, bv BindVars, callback func(*querypb.QueryResult) error) error {
	var (
		mu     sync.Mutex
		fields []*querypb.Field
	)
	return f.Input.Stream(ctx, exec, bv, func(chunk *querypb.QueryResult) error {
		mu.Lock()
		defer mu.Unlock()
		if len(chunk.Fields) > 0 {
			fields = chunk.Fields
		} else if fields == nil {
			if len(chunk.Rows) > 0 {
				return sqlerr.New(sqlerr.ERUnknown, "filter input sent rows before fields")
			}
			return nil
		}
		out := copyResult(chunk)
		out.Rows = nil
		env := &evalEnv{fields: fields, bv: bv}
		for _, raw := range chunk.Rows {
			r, err := sqltypes.DecodeRow(raw, len(fields))
			if err != nil {
				return sqlerr.Wrap(sqlerr.ERUnknown, err, "decode shard row: %v", err)
			}
			env.row = r
			v, err := f.Pred.eval(env)
			if err != nil {
				return err
			}
			if t, ok := v.truth(); ok && t {
				out.Rows = append(out.Rows, raw)
			}
		}
		if len(out.Fields) == 0 && len(out.Rows) == 0 && out.RowsAffected == 0 {
			return nil
		}
		return callback(out)
	})
}

func (f *Filter) Describe() map[string]any {
	return map[string]any{"operator": "Filter", "predicate": f.Pred.String(), "inputs": []any{f.Input.Describe()}}
}
