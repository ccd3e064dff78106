package sqltypes

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/mosaicdb/mosaic/proto/querypb"
)

// Comparator orders and keys the values of one column. Build one per
// column and result with NewComparator; it is not safe for concurrent use.
type Comparator struct {
	class Class
	text  *textCollator
}

// NewComparator returns the comparator for values of field f. It fails for
// columns the gate cannot order (ENUM, SET, JSON, GEOMETRY).
func NewComparator(f *querypb.Field) (*Comparator, error) {
	c := &Comparator{class: ClassOf(f.GetType(), f.GetFlags(), f.GetCharset())}
	switch c.class {
	case ClassOther:
		return nil, fmt.Errorf("cannot compare values of column %s (type %d) in the gate", f.GetName(), f.GetType())
	case ClassText:
		if f.GetFlags()&FlagBinary != 0 {
			// MariaDB sends the connection's collation in column
			// definitions, but flags a _bin column binary.
			c.text = &textCollator{kind: collBin}
		} else {
			c.text = newTextCollator(f.GetCharset())
		}
	}
	return c, nil
}

// Class returns the comparison class of the column.
func (c *Comparator) Class() Class { return c.class }

// Compare orders two cells: NULL (nil) before everything, then by value.
func (c *Comparator) Compare(a, b []byte) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	switch c.class {
	case ClassSigned:
		x, err1 := strconv.ParseInt(string(a), 10, 64)
		y, err2 := strconv.ParseInt(string(b), 10, 64)
		if err1 == nil && err2 == nil {
			return cmpOrdered(x, y)
		}
		return CompareDecimalText(a, b)
	case ClassUnsigned:
		x, err1 := strconv.ParseUint(string(a), 10, 64)
		y, err2 := strconv.ParseUint(string(b), 10, 64)
		if err1 == nil && err2 == nil {
			return cmpOrdered(x, y)
		}
		return CompareDecimalText(a, b)
	case ClassDecimal:
		return CompareDecimalText(a, b)
	case ClassFloat:
		x, err1 := strconv.ParseFloat(string(a), 64)
		y, err2 := strconv.ParseFloat(string(b), 64)
		if err1 == nil && err2 == nil {
			return cmpOrdered(x, y)
		}
		return bytes.Compare(a, b)
	case ClassTime:
		return compareTime(a, b)
	case ClassText:
		return c.text.compare(a, b)
	}
	return bytes.Compare(a, b)
}

// Key returns bytes equal for two cells exactly when Compare says they are
// equal; NULL gets a key of its own. The result is a fresh slice.
func (c *Comparator) Key(a []byte) []byte {
	if a == nil {
		return []byte{0}
	}
	var k []byte
	switch c.class {
	case ClassSigned, ClassUnsigned, ClassDecimal:
		k = []byte(NormalizeDecimalText(a))
	case ClassFloat:
		if f, err := strconv.ParseFloat(string(a), 64); err == nil {
			if f == 0 {
				f = 0 // -0 groups with 0
			}
			k = strconv.AppendFloat(nil, f, 'g', -1, 64)
		} else {
			k = a
		}
	case ClassText:
		k = c.text.key(a)
	default:
		k = a
	}
	out := make([]byte, 1+len(k))
	out[0] = 1
	copy(out[1:], k)
	return out
}

func cmpOrdered[T int64 | uint64 | float64](x, y T) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// splitDecimal parses a decimal text into its sign, integer digits without
// leading zeros and fraction digits without trailing zeros.
func splitDecimal(s string) (neg bool, intPart, frac string) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "-") {
		neg, s = true, s[1:]
	} else if strings.HasPrefix(s, "+") {
		s = s[1:]
	}
	intPart, frac, _ = strings.Cut(s, ".")
	intPart = strings.TrimLeft(intPart, "0")
	frac = strings.TrimRight(frac, "0")
	if intPart == "" && frac == "" {
		neg = false
	}
	return neg, intPart, frac
}

// NormalizeDecimalText returns the canonical text of a decimal or integer:
// no leading or trailing zeros, no "-0".
func NormalizeDecimalText(a []byte) string {
	neg, i, f := splitDecimal(string(a))
	if i == "" {
		i = "0"
	}
	s := i
	if f != "" {
		s += "." + f
	}
	if neg {
		s = "-" + s
	}
	return s
}

// CompareDecimalText compares two decimal texts exactly.
func CompareDecimalText(a, b []byte) int {
	na, ia, fa := splitDecimal(string(a))
	nb, ib, fb := splitDecimal(string(b))
	if na != nb {
		if na {
			return -1
		}
		return 1
	}
	c := 0
	switch {
	case len(ia) != len(ib):
		c = cmpOrdered(int64(len(ia)), int64(len(ib)))
	case ia != ib:
		c = strings.Compare(ia, ib)
	default:
		c = strings.Compare(fa, fb)
	}
	if na {
		return -c
	}
	return c
}

// compareTime compares TIME texts: [-]H+:MM:SS[.frac].
func compareTime(a, b []byte) int {
	na, ha, ra := splitTime(string(a))
	nb, hb, rb := splitTime(string(b))
	if na != nb {
		if na {
			return -1
		}
		return 1
	}
	c := 0
	switch {
	case len(ha) != len(hb):
		c = cmpOrdered(int64(len(ha)), int64(len(hb)))
	case ha != hb:
		c = strings.Compare(ha, hb)
	default:
		c = strings.Compare(ra, rb)
	}
	if na {
		return -c
	}
	return c
}

func splitTime(s string) (neg bool, hours, rest string) {
	if strings.HasPrefix(s, "-") {
		neg, s = true, s[1:]
	}
	hours, rest, _ = strings.Cut(s, ":")
	hours = strings.TrimLeft(hours, "0")
	if hours == "" && strings.Trim(rest, "0:.") == "" {
		neg = false
	}
	return neg, hours, rest
}
