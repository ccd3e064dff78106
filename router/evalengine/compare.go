package evalengine

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/mosaicdb/mosaic/router/sqltypes"
)

// CompareOp is a comparison operator.
type CompareOp int

const (
	OpEQ CompareOp = iota
	OpNE
	OpLT
	OpLE
	OpGT
	OpGE
	OpNullSafeEQ // <=>
)

var compareNames = []string{"=", "<>", "<", "<=", ">", ">=", "<=>"}

// cmpKind is how two values compare.
type cmpKind int

const (
	cmpDouble cmpKind = iota
	cmpDecimal
	cmpInt
	cmpString
	cmpDatetime
	cmpDate
	cmpTime
)

// cmpType is how values compare: the kind, and for strings the collation.
type cmpType struct {
	kind cmpKind
	text Type // for cmpString: the collation's type (KindText or KindBinary)
	// exact compares decimals with all their digits: a simple CASE does;
	// comparisons round each to the decimals it shows (1/3 = 0.3333).
	exact bool
	// precision, for cmpDouble, makes two doubles that differ by less
	// than it equal (MariaDB's compare_real_fixed); 0 compares exactly.
	precision float64
}

// cmpTypeOf returns how values of types a and b compare, as MariaDB
// decides it for a comparison.
func cmpTypeOf(a, b Type) (cmpType, error) {
	return aggCmpType([]Type{a, b})
}

// argCmpType returns how MariaDB's Arg_comparator compares l with r: in
// a comparison (=, <>, <, <=>, ...), NULLIF and an IN of one value (not
// in an IN of several, BETWEEN or CASE, which compare by aggCmpType
// alone), as set_cmp_func_real decides where aggCmpType says doubles. A
// decimal that is not a constant and a constant string compare as
// decimals, not to lose the decimal's digits (z / 2147483647 = '0' is
// true for z = 99999: the quotient rounded to the 4 decimals it shows).
// Two operands whose decimals are both fixed are equal when they differ
// by less than half a unit of the last of the more decimals
// (ROUND('é', -1) = 99999 / 2147483647 is true: 0 beside 0.0000466, 4
// fixed decimals).
func argCmpType(l, r *compiled) (cmpType, error) {
	ct, err := aggCmpType([]Type{l.typ, r.typ})
	if err != nil || ct.kind != cmpDouble {
		return ct, err
	}
	decimalWithString := func(d, s *compiled) bool {
		return d.typ.Kind == KindDecimal && !d.konst && s.typ.Kind.IsString() && s.konst
	}
	if decimalWithString(l, r) || decimalWithString(r, l) {
		return cmpType{kind: cmpDecimal}, nil
	}
	dl, okl := fixedDecimals(l.typ)
	dr, okr := fixedDecimals(r.typ)
	if (l.typ.decimalsUnknown() && okr) || (r.typ.decimalsUnknown() && okl) {
		return ct, unsupported("comparing a CASE, IF, COALESCE or IFNULL of strings that may be empty with a number of fixed decimals")
	}
	if okl && okr {
		ct.precision = 5 / math.Pow10(int(max(dl, dr))+1)
	}
	return ct, nil
}

// fixedDecimals returns the decimals MariaDB gives a number of type t
// (Item::decimals), ok false when they are not fixed (NOT_FIXED_DEC: a
// double shown with as many as it needs, a string, a date).
func fixedDecimals(t Type) (decimals uint32, ok bool) {
	switch t.Kind {
	case KindInt, KindUint:
		return 0, true
	case KindDecimal:
		return t.Scale, true
	case KindFloat, KindDouble:
		return t.Scale, t.Scale < notFixedDec
	}
	// Strings have NOT_FIXED_DEC (columns, literals and functions of
	// them alike, see decimalsUnknown for the exception); dates never
	// compare with numbers in the gate; NULL compares with nothing.
	return 0, false
}

// aggCmpType returns how the values of types compare with each other in
// one operation (IN, BETWEEN, CASE, GREATEST): as strings when all are
// strings, as exact numbers when all are, as dates when all are dates or
// strings beside a date, else as doubles.
func aggCmpType(types []Type) (cmpType, error) {
	var allString, allExact, allInt, anyTemporal, temporalOrString = true, true, true, false, true
	var text Type
	haveText := false
	temporal := KindNull
	any := false
	for _, t := range types {
		k := t.Kind
		if k == KindNull {
			continue
		}
		any = true
		switch {
		case k == KindOther:
			return cmpType{}, unsupported("comparing %s values", k)
		case k == KindText, k == KindBinary:
			allExact, allInt = false, false
			switch {
			case !haveText:
				text, haveText = t, true
			case text.Kind == KindBinary:
			case k == KindBinary:
				text = t
			case text.Literal && !t.Literal:
				text = t
			case !t.Literal && t.Bin && !text.Bin:
				// Two columns: a _bin collation wins.
				text = t
			}
		case k.IsTemporal():
			allString, allExact, allInt = false, false, false
			anyTemporal = true
			switch {
			case temporal == KindNull:
				temporal = k
			case temporal != k:
				if temporal == KindTime || k == KindTime {
					return cmpType{}, unsupported("comparing TIME with a date")
				}
				temporal = KindDatetime
			}
		case k == KindInt || k == KindUint:
			allString, temporalOrString = false, false
		case k == KindDecimal:
			allString, allInt, temporalOrString = false, false, false
		default: // float, double
			allString, allExact, allInt, temporalOrString = false, false, false, false
		}
	}
	switch {
	case !any:
		return cmpType{kind: cmpDouble}, nil
	case allString:
		return cmpType{kind: cmpString, text: text}, nil
	case anyTemporal && temporalOrString:
		switch temporal {
		case KindDate:
			return cmpType{kind: cmpDate}, nil
		case KindTime:
			return cmpType{kind: cmpTime}, nil
		}
		return cmpType{kind: cmpDatetime}, nil
	case allInt:
		return cmpType{kind: cmpInt}, nil
	case allExact:
		return cmpType{kind: cmpDecimal}, nil
	}
	if anyTemporal {
		// MariaDB reads the number as a date (20211231 as 2021-12-31,
		// with its own rules for others).
		return cmpType{}, unsupported("comparing a date with a number")
	}
	return cmpType{kind: cmpDouble}, nil
}

// compareValues compares two non-NULL values as ct says.
func compareValues(ct cmpType, a, b Value) (int, error) {
	switch ct.kind {
	case cmpString:
		ab, bb := stringBytes(a), stringBytes(b)
		if ct.text.Kind == KindBinary {
			return bytes.Compare(ab, bb), nil
		}
		return ct.text.comparator().Compare(ab, bb), nil
	case cmpInt:
		if (a.kind == KindInt || a.kind == KindUint) && (b.kind == KindInt || b.kind == KindUint) {
			return signedBig(a).Cmp(signedBig(b)), nil
		}
		x, err := a.toDecimal()
		if err != nil {
			return 0, err
		}
		y, err := b.toDecimal()
		if err != nil {
			return 0, err
		}
		return x.Cmp(&y), nil
	case cmpDecimal:
		if !ct.exact {
			a, b = a.rounded(), b.rounded()
		}
		x, err := comparedDecimal(a)
		if err != nil {
			return 0, err
		}
		y, err := comparedDecimal(b)
		if err != nil {
			return 0, err
		}
		return x.Cmp(&y), nil
	case cmpDate, cmpDatetime:
		x, err := datetimeKey(a, ct.kind == cmpDate)
		if err != nil {
			return 0, err
		}
		y, err := datetimeKey(b, ct.kind == cmpDate)
		if err != nil {
			return 0, err
		}
		return strings.Compare(x, y), nil
	case cmpTime:
		x, err := timeKey(a)
		if err != nil {
			return 0, err
		}
		y, err := timeKey(b)
		if err != nil {
			return 0, err
		}
		return x.Cmp(&y), nil
	}
	for _, v := range []Value{a, b} {
		if (v.kind == KindInt && (v.i > 1<<53 || v.i < -1<<53)) || (v.kind == KindUint && v.u > 1<<53) {
			// MariaDB compares an integer column with a double constant
			// as integers when the constant is one (convert_const_to_int),
			// which only tells past 2^53.
			return 0, unsupported("comparing an integer past 2^53 with a double")
		}
	}
	x, err := a.toDouble()
	if err != nil {
		return 0, err
	}
	y, err := b.toDouble()
	if err != nil {
		return 0, err
	}
	switch {
	case x == y || math.Abs(x-y) < ct.precision:
		return 0, nil
	case x < y:
		return -1, nil
	case x > y:
		return 1, nil
	}
	return 0, nil
}

// comparedDecimal is a value compared as a decimal: an exact number, or
// a string read as one (a constant string beside a decimal, see
// argCmpType).
func comparedDecimal(v Value) (sqltypes.Decimal, error) {
	if !v.kind.IsString() {
		return v.toDecimal()
	}
	d := sqltypes.ParseDecimalPrefix(v.b)
	if d.Scale > maxDecimalScale || len(d.Unscaled.String()) > 65 {
		// Past a DECIMAL's digits MariaDB cuts the string's number.
		return d, unsupported("the string %q as a decimal", v.b)
	}
	return d, nil
}

// stringBytes is a value as a string in a comparison.
func stringBytes(v Value) []byte { return v.text() }

// datetimeKey returns a text that orders as the value does among dates and
// datetimes: "YYYY-MM-DD HH:MM:SS.ffffff" (dateOnly: "YYYY-MM-DD").
func datetimeKey(v Value, dateOnly bool) (string, error) {
	var s string
	switch v.kind {
	case KindDate, KindDatetime:
		s = string(v.b)
	case KindText, KindBinary:
		p, err := parseDatetime(v.b)
		if err != nil {
			return "", err
		}
		s = p
	default:
		return "", unsupported("comparing a %s value with a date", v.kind)
	}
	date, clock, _ := strings.Cut(s, " ")
	if dateOnly && (clock == "" || strings.Trim(clock, "0:.") == "") {
		return date, nil
	}
	if clock == "" {
		clock = "00:00:00"
	}
	hms, frac, _ := strings.Cut(clock, ".")
	frac += strings.Repeat("0", max(0, 6-len(frac)))
	return date + " " + hms + "." + frac, nil
}

// parseDatetime reads a string as MariaDB reads a date or datetime
// literal: YYYY-MM-DD[ HH:MM:SS[.frac]] with any punctuation between the
// parts, or YYYYMMDD[HHMMSS]; other strings are refused (MariaDB reads
// them with warnings the gate does not reproduce).
func parseDatetime(b []byte) (string, error) {
	s := strings.TrimSpace(string(b))
	var parts []string
	if len(s) == 8 || len(s) == 14 {
		if _, err := strconv.ParseUint(s, 10, 64); err == nil {
			parts = []string{s[0:4], s[4:6], s[6:8]}
			if len(s) == 14 {
				parts = append(parts, s[8:10], s[10:12], s[12:14])
			}
		}
	}
	frac := ""
	if parts == nil {
		cur := ""
		for i := 0; i < len(s); i++ {
			c := s[i]
			if c >= '0' && c <= '9' {
				cur += string(c)
				continue
			}
			if cur == "" {
				return "", unsupported("the date %q", s)
			}
			parts = append(parts, cur)
			cur = ""
			if c == '.' && len(parts) == 6 {
				frac = s[i+1:]
				if _, err := strconv.ParseUint(frac, 10, 64); err != nil || len(frac) > 6 {
					return "", unsupported("the date %q", s)
				}
				break
			}
			if len(parts) == 3 && c != ' ' && c != 'T' {
				return "", unsupported("the date %q", s)
			}
		}
		if frac == "" && cur != "" {
			parts = append(parts, cur)
		}
	}
	if (len(parts) != 3 && len(parts) != 6) || len(parts[0]) != 4 {
		return "", unsupported("the date %q", s)
	}
	n := make([]int, len(parts))
	for i, p := range parts {
		if i > 0 && len(p) > 2 {
			return "", unsupported("the date %q", s)
		}
		n[i], _ = strconv.Atoi(p)
	}
	if n[1] < 1 || n[1] > 12 || n[2] < 1 || n[2] > 31 {
		return "", unsupported("the date %q", s)
	}
	out := fmt.Sprintf("%04d-%02d-%02d", n[0], n[1], n[2])
	if len(n) == 6 {
		if n[3] > 23 || n[4] > 59 || n[5] > 59 {
			return "", unsupported("the date %q", s)
		}
		out += fmt.Sprintf(" %02d:%02d:%02d", n[3], n[4], n[5])
		if frac != "" {
			out += "." + frac
		}
	}
	return out, nil
}

// timeKey is a TIME (or a string read as one) as seconds.
func timeKey(v Value) (sqltypes.Decimal, error) {
	s := string(v.b)
	switch v.kind {
	case KindTime, KindText, KindBinary:
	default:
		return sqltypes.Decimal{}, unsupported("comparing a %s value with a time", v.kind)
	}
	s = strings.TrimSpace(s)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	hms, frac, _ := strings.Cut(s, ".")
	f := strings.Split(hms, ":")
	if len(f) != 3 {
		return sqltypes.Decimal{}, unsupported("the time %q", v.b)
	}
	var secs int64
	for _, p := range f {
		n, err := strconv.ParseInt(p, 10, 64)
		if err != nil {
			return sqltypes.Decimal{}, unsupported("the time %q", v.b)
		}
		secs = secs*60 + n
	}
	d, err := sqltypes.ParseDecimal([]byte(strconv.FormatInt(secs, 10) + "." + frac + "0"))
	if err != nil {
		return d, unsupported("the time %q", v.b)
	}
	if neg {
		d = d.Neg()
	}
	return d, nil
}

// Compare is L op R.
type Compare struct {
	Op   CompareOp
	L, R Expr
}

func (e Compare) format(b *strings.Builder) {
	b.WriteString("(")
	e.L.format(b)
	b.WriteString(" " + compareNames[e.Op] + " ")
	e.R.format(b)
	b.WriteString(")")
}

func (e Compare) compile(c *compiler) (*compiled, error) {
	l, err := c.operand(e.L)
	if err != nil {
		return nil, err
	}
	r, err := c.operand(e.R)
	if err != nil {
		return nil, err
	}
	ct, err := argCmpType(l, r)
	if err != nil {
		return nil, err
	}
	op := e.Op
	t := Type{Kind: KindInt, Nullable: op != OpNullSafeEQ && (l.typ.Nullable || r.typ.Nullable)}
	return &compiled{typ: t, konst: l.konst && r.konst, eval: func(row [][]byte) (Value, error) {
		a, err := l.eval(row)
		if err != nil {
			return Null, err
		}
		if a.kind == KindNull && op != OpNullSafeEQ {
			// MariaDB does not evaluate the right side then.
			return Null, nil
		}
		b, err := r.eval(row)
		if err != nil {
			return Null, err
		}
		if a.kind == KindNull || b.kind == KindNull {
			if op == OpNullSafeEQ {
				return boolValue(a.kind == b.kind), nil
			}
			return Null, nil
		}
		n, err := compareValues(ct, a, b)
		if err != nil {
			return Null, err
		}
		return boolValue(compareResult(op, n)), nil
	}}, nil
}

func compareResult(op CompareOp, n int) bool {
	switch op {
	case OpEQ, OpNullSafeEQ:
		return n == 0
	case OpNE:
		return n != 0
	case OpLT:
		return n < 0
	case OpLE:
		return n <= 0
	case OpGT:
		return n > 0
	}
	return n >= 0
}

// noStringWithNumber refuses strings beside numbers in an operation of
// several values (BETWEEN): MariaDB does not always compare them as
// doubles there (” BETWEEN CONCAT(1e-16, 0) AND 1 is true).
func noStringWithNumber(types []Type) error {
	str, num := false, false
	for _, t := range types {
		switch {
		case t.Kind.IsString():
			str = true
		case t.Kind.IsNumber():
			num = true
		}
	}
	if str && num {
		return unsupported("BETWEEN of strings and numbers")
	}
	return nil
}
