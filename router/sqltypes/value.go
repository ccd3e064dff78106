package sqltypes

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// AppendSQL appends v as a MySQL literal. Values are nil, bool, int64,
// uint64, float64, string, []byte, or Decimal text (type DecimalLiteral).
// Strings are quoted with backslash escapes (for a connection under
// NO_BACKSLASH_ESCAPES, use AppendSQLIn), byte for byte: text that is not UTF-8 (a latin1
// client's) stays text in the connection's character set. []byte is
// written as _binary'...', or as X'...' when it is not UTF-8.
func AppendSQL(b []byte, v any) ([]byte, error) {
	return AppendSQLIn(b, v, false)
}

// AppendSQLIn is AppendSQL for a connection whose sql_mode has
// NO_BACKSLASH_ESCAPES when noBackslash is set: strings are then quoted
// with AppendQuotedNoBackslash.
func AppendSQLIn(b []byte, v any, noBackslash bool) ([]byte, error) {
	quote := AppendQuoted
	if noBackslash {
		quote = AppendQuotedNoBackslash
	}
	switch v := v.(type) {
	case nil:
		return append(b, "NULL"...), nil
	case bool:
		if v {
			return append(b, '1'), nil
		}
		return append(b, '0'), nil
	case int:
		return strconv.AppendInt(b, int64(v), 10), nil
	case int64:
		return strconv.AppendInt(b, v, 10), nil
	case uint64:
		return strconv.AppendUint(b, v, 10), nil
	case float64:
		if math.IsInf(v, 0) || math.IsNaN(v) {
			return nil, fmt.Errorf("float value %v has no SQL literal", v)
		}
		return strconv.AppendFloat(b, v, 'e', -1, 64), nil
	case float32:
		return strconv.AppendFloat(b, float64(v), 'e', -1, 32), nil
	case DecimalLiteral:
		return append(b, v...), nil
	case TemporalLiteral:
		b = append(b, "CAST("...)
		b = AppendQuoted(b, v.Value)
		return append(append(append(b, " AS "...), v.As...), ')'), nil
	case string:
		return quote(b, v), nil
	case []byte:
		if !utf8.Valid(v) {
			return appendHex(b, string(v)), nil
		}
		b = append(b, "_binary"...)
		return quote(b, string(v)), nil
	}
	return nil, fmt.Errorf("unsupported bind value type %T", v)
}

// appendHex writes bytes that are not UTF-8 as a hex literal X'...', a
// binary string like _binary'...' that reads the same whatever the
// connection's character set (in a multi-byte one such as gbk, raw bytes
// escaped with backslashes could end the literal early).
func appendHex(b []byte, s string) []byte {
	const digits = "0123456789abcdef"
	b = append(b, "X'"...)
	for i := 0; i < len(s); i++ {
		b = append(b, digits[s[i]>>4], digits[s[i]&15])
	}
	return append(b, '\'')
}

// DecimalLiteral is an exact decimal literal kept as its text ("1.50").
type DecimalLiteral string

// TemporalLiteral is a date or time value of a column's type, written
// CAST('2020-01-02' AS DATE): it compares with other values as the
// column does (a DATE with an INT as numbers), where a string literal
// would compare as a string.
type TemporalLiteral struct {
	Value string
	// As is the SQL type: DATE, DATETIME(6), TIME(6).
	As string
}

// TemporalOf returns the literal of a temporal column's value (DATE,
// DATETIME, TIMESTAMP, TIME of f), and false for other columns.
func TemporalOf(cell []byte, f interface {
	GetType() uint32
	GetDecimals() uint32
}) (TemporalLiteral, bool) {
	dec := f.GetDecimals()
	if dec > 6 {
		dec = 6
	}
	switch f.GetType() {
	case TypeDate:
		return TemporalLiteral{Value: string(cell), As: "DATE"}, true
	case TypeDatetime, TypeTimestamp:
		return TemporalLiteral{Value: string(cell), As: "DATETIME(" + strconv.Itoa(int(dec)) + ")"}, true
	case TypeTime:
		return TemporalLiteral{Value: string(cell), As: "TIME(" + strconv.Itoa(int(dec)) + ")"}, true
	}
	return TemporalLiteral{}, false
}

// AppendQuoted appends s as a quoted string literal, with backslash
// escapes for the bytes that need them.
func AppendQuoted(b []byte, s string) []byte {
	b = append(b, '\'')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case 0:
			b = append(b, '\\', '0')
		case '\'':
			b = append(b, '\\', '\'')
		case '\\':
			b = append(b, '\\', '\\')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case 0x1a:
			b = append(b, '\\', 'Z')
		default:
			b = append(b, c)
		}
	}
	return append(b, '\'')
}

// AppendQuotedNoBackslash appends s as a quoted string literal for a
// connection whose sql_mode has NO_BACKSLASH_ESCAPES: a quote is doubled,
// and every other byte, a backslash or a NUL included, stands for itself.
func AppendQuotedNoBackslash(b []byte, s string) []byte {
	b = append(b, '\'')
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' {
			b = append(b, '\'')
		}
		b = append(b, s[i])
	}
	return append(b, '\'')
}

// AppendQuotedIn appends s quoted by AppendQuoted, or by
// AppendQuotedNoBackslash when noBackslash is set.
func AppendQuotedIn(b []byte, s string, noBackslash bool) []byte {
	if noBackslash {
		return AppendQuotedNoBackslash(b, s)
	}
	return AppendQuoted(b, s)
}

// ToInteger converts a bind value to the integer MySQL would compare an
// integer column with, as int64 when it fits and uint64 above. ok is false
// when the value is not exactly an integer (a fraction, a string with other
// characters, NULL): such a value cannot be routed by an integer vindex.
func ToInteger(v any) (i int64, u uint64, isUnsigned, ok bool) {
	switch v := v.(type) {
	case int:
		return int64(v), 0, false, true
	case int64:
		return v, 0, false, true
	case uint64:
		if v <= math.MaxInt64 {
			return int64(v), 0, false, true
		}
		return 0, v, true, true
	case float64:
		if v == math.Trunc(v) && v >= -9.2e18 && v <= 9.2e18 {
			return int64(v), 0, false, true
		}
		return 0, 0, false, false
	case DecimalLiteral:
		return textInteger(strings.TrimRight(strings.TrimRight(string(v), "0"), "."))
	case string:
		return textInteger(strings.TrimSpace(v))
	case []byte:
		return textInteger(strings.TrimSpace(string(v)))
	}
	return 0, 0, false, false
}

func textInteger(s string) (int64, uint64, bool, bool) {
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return i, 0, false, true
	}
	if u, err := strconv.ParseUint(s, 10, 64); err == nil {
		return 0, u, true, true
	}
	return 0, 0, false, false
}

// ToText returns the text MySQL would show for a bind value, and false for
// NULL and values without a stable text (floats).
func ToText(v any) ([]byte, bool) {
	switch v := v.(type) {
	case int:
		return strconv.AppendInt(nil, int64(v), 10), true
	case int64:
		return strconv.AppendInt(nil, v, 10), true
	case uint64:
		return strconv.AppendUint(nil, v, 10), true
	case DecimalLiteral:
		return []byte(v), true
	case string:
		return []byte(v), true
	case []byte:
		return v, true
	}
	return nil, false
}
