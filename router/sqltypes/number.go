package sqltypes

import (
	"fmt"
	"math"
	"strconv"

	"github.com/mosaicdb/mosaic/proto/querypb"
)

// ParseDoublePrefix reads a string as MariaDB reads one in numeric
// context: leading white space, then the longest prefix that is a
// number (sign, digits, one point, an exponent when digits follow the
// e); 0 when there is none ('abc', '0x1F' is 0). A value past the range
// of a double is ±1.7976931348623157e308, as MariaDB clips it. exact is
// false when characters other than trailing spaces follow the number
// (MariaDB warns "Truncated incorrect DOUBLE value").
func ParseDoublePrefix(s []byte) (f float64, exact bool) {
	i, n := 0, len(s)
	for i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r' || s[i] == '\f' || s[i] == '\v') {
		i++
	}
	start := i
	if i < n && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := 0
	for i < n && s[i] >= '0' && s[i] <= '9' {
		i++
		digits++
	}
	if i < n && s[i] == '.' {
		i++
		for i < n && s[i] >= '0' && s[i] <= '9' {
			i++
			digits++
		}
	}
	if digits == 0 {
		return 0, false
	}
	end := i
	if i < n && (s[i] == 'e' || s[i] == 'E') {
		j := i + 1
		if j < n && (s[j] == '+' || s[j] == '-') {
			j++
		}
		k := j
		for k < n && s[k] >= '0' && s[k] <= '9' {
			k++
		}
		if k > j {
			end = k
		}
	}
	f, err := strconv.ParseFloat(string(s[start:end]), 64)
	if err != nil {
		// Out of range: ParseFloat gives ±Inf.
		if math.IsInf(f, 1) {
			f = math.MaxFloat64
		} else if math.IsInf(f, -1) {
			f = -math.MaxFloat64
		}
	}
	rest := end
	for rest < n && s[rest] == ' ' {
		rest++
	}
	return f, rest == n
}

// NumberText returns the number MariaDB makes of a value of column f in
// numeric context (SUM, AVG, arithmetic): integers and decimals as they
// are, a DATE as YYYYMMDD, a DATETIME as YYYYMMDDhhmmss[.frac], a TIME as
// [-]hhmmss[.frac], a BIT as its unsigned integer; float says the number
// is a double (FLOAT and DOUBLE columns, and character or binary strings,
// which are read with ParseDoublePrefix). It fails for ENUM, SET, JSON
// and geometry columns, which the gate does not convert.
func NumberText(f *querypb.Field, cell []byte) (text []byte, float bool, err error) {
	switch ClassOf(f.GetType(), f.GetFlags(), f.GetCharset()) {
	case ClassSigned, ClassUnsigned, ClassDecimal:
		return cell, false, nil
	case ClassFloat:
		return cell, true, nil
	case ClassTemporal, ClassTime:
		out := make([]byte, 0, len(cell))
		neg := false
		for _, c := range cell {
			switch {
			case c >= '0' && c <= '9', c == '.':
				out = append(out, c)
			case c == '-' && len(out) == 0 && !neg && f.GetType() == TypeTime:
				neg = true
			}
		}
		out = trimLeadingZeros(out)
		if neg && string(out) != "0" {
			out = append([]byte{'-'}, out...)
		}
		return out, false, nil
	case ClassText:
		v, _ := ParseDoublePrefix(cell)
		return FormatDouble(v), true, nil
	case ClassBinary:
		if f.GetType() == TypeBit {
			var u uint64
			for _, b := range cell {
				u = u<<8 | uint64(b)
			}
			return strconv.AppendUint(nil, u, 10), false, nil
		}
		v, _ := ParseDoublePrefix(cell)
		return FormatDouble(v), true, nil
	}
	return nil, false, fmt.Errorf("values of column %s (type %d) have no number in the gate", f.GetName(), f.GetType())
}

func trimLeadingZeros(b []byte) []byte {
	i := 0
	for i+1 < len(b) && b[i] == '0' && b[i+1] != '.' {
		i++
	}
	if len(b) == 0 {
		return []byte{'0'}
	}
	return b[i:]
}

// ParseDecimalPrefix reads a string as MariaDB makes a DECIMAL of one:
// the longest prefix that is a number, exactly (ParseDoublePrefix's
// rules), 0 when there is none.
func ParseDecimalPrefix(s []byte) Decimal {
	i, n := 0, len(s)
	for i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r' || s[i] == '\f' || s[i] == '\v') {
		i++
	}
	var digits []byte
	neg := false
	if i < n && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	scale := 0
	for i < n && s[i] >= '0' && s[i] <= '9' {
		digits = append(digits, s[i])
		i++
	}
	if i < n && s[i] == '.' {
		i++
		for i < n && s[i] >= '0' && s[i] <= '9' {
			digits = append(digits, s[i])
			scale++
			i++
		}
	}
	var d Decimal
	if len(digits) == 0 {
		return d
	}
	if i < n && (s[i] == 'e' || s[i] == 'E') {
		j := i + 1
		eneg := false
		if j < n && (s[j] == '+' || s[j] == '-') {
			eneg = s[j] == '-'
			j++
		}
		exp := 0
		k := j
		for k < n && s[k] >= '0' && s[k] <= '9' && exp < 1000 {
			exp = exp*10 + int(s[k]-'0')
			k++
		}
		if k > j {
			if eneg {
				scale += exp
			} else {
				scale -= exp
			}
		}
	}
	d.Unscaled.SetString(string(digits), 10)
	if scale < 0 {
		d.Unscaled.Mul(&d.Unscaled, pow10(-scale))
		scale = 0
	}
	d.Scale = scale
	if neg {
		d.Unscaled.Neg(&d.Unscaled)
	}
	return d
}
