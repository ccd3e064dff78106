package evalengine

import (
	"fmt"
	"strings"
)

// LogicOp is AND, OR or XOR.
type LogicOp int

const (
	OpAnd LogicOp = iota
	OpOr
	OpXor
)

var logicNames = []string{"AND", "OR", "XOR"}

// Logic is L op R with SQL's three-valued logic.
type Logic struct {
	Op   LogicOp
	L, R Expr
}

func (e Logic) format(b *strings.Builder) {
	b.WriteString("(")
	e.L.format(b)
	b.WriteString(" " + logicNames[e.Op] + " ")
	e.R.format(b)
	b.WriteString(")")
}

func (e Logic) compile(c *compiler) (*compiled, error) {
	l, err := c.operand(e.L)
	if err != nil {
		return nil, err
	}
	r, err := c.operand(e.R)
	if err != nil {
		return nil, err
	}
	if err := checkTruth(l.typ); err != nil {
		return nil, err
	}
	if err := checkTruth(r.typ); err != nil {
		return nil, err
	}
	op := e.Op
	return &compiled{typ: Type{Kind: KindInt, Nullable: true}, konst: l.konst && r.konst, eval: func(row [][]byte) (Value, error) {
		a, err := l.eval(row)
		if err != nil {
			return Null, err
		}
		at, aok := a.truth()
		// AND and OR need not look further when the left side decides;
		// XOR with NULL is NULL (MariaDB evaluates no further).
		switch {
		case op == OpAnd && aok && !at:
			return boolValue(false), nil
		case op == OpOr && aok && at:
			return boolValue(true), nil
		case op == OpXor && !aok:
			return Null, nil
		}
		b, err := r.eval(row)
		if err != nil {
			return Null, err
		}
		bt, bok := b.truth()
		switch op {
		case OpAnd:
			if bok && !bt {
				return boolValue(false), nil
			}
			if !aok || !bok {
				return Null, nil
			}
			return boolValue(true), nil
		case OpOr:
			if bok && bt {
				return boolValue(true), nil
			}
			if !aok || !bok {
				return Null, nil
			}
			return boolValue(false), nil
		}
		if !aok || !bok {
			return Null, nil
		}
		return boolValue(at != bt), nil
	}}, nil
}

// checkTruth refuses values whose truth the gate does not read.
func checkTruth(t Type) error {
	if t.Kind == KindOther {
		return unsupported("the truth of %s values", t.Kind)
	}
	return nil
}

// Not is NOT E.
type Not struct{ E Expr }

func (e Not) format(b *strings.Builder) {
	b.WriteString("NOT ")
	e.E.format(b)
}

func (e Not) compile(c *compiler) (*compiled, error) {
	in, err := c.operand(e.E)
	if err != nil {
		return nil, err
	}
	if err := checkTruth(in.typ); err != nil {
		return nil, err
	}
	if inner, ok := e.E.(Not); ok {
		// MariaDB's parser makes NOT NOT x of a non-boolean x into
		// x <> 0 in a select list (rounding a decimal to the decimals it
		// shows, comparing a double with fixed decimals within half a
		// unit: NOT NOT (2.50 / 2147483647) is 0) but into x in WHERE
		// (true): the gate does not know which it is in.
		x, err := c.operand(inner.E)
		if err != nil {
			return nil, err
		}
		if _, fixed := fixedDecimals(x.typ); x.typ.Kind == KindDecimal || (x.typ.Kind.IsNumber() && !x.typ.Kind.IsExact() && fixed) {
			return nil, unsupported("NOT NOT of a decimal or of a double with fixed decimals")
		}
	}
	return &compiled{typ: Type{Kind: KindInt, Nullable: in.typ.Nullable}, konst: in.konst, eval: func(row [][]byte) (Value, error) {
		v, err := in.eval(row)
		if err != nil {
			return Null, err
		}
		t, ok := v.truth()
		if !ok {
			return Null, nil
		}
		return boolValue(!t), nil
	}}, nil
}

// IsNull is E IS [NOT] NULL.
type IsNull struct {
	E   Expr
	Not bool
}

func (e IsNull) format(b *strings.Builder) {
	e.E.format(b)
	if e.Not {
		b.WriteString(" IS NOT NULL")
	} else {
		b.WriteString(" IS NULL")
	}
}

func (e IsNull) compile(c *compiler) (*compiled, error) {
	in, err := c.operand(e.E)
	if err != nil {
		return nil, err
	}
	not := e.Not
	if !in.typ.Nullable && (in.konst || !not) {
		// MariaDB answers without evaluating a constant that cannot be
		// NULL (even one whose evaluation would fail), and IS NULL
		// without evaluating anything that cannot be: for bi =
		// 9223372036854775807, ((18446744073709551615 + bi) IS FALSE) IS
		// NULL is 0, IS NOT NULL an out-of-range error.
		return constant(Type{Kind: KindInt}, boolValue(not)), nil
	}
	return &compiled{typ: Type{Kind: KindInt}, konst: in.konst, eval: func(row [][]byte) (Value, error) {
		v, err := in.eval(row)
		if err != nil {
			return Null, err
		}
		return boolValue(v.IsNull() != not), nil
	}}, nil
}

// IsTruth is E IS [NOT] TRUE or E IS [NOT] FALSE.
type IsTruth struct {
	E     Expr
	Truth bool
	Not   bool
}

func (e IsTruth) format(b *strings.Builder) {
	e.E.format(b)
	b.WriteString(" IS ")
	if e.Not {
		b.WriteString("NOT ")
	}
	if e.Truth {
		b.WriteString("TRUE")
	} else {
		b.WriteString("FALSE")
	}
}

func (e IsTruth) compile(c *compiler) (*compiled, error) {
	in, err := c.operand(e.E)
	if err != nil {
		return nil, err
	}
	if err := checkTruth(in.typ); err != nil {
		return nil, err
	}
	want, not := e.Truth, e.Not
	return &compiled{typ: Type{Kind: KindInt}, konst: in.konst, eval: func(row [][]byte) (Value, error) {
		v, err := in.eval(row)
		if err != nil {
			return Null, err
		}
		t, ok := v.truth()
		return boolValue((ok && t == want) != not), nil
	}}, nil
}

// In is E [NOT] IN (List...). An item may be a ListBind, whose values
// (a subquery's rows) take its place. With MySQL's NULL rules: true when
// an item equals E; NULL when none does and E or an item is NULL; false
// otherwise.
type In struct {
	E    Expr
	List []Expr
	Not  bool
}

func (e In) format(b *strings.Builder) {
	e.E.format(b)
	if e.Not {
		b.WriteString(" NOT")
	}
	b.WriteString(" IN (")
	for i, x := range e.List {
		if i > 0 {
			b.WriteString(", ")
		}
		x.format(b)
	}
	b.WriteString(")")
}

func (e In) compile(c *compiler) (*compiled, error) {
	left, err := c.operand(e.E)
	if err != nil {
		return nil, err
	}
	var items []*compiled
	for _, x := range e.List {
		if lb, ok := x.(ListBind); ok {
			vals, ok := c.bv[lb.Name]
			if !ok {
				return nil, fmt.Errorf("missing bind variable %s", lb.Name)
			}
			list, isList := vals.([]any)
			if !isList {
				list = []any{vals}
			}
			for _, v := range list {
				it, err := c.operand(Literal{Value: v})
				if err != nil {
					return nil, err
				}
				items = append(items, it)
			}
			continue
		}
		it, err := c.operand(x)
		if err != nil {
			return nil, err
		}
		items = append(items, it)
	}
	// MariaDB compares E with each item by their two types (not one type
	// for all: '1.0' IN ('1', 5) is false), decimals with all their
	// digits (0 IN (2 / 99999, 1) is false), and with the one item of a
	// list of one as a comparison does (E = item: 0 IN (2 / 99999) is
	// true, the quotient rounded to 0.0000). Strings compare by the
	// collation of all of them (s IN (vb, 'ABC') compares s with 'ABC'
	// as bytes, vb being binary).
	var strs []Type
	for _, x := range append([]*compiled{left}, items...) {
		if x.typ.Kind.IsString() {
			strs = append(strs, x.typ)
		}
	}
	strCmp, err := aggCmpType(strs)
	if err != nil {
		return nil, err
	}
	cts := make([]cmpType, len(items))
	for i, it := range items {
		if len(items) == 1 {
			cts[i], err = argCmpType(left, it)
		} else {
			cts[i], err = cmpTypeOf(left.typ, it.typ)
			cts[i].exact = true
		}
		if err != nil {
			return nil, err
		}
		if cts[i].kind == cmpString {
			cts[i].text = strCmp.text
		}
	}
	not := e.Not
	konst := left.konst
	for _, it := range items {
		konst = konst && it.konst
	}
	return &compiled{typ: Type{Kind: KindInt, Nullable: true}, konst: konst, eval: func(row [][]byte) (Value, error) {
		v, err := left.eval(row)
		if err != nil {
			return Null, err
		}
		sawNull := v.IsNull()
		if sawNull && len(items) > 0 {
			return Null, nil
		}
		if !sawNull {
			for i, it := range items {
				ct := cts[i]
				x, err := it.eval(row)
				if err != nil {
					return Null, err
				}
				if x.IsNull() {
					sawNull = true
					continue
				}
				n, err := compareValues(ct, v, x)
				if err != nil {
					return Null, err
				}
				if n == 0 {
					return boolValue(!not), nil
				}
			}
		} else if len(items) == 0 {
			sawNull = false
		}
		if sawNull {
			return Null, nil
		}
		return boolValue(not), nil
	}}, nil
}

// Between is E [NOT] BETWEEN Lo AND Hi.
type Between struct {
	E, Lo, Hi Expr
	Not       bool
}

func (e Between) format(b *strings.Builder) {
	e.E.format(b)
	if e.Not {
		b.WriteString(" NOT")
	}
	b.WriteString(" BETWEEN ")
	e.Lo.format(b)
	b.WriteString(" AND ")
	e.Hi.format(b)
}

func (e Between) compile(c *compiler) (*compiled, error) {
	x, err := c.operand(e.E)
	if err != nil {
		return nil, err
	}
	lo, err := c.operand(e.Lo)
	if err != nil {
		return nil, err
	}
	hi, err := c.operand(e.Hi)
	if err != nil {
		return nil, err
	}
	ct, err := aggCmpType([]Type{x.typ, lo.typ, hi.typ})
	if err != nil {
		return nil, err
	}
	// Decimals with all their digits (2 / 99999 BETWEEN 0 AND 0 is
	// false, though the quotient shows as 0.0000).
	ct.exact = true
	if err := noStringWithNumber([]Type{x.typ, lo.typ, hi.typ}); err != nil {
		return nil, err
	}
	not := e.Not
	return &compiled{typ: Type{Kind: KindInt, Nullable: true}, konst: x.konst && lo.konst && hi.konst, eval: func(row [][]byte) (Value, error) {
		v, err := x.eval(row)
		if err != nil || v.IsNull() {
			return Null, err
		}
		// x >= lo AND x <= hi, with NULL bounds as in AND.
		var ge, le Value
		a, err := lo.eval(row)
		if err != nil {
			return Null, err
		}
		if a.IsNull() {
			ge = Null
		} else {
			n, err := compareValues(ct, v, a)
			if err != nil {
				return Null, err
			}
			ge = boolValue(n >= 0)
		}
		b, err := hi.eval(row)
		if err != nil {
			return Null, err
		}
		if b.IsNull() {
			le = Null
		} else {
			n, err := compareValues(ct, v, b)
			if err != nil {
				return Null, err
			}
			le = boolValue(n <= 0)
		}
		gt, gok := ge.truth()
		lt, lok := le.truth()
		var out Value
		switch {
		case (gok && !gt) || (lok && !lt):
			out = boolValue(false)
		case !gok || !lok:
			return Null, nil
		default:
			out = boolValue(true)
		}
		if not {
			t, _ := out.truth()
			return boolValue(!t), nil
		}
		return out, nil
	}}, nil
}

// When is one WHEN ... THEN ... of a Case.
type When struct{ Cond, Then Expr }

// Case is CASE [Base] WHEN ... THEN ... [ELSE Else] END.
type Case struct {
	Base  Expr
	Whens []When
	Else  Expr
}

func (e Case) format(b *strings.Builder) {
	b.WriteString("CASE")
	if e.Base != nil {
		b.WriteString(" ")
		e.Base.format(b)
	}
	for _, w := range e.Whens {
		b.WriteString(" WHEN ")
		w.Cond.format(b)
		b.WriteString(" THEN ")
		w.Then.format(b)
	}
	if e.Else != nil {
		b.WriteString(" ELSE ")
		e.Else.format(b)
	}
	b.WriteString(" END")
}

func (e Case) compile(c *compiler) (*compiled, error) {
	var base *compiled
	var err error
	if e.Base != nil {
		if base, err = c.operand(e.Base); err != nil {
			return nil, err
		}
	}
	conds := make([]*compiled, len(e.Whens))
	thens := make([]*compiled, len(e.Whens))
	var typ Type
	first := true
	for i, w := range e.Whens {
		if conds[i], err = c.operand(w.Cond); err != nil {
			return nil, err
		}
		if thens[i], err = c.operand(w.Then); err != nil {
			return nil, err
		}
		if first {
			typ, first = thens[i].typ, false
		} else if typ, err = mergeOrRefuse(typ, thens[i].typ); err != nil {
			return nil, err
		}
	}
	var els *compiled
	if e.Else != nil {
		if els, err = c.operand(e.Else); err != nil {
			return nil, err
		}
		if typ, err = mergeOrRefuse(typ, els.typ); err != nil {
			return nil, err
		}
	} else {
		typ.Nullable = true
	}
	results := make([]Type, 0, len(thens)+1)
	for _, th := range thens {
		results = append(results, th.typ)
	}
	if els != nil {
		results = append(results, els.typ)
	}
	typ = withHybridText(withSignedNull(typ, results), results)
	// A simple CASE compares its value with each WHEN value by their two
	// types, as IN does.
	cts := make([]cmpType, len(conds))
	if base != nil {
		for i, cd := range conds {
			if cts[i], err = cmpTypeOf(base.typ, cd.typ); err != nil {
				return nil, err
			}
			cts[i].exact = true
		}
	} else {
		for _, cd := range conds {
			if err := checkTruth(cd.typ); err != nil {
				return nil, err
			}
		}
	}
	konst := (base == nil || base.konst) && (els == nil || els.konst)
	for i := range conds {
		konst = konst && conds[i].konst && thens[i].konst
	}
	return &compiled{typ: typ, konst: konst, eval: func(row [][]byte) (Value, error) {
		var bv Value
		if base != nil {
			var err error
			if bv, err = base.eval(row); err != nil {
				return Null, err
			}
		}
		for i, cd := range conds {
			if base != nil && bv.IsNull() {
				// No WHEN matches NULL: MariaDB does not evaluate them.
				break
			}
			v, err := cd.eval(row)
			if err != nil {
				return Null, err
			}
			match := false
			if base != nil {
				if !bv.IsNull() && !v.IsNull() {
					n, err := compareValues(cts[i], bv, v)
					if err != nil {
						return Null, err
					}
					match = n == 0
				}
			} else {
				t, ok := v.truth()
				match = t && ok
			}
			if match {
				v, err := thens[i].eval(row)
				if err != nil {
					return Null, err
				}
				return coerce(v, typ)
			}
		}
		if els != nil {
			v, err := els.eval(row)
			if err != nil {
				return Null, err
			}
			return coerce(v, typ)
		}
		return Null, nil
	}}, nil
}

// mergeOrRefuse merges two result types or refuses the mix.
func mergeOrRefuse(a, b Type) (Type, error) {
	t, ok := mergeResultTypes(a, b)
	if !ok {
		return t, unsupported("a result that is a %s or a %s value", a.Kind, b.Kind)
	}
	return t, nil
}
