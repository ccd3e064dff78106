package evalengine

import (
	"fmt"
	"math"
	"math/big"
	"strings"

	"github.com/mosaicdb/mosaic/router/sqltypes"
)

// ArithOp is an arithmetic operator.
type ArithOp int

const (
	OpAdd ArithOp = iota
	OpSub
	OpMul
	OpDiv    // /
	OpIntDiv // DIV
	OpMod    // % and MOD
)

var arithNames = []string{"+", "-", "*", "/", "DIV", "%"}

// Arith is L op R.
type Arith struct {
	Op   ArithOp
	L, R Expr
}

func (e Arith) format(b *strings.Builder) {
	b.WriteString("(")
	e.L.format(b)
	b.WriteString(" " + arithNames[e.Op] + " ")
	e.R.format(b)
	b.WriteString(")")
}

// arithKind is the kind of the result of an operator over operands of
// types a and b, and the kind both are converted to first.
func arithKind(op ArithOp, a, b Type) (result, operands Kind, err error) {
	ka, kb := numericKind(a), numericKind(b)
	if ka == KindOther || kb == KindOther {
		return 0, 0, unsupported("arithmetic on %s and %s values", a.Kind, b.Kind)
	}
	if a.Kind.IsTemporal() || b.Kind.IsTemporal() {
		// MariaDB's arithmetic on dates has rules of its own (its
		// result's type, its overflows).
		return 0, 0, unsupported("arithmetic on dates and times")
	}
	switch {
	case ka == KindNull || kb == KindNull:
		// NULL makes a DOUBLE of arithmetic (its value is NULL anyway).
		operands = KindDouble
	case ka == KindDouble || kb == KindDouble:
		operands = KindDouble
	case ka == KindDecimal || kb == KindDecimal:
		operands = KindDecimal
	case ka == KindUint || kb == KindUint:
		operands = KindUint
	default:
		operands = KindInt
	}
	result = operands
	switch op {
	case OpDiv:
		if operands != KindDouble {
			operands, result = KindDecimal, KindDecimal
		}
	case OpIntDiv:
		// DIV divides decimals (doubles and strings made decimals), and
		// truncates.
		if operands != KindInt && operands != KindUint {
			operands = KindDecimal
		}
		if ka == KindUint || kb == KindUint {
			result = KindUint
		} else {
			result = KindInt
		}
	case OpMod:
		// The remainder has the dividend's sign.
		if operands == KindUint && ka != KindUint {
			result = KindInt
		}
	}
	return result, operands, nil
}

// doubleScale is the decimals a DOUBLE result of an operand of type t
// is shown with.
func doubleScale(t Type) uint32 {
	switch t.Kind {
	case KindDouble, KindFloat:
		return t.Scale
	case KindText, KindBinary:
		return notFixedDec
	}
	return numericScale(t)
}

func (e Arith) compile(c *compiler) (*compiled, error) {
	l, err := c.operand(e.L)
	if err != nil {
		return nil, err
	}
	r, err := c.operand(e.R)
	if err != nil {
		return nil, err
	}
	result, operands, err := arithKind(e.Op, l.typ, r.typ)
	if err != nil {
		return nil, err
	}
	if result == KindDecimal && unsignedOperand(l.typ) && (unsignedOperand(r.typ) || e.Op == OpMod) {
		// MariaDB flags a decimal of two unsigned operands unsigned
		// (u / u), and a remainder of an unsigned dividend (u MOD 1.5),
		// and then DIV of it by a negative number is an out-of-range
		// error; the gate does not carry the flag.
		return nil, unsupported("a decimal MariaDB flags unsigned")
	}
	if e.Op == OpIntDiv && (unsignedNonInteger(l.typ) || unsignedNonInteger(r.typ)) {
		return nil, unsupported("DIV of an unsigned decimal or double column")
	}
	if l.typ.decimalsUnknown() || r.typ.decimalsUnknown() {
		return nil, unsupported("arithmetic on a CASE, IF, COALESCE or IFNULL of strings that may be empty")
	}
	t := Type{Kind: result, Nullable: l.typ.Nullable || r.typ.Nullable || e.Op == OpDiv || e.Op == OpIntDiv || e.Op == OpMod}
	switch result {
	case KindDecimal:
		sa, sb := numericScale(l.typ), numericScale(r.typ)
		switch e.Op {
		case OpAdd, OpSub, OpMod:
			t.Scale = max(sa, sb)
		case OpMul:
			t.Scale = min(sa+sb, maxDecimalScale)
		case OpDiv:
			t.Scale = min(sa+divPrecisionIncrement, maxDecimalScale)
		}
	case KindDouble:
		s := max(doubleScale(l.typ), doubleScale(r.typ))
		if e.Op == OpDiv && s < notFixedDec {
			s = min(s+divPrecisionIncrement, notFixedDec)
		}
		t.Scale = min(s, notFixedDec)
	}
	op, text := e.Op, String(e)
	out := &compiled{typ: t, konst: l.konst && r.konst}
	out.eval = func(row [][]byte) (Value, error) {
		// MariaDB evaluates both operands of integer and double
		// arithmetic (an error on the right counts even when the left is
		// NULL), but not the right one of decimal arithmetic then.
		a, err := l.eval(row)
		if err != nil || (a.kind == KindNull && operands == KindDecimal) {
			return Null, err
		}
		b, err := r.eval(row)
		if err != nil || a.kind == KindNull || b.kind == KindNull {
			return Null, err
		}
		if a, err = a.toNumber(operands); err != nil {
			return Null, err
		}
		if b, err = b.toNumber(operands); err != nil {
			return Null, err
		}
		v, err := arith(op, operands, result, a, b, t.Scale)
		if err != nil && err == ErrOutOfRange {
			return Null, outOfRange(result, text)
		}
		return shown(v, t.Scale), err
	}
	return out, nil
}

func outOfRange(k Kind, text string) error {
	name := "BIGINT"
	switch k {
	case KindUint:
		name = "BIGINT UNSIGNED"
	case KindDouble:
		name = "DOUBLE"
	case KindDecimal:
		name = "DECIMAL"
	}
	return fmt.Errorf("%w: %s value is out of range in '%s'", ErrOutOfRange, name, text)
}

// arith computes a op b, both of kind operands.
func arith(op ArithOp, operands, result Kind, a, b Value, scale uint32) (Value, error) {
	switch operands {
	case KindDouble:
		x, y := a.f, b.f
		var f float64
		switch op {
		case OpAdd:
			f = x + y
		case OpSub:
			f = x - y
		case OpMul:
			f = x * y
		case OpDiv:
			if y == 0 {
				return Null, nil
			}
			f = x / y
		case OpIntDiv:
			if y == 0 {
				return Null, nil
			}
			return truncToInt(new(big.Float).SetFloat64(x/y), result)
		case OpMod:
			if y == 0 {
				return Null, nil
			}
			f = math.Mod(x, y)
		}
		if math.IsInf(f, 0) || math.IsNaN(f) {
			return Null, ErrOutOfRange
		}
		return doubleValue(f), nil
	case KindDecimal:
		x, y := a.dec, b.dec
		switch op {
		case OpAdd:
			return decimalValue(x.Sum(y)), nil
		case OpSub:
			return decimalValue(x.Diff(y)), nil
		case OpMul:
			// MariaDB keeps all the digits of the product, those of a
			// quotient's hidden ones too: (z / 2147483647) * 1 is
			// 0.000046565, shown 0.0000 but true. Past a DECIMAL's
			// scale it cuts them, which the gate does not follow.
			p := x.Product(y)
			if p.Scale > maxDecimalScale {
				return Null, unsupported("a decimal product of more than %d decimals", maxDecimalScale)
			}
			return decimalValue(p), nil
		case OpDiv:
			if y.Sign() == 0 {
				return Null, nil
			}
			q := x.TruncQuotient(y, divScale(x.Scale, y.Scale))
			if q.Sign() == 0 && x.Sign()*y.Sign() < 0 {
				// MariaDB keeps the sign of a negative quotient cut to
				// zero: a negative zero, unequal to 0.
				return Null, unsupported("a negative decimal quotient that is cut to zero")
			}
			return decimalValue(q), nil
		case OpIntDiv:
			if y.Sign() == 0 {
				return Null, nil
			}
			return truncToInt(new(big.Float).SetInt(x.IntQuotient(y)), result)
		case OpMod:
			if y.Sign() == 0 {
				return Null, nil
			}
			r := x.Rem(y)
			if r.Sign() == 0 && x.Sign() < 0 {
				// MariaDB's remainder is a negative zero here, which
				// compares unequal to 0.
				return Null, unsupported("a decimal remainder of a negative number that is zero")
			}
			return decimalValue(r), nil
		}
	case KindInt:
		x, y := a.i, b.i
		switch op {
		case OpAdd:
			s := x + y
			if (s > x) != (y > 0) {
				return Null, ErrOutOfRange
			}
			return intValue(s), nil
		case OpSub:
			s := x - y
			if (s < x) != (y > 0) {
				return Null, ErrOutOfRange
			}
			return intValue(s), nil
		case OpMul:
			p := new(big.Int).Mul(big.NewInt(x), big.NewInt(y))
			if !p.IsInt64() {
				return Null, ErrOutOfRange
			}
			return intValue(p.Int64()), nil
		case OpIntDiv:
			if y == 0 {
				return Null, nil
			}
			if x == math.MinInt64 && y == -1 {
				return Null, ErrOutOfRange
			}
			return intValue(x / y), nil
		case OpMod:
			if y == 0 {
				return Null, nil
			}
			if y == -1 {
				return intValue(0), nil
			}
			return intValue(x % y), nil
		}
	case KindUint:
		// Either operand is unsigned: the result must be one too.
		x, y := signedBig(a), signedBig(b)
		var r *big.Int
		switch op {
		case OpAdd:
			r = new(big.Int).Add(x, y)
		case OpSub:
			r = new(big.Int).Sub(x, y)
		case OpMul:
			r = new(big.Int).Mul(x, y)
		case OpIntDiv:
			if y.Sign() == 0 {
				return Null, nil
			}
			r = new(big.Int).Quo(x, y)
			if result == KindInt {
				if !r.IsInt64() {
					return Null, ErrOutOfRange
				}
				return intValue(r.Int64()), nil
			}
		case OpMod:
			if y.Sign() == 0 {
				return Null, nil
			}
			r = new(big.Int).Rem(x, y)
			if r.Sign() < 0 {
				if !r.IsInt64() {
					return Null, ErrOutOfRange
				}
				return intValue(r.Int64()), nil
			}
		}
		if r.Sign() < 0 || !r.IsUint64() {
			return Null, ErrOutOfRange
		}
		return uintValue(r.Uint64()), nil
	}
	return Null, fmt.Errorf("arithmetic on %s values", operands)
}

func signedBig(v Value) *big.Int {
	if v.kind == KindUint {
		return new(big.Int).SetUint64(v.u)
	}
	return big.NewInt(v.i)
}

// truncToInt truncates a quotient to an integer of kind k.
func truncToInt(f *big.Float, k Kind) (Value, error) {
	i, _ := f.Int(nil)
	if k == KindUint {
		if i.Sign() < 0 || !i.IsUint64() {
			if i.Sign() < 0 && i.IsInt64() {
				return Null, ErrOutOfRange
			}
			return Null, ErrOutOfRange
		}
		return uintValue(i.Uint64()), nil
	}
	if !i.IsInt64() {
		return Null, ErrOutOfRange
	}
	return intValue(i.Int64()), nil
}

// Neg is -E.
type Neg struct{ E Expr }

func (e Neg) format(b *strings.Builder) {
	b.WriteString("-")
	e.E.format(b)
}

func (e Neg) compile(c *compiler) (*compiled, error) {
	in, err := c.operand(e.E)
	if err != nil {
		return nil, err
	}
	k := numericKind(in.typ)
	if k == KindOther || in.typ.Kind.IsTemporal() {
		return nil, unsupported("minus of %s values", in.typ.Kind)
	}
	if in.typ.decimalsUnknown() {
		return nil, unsupported("minus of a CASE, IF, COALESCE or IFNULL of strings that may be empty")
	}
	t := Type{Kind: k, Nullable: in.typ.Nullable}
	switch k {
	case KindUint:
		t.Kind = KindInt
		if in.konst {
			// -18446744073709551615 is a DECIMAL literal in MariaDB.
			if v, err := in.eval(nil); err == nil && v.kind == KindUint && v.u > 1<<63 {
				d := sqltypes.DecimalFromUint(v.u)
				return constant(Type{Kind: KindDecimal, Literal: true}, decimalValue(d.Neg())), nil
			}
		}
	case KindInt:
		if in.konst {
			// So is the negation of a constant -9223372036854775808.
			v, err := in.eval(nil)
			if err == nil && v.kind == KindInt && v.i == math.MinInt64 {
				d := sqltypes.DecimalFromInt(v.i)
				return constant(Type{Kind: KindDecimal, Literal: true}, decimalValue(d.Neg())), nil
			}
			// MariaDB negates a number literal in place (-(-5) is the
			// integer 5), but makes the minus of another constant that is
			// negative a DECIMAL (Item_func_neg::fix_length_and_dec_int):
			// -(0 - 5) is a DECIMAL, so -(0 - 5) * 9223372036854775807 is
			// no overflow.
			if err == nil && v.kind == KindInt && v.i < 0 && !numberLiteral(e.E) {
				d := sqltypes.DecimalFromInt(v.i)
				return constant(Type{Kind: KindDecimal}, decimalValue(d.Neg())), nil
			}
		}
	case KindDecimal:
		t.Scale = numericScale(in.typ)
	case KindDouble:
		t.Scale = doubleScale(in.typ)
	case KindNull:
		t.Kind, t.Scale = KindDouble, 0
	}
	text := String(e)
	return &compiled{typ: t, konst: in.konst, eval: func(row [][]byte) (Value, error) {
		v, err := in.eval(row)
		if err != nil || v.kind == KindNull {
			return Null, err
		}
		if v, err = v.toNumber(k); err != nil {
			return Null, err
		}
		switch v.kind {
		case KindInt:
			if v.i == math.MinInt64 {
				return Null, outOfRange(KindInt, text)
			}
			return intValue(-v.i), nil
		case KindUint:
			if v.u > 1<<63 {
				return Null, outOfRange(KindInt, text)
			}
			return intValue(-int64(v.u)), nil
		case KindDecimal:
			return shown(decimalValue(v.dec.Neg()), t.Scale), nil
		case KindDouble:
			return shown(doubleValue(-v.f), t.Scale), nil
		}
		return Null, fmt.Errorf("minus of %s", v.kind)
	}}, nil
}

// unsignedOperand reports a type MariaDB flags unsigned: an unsigned
// integer, an unsigned column.
func unsignedOperand(t Type) bool {
	return t.Kind == KindUint || unsignedNonInteger(t)
}

// unsignedNonInteger reports a DECIMAL, FLOAT or DOUBLE column declared
// UNSIGNED: MariaDB's DIV of one is unsigned too.
func unsignedNonInteger(t Type) bool {
	switch t.Kind {
	case KindDecimal, KindFloat, KindDouble:
		return t.Field != nil && t.Field.GetFlags()&sqltypes.FlagUnsigned != 0
	}
	return false
}

// numberLiteral reports a number literal, or the minus of one: MariaDB's
// parser folds the minus into the literal.
func numberLiteral(e Expr) bool {
	switch x := e.(type) {
	case Literal:
		switch x.Value.(type) {
		case int64, int, uint64, float64, sqltypes.DecimalLiteral:
			return true
		}
	case Neg:
		return numberLiteral(x.E)
	}
	return false
}

// decimalOf returns the decimal of an exact value.
func decimalOf(v Value) sqltypes.Decimal {
	d, _ := v.toDecimal()
	return d
}

// divScale is how many decimals MariaDB's decimal division computes
// (do_div_mod): the operands' decimals, each rounded up to a multiple of
// nine (a digit group), plus div_precision_increment, rounded up to a
// group. The quotient is cut there; it shows divPrecisionIncrement
// decimals more than its dividend.
func divScale(a, b int) int {
	up := func(n int) int { return (n + 8) / 9 * 9 }
	a, b = max(a, 0), max(b, 0)
	fa, fb := up(a), up(b)
	// The digits the groups add count toward the increment.
	inc := max(divPrecisionIncrement-(fa-a)-(fb-b), 0)
	return up(fa + fb + inc)
}
