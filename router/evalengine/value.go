package evalengine

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/mosaicdb/mosaic/router/sqltypes"
)

// Value is one value: NULL, a number, a string or a date.
type Value struct {
	kind Kind
	i    int64
	u    uint64
	f    float64
	dec  *sqltypes.Decimal
	// b holds strings, dates and times (as MariaDB shows them).
	b []byte
	// raw is the cell a column value was read from: a value shown
	// unchanged keeps the shard's text.
	raw []byte
	// fdec is the decimals a double or decimal is shown with
	// (notFixedDec: as many as a double needs). A decimal may hold more
	// digits than it shows: a division's result does (see Quotient), and
	// so do values computed from one; comparisons and results show it
	// rounded to fdec.
	fdec uint32
}

// Null is the NULL value.
var Null = Value{}

// IsNull reports NULL.
func (v Value) IsNull() bool { return v.kind == KindNull }

// Kind returns the value's kind.
func (v Value) Kind() Kind { return v.kind }

func intValue(i int64) Value      { return Value{kind: KindInt, i: i} }
func uintValue(u uint64) Value    { return Value{kind: KindUint, u: u} }
func doubleValue(f float64) Value { return Value{kind: KindDouble, f: f, fdec: notFixedDec} }
func decimalValue(d sqltypes.Decimal) Value {
	return Value{kind: KindDecimal, dec: &d, fdec: uint32(max(d.Scale, 0))}
}

// shown returns a number value shown with s decimals.
func shown(v Value, s uint32) Value {
	if v.kind == KindDecimal || v.kind == KindDouble {
		v.fdec = s
	}
	return v
}

// rounded returns a decimal rounded to the decimals it shows.
func (v Value) rounded() Value {
	if v.kind != KindDecimal || v.dec.Scale <= int(v.fdec) {
		return v
	}
	return decimalValue(v.dec.Round(int(v.fdec)))
}
func boolValue(b bool) Value {
	if b {
		return intValue(1)
	}
	return intValue(0)
}

// valueOfCell reads a result cell of a column of type t.
func valueOfCell(cell []byte, t Type) (Value, error) {
	if cell == nil {
		return Null, nil
	}
	v := Value{kind: t.Kind, raw: cell}
	switch t.Kind {
	case KindInt:
		i, err := strconv.ParseInt(string(cell), 10, 64)
		if err != nil {
			return Null, fmt.Errorf("bad integer %q from shard", cell)
		}
		v.i = i
	case KindUint:
		u, err := strconv.ParseUint(string(cell), 10, 64)
		if err != nil {
			return Null, fmt.Errorf("bad unsigned integer %q from shard", cell)
		}
		v.u = u
	case KindDecimal:
		d, err := sqltypes.ParseDecimal(cell)
		if err != nil {
			return Null, fmt.Errorf("bad decimal %q from shard", cell)
		}
		v.dec, v.fdec = &d, uint32(max(d.Scale, 0))
	case KindFloat:
		f, err := strconv.ParseFloat(string(cell), 32)
		if err != nil {
			return Null, fmt.Errorf("bad float %q from shard", cell)
		}
		v.f, v.fdec = f, t.Scale
	case KindDouble:
		f, err := strconv.ParseFloat(string(cell), 64)
		if err != nil {
			return Null, fmt.Errorf("bad double %q from shard", cell)
		}
		v.f, v.fdec = f, t.Scale
	default:
		v.b = cell
	}
	return v, nil
}

// valueOfBind reads a bind value: nil, int64, uint64, float64, string,
// []byte, sqltypes.DecimalLiteral.
func valueOfBind(x any) (Value, Type, error) {
	lit := func(k Kind) Type { return Type{Kind: k, Literal: true} }
	switch x := x.(type) {
	case nil:
		return Null, Type{Kind: KindNull, Literal: true, Nullable: true}, nil
	case int64:
		return intValue(x), lit(KindInt), nil
	case int:
		return intValue(int64(x)), lit(KindInt), nil
	case uint64:
		return uintValue(x), lit(KindUint), nil
	case float64:
		t := lit(KindDouble)
		t.Scale = notFixedDec
		return doubleValue(x), t, nil
	case sqltypes.DecimalLiteral:
		d, err := sqltypes.ParseDecimal([]byte(x))
		if err != nil {
			return Null, Type{}, fmt.Errorf("bad decimal %q", string(x))
		}
		t := lit(KindDecimal)
		t.Scale = uint32(max(d.Scale, 0))
		return decimalValue(d), t, nil
	case string:
		t := lit(KindText)
		t.Collation, t.nonEmpty = collationGeneralCI, x != ""
		return Value{kind: KindText, b: []byte(x)}, t, nil
	case []byte:
		t := lit(KindBinary)
		t.nonEmpty = len(x) > 0
		return Value{kind: KindBinary, b: x}, t, nil
	}
	return Null, Type{}, fmt.Errorf("unsupported bind value %T", x)
}

// truth is the value's truth in a condition: false for NULL (ok false),
// else whether its number is not zero.
func (v Value) truth() (t, ok bool) {
	switch v.kind {
	case KindNull:
		return false, false
	case KindInt:
		return v.i != 0, true
	case KindUint:
		return v.u != 0, true
	case KindDecimal:
		return v.dec.Sign() != 0, true
	case KindFloat, KindDouble:
		return v.f != 0, true
	case KindDate, KindDatetime, KindTime:
		return strings.Trim(string(v.b), "0-: .") != "", true
	}
	f, _ := v.toDouble()
	return f != 0, true
}

// toDouble converts a value to a double as MariaDB does in numeric
// context.
func (v Value) toDouble() (float64, error) {
	switch v.kind {
	case KindInt:
		return float64(v.i), nil
	case KindUint:
		return float64(v.u), nil
	case KindDecimal:
		return v.dec.Float(), nil
	case KindFloat, KindDouble:
		return v.f, nil
	case KindText, KindBinary:
		f, _ := sqltypes.ParseDoublePrefix(v.b)
		return f, nil
	case KindDate, KindDatetime, KindTime:
		d, err := v.temporalNumber()
		if err != nil {
			return 0, err
		}
		return d.Float(), nil
	}
	return 0, errNotNumber(v.kind)
}

func errNotNumber(k Kind) error { return fmt.Errorf("values of type %s as numbers", k) }

// temporalNumber is the number of a date or time: YYYYMMDD, YYYYMMDDhhmmss
// or hhmmss, with the fraction.
func (v Value) temporalNumber() (sqltypes.Decimal, error) {
	var digits []byte
	neg := false
	for i, c := range v.b {
		switch {
		case c >= '0' && c <= '9', c == '.':
			digits = append(digits, c)
		case c == '-' && i == 0 && v.kind == KindTime:
			neg = true
		}
	}
	if neg {
		digits = append([]byte{'-'}, digits...)
	}
	d, err := sqltypes.ParseDecimal(digits)
	if err != nil {
		return d, fmt.Errorf("bad date or time %q from shard", v.b)
	}
	return d, nil
}

// toDecimal converts an exact value (or a date) to a decimal.
func (v Value) toDecimal() (sqltypes.Decimal, error) {
	switch v.kind {
	case KindInt:
		return sqltypes.DecimalFromInt(v.i), nil
	case KindUint:
		return sqltypes.DecimalFromUint(v.u), nil
	case KindDecimal:
		return v.dec.Copy(), nil
	case KindDate, KindDatetime, KindTime:
		return v.temporalNumber()
	}
	return sqltypes.Decimal{}, fmt.Errorf("values of type %s as decimals", v.kind)
}

// toNumber converts v to the numeric kind k (from numericKind).
func (v Value) toNumber(k Kind) (Value, error) {
	if v.kind == KindNull || v.kind == k && v.kind != KindFloat {
		return v, nil
	}
	switch k {
	case KindDouble:
		f, err := v.toDouble()
		return doubleValue(f), err
	case KindDecimal:
		if v.kind.IsString() {
			return decimalValue(sqltypes.ParseDecimalPrefix(v.b)), nil
		}
		if v.kind == KindDouble || v.kind == KindFloat {
			// As MariaDB makes a decimal of a double: of its shortest
			// digits.
			f, err := v.toDouble()
			if err != nil {
				return Null, err
			}
			d, err := sqltypes.ParseDecimal(strconv.AppendFloat(nil, f, 'f', -1, 64))
			if err == nil && (d.Scale > maxDecimalScale || len(d.Unscaled.String()) > 65) {
				// Past a DECIMAL's 65 digits: MariaDB cuts it.
				return Null, unsupported("the double %v as a decimal", f)
			}
			return decimalValue(d), err
		}
		d, err := v.toDecimal()
		return decimalValue(d), err
	case KindInt, KindUint:
		switch v.kind {
		case KindDate, KindDatetime, KindTime:
			d, err := v.temporalNumber()
			if err != nil {
				return Null, err
			}
			i := d.IntPart()
			if !i.IsInt64() {
				return Null, fmt.Errorf("date %q as an integer", v.b)
			}
			return intValue(i.Int64()), nil
		case KindInt:
			if k == KindUint && v.i < 0 {
				// A negative value where an unsigned one is due: keep
				// it signed for the arithmetic to check.
				return v, nil
			}
			if k == KindUint {
				return uintValue(uint64(v.i)), nil
			}
			return v, nil
		case KindUint:
			if k == KindInt {
				if v.u > math.MaxInt64 {
					return Null, fmt.Errorf("%w: %d as a signed integer", ErrOutOfRange, v.u)
				}
				return intValue(int64(v.u)), nil
			}
			return v, nil
		}
	}
	return Null, errNotNumber(v.kind)
}

// text is the value as a string, as MariaDB shows it: a decimal with its
// scale, a double with its decimals, a string or date as it is.
func (v Value) text() []byte {
	switch v.kind {
	case KindNull:
		return nil
	case KindInt:
		return strconv.AppendInt(nil, v.i, 10)
	case KindUint:
		return strconv.AppendUint(nil, v.u, 10)
	case KindDecimal:
		return []byte(v.dec.Format(int(v.fdec)))
	case KindFloat:
		if v.raw != nil {
			return v.raw
		}
		return strconv.AppendFloat(nil, v.f, 'g', -1, 32)
	case KindDouble:
		return formatDouble(v.f, v.fdec)
	}
	return v.b
}

// formatDouble writes a double as MariaDB shows one with decimals: the
// shortest digits that read back the same, padded with zeros to decimals
// after the point, or rounded to them when there are more; as many as it
// needs when decimals is notFixedDec.
func formatDouble(f float64, decimals uint32) []byte {
	if f == 0 {
		f = 0 // -0 shows as 0
	}
	if decimals >= notFixedDec {
		return sqltypes.FormatDouble(f)
	}
	short := strconv.FormatFloat(f, 'f', -1, 64)
	frac := 0
	if dot := strings.IndexByte(short, '.'); dot >= 0 {
		frac = len(short) - dot - 1
	}
	if frac > int(decimals) {
		return strconv.AppendFloat(nil, f, 'f', int(decimals), 64)
	}
	out := []byte(short)
	if decimals > 0 && frac == 0 {
		out = append(out, '.')
	}
	for i := frac; i < int(decimals); i++ {
		out = append(out, '0')
	}
	return out
}

// coerce converts v to a value of type t: the result of CASE, IF or
// COALESCE has the type of all its branches.
func coerce(v Value, t Type) (Value, error) {
	if v.kind == KindNull {
		return v, nil
	}
	switch t.Kind {
	case KindInt, KindUint, KindDecimal, KindDouble:
		n, err := v.toNumber(t.Kind)
		if err != nil {
			return Null, err
		}
		switch {
		case t.Kind == KindInt && n.kind == KindUint:
			if n.u > math.MaxInt64 {
				return Null, fmt.Errorf("%w: %d in a signed integer", ErrOutOfRange, n.u)
			}
			return intValue(int64(n.u)), nil
		case t.Kind == KindUint && n.kind == KindInt:
			if n.i < 0 {
				return Null, fmt.Errorf("%w: %d in an unsigned integer", ErrOutOfRange, n.i)
			}
			return uintValue(uint64(n.i)), nil
		case t.Kind == KindDecimal:
			n.fdec = t.Scale
		case t.Kind == KindDouble:
			n.fdec = min(t.Scale, notFixedDec)
		}
		return n, nil
	case KindText, KindBinary:
		if v.kind == t.Kind {
			return v, nil
		}
		return Value{kind: t.Kind, b: v.text()}, nil
	case KindDatetime:
		switch v.kind {
		case KindDate:
			return Value{kind: KindDatetime, b: append(append([]byte(nil), v.b...), " 00:00:00"...)}, nil
		case KindDatetime:
			return v, nil
		}
	case KindDate, KindTime, KindOther, KindFloat:
		if v.kind == t.Kind {
			return v, nil
		}
	}
	return Null, unsupported("a %s value as a %s", v.kind, t.Kind)
}

// Cell returns the value as a result cell of a column of type t (nil for
// NULL), converting it to t's kind: the integer 3 in a DECIMAL column of
// scale 1 shows as 3.0, in a string column as 3.
func (v Value) Cell(t Type) ([]byte, error) {
	if v.kind == KindNull {
		return nil, nil
	}
	if v.raw != nil && v.kind == t.Kind && (t.Field != nil || v.kind.IsString() || v.kind == KindOther) {
		return v.raw, nil
	}
	c, err := coerce(v, t)
	if err != nil {
		return nil, err
	}
	switch t.Kind {
	case KindDatetime, KindTime:
		return fitFraction(c.b, t.Scale), nil
	}
	return c.text(), nil
}

// padFraction adds fraction digits to a time text of have of them.
func padFraction(b []byte, have, want uint32) []byte {
	if want <= have {
		return b
	}
	if have == 0 {
		b = append(b, '.')
	}
	return append(b, bytes.Repeat([]byte{'0'}, int(want-have))...)
}

// fitFraction gives a date or time text exactly want fraction digits,
// padding with zeros (a value from a column of fewer digits).
func fitFraction(b []byte, want uint32) []byte {
	dot := bytes.LastIndexByte(b, '.')
	have := uint32(0)
	if dot >= 0 {
		have = uint32(len(b) - dot - 1)
	}
	if have >= want {
		return b
	}
	return padFraction(append([]byte(nil), b...), have, want)
}
