package sqltypes

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/mosaicdb/mosaic/proto/querypb"
)

// UNION types each column once, from every part: MariaDB aggregates the
// parts' types (1 and 1.0 make a DECIMAL column, 1 and '1' a string one)
// and converts every part's values to that type before it removes
// duplicates or orders. The gate, which gets each part's rows in the
// part's own type, does the same with UnionFields.

// Convert rewrites the text of one non-NULL value into another type.
type Convert func(cell []byte) ([]byte, error)

// typeKind is a column's type family for UNION typing.
type typeKind int

const (
	kNull typeKind = iota
	kInt
	kDecimal
	kFloat
	kDouble
	kBit
	kDate
	kDatetime
	kTimestamp
	kTime
	kText
	kBinary
	kOther
)

func typeKindOf(f *querypb.Field) typeKind {
	switch f.GetType() {
	case TypeNull:
		return kNull
	case TypeTiny, TypeShort, TypeLong, TypeLonglong, TypeInt24, TypeYear:
		return kInt
	case TypeDecimal, TypeNewDecimal:
		return kDecimal
	case TypeFloat:
		return kFloat
	case TypeDouble:
		return kDouble
	case TypeBit:
		return kBit
	case TypeDate, TypeNewDate:
		return kDate
	case TypeDatetime:
		return kDatetime
	case TypeTimestamp:
		return kTimestamp
	case TypeTime:
		return kTime
	case TypeVarchar, TypeVarString, TypeString, TypeTinyBlob, TypeMediumBlob, TypeLongBlob, TypeBlob,
		TypeEnum, TypeSet, TypeJSON:
		if f.GetCharset() == CollationBinary && f.GetFlags()&(FlagEnum|FlagSet) == 0 && f.GetType() != TypeJSON {
			return kBinary
		}
		return kText
	}
	return kOther
}

func isNumberKind(k typeKind) bool { return k == kInt || k == kDecimal || k == kFloat || k == kDouble }

func isTemporalKind(k typeKind) bool {
	return k == kDate || k == kDatetime || k == kTimestamp || k == kTime
}

// mergeKinds is the kind of a UNION column of parts of kinds a and b (not
// kNull), false when the gate cannot type it as MariaDB does.
func mergeKinds(a, b typeKind) (typeKind, bool) {
	if a == b {
		return a, true
	}
	if a > b {
		a, b = b, a
	}
	switch {
	case a == kOther || b == kOther:
		return kOther, false
	case b == kBinary:
		if a == kFloat {
			return kOther, false
		}
		return kBinary, true
	case b == kText:
		// Numbers and dates become their text; a FLOAT becomes a text
		// of its own (0.1 as 0.1000000015), which the gate does not
		// reproduce.
		if a == kFloat {
			return kOther, false
		}
		return kText, true
	case a == kBit && b == kBit:
		return kBit, true
	case a == kBit || b == kBit:
		other := a
		if a == kBit {
			other = b
		}
		if other == kInt {
			return kInt, true
		}
		return kOther, false
	case isNumberKind(a) && isNumberKind(b):
		switch {
		case a == kInt && b == kDecimal:
			return kDecimal, true
		}
		return kDouble, true
	case isTemporalKind(a) && isTemporalKind(b):
		if a == kTime || b == kTime {
			// TIME with a date: MariaDB adds the current date.
			return kOther, false
		}
		return kDatetime, true
	case isTemporalKind(a) || isTemporalKind(b):
		// A date with a number: MariaDB makes the column a string.
		return kText, true
	}
	return kOther, false
}

// UnionFields returns the column definitions of a UNION whose parts
// return the given columns, and for each part and column how to convert
// its values (nil when they need no conversion). It fails with an error
// the caller should report as unsupported when the parts' columns mix
// types the gate cannot convert as MariaDB does (FLOAT with text, TIME
// with dates, geometry), and when the parts have different column counts
// (a caller checks that first).
func UnionFields(parts [][]*querypb.Field) ([]*querypb.Field, [][]Convert, error) {
	if len(parts) == 0 {
		return nil, nil, nil
	}
	n := len(parts[0])
	for _, p := range parts[1:] {
		if len(p) != n {
			return nil, nil, fmt.Errorf("parts with %d and %d columns", n, len(p))
		}
	}
	out := make([]*querypb.Field, n)
	conv := make([][]Convert, len(parts))
	for i := range conv {
		conv[i] = make([]Convert, n)
	}
	for c := 0; c < n; c++ {
		k := kNull
		scale, fsp := uint32(0), uint32(0)
		allUnsigned, anyUnsigned, notNull := true, false, true
		var length uint32
		var textField *querypb.Field
		for _, p := range parts {
			f := p[c]
			fk := typeKindOf(f)
			if f.GetFlags()&FlagNotNull == 0 {
				notNull = false
			}
			length = max(length, f.GetColumnLength())
			if fk == kNull {
				continue
			}
			if fk == kInt || fk == kDecimal {
				if f.GetFlags()&FlagUnsigned != 0 {
					anyUnsigned = true
				} else {
					allUnsigned = false
				}
			}
			switch fk {
			case kDecimal:
				scale = max(scale, f.GetDecimals())
			case kDatetime, kTimestamp, kTime:
				fsp = max(fsp, f.GetDecimals())
			case kText, kBinary:
				if textField == nil || fk == kBinary {
					textField = f
				}
			}
			if k == kNull {
				k = fk
				continue
			}
			m, ok := mergeKinds(k, fk)
			if !ok {
				return nil, nil, fmt.Errorf("column %d mixes types %d and %d", c+1, parts[0][c].GetType(), f.GetType())
			}
			k = m
		}
		first := parts[0][c]
		f := proto.Clone(first).(*querypb.Field)
		f.Flags &^= FlagNotNull | FlagUnsigned | FlagBinary
		if notNull {
			f.Flags |= FlagNotNull
		}
		f.ColumnLength = length
		switch k {
		case kNull:
			f.Type = TypeNull
		case kInt:
			f.Type, f.Charset, f.Decimals = TypeLonglong, CollationBinary, 0
			if allUnsigned {
				f.Flags |= FlagUnsigned
			} else if anyUnsigned {
				f.Type = TypeNewDecimal
			}
		case kDecimal:
			f.Type, f.Charset, f.Decimals = TypeNewDecimal, CollationBinary, scale
			if allUnsigned {
				f.Flags |= FlagUnsigned
			}
		case kFloat:
			f.Type, f.Charset = TypeFloat, CollationBinary
		case kDouble:
			f.Type, f.Charset, f.Decimals = TypeDouble, CollationBinary, 31
		case kBit:
			f.Type, f.Charset = TypeBit, CollationBinary
			f.Flags |= FlagUnsigned
		case kDate:
			f.Type, f.Charset, f.Decimals = TypeDate, CollationBinary, 0
		case kDatetime, kTimestamp:
			f.Type, f.Charset, f.Decimals = TypeDatetime, CollationBinary, fsp
			if k == kTimestamp {
				f.Type = TypeTimestamp
			}
		case kTime:
			f.Type, f.Charset, f.Decimals = TypeTime, CollationBinary, fsp
		case kText, kBinary:
			f.Type, f.Decimals = TypeVarString, 0
			f.Charset = textField.GetCharset()
			f.Flags |= textField.GetFlags() & FlagBinary
			if k == kBinary {
				f.Charset = CollationBinary
				f.Flags |= FlagBinary
			}
		}
		out[c] = f
		for i, p := range parts {
			conv[i][c] = converter(p[c], typeKindOf(p[c]), k, scale, fsp)
		}
	}
	return out, conv, nil
}

// converter returns how to convert values of column from (of kind fk)
// into kind to, nil when their text stays the same.
func converter(from *querypb.Field, fk, to typeKind, scale, fsp uint32) Convert {
	switch {
	case fk == kNull:
		return nil
	case fk == kBit && to != kBit:
		return func(cell []byte) ([]byte, error) {
			var u uint64
			for _, b := range cell {
				u = u<<8 | uint64(b)
			}
			return strconv.AppendUint(nil, u, 10), nil
		}
	case to == kDecimal:
		have := uint32(0)
		if fk == kDecimal {
			have = from.GetDecimals()
		}
		if have == scale {
			return nil
		}
		return func(cell []byte) ([]byte, error) { return padFraction(cell, have, scale), nil }
	case to == kDouble && fk != kDouble:
		bits := 64
		if fk == kFloat {
			bits = 32
		}
		return func(cell []byte) ([]byte, error) {
			f, err := strconv.ParseFloat(strings.TrimSpace(string(cell)), bits)
			if err != nil {
				return nil, fmt.Errorf("number %q from shard: %w", cell, err)
			}
			return FormatDouble(f), nil
		}
	case (to == kDatetime || to == kTimestamp) && fk == kDate:
		return func(cell []byte) ([]byte, error) {
			out := append(append([]byte(nil), cell...), " 00:00:00"...)
			return padFraction(out, 0, fsp), nil
		}
	case to == kDatetime || to == kTimestamp || to == kTime:
		have := from.GetDecimals()
		if have >= fsp {
			return nil
		}
		return func(cell []byte) ([]byte, error) { return padFraction(cell, have, fsp), nil }
	}
	return nil
}

// padFraction gives a number or time text with have fraction digits
// want of them (want > have), padding with zeros.
func padFraction(cell []byte, have, want uint32) []byte {
	out := append([]byte(nil), cell...)
	if have == 0 {
		out = append(out, '.')
	}
	for i := have; i < want; i++ {
		out = append(out, '0')
	}
	return out
}

// FormatDouble writes a double as MariaDB does: the shortest digits that
// read back the same, in fixed notation when the decimal exponent is
// between -15 and 14 (0.000000000000001, 999999999999999) or when a
// larger number has digits after the point (3042510980324848.5), else in
// scientific notation without '+' (1e15, 1.5e-16, 1.2345678901234568e16).
func FormatDouble(f float64) []byte {
	if f == 0 || math.IsNaN(f) {
		return []byte("0")
	}
	sci := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde±x
	e := strings.IndexByte(sci, 'e')
	exp, _ := strconv.Atoi(sci[e+1:])
	digits := len(strings.NewReplacer("-", "", ".", "").Replace(sci[:e]))
	if (exp >= -15 && exp <= 14) || (exp > 14 && exp+1 < digits) {
		return []byte(strconv.FormatFloat(f, 'f', -1, 64))
	}
	return []byte(strings.Replace(sci, "e+", "e", 1))
}
