package evalengine

import (
	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/router/sqltypes"
)

// Kind is the family of a value's type.
type Kind uint8

const (
	// KindNull is the type of NULL alone.
	KindNull Kind = iota
	// KindInt is a signed 64-bit integer.
	KindInt
	// KindUint is an unsigned 64-bit integer.
	KindUint
	// KindDecimal is an exact decimal (Type.Scale digits after the point).
	KindDecimal
	// KindFloat is MariaDB's FLOAT: a single precision value.
	KindFloat
	// KindDouble is a double precision value.
	KindDouble
	// KindText is a character string with a collation.
	KindText
	// KindBinary is a byte string.
	KindBinary
	// KindDate is a DATE.
	KindDate
	// KindDatetime is a DATETIME or TIMESTAMP (Type.Scale fraction digits).
	KindDatetime
	// KindTime is a TIME (Type.Scale fraction digits).
	KindTime
	// KindOther is ENUM, SET, JSON, BIT and geometry: shown as the shard
	// sent it, never computed with.
	KindOther
)

var kindNames = []string{"NULL", "INT", "UNSIGNED", "DECIMAL", "FLOAT", "DOUBLE", "TEXT", "BINARY",
	"DATE", "DATETIME", "TIME", "OTHER"}

func (k Kind) String() string { return kindNames[k] }

// IsNumber reports the numeric kinds.
func (k Kind) IsNumber() bool {
	return k == KindInt || k == KindUint || k == KindDecimal || k == KindFloat || k == KindDouble
}

// IsExact reports integers and decimals.
func (k Kind) IsExact() bool { return k == KindInt || k == KindUint || k == KindDecimal }

// IsString reports character and byte strings.
func (k Kind) IsString() bool { return k == KindText || k == KindBinary }

// IsTemporal reports dates, datetimes and times.
func (k Kind) IsTemporal() bool { return k == KindDate || k == KindDatetime || k == KindTime }

// notFixedDec is MariaDB's NOT_FIXED_DEC: a DOUBLE shown with as many
// digits as it needs.
const notFixedDec = 31

// maxDecimalScale is the most decimals a MariaDB DECIMAL has.
const maxDecimalScale = 38

// divPrecisionIncrement is MariaDB's default div_precision_increment: a
// decimal division has this many more decimals than its dividend.
const divPrecisionIncrement = 4

// collationGeneralCI is utf8mb4_general_ci, the collation of the gate's
// and the tablets' connections: string literals have it.
const collationGeneralCI = 45

// Type is what the gate knows of an expression's result.
type Type struct {
	Kind Kind
	// Scale is the digits after the point of a DECIMAL, the fraction
	// digits of a DATETIME or TIME, the decimals a DOUBLE is shown with
	// (notFixedDec: as many as it needs).
	Scale uint32
	// Collation is a KindText value's collation id; Bin says the column
	// is flagged binary (a _bin collation: MariaDB's column definitions
	// carry the connection's collation, with this flag).
	Collation uint32
	Bin       bool
	// Literal says the value is a literal or bind variable (coercible):
	// compared with a column, the column's collation decides.
	Literal bool
	// Nullable is false when the value is never NULL.
	Nullable bool
	// Field is the column definition of a column reference, nil
	// otherwise: a column shown unchanged keeps the shard's definition.
	Field *querypb.Field
	// nonEmpty says a string's MariaDB max_length is known to be above
	// zero (a column, a literal that is not '', a number's text).
	nonEmpty bool
	// hybridText marks a string result of CASE, IF, COALESCE or IFNULL:
	// MariaDB gives it 0 decimals, not NOT_FIXED_DEC, when its max_length
	// is 0 (COALESCE('') / 3 is a DOUBLE shown with 4 decimals).
	hybridText bool
}

// decimalsUnknown reports a string whose MariaDB decimals the gate does
// not know: a CASE, IF, COALESCE or IFNULL of strings that may all be
// of length 0 (has 0 decimals or NOT_FIXED_DEC by a max_length the gate
// does not compute). Where the decimals of a string decide a result
// (the decimals of arithmetic on it, a comparison with a number) the
// gate refuses it.
func (t Type) decimalsUnknown() bool {
	return t.Kind.IsString() && t.hybridText && !t.nonEmpty
}

// nonEmptyText reports that t's values as strings have a MariaDB
// max_length above zero: numbers and dates always, strings when known.
func nonEmptyText(t Type) bool {
	switch {
	case t.Kind == KindNull:
		return false
	case t.Kind.IsString():
		return t.nonEmpty
	}
	return true
}

// withHybridText marks t, the type of a CASE, IF, COALESCE or IFNULL
// of results of types results, when it is a string (see hybridText).
func withHybridText(t Type, results []Type) Type {
	if !t.Kind.IsString() {
		return t
	}
	t.hybridText, t.nonEmpty = true, false
	for _, r := range results {
		if nonEmptyText(r) {
			t.nonEmpty = true
		}
	}
	return t
}

// TypeOfField returns the type of values of a result column.
func TypeOfField(f *querypb.Field) Type {
	t := Type{Field: f, Nullable: f.GetFlags()&sqltypes.FlagNotNull == 0}
	switch f.GetType() {
	case sqltypes.TypeNull:
		t.Kind = KindNull
	case sqltypes.TypeTiny, sqltypes.TypeShort, sqltypes.TypeLong, sqltypes.TypeLonglong, sqltypes.TypeInt24, sqltypes.TypeYear:
		t.Kind = KindInt
		if f.GetFlags()&sqltypes.FlagUnsigned != 0 {
			t.Kind = KindUint
		}
	case sqltypes.TypeDecimal, sqltypes.TypeNewDecimal:
		t.Kind, t.Scale = KindDecimal, f.GetDecimals()
	case sqltypes.TypeFloat:
		t.Kind, t.Scale = KindFloat, f.GetDecimals()
	case sqltypes.TypeDouble:
		t.Kind, t.Scale = KindDouble, f.GetDecimals()
	case sqltypes.TypeDate, sqltypes.TypeNewDate:
		t.Kind = KindDate
	case sqltypes.TypeDatetime, sqltypes.TypeTimestamp:
		t.Kind, t.Scale = KindDatetime, f.GetDecimals()
	case sqltypes.TypeTime:
		t.Kind, t.Scale = KindTime, f.GetDecimals()
	case sqltypes.TypeVarchar, sqltypes.TypeVarString, sqltypes.TypeString, sqltypes.TypeTinyBlob,
		sqltypes.TypeMediumBlob, sqltypes.TypeLongBlob, sqltypes.TypeBlob:
		switch {
		case f.GetFlags()&(sqltypes.FlagEnum|sqltypes.FlagSet) != 0:
			t.Kind = KindOther
		case f.GetCharset() == sqltypes.CollationBinary || f.GetCharset() == 0:
			t.Kind = KindBinary
		default:
			t.Kind, t.Collation, t.Bin = KindText, f.GetCharset(), f.GetFlags()&sqltypes.FlagBinary != 0
		}
		t.nonEmpty = f.GetColumnLength() > 0
	default:
		t.Kind = KindOther
	}
	if t.Scale > notFixedDec {
		t.Scale = notFixedDec
	}
	return t
}

// NewField returns a column definition for values of t named name.
func (t Type) NewField(name string) *querypb.Field {
	f := &querypb.Field{Name: name, Charset: sqltypes.CollationBinary}
	if !t.Nullable {
		f.Flags |= sqltypes.FlagNotNull
	}
	switch t.Kind {
	case KindNull:
		f.Type = sqltypes.TypeNull
	case KindInt:
		f.Type, f.ColumnLength = sqltypes.TypeLonglong, 21
	case KindUint:
		f.Type, f.ColumnLength = sqltypes.TypeLonglong, 20
		f.Flags |= sqltypes.FlagUnsigned
	case KindDecimal:
		f.Type, f.Decimals, f.ColumnLength = sqltypes.TypeNewDecimal, t.Scale, 67
	case KindFloat:
		f.Type, f.Decimals, f.ColumnLength = sqltypes.TypeFloat, t.Scale, 12
	case KindDouble:
		f.Type, f.Decimals, f.ColumnLength = sqltypes.TypeDouble, t.Scale, 22
	case KindDate:
		f.Type, f.ColumnLength = sqltypes.TypeDate, 10
	case KindDatetime:
		f.Type, f.Decimals, f.ColumnLength = sqltypes.TypeDatetime, t.Scale, 26
	case KindTime:
		f.Type, f.Decimals, f.ColumnLength = sqltypes.TypeTime, t.Scale, 17
	case KindText:
		f.Type, f.Charset, f.ColumnLength = sqltypes.TypeVarString, t.Collation, 65535
		if t.Bin {
			f.Flags |= sqltypes.FlagBinary
		}
	default:
		f.Type, f.ColumnLength = sqltypes.TypeVarString, 65535
		f.Flags |= sqltypes.FlagBinary
	}
	return f
}

// comparator returns the comparator of text of type t.
func (t Type) comparator() *sqltypes.Comparator {
	f := &querypb.Field{Type: sqltypes.TypeVarString, Charset: t.Collation}
	if t.Bin {
		f.Flags = sqltypes.FlagBinary
	}
	if t.Kind != KindText {
		f.Charset = sqltypes.CollationBinary
	}
	c, _ := sqltypes.NewComparator(f)
	return c
}

// numericKind is the kind a value of kind k has in arithmetic: strings
// and floats are doubles, dates and times
// integers (or decimals with a fraction).
func numericKind(t Type) Kind {
	switch t.Kind {
	case KindInt, KindUint, KindDecimal, KindDouble, KindNull:
		return t.Kind
	case KindFloat, KindText, KindBinary:
		return KindDouble
	case KindDate:
		return KindInt
	case KindDatetime, KindTime:
		if t.Scale > 0 {
			return KindDecimal
		}
		return KindInt
	}
	return KindOther
}

// numericScale is the scale of a value of type t in arithmetic.
func numericScale(t Type) uint32 {
	switch t.Kind {
	case KindDecimal, KindDatetime, KindTime:
		return t.Scale
	}
	return 0
}

// withSignedNull is the type of a CASE, COALESCE or IFNULL result of
// type t among whose possible results are those of types results.
// MariaDB counts a NULL among them as a signed integer, which with
// unsigned ones makes a DECIMAL (COALESCE(NULL, u) - 5 is -2 for u = 3,
// not an out-of-range error); IF does not, nor does a CASE without ELSE.
func withSignedNull(t Type, results []Type) Type {
	if t.Kind != KindUint {
		return t
	}
	for _, r := range results {
		if r.Kind == KindNull {
			t.Kind, t.Scale, t.Field = KindDecimal, 0, nil
			return t
		}
	}
	return t
}

// mergeResultTypes is the type of a result that may be a value of a or
// of b (CASE, IF, COALESCE, IFNULL): as MariaDB aggregates the types of a
// UNION column. ok is false when the gate cannot type it as MariaDB does.
func mergeResultTypes(a, b Type) (Type, bool) {
	if a.Kind == KindNull {
		b.Nullable = true
		return b, true
	}
	if b.Kind == KindNull {
		a.Nullable = true
		return a, true
	}
	out := Type{Nullable: a.Nullable || b.Nullable}
	ka, kb := a.Kind, b.Kind
	switch {
	case ka == kb:
		out.Kind = ka
		out.Scale = max(a.Scale, b.Scale)
		if ka == KindText {
			out.Collation, out.Bin, out.Literal = a.Collation, a.Bin, a.Literal && b.Literal
			if (a.Literal && !b.Literal) || (!b.Literal && b.Bin && !a.Bin) {
				out.Collation, out.Bin = b.Collation, b.Bin
			}
		}
		if ka == KindDouble && (a.Scale == notFixedDec || b.Scale == notFixedDec) {
			out.Scale = notFixedDec
		}
		if ka == KindOther {
			return out, false
		}
	case ka == KindOther || kb == KindOther:
		return out, false
	case ka == KindBinary || kb == KindBinary:
		if ka == KindFloat || kb == KindFloat || ka == KindText || kb == KindText {
			// Text with bytes: MariaDB's choice depends on more than
			// the two types.
			return out, false
		}
		out.Kind = KindBinary
	case ka == KindText || kb == KindText:
		if ka == KindFloat || kb == KindFloat {
			return out, false
		}
		t := a
		if kb == KindText {
			t = b
		}
		out.Kind, out.Collation, out.Bin, out.Literal = KindText, t.Collation, t.Bin, t.Literal
	case ka.IsNumber() && kb.IsNumber():
		switch {
		case ka.IsExact() && kb.IsExact():
			if ka == KindDecimal || kb == KindDecimal || ka != kb {
				out.Kind, out.Scale = KindDecimal, max(numericScale(a), numericScale(b))
			} else {
				out.Kind = ka
			}
		default:
			out.Kind, out.Scale = KindDouble, min(max(doubleScale(a), doubleScale(b)), notFixedDec)
		}
	case ka.IsTemporal() && kb.IsTemporal():
		if ka == KindTime || kb == KindTime {
			return out, false
		}
		out.Kind, out.Scale = KindDatetime, max(a.Scale, b.Scale)
	default:
		// A date with a number: a string.
		out.Kind, out.Collation, out.Literal = KindText, collationGeneralCI, true
	}
	return out, true
}
