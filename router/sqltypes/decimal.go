package sqltypes

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// Decimal is an exact decimal number: Unscaled × 10^-Scale.
type Decimal struct {
	Unscaled big.Int
	Scale    int
}

// ParseDecimal parses a decimal or integer text such as "-12.50".
func ParseDecimal(s []byte) (Decimal, error) {
	var d Decimal
	str := strings.TrimSpace(string(s))
	neg := false
	if strings.HasPrefix(str, "-") {
		neg, str = true, str[1:]
	} else if strings.HasPrefix(str, "+") {
		str = str[1:]
	}
	ip, fp, _ := strings.Cut(str, ".")
	digits := ip + fp
	if digits == "" {
		return d, fmt.Errorf("not a decimal: %q", s)
	}
	if _, ok := d.Unscaled.SetString(digits, 10); !ok || strings.ContainsAny(digits, "+-") {
		return d, fmt.Errorf("not a decimal: %q", s)
	}
	if neg {
		d.Unscaled.Neg(&d.Unscaled)
	}
	d.Scale = len(fp)
	return d, nil
}

var ten = big.NewInt(10)

func pow10(n int) *big.Int {
	return new(big.Int).Exp(ten, big.NewInt(int64(n)), nil)
}

// Rescaled returns d with scale s (s ≥ d.Scale).
func (d *Decimal) rescaled(s int) *big.Int {
	if s == d.Scale {
		return new(big.Int).Set(&d.Unscaled)
	}
	return new(big.Int).Mul(&d.Unscaled, pow10(s-d.Scale))
}

// Add adds o to d.
func (d *Decimal) Add(o *Decimal) {
	s := max(d.Scale, o.Scale)
	a, b := d.rescaled(s), o.rescaled(s)
	d.Unscaled.Add(a, b)
	d.Scale = s
}

// DivInt returns d / n rounded half away from zero to scale digits, as
// MySQL's decimal division does.
func (d *Decimal) DivInt(n int64, scale int) Decimal {
	var out Decimal
	out.Scale = scale
	if n == 0 {
		return out
	}
	// num = d × 10^(scale+1) / n, then round the last digit.
	num := new(big.Int).Set(&d.Unscaled)
	shift := scale + 1 - d.Scale
	if shift >= 0 {
		num.Mul(num, pow10(shift))
	} else {
		num.Quo(num, pow10(-shift))
	}
	num.Quo(num, big.NewInt(n))
	rem := new(big.Int)
	num.QuoRem(num, ten, rem)
	if rem.CmpAbs(big.NewInt(5)) >= 0 {
		if rem.Sign() < 0 {
			num.Sub(num, big.NewInt(1))
		} else {
			num.Add(num, big.NewInt(1))
		}
	}
	out.Unscaled.Set(num)
	return out
}

// String formats d with exactly its scale: "-12.50".
func (d *Decimal) String() string {
	s := new(big.Int).Abs(&d.Unscaled).String()
	neg := d.Unscaled.Sign() < 0
	if d.Scale > 0 {
		if len(s) <= d.Scale {
			s = strings.Repeat("0", d.Scale-len(s)+1) + s
		}
		s = s[:len(s)-d.Scale] + "." + s[len(s)-d.Scale:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

// Format formats d with scale digits after the point, padding or rounding
// half away from zero.
func (d *Decimal) Format(scale int) string {
	if scale >= d.Scale {
		e := Decimal{Scale: scale}
		e.Unscaled.Set(d.rescaled(scale))
		return e.String()
	}
	r := d.DivInt(1, scale)
	return r.String()
}

// DecimalFromInt returns the decimal of an integer.
func DecimalFromInt(i int64) Decimal {
	var d Decimal
	d.Unscaled.SetInt64(i)
	return d
}

// DecimalFromUint returns the decimal of an unsigned integer.
func DecimalFromUint(u uint64) Decimal {
	var d Decimal
	d.Unscaled.SetUint64(u)
	return d
}

// Copy returns an independent copy of d.
func (d *Decimal) Copy() Decimal {
	var out Decimal
	out.Unscaled.Set(&d.Unscaled)
	out.Scale = d.Scale
	return out
}

// Sign returns -1, 0 or 1.
func (d *Decimal) Sign() int { return d.Unscaled.Sign() }

// Neg returns -d.
func (d *Decimal) Neg() Decimal {
	out := d.Copy()
	out.Unscaled.Neg(&out.Unscaled)
	return out
}

// Sum returns d + o.
func (d *Decimal) Sum(o *Decimal) Decimal {
	out := d.Copy()
	out.Add(o)
	return out
}

// Diff returns d - o.
func (d *Decimal) Diff(o *Decimal) Decimal {
	n := o.Neg()
	return d.Sum(&n)
}

// Product returns d × o, with the sum of their scales.
func (d *Decimal) Product(o *Decimal) Decimal {
	var out Decimal
	out.Unscaled.Mul(&d.Unscaled, &o.Unscaled)
	out.Scale = d.Scale + o.Scale
	return out
}

// Cmp compares d and o exactly.
func (d *Decimal) Cmp(o *Decimal) int {
	s := max(d.Scale, o.Scale)
	return d.rescaled(s).Cmp(o.rescaled(s))
}

// Quotient returns d / o rounded half away from zero to scale digits, as
// MariaDB's decimal division does; o must not be zero.
func (d *Decimal) Quotient(o *Decimal, scale int) Decimal {
	// d/o = (Ud × 10^-sd) / (Uo × 10^-so); compute
	// Ud × 10^(scale+1+so-sd) / Uo, then round the last digit.
	num := new(big.Int).Set(&d.Unscaled)
	den := new(big.Int).Set(&o.Unscaled)
	shift := scale + 1 + o.Scale - d.Scale
	if shift >= 0 {
		num.Mul(num, pow10(shift))
	} else {
		den.Mul(den, pow10(-shift))
	}
	num.Quo(num, den)
	return roundLastDigit(num, scale)
}

// roundLastDigit drops the last digit of num (one more than scale),
// rounding half away from zero.
func roundLastDigit(num *big.Int, scale int) Decimal {
	rem := new(big.Int)
	num.QuoRem(num, ten, rem)
	if rem.CmpAbs(big.NewInt(5)) >= 0 {
		if rem.Sign() < 0 {
			num.Sub(num, big.NewInt(1))
		} else {
			num.Add(num, big.NewInt(1))
		}
	}
	var out Decimal
	out.Unscaled.Set(num)
	out.Scale = scale
	return out
}

// Round returns d rounded half away from zero to scale digits after the
// point (a negative scale rounds to tens, hundreds, ...), as ROUND().
func (d *Decimal) Round(scale int) Decimal {
	if scale >= d.Scale {
		out := d.Copy()
		return out
	}
	num := new(big.Int).Quo(&d.Unscaled, pow10(d.Scale-scale-1))
	out := roundLastDigit(num, scale)
	if scale < 0 {
		out.Unscaled.Mul(&out.Unscaled, pow10(-scale))
		out.Scale = 0
	}
	return out
}

// Truncate returns d cut to scale digits after the point (toward zero).
func (d *Decimal) Truncate(scale int) Decimal {
	if scale >= d.Scale {
		return d.Copy()
	}
	var out Decimal
	out.Unscaled.Quo(&d.Unscaled, pow10(d.Scale-scale))
	out.Scale = scale
	if scale < 0 {
		out.Unscaled.Mul(&out.Unscaled, pow10(-scale))
		out.Scale = 0
	}
	return out
}

// Floor returns the largest integer not above d.
func (d *Decimal) Floor() Decimal {
	var out Decimal
	if d.Scale <= 0 {
		return d.Copy()
	}
	q, m := new(big.Int), new(big.Int)
	q.DivMod(&d.Unscaled, pow10(d.Scale), m) // Euclidean: floor for a positive divisor
	out.Unscaled.Set(q)
	return out
}

// Ceil returns the smallest integer not below d.
func (d *Decimal) Ceil() Decimal {
	n := d.Neg()
	f := n.Floor()
	return f.Neg()
}

// Rem returns d mod o with the sign of d, as MariaDB's MOD of decimals;
// o must not be zero.
func (d *Decimal) Rem(o *Decimal) Decimal {
	s := max(d.Scale, o.Scale)
	var out Decimal
	out.Unscaled.Rem(d.rescaled(s), o.rescaled(s))
	out.Scale = s
	return out
}

// IntPart returns d truncated toward zero as a big integer.
func (d *Decimal) IntPart() *big.Int {
	if d.Scale <= 0 {
		return new(big.Int).Mul(&d.Unscaled, pow10(-d.Scale))
	}
	return new(big.Int).Quo(&d.Unscaled, pow10(d.Scale))
}

// Float returns d as the nearest double.
func (d *Decimal) Float() float64 {
	f, _ := strconv.ParseFloat(d.String(), 64)
	return f
}

// IntQuotient returns d / o truncated toward zero (DIV); o must not be
// zero.
func (d *Decimal) IntQuotient(o *Decimal) *big.Int {
	s := max(d.Scale, o.Scale)
	return new(big.Int).Quo(d.rescaled(s), o.rescaled(s))
}

// TruncQuotient returns d / o cut (toward zero) to scale digits after
// the point; o must not be zero.
func (d *Decimal) TruncQuotient(o *Decimal, scale int) Decimal {
	num := new(big.Int).Set(&d.Unscaled)
	den := new(big.Int).Set(&o.Unscaled)
	shift := scale + o.Scale - d.Scale
	if shift >= 0 {
		num.Mul(num, pow10(shift))
	} else {
		den.Mul(den, pow10(-shift))
	}
	var out Decimal
	out.Unscaled.Quo(num, den)
	out.Scale = scale
	return out
}
