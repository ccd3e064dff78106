package vrepl

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// pkOrder is how mysqld orders the values of one primary-key column, so
// that keys read from a row stream, from the binlog and from a target can
// be compared the way ORDER BY compares them.
type pkOrder int

const (
	orderSigned   pkOrder = iota // integers
	orderUnsigned                // unsigned integers
	orderDecimal                 // exact decimals
	orderFloat                   // FLOAT, DOUBLE
	orderBytes                   // binary strings; fixed-format dates and times
	orderWeight                  // character strings: by WEIGHT_STRING
)

// orderOf returns the order of a primary-key column, or an error for
// types whose order this package does not reproduce.
func orderOf(c Column) (pkOrder, error) {
	switch c.DataType {
	case "tinyint", "smallint", "mediumint", "int", "integer", "bigint":
		if c.Unsigned {
			return orderUnsigned, nil
		}
		return orderSigned, nil
	case "decimal", "numeric":
		return orderDecimal, nil
	case "float", "double", "real":
		return orderFloat, nil
	case "binary", "varbinary", "bit", "date", "datetime", "timestamp", "year":
		return orderBytes, nil
	case "char", "varchar":
		if c.Charset == "" || c.Charset == "binary" {
			return orderBytes, nil
		}
		return orderWeight, nil
	}
	return 0, fmt.Errorf("primary key column %s has type %s, whose order resharding does not reproduce (supported: integers, decimals, floats, CHAR/VARCHAR, BINARY/VARBINARY, BIT, DATE, DATETIME, TIMESTAMP, YEAR)", c.Name, c.ColumnType)
}

// weightExpr is the SQL of column c's sort key: its WEIGHT_STRING, padded
// to the column's length for PAD SPACE collations so that trailing spaces
// and characters below the space compare as mysqld compares them.
func weightExpr(c Column, expr string) string {
	if strings.Contains(c.Collation, "nopad") {
		return "WEIGHT_STRING(" + expr + ")"
	}
	return fmt.Sprintf("WEIGHT_STRING(%s AS CHAR(%d))", expr, max(c.MaxChars, 1))
}

// pkKey is a primary key as it is compared: per key column its value, or
// its sort key for orderWeight columns.
type pkKey [][]byte

// compareKeys orders two keys of t as mysqld's ORDER BY does.
func (t *Table) compareKeys(a, b pkKey) int {
	for k, o := range t.order {
		if c := compareValues(o, a[k], b[k]); c != 0 {
			return c
		}
	}
	return 0
}

func compareValues(o pkOrder, a, b []byte) int {
	switch o {
	case orderSigned:
		x, _ := strconv.ParseInt(string(a), 10, 64)
		y, _ := strconv.ParseInt(string(b), 10, 64)
		return cmp3(x < y, x > y)
	case orderUnsigned:
		x, _ := strconv.ParseUint(string(a), 10, 64)
		y, _ := strconv.ParseUint(string(b), 10, 64)
		return cmp3(x < y, x > y)
	case orderDecimal:
		return compareDecimal(a, b)
	case orderFloat:
		x, _ := strconv.ParseFloat(string(a), 64)
		y, _ := strconv.ParseFloat(string(b), 64)
		return cmp3(x < y, x > y)
	}
	return bytes.Compare(a, b)
}

func cmp3(less, more bool) int {
	switch {
	case less:
		return -1
	case more:
		return 1
	}
	return 0
}

// compareDecimal compares two decimals in text form ("-12.50").
func compareDecimal(a, b []byte) int {
	na, ia, fa := splitDecimal(a)
	nb, ib, fb := splitDecimal(b)
	if isZeroDecimal(ia, fa) {
		na = false
	}
	if isZeroDecimal(ib, fb) {
		nb = false
	}
	if na != nb {
		if na {
			return -1
		}
		return 1
	}
	c := compareMagnitude(ia, fa, ib, fb)
	if na {
		return -c
	}
	return c
}

func splitDecimal(s []byte) (neg bool, ip, fp []byte) {
	s = bytes.TrimSpace(s)
	if len(s) > 0 && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	ip, fp, _ = bytes.Cut(s, []byte{'.'})
	ip = bytes.TrimLeft(ip, "0")
	fp = bytes.TrimRight(fp, "0")
	return neg, ip, fp
}

func isZeroDecimal(ip, fp []byte) bool { return len(ip) == 0 && len(fp) == 0 }

func compareMagnitude(ia, fa, ib, fb []byte) int {
	if len(ia) != len(ib) {
		return cmp3(len(ia) < len(ib), len(ia) > len(ib))
	}
	if c := bytes.Compare(ia, ib); c != 0 {
		return c
	}
	return bytes.Compare(fa, fb)
}

// streamKey returns the key of a row from a row stream: the copied
// columns, then the sort keys of the weighted key columns.
func (t *Table) streamKey(vals [][]byte) pkKey {
	k := make(pkKey, len(t.PK))
	w := len(t.Copy)
	for n, i := range t.PK {
		if t.order[n] == orderWeight {
			k[n] = vals[w]
			w++
			continue
		}
		k[n] = vals[t.copyPos[i]]
	}
	return k
}

// pkValues returns the primary-key values of a row from a row stream.
func (t *Table) pkValues(vals [][]byte) [][]byte {
	out := make([][]byte, len(t.PK))
	for n, i := range t.PK {
		out[n] = vals[t.copyPos[i]]
	}
	return out
}

// keyFromLastPK reads a stored or sent lastpk: the key columns' values,
// then the weighted ones' sort keys.
func (t *Table) keyFromLastPK(lastpk [][]byte) (pkKey, error) {
	if len(lastpk) != len(t.PK)+len(t.weights) {
		return nil, fmt.Errorf("table %s: last primary key has %d values, want %d", t.Name, len(lastpk), len(t.PK)+len(t.weights))
	}
	k := make(pkKey, len(t.PK))
	w := len(t.PK)
	for n := range t.PK {
		if t.order[n] == orderWeight {
			k[n] = lastpk[w]
			w++
			continue
		}
		k[n] = lastpk[n]
	}
	return k, nil
}

// lastPKOf returns the lastpk of a row from a row stream: the key values
// then the sort keys.
func (t *Table) lastPKOf(vals [][]byte) [][]byte {
	out := t.pkValues(vals)
	for w := range t.weights {
		out = append(out, vals[len(t.Copy)+w])
	}
	return out
}

// describeKey renders the primary key of a row from a row stream for
// people: "id=5,name=abc".
func (t *Table) describeKey(vals [][]byte) string {
	var b strings.Builder
	for n, i := range t.PK {
		if n > 0 {
			b.WriteByte(',')
		}
		b.WriteString(t.Cols[i].Name)
		b.WriteByte('=')
		v := vals[t.copyPos[i]]
		if v == nil {
			b.WriteString("NULL")
		} else {
			b.WriteString(strconv.Quote(string(v))[1 : len(strconv.Quote(string(v)))-1])
		}
	}
	return b.String()
}
