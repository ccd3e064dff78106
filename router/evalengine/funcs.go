package evalengine

import (
	"math"
	"strings"
	"unicode/utf8"
)

// Func is a call of a function the gate evaluates: IF, IFNULL, COALESCE,
// NULLIF, ISNULL, CONCAT, CONCAT_WS, LENGTH, CHAR_LENGTH, ABS, SIGN,
// ROUND, TRUNCATE, FLOOR, CEIL, GREATEST, LEAST, UPPER and LOWER (of
// ASCII text), LEFT, RIGHT, SUBSTRING. SupportedFunc tells the names.
type Func struct {
	Name string // lower case
	Args []Expr
}

// SupportedFunc reports whether the gate evaluates calls of name (lower
// case) with n arguments.
func SupportedFunc(name string, n int) bool {
	switch name {
	case "if":
		return n == 3
	case "ifnull", "nullif":
		return n == 2
	case "coalesce", "concat", "greatest", "least":
		return n >= 1 && (n >= 2 || name == "coalesce" || name == "concat")
	case "concat_ws":
		return n >= 2
	case "isnull", "length", "octet_length", "char_length", "character_length", "abs", "sign",
		"floor", "ceil", "ceiling", "upper", "lower", "ucase", "lcase":
		return n == 1
	case "round":
		return n == 1 || n == 2
	case "truncate", "left", "right":
		return n == 2
	case "substring", "substr", "mid":
		return n == 2 || n == 3
	}
	return false
}

func (e Func) format(b *strings.Builder) {
	b.WriteString(strings.ToUpper(e.Name) + "(")
	for i, a := range e.Args {
		if i > 0 {
			b.WriteString(", ")
		}
		a.format(b)
	}
	b.WriteString(")")
}

func (e Func) compile(c *compiler) (*compiled, error) {
	if !SupportedFunc(e.Name, len(e.Args)) {
		return nil, unsupported("function %s with %d arguments", strings.ToUpper(e.Name), len(e.Args))
	}
	args := make([]*compiled, len(e.Args))
	konst := true
	for i, a := range e.Args {
		x, err := c.operand(a)
		if err != nil {
			return nil, err
		}
		args[i] = x
		konst = konst && x.konst
	}
	out, err := compileFunc(e.Name, args)
	if err != nil {
		return nil, err
	}
	out.konst = konst
	return out, nil
}

func compileFunc(name string, args []*compiled) (*compiled, error) {
	switch name {
	case "if":
		if err := checkTruth(args[0].typ); err != nil {
			return nil, err
		}
		t, err := mergeOrRefuse(args[1].typ, args[2].typ)
		if err != nil {
			return nil, err
		}
		t = withHybridText(t, []Type{args[1].typ, args[2].typ})
		return &compiled{typ: t, eval: func(row [][]byte) (Value, error) {
			v, err := args[0].eval(row)
			if err != nil {
				return Null, err
			}
			pick := args[2]
			if b, ok := v.truth(); b && ok {
				pick = args[1]
			}
			if v, err = pick.eval(row); err != nil {
				return Null, err
			}
			return coerce(v, t)
		}}, nil
	case "ifnull", "coalesce":
		t := args[0].typ
		types := []Type{t}
		for _, a := range args[1:] {
			var err error
			if t, err = mergeOrRefuse(t, a.typ); err != nil {
				return nil, err
			}
			types = append(types, a.typ)
		}
		t = withHybridText(withSignedNull(t, types), types)
		t.Nullable = true
		for _, a := range args {
			if !a.typ.Nullable && a.typ.Kind != KindNull {
				t.Nullable = false
			}
		}
		return &compiled{typ: t, eval: func(row [][]byte) (Value, error) {
			for _, a := range args {
				v, err := a.eval(row)
				if err != nil {
					return Null, err
				}
				if !v.IsNull() {
					return coerce(v, t)
				}
			}
			return Null, nil
		}}, nil
	case "nullif":
		ct, err := argCmpType(args[0], args[1])
		if err != nil {
			return nil, err
		}
		t := args[0].typ
		t.Nullable = true
		return &compiled{typ: t, eval: func(row [][]byte) (Value, error) {
			a, err := args[0].eval(row)
			if err != nil || a.IsNull() {
				return a, err
			}
			b, err := args[1].eval(row)
			if err != nil {
				return Null, err
			}
			if !b.IsNull() {
				n, err := compareValues(ct, a, b)
				if err != nil {
					return Null, err
				}
				if n == 0 {
					return Null, nil
				}
			}
			return a, nil
		}}, nil
	case "isnull":
		// As IS NULL: not evaluated when it cannot be NULL.
		if !args[0].typ.Nullable {
			return constant(Type{Kind: KindInt}, boolValue(false)), nil
		}
		return &compiled{typ: Type{Kind: KindInt}, eval: func(row [][]byte) (Value, error) {
			v, err := args[0].eval(row)
			return boolValue(v.IsNull()), err
		}}, nil
	case "concat", "concat_ws":
		return compileConcat(name == "concat_ws", args)
	case "length", "octet_length", "char_length", "character_length":
		chars := name == "char_length" || name == "character_length"
		return &compiled{typ: Type{Kind: KindInt, Nullable: true}, eval: func(row [][]byte) (Value, error) {
			v, err := args[0].eval(row)
			if err != nil || v.IsNull() {
				return Null, err
			}
			b, err := stringOf(v)
			if err != nil {
				return Null, err
			}
			if chars && v.kind != KindBinary {
				return intValue(int64(utf8.RuneCount(b))), nil
			}
			return intValue(int64(len(b))), nil
		}}, nil
	case "upper", "lower", "ucase", "lcase":
		return compileCase(name == "upper" || name == "ucase", args[0])
	case "left", "right", "substring", "substr", "mid":
		return compileSubstring(name, args)
	case "abs", "sign", "floor", "ceil", "ceiling":
		return compileMath(name, args[0])
	case "round", "truncate":
		return compileRound(name == "round", args)
	case "greatest", "least":
		return compileGreatest(name == "greatest", args)
	}
	return nil, unsupported("function %s", strings.ToUpper(name))
}

// stringOf is a value as a string argument: numbers as MariaDB shows them.
func stringOf(v Value) ([]byte, error) {
	switch v.kind {
	case KindOther:
		return v.b, nil
	}
	return stringBytes(v), nil
}

func compileConcat(ws bool, args []*compiled) (*compiled, error) {
	t := Type{Kind: KindText, Collation: collationGeneralCI, Literal: true, Nullable: true}
	nonEmpty := false
	for _, a := range args {
		nonEmpty = nonEmpty || nonEmptyText(a.typ)
		switch a.typ.Kind {
		case KindBinary:
			t = Type{Kind: KindBinary, Nullable: true}
		case KindText:
			if t.Kind == KindText && (t.Literal || (a.typ.Bin && !t.Bin)) && !a.typ.Literal {
				t.Collation, t.Bin, t.Literal = a.typ.Collation, a.typ.Bin, false
			}
		case KindFloat, KindOther:
			return nil, unsupported("CONCAT of %s values", a.typ.Kind)
		}
	}
	t.nonEmpty = nonEmpty
	return &compiled{typ: t, eval: func(row [][]byte) (Value, error) {
		var out []byte
		var sep []byte
		for i, a := range args {
			v, err := a.eval(row)
			if err != nil {
				return Null, err
			}
			if v.IsNull() {
				if ws && i > 0 {
					continue
				}
				return Null, nil
			}
			s, err := stringOf(v)
			if err != nil {
				return Null, err
			}
			switch {
			case ws && i == 0:
				sep = s
				continue
			case ws && out != nil:
				out = append(out, sep...)
			}
			if out == nil {
				out = []byte{}
			}
			out = append(out, s...)
		}
		if out == nil {
			out = []byte{}
		}
		return Value{kind: t.Kind, b: out}, nil
	}}, nil
}

// compileCase is UPPER and LOWER of ASCII text: other characters change
// case by the collation's tables, which the gate does not have.
func compileCase(upper bool, arg *compiled) (*compiled, error) {
	t := arg.typ
	switch t.Kind {
	case KindText, KindNull:
	case KindBinary:
		// MariaDB leaves binary strings as they are.
	default:
		t = Type{Kind: KindText, Collation: collationGeneralCI, Literal: true, nonEmpty: true}
	}
	// A string function's decimals are NOT_FIXED_DEC whatever its
	// argument's.
	t.Nullable, t.Field, t.hybridText = true, nil, false
	return &compiled{typ: t, eval: func(row [][]byte) (Value, error) {
		v, err := arg.eval(row)
		if err != nil || v.IsNull() {
			return Null, err
		}
		b, err := stringOf(v)
		if err != nil {
			return Null, err
		}
		if v.kind == KindBinary {
			return Value{kind: v.kind, b: b}, nil
		}
		out := make([]byte, len(b))
		for i, c := range b {
			if c >= 0x80 {
				return Null, unsupported("UPPER or LOWER of text that is not ASCII")
			}
			switch {
			case upper && c >= 'a' && c <= 'z':
				c -= 'a' - 'A'
			case !upper && c >= 'A' && c <= 'Z':
				c += 'a' - 'A'
			}
			out[i] = c
		}
		return Value{kind: KindText, b: out}, nil
	}}, nil
}

// intArg reads an integer argument (a position, a length, a number of
// decimals): as MariaDB rounds a number given there.
func intArg(v Value) (int64, bool, error) {
	if v.IsNull() {
		return 0, false, nil
	}
	switch v.kind {
	case KindInt:
		return v.i, true, nil
	case KindUint:
		if v.u > math.MaxInt64 {
			return math.MaxInt64, true, nil
		}
		return int64(v.u), true, nil
	case KindDecimal:
		r := v.dec.Round(0)
		i := r.IntPart()
		if !i.IsInt64() {
			return 0, false, unsupported("an integer argument of %s", v.dec.String())
		}
		return i.Int64(), true, nil
	}
	f, err := v.toDouble()
	if err != nil {
		return 0, false, err
	}
	return int64(math.RoundToEven(f)), true, nil
}

func compileSubstring(name string, args []*compiled) (*compiled, error) {
	t := args[0].typ
	switch t.Kind {
	case KindText, KindBinary:
	case KindOther, KindFloat:
		return nil, unsupported("%s of %s values", strings.ToUpper(name), t.Kind)
	default:
		t = Type{Kind: KindText, Collation: collationGeneralCI, Literal: true}
	}
	// A part of a string may be empty (LEFT(s, 0) has max_length 0).
	t.Nullable, t.Field, t.hybridText, t.nonEmpty = true, nil, false, false
	return &compiled{typ: t, eval: func(row [][]byte) (Value, error) {
		v, err := args[0].eval(row)
		if err != nil || v.IsNull() {
			return Null, err
		}
		s, err := stringOf(v)
		if err != nil {
			return Null, err
		}
		nums := make([]int64, len(args)-1)
		for i, a := range args[1:] {
			x, err := a.eval(row)
			if err != nil {
				return Null, err
			}
			n, ok, err := intArg(x)
			if err != nil || !ok {
				return Null, err
			}
			nums[i] = n
		}
		// Characters of text, bytes of binary strings.
		var units []int // start offsets of the characters
		if t.Kind == KindText {
			for i := range string(s) {
				units = append(units, i)
			}
		} else {
			for i := range s {
				units = append(units, i)
			}
		}
		n := int64(len(units))
		cut := func(from, count int64) []byte {
			if count <= 0 || from >= n || from < 0 {
				return []byte{}
			}
			end := min(from+count, n)
			e := len(s)
			if end < n {
				e = units[end]
			}
			return s[units[from]:e]
		}
		var out []byte
		switch name {
		case "left":
			out = cut(0, nums[0])
		case "right":
			k := nums[0]
			if k > n {
				k = n
			}
			out = cut(n-k, k)
		default:
			pos, count := nums[0], n
			if len(nums) > 1 {
				count = nums[1]
			}
			switch {
			case pos == 0 || pos > n || -pos > n:
				out = []byte{}
			case pos > 0:
				out = cut(pos-1, count)
			default:
				out = cut(n+pos, count)
			}
		}
		return Value{kind: t.Kind, b: out}, nil
	}}, nil
}

func compileMath(name string, arg *compiled) (*compiled, error) {
	if arg.typ.Kind.IsTemporal() && name != "sign" {
		return nil, unsupported("%s of dates and times", strings.ToUpper(name))
	}
	k := numericKind(arg.typ)
	if k == KindOther {
		return nil, unsupported("%s of %s values", strings.ToUpper(name), arg.typ.Kind)
	}
	if name == "abs" && arg.typ.decimalsUnknown() {
		return nil, unsupported("ABS of a CASE, IF, COALESCE or IFNULL of strings that may be empty")
	}
	t := Type{Kind: k, Nullable: true}
	switch name {
	case "sign":
		t = Type{Kind: KindInt, Nullable: true}
	case "abs":
		t.Scale = numericScale(arg.typ)
		if k == KindDouble {
			t.Scale = doubleScale(arg.typ)
		}
	default: // floor, ceil
		switch k {
		case KindDecimal:
			// MariaDB gives an integer (a DECIMAL for one too long for
			// an integer, which the gate refuses).
			t.Kind = KindInt
		case KindDouble:
			t.Scale = 0
		}
	}
	if k == KindNull && name != "sign" {
		// FLOOR(NULL), CEIL(NULL) and ABS(NULL) are DOUBLEs in MariaDB,
		// as -NULL is (COALESCE(1, FLOOR(NULL)) is a DOUBLE).
		t.Kind, t.Scale = KindDouble, 0
	}
	return &compiled{typ: t, eval: func(row [][]byte) (Value, error) {
		v, err := arg.eval(row)
		if err != nil || v.IsNull() {
			return Null, err
		}
		if v, err = v.toNumber(k); err != nil {
			return Null, err
		}
		switch name {
		case "sign":
			switch v.kind {
			case KindInt:
				return intValue(int64(sign(float64(v.i)))), nil
			case KindUint:
				return boolValue(v.u > 0), nil
			case KindDecimal:
				return intValue(int64(v.dec.Sign())), nil
			}
			return intValue(int64(sign(v.f))), nil
		case "abs":
			switch v.kind {
			case KindInt:
				if v.i == math.MinInt64 {
					return Null, outOfRange(KindInt, "abs")
				}
				if v.i < 0 {
					return intValue(-v.i), nil
				}
				return v, nil
			case KindDecimal:
				if v.dec.Sign() < 0 {
					return shown(decimalValue(v.dec.Neg()), t.Scale), nil
				}
				return shown(v, t.Scale), nil
			case KindDouble:
				return shown(doubleValue(math.Abs(v.f)), t.Scale), nil
			}
			return v, nil
		}
		up := name != "floor"
		switch v.kind {
		case KindDecimal:
			r := v.dec.Floor()
			if up {
				r = v.dec.Ceil()
			}
			i := r.IntPart()
			if !i.IsInt64() {
				return Null, unsupported("FLOOR or CEIL of %s", v.dec.String())
			}
			return intValue(i.Int64()), nil
		case KindDouble:
			if up {
				return shown(doubleValue(math.Ceil(v.f)), 0), nil
			}
			return shown(doubleValue(math.Floor(v.f)), 0), nil
		}
		return v, nil
	}}, nil
}

func sign(f float64) int {
	switch {
	case f > 0:
		return 1
	case f < 0:
		return -1
	}
	return 0
}

// compileRound is ROUND(x[, d]) and TRUNCATE(x, d), as MariaDB computes
// them: a decimal to d digits (half away from zero) with d decimals, a
// double with my_double_round's arithmetic (half to even) shown with d
// decimals, an integer unchanged unless d is negative. The number of
// decimals must be a constant (it decides the result's type).
func compileRound(round bool, args []*compiled) (*compiled, error) {
	k := numericKind(args[0].typ)
	if args[0].typ.Kind.IsTemporal() {
		// MariaDB rounds a date or time as one.
		return nil, unsupported("ROUND or TRUNCATE of dates and times")
	}
	if k == KindOther || k == KindNull {
		return nil, unsupported("ROUND or TRUNCATE of %s values", args[0].typ.Kind)
	}
	d := int64(0)
	if len(args) > 1 {
		if !args[1].konst {
			return nil, unsupported("ROUND or TRUNCATE to a number of decimals that is not a constant")
		}
		v, err := args[1].eval(nil)
		if err != nil {
			return nil, err
		}
		n, ok, err := intArg(v)
		if err != nil {
			return nil, err
		}
		if !ok {
			return constant(Type{Kind: k, Nullable: true}, Null), nil
		}
		d = n
	}
	t := Type{Kind: k, Nullable: true}
	switch k {
	case KindDecimal:
		t.Scale = uint32(min(max(d, 0), maxDecimalScale))
	case KindDouble:
		t.Scale = uint32(min(max(d, 0), notFixedDec))
	case KindInt, KindUint:
		if d < 0 {
			// MariaDB types the result from the argument's length.
			return nil, unsupported("ROUND or TRUNCATE of an integer to tens")
		}
	}
	return &compiled{typ: t, eval: func(row [][]byte) (Value, error) {
		v, err := args[0].eval(row)
		if err != nil || v.IsNull() {
			return Null, err
		}
		if v, err = v.toNumber(k); err != nil {
			return Null, err
		}
		switch v.kind {
		case KindDecimal:
			r := v.dec.Truncate(int(d))
			if round {
				r = v.dec.Round(int(d))
			}
			return coerce(decimalValue(r), t)
		case KindDouble:
			out := doubleValue(doubleRound(v.f, d, !round))
			out.fdec = t.Scale
			return out, nil
		case KindInt, KindUint:
			if d >= 0 {
				return v, nil
			}
			dec := decimalOf(v)
			r := dec.Truncate(int(d))
			if round {
				r = dec.Round(int(d))
			}
			return decimalValue(r), nil
		}
		return v, nil
	}}, nil
}

// doubleRound is MariaDB's my_double_round.
func doubleRound(v float64, d int64, truncate bool) float64 {
	neg := d < 0
	abs := d
	if neg {
		abs = -d
	}
	tmp := math.Inf(1)
	if abs <= 308 {
		tmp = math.Pow10(int(abs))
	}
	div, mul := v/tmp, v*tmp
	switch {
	case neg && math.IsInf(tmp, 0):
		return 0
	case !neg && math.IsInf(mul, 0):
		return v
	case truncate:
		if v >= 0 {
			if neg {
				return math.Floor(div) * tmp
			}
			return math.Floor(mul) / tmp
		}
		if neg {
			return math.Ceil(div) * tmp
		}
		return math.Ceil(mul) / tmp
	case neg:
		return math.RoundToEven(div) * tmp
	}
	return math.RoundToEven(mul) / tmp
}

func compileGreatest(greatest bool, args []*compiled) (*compiled, error) {
	types := make([]Type, len(args))
	for i, a := range args {
		types[i] = a.typ
		if !a.typ.Kind.IsNumber() && a.typ.Kind != KindNull {
			// MariaDB compares strings and dates as strings for a string
			// result but as numbers for a numeric one (LEAST('12a', 'b')
			// MOD 7 is 0).
			return nil, unsupported("GREATEST or LEAST of %s values", a.typ.Kind)
		}
	}
	ct, err := aggCmpType(types)
	if err != nil {
		return nil, err
	}
	// Decimals with all their digits: GREATEST(0, 2 / 99999) is the
	// quotient, 0.0000200...
	ct.exact = true
	t := args[0].typ
	for _, a := range args[1:] {
		if t, err = mergeOrRefuse(t, a.typ); err != nil {
			return nil, err
		}
	}
	if ct.kind == cmpDouble && t.Kind != KindDouble {
		// Compared as doubles, the result is a double too.
		t = Type{Kind: KindDouble, Scale: notFixedDec}
	}
	for _, a := range args {
		if a.typ.Kind != KindNull {
			continue
		}
		// A NULL among them makes MariaDB's result a DOUBLE with the
		// others' decimals: NULL itself, but the type counts where it is
		// an operand (CASE WHEN z THEN 1 ELSE LEAST(n, 1, NULL) END is a
		// DOUBLE).
		s := uint32(0)
		for _, b := range args {
			if b.typ.Kind != KindNull {
				s = max(s, doubleScale(b.typ))
			}
		}
		t = Type{Kind: KindDouble, Scale: min(s, notFixedDec)}
		break
	}
	t.Nullable, t.Field = true, nil
	return &compiled{typ: t, eval: func(row [][]byte) (Value, error) {
		var best Value
		for i, a := range args {
			v, err := a.eval(row)
			if err != nil || v.IsNull() {
				return Null, err
			}
			if i == 0 {
				best = v
				continue
			}
			n, err := compareValues(ct, v, best)
			if err != nil {
				return Null, err
			}
			if (greatest && n > 0) || (!greatest && n < 0) {
				best = v
			}
		}
		return coerce(best, t)
	}}, nil
}
