package mysqlsrv

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/mosaicdb/mosaic/proto/querypb"
)

// Tablets return rows in the text protocol (each row a sequence of
// length-encoded strings, 0xfb for NULL). A prepared statement's result
// must go out in the binary protocol: AppendBinaryRow converts one row
// using the column types.

// AppendBinaryRow appends the binary-protocol form of the text row to b:
// a 0x00 header, the NULL bitmap (offset 2), then each non-NULL value in
// its type's encoding. Decimals, strings, blobs, BIT, ENUM, SET, JSON and
// geometry stay length-encoded strings.
func AppendBinaryRow(b []byte, fields []*querypb.Field, row []byte) ([]byte, error) {
	b = append(b, 0x00)
	bitmapAt := len(b)
	for range (len(fields) + 7 + 2) / 8 {
		b = append(b, 0)
	}
	pos := 0
	for i, f := range fields {
		if pos >= len(row) {
			return nil, fmt.Errorf("text row has %d values for %d columns", i, len(fields))
		}
		if row[pos] == 0xfb {
			b[bitmapAt+(i+2)/8] |= 1 << ((i + 2) % 8)
			pos++
			continue
		}
		n, _, k := mysql.LengthEncodedInt(row[pos:])
		if k == 0 || uint64(len(row)-pos-k) < n {
			return nil, fmt.Errorf("malformed text row at column %d", i)
		}
		v := row[pos+k : pos+k+int(n)]
		start := pos
		pos += k + int(n)
		var err error
		switch byte(f.Type) {
		case mysql.MYSQL_TYPE_TINY:
			b, err = appendInt(b, v, f, 1)
		case mysql.MYSQL_TYPE_SHORT, mysql.MYSQL_TYPE_YEAR:
			b, err = appendInt(b, v, f, 2)
		case mysql.MYSQL_TYPE_INT24, mysql.MYSQL_TYPE_LONG:
			b, err = appendInt(b, v, f, 4)
		case mysql.MYSQL_TYPE_LONGLONG:
			b, err = appendInt(b, v, f, 8)
		case mysql.MYSQL_TYPE_FLOAT:
			var x float64
			x, err = strconv.ParseFloat(string(v), 32)
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(x)))
		case mysql.MYSQL_TYPE_DOUBLE:
			var x float64
			x, err = strconv.ParseFloat(string(v), 64)
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
		case mysql.MYSQL_TYPE_DATE, mysql.MYSQL_TYPE_NEWDATE, mysql.MYSQL_TYPE_DATETIME,
			mysql.MYSQL_TYPE_TIMESTAMP, mysql.MYSQL_TYPE_DATETIME2, mysql.MYSQL_TYPE_TIMESTAMP2:
			b, err = appendBinaryDateTime(b, v)
		case mysql.MYSQL_TYPE_TIME, mysql.MYSQL_TYPE_TIME2:
			b, err = appendBinaryTime(b, v)
		case mysql.MYSQL_TYPE_NULL:
			// Only NULL values have this type; mark it so.
			b[bitmapAt+(i+2)/8] |= 1 << ((i + 2) % 8)
		default:
			b = append(b, row[start:pos]...)
		}
		if err != nil {
			return nil, fmt.Errorf("column %s: value %q: %w", f.Name, v, err)
		}
	}
	return b, nil
}

// appendInt appends a little-endian integer of size bytes; the column's
// UNSIGNED flag says how to read the text.
func appendInt(b, v []byte, f *querypb.Field, size int) ([]byte, error) {
	var u uint64
	if f.Flags&mysql.UNSIGNED_FLAG != 0 {
		x, err := strconv.ParseUint(string(v), 10, 64)
		if err != nil {
			return nil, err
		}
		u = x
	} else {
		x, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			return nil, err
		}
		u = uint64(x)
	}
	for i := range size {
		b = append(b, byte(u>>(8*i)))
	}
	return b, nil
}

// appendBinaryDateTime encodes "YYYY-MM-DD[ HH:MM:SS[.ffffff]]" as the
// shortest of the 0, 4, 7 or 11 byte forms that holds it.
func appendBinaryDateTime(b, v []byte) ([]byte, error) {
	s := string(v)
	if len(s) < 10 || s[4] != '-' || s[7] != '-' {
		return nil, fmt.Errorf("not a date")
	}
	year, e1 := strconv.Atoi(s[0:4])
	month, e2 := strconv.Atoi(s[5:7])
	day, e3 := strconv.Atoi(s[8:10])
	if e1 != nil || e2 != nil || e3 != nil {
		return nil, fmt.Errorf("not a date")
	}
	var hour, minute, second, micro int
	if len(s) > 10 {
		if len(s) < 19 || (s[10] != ' ' && s[10] != 'T') || s[13] != ':' || s[16] != ':' {
			return nil, fmt.Errorf("not a datetime")
		}
		var e4, e5, e6 error
		hour, e4 = strconv.Atoi(s[11:13])
		minute, e5 = strconv.Atoi(s[14:16])
		second, e6 = strconv.Atoi(s[17:19])
		if e4 != nil || e5 != nil || e6 != nil {
			return nil, fmt.Errorf("not a datetime")
		}
		var err error
		if micro, err = parseMicros(s[19:]); err != nil {
			return nil, err
		}
	}
	switch {
	case year == 0 && month == 0 && day == 0 && hour == 0 && minute == 0 && second == 0 && micro == 0:
		return append(b, 0), nil
	case hour == 0 && minute == 0 && second == 0 && micro == 0:
		b = append(b, 4)
		b = binary.LittleEndian.AppendUint16(b, uint16(year))
		return append(b, byte(month), byte(day)), nil
	case micro == 0:
		b = append(b, 7)
		b = binary.LittleEndian.AppendUint16(b, uint16(year))
		return append(b, byte(month), byte(day), byte(hour), byte(minute), byte(second)), nil
	}
	b = append(b, 11)
	b = binary.LittleEndian.AppendUint16(b, uint16(year))
	b = append(b, byte(month), byte(day), byte(hour), byte(minute), byte(second))
	return binary.LittleEndian.AppendUint32(b, uint32(micro)), nil
}

// parseMicros parses "" or ".f" .. ".ffffff" into microseconds.
func parseMicros(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	if s[0] != '.' || len(s) > 7 || len(s) < 2 {
		return 0, fmt.Errorf("bad fraction %q", s)
	}
	digits := s[1:]
	n, err := strconv.Atoi(digits)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad fraction %q", s)
	}
	for range 6 - len(digits) {
		n *= 10
	}
	return n, nil
}

// appendBinaryTime encodes "[-]H..H:MM:SS[.ffffff]" as the 0, 8 or 12
// byte form: sign, days, hours, minutes, seconds, microseconds.
func appendBinaryTime(b, v []byte) ([]byte, error) {
	s := string(v)
	neg := false
	if len(s) > 0 && s[0] == '-' {
		neg, s = true, s[1:]
	}
	c1 := indexByte(s, ':')
	if c1 < 1 || len(s) < c1+6 || s[c1+3] != ':' {
		return nil, fmt.Errorf("not a time")
	}
	hours, e1 := strconv.Atoi(s[:c1])
	minute, e2 := strconv.Atoi(s[c1+1 : c1+3])
	second, e3 := strconv.Atoi(s[c1+4 : c1+6])
	if e1 != nil || e2 != nil || e3 != nil || hours < 0 {
		return nil, fmt.Errorf("not a time")
	}
	micro, err := parseMicros(s[c1+6:])
	if err != nil {
		return nil, err
	}
	if hours == 0 && minute == 0 && second == 0 && micro == 0 {
		return append(b, 0), nil
	}
	size := byte(8)
	if micro != 0 {
		size = 12
	}
	sign := byte(0)
	if neg {
		sign = 1
	}
	b = append(b, size, sign)
	b = binary.LittleEndian.AppendUint32(b, uint32(hours/24))
	b = append(b, byte(hours%24), byte(minute), byte(second))
	if micro != 0 {
		b = binary.LittleEndian.AppendUint32(b, uint32(micro))
	}
	return b, nil
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}
