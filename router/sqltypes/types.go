package sqltypes

// MySQL column types as they appear in a column definition (MYSQL_TYPE_*).
const (
	TypeDecimal    = 0
	TypeTiny       = 1
	TypeShort      = 2
	TypeLong       = 3
	TypeFloat      = 4
	TypeDouble     = 5
	TypeNull       = 6
	TypeTimestamp  = 7
	TypeLonglong   = 8
	TypeInt24      = 9
	TypeDate       = 10
	TypeTime       = 11
	TypeDatetime   = 12
	TypeYear       = 13
	TypeNewDate    = 14
	TypeVarchar    = 15
	TypeBit        = 16
	TypeJSON       = 245
	TypeNewDecimal = 246
	TypeEnum       = 247
	TypeSet        = 248
	TypeTinyBlob   = 249
	TypeMediumBlob = 250
	TypeLongBlob   = 251
	TypeBlob       = 252
	TypeVarString  = 253
	TypeString     = 254
	TypeGeometry   = 255
)

// Column flags.
const (
	FlagNotNull  = 1
	FlagUnsigned = 32
	FlagBinary   = 128
	FlagEnum     = 256
	FlagSet      = 2048
)

// CollationBinary is the id of the binary collation (charset "binary").
const CollationBinary = 63

// Class is how values of a column compare.
type Class int

const (
	ClassSigned   Class = iota // signed integers
	ClassUnsigned              // unsigned integers
	ClassDecimal               // exact decimals
	ClassFloat                 // float and double
	ClassTemporal              // DATE, DATETIME, TIMESTAMP: text order is value order
	ClassTime                  // TIME: may be negative and past 24 hours
	ClassText                  // character strings with a collation
	ClassBinary                // bytes
	ClassOther                 // ENUM, SET, JSON, GEOMETRY: no gate ordering
)

// ClassOf returns the comparison class of a column.
func ClassOf(typ, flags, collation uint32) Class {
	switch typ {
	case TypeTiny, TypeShort, TypeLong, TypeLonglong, TypeInt24, TypeYear:
		if flags&FlagUnsigned != 0 {
			return ClassUnsigned
		}
		return ClassSigned
	case TypeDecimal, TypeNewDecimal:
		return ClassDecimal
	case TypeFloat, TypeDouble:
		return ClassFloat
	case TypeDate, TypeNewDate, TypeDatetime, TypeTimestamp:
		return ClassTemporal
	case TypeTime:
		return ClassTime
	case TypeBit:
		return ClassBinary
	case TypeEnum, TypeSet, TypeJSON, TypeGeometry:
		return ClassOther
	case TypeVarchar, TypeVarString, TypeString, TypeTinyBlob, TypeMediumBlob, TypeLongBlob, TypeBlob:
		if flags&(FlagEnum|FlagSet) != 0 {
			return ClassOther
		}
		if collation == CollationBinary || collation == 0 {
			return ClassBinary
		}
		return ClassText
	case TypeNull:
		return ClassBinary
	}
	return ClassOther
}

// IsNumeric reports whether a class holds numbers.
func (c Class) IsNumeric() bool {
	return c == ClassSigned || c == ClassUnsigned || c == ClassDecimal || c == ClassFloat
}
