package sqltypes

import (
	"fmt"
	"math/big"
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
