package mysqlsrv

import (
	"encoding/binary"
	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/router/sqltypes"
	"math"
	"reflect"
	"testing"
)

// textRow builds a text-protocol row; a nil value is NULL.
func textRow(vals ...any) []byte {
	var b []byte
	for _, v := range vals {
		if v == nil {
			b = append(b, 0xfb)
			continue
		}
		b = AppendLenEncString(b, v.(string))
	}
	return b
}

// The binary rows we produce must read back, through go-mysql's binary
// row parser, as the values of the text row.
func TestBinaryRowMatchesGoMySQLParser(t *testing.T) {
	type col struct {
		typ   byte
		flags uint32
		text  any // string or nil
		want  any // what go-mysql's parser returns: int64, uint64, float64, string, nil
	}
	cols := []col{
		{mysql.MYSQL_TYPE_TINY, 0, "-128", int64(-128)},
		{mysql.MYSQL_TYPE_TINY, mysql.UNSIGNED_FLAG, "255", uint64(255)},
		{mysql.MYSQL_TYPE_SHORT, 0, "-32768", int64(-32768)},
		{mysql.MYSQL_TYPE_YEAR, mysql.UNSIGNED_FLAG, "2024", uint64(2024)},
		{mysql.MYSQL_TYPE_INT24, 0, "-8388608", int64(-8388608)},
		{mysql.MYSQL_TYPE_LONG, 0, "2147483647", int64(2147483647)},
		{mysql.MYSQL_TYPE_LONG, mysql.UNSIGNED_FLAG, "4294967295", uint64(4294967295)},
		{mysql.MYSQL_TYPE_LONGLONG, 0, "-9223372036854775808", int64(math.MinInt64)},
		{mysql.MYSQL_TYPE_LONGLONG, mysql.UNSIGNED_FLAG, "18446744073709551615", uint64(math.MaxUint64)},
		{mysql.MYSQL_TYPE_FLOAT, 0, "1.5", float64(1.5)},
		{mysql.MYSQL_TYPE_DOUBLE, 0, "-2.25e100", float64(-2.25e100)},
		{mysql.MYSQL_TYPE_NEWDECIMAL, 0, "12345.6789", "12345.6789"},
		{mysql.MYSQL_TYPE_VAR_STRING, 0, "héllo", "héllo"},
		{mysql.MYSQL_TYPE_STRING, 0, "", ""},
		{mysql.MYSQL_TYPE_BLOB, mysql.BINARY_FLAG, "\x00\xff\x01", "\x00\xff\x01"},
		{mysql.MYSQL_TYPE_BIT, 0, "\x05", "\x05"},
		{mysql.MYSQL_TYPE_ENUM, 0, "b", "b"},
		{mysql.MYSQL_TYPE_JSON, 0, `{"a": 1}`, `{"a": 1}`},
		{mysql.MYSQL_TYPE_DATE, 0, "2024-02-29", "2024-02-29"},
		{mysql.MYSQL_TYPE_DATE, 0, "0000-00-00", "0000-00-00"},
		{mysql.MYSQL_TYPE_DATETIME, 0, "2024-02-29 00:00:00", "2024-02-29 00:00:00"},
		{mysql.MYSQL_TYPE_DATETIME, 0, "2024-02-29 13:14:15", "2024-02-29 13:14:15"},
		{mysql.MYSQL_TYPE_DATETIME, 0, "2024-02-29 13:14:15.000120", "2024-02-29 13:14:15.000120"},
		{mysql.MYSQL_TYPE_TIMESTAMP, 0, "1999-12-31 23:59:59.5", "1999-12-31 23:59:59.500000"},
		{mysql.MYSQL_TYPE_DATETIME, 0, "0000-00-00 00:00:00", "0000-00-00 00:00:00"},
		{mysql.MYSQL_TYPE_TIME, 0, "12:34:56", "12:34:56"},
		{mysql.MYSQL_TYPE_TIME, 0, "-100:00:01.25", "-100:00:01.250000"},
		{mysql.MYSQL_TYPE_TIME, 0, "00:00:00", "00:00:00"},
		{mysql.MYSQL_TYPE_LONG, 0, nil, nil},
		{mysql.MYSQL_TYPE_DATETIME, 0, nil, nil},
		{mysql.MYSQL_TYPE_VAR_STRING, 0, nil, nil},
	}
	var fields []*querypb.Field
	var gmFields []*mysql.Field
	var vals []any
	for i, c := range cols {
		fields = append(fields, &querypb.Field{Name: "c", Type: uint32(c.typ), Flags: c.flags})
		gmFields = append(gmFields, &mysql.Field{Type: c.typ, Flag: uint16(c.flags)})
		vals = append(vals, c.text)
		_ = i
	}
	bin, err := AppendBinaryRow(nil, fields, textRow(vals...))
	if err != nil {
		t.Fatal(err)
	}
	got, err := mysql.RowData(bin).ParseBinary(gmFields, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range cols {
		v := got[i].Value()
		if b, ok := v.([]byte); ok {
			v = string(b)
		}
		if c.typ == mysql.MYSQL_TYPE_FLOAT {
			v = float64(float32(v.(float64)))
		}
		if !reflect.DeepEqual(v, c.want) {
			t.Errorf("column %d (type %d, %v): got %#v, want %#v", i, c.typ, c.text, v, c.want)
		}
	}
}

func TestBinaryRowRejectsBadText(t *testing.T) {
	fields := []*querypb.Field{{Name: "n", Type: uint32(mysql.MYSQL_TYPE_LONG)}}
	if _, err := AppendBinaryRow(nil, fields, textRow("abc")); err == nil {
		t.Fatal("no error for a non-integer in an INT column")
	}
	if _, err := AppendBinaryRow(nil, fields, []byte{5, 'a'}); err == nil {
		t.Fatal("no error for a cut row")
	}
}

func TestDecodeParams(t *testing.T) {
	var p []byte
	p = append(p, 0x80)                                     // TINY -128
	p = binary.LittleEndian.AppendUint16(p, 0xffff)         // SHORT unsigned 65535
	p = binary.LittleEndian.AppendUint32(p, uint32(1<<31))  // LONG -2^31
	p = binary.LittleEndian.AppendUint64(p, math.MaxUint64) // LONGLONG unsigned
	p = binary.LittleEndian.AppendUint64(p, math.Float64bits(2.5))
	p = binary.LittleEndian.AppendUint32(p, math.Float32bits(0.1))
	p = AppendLenEncString(p, "héllo")
	p = AppendLenEncString(p, "\xff\x00")
	p = AppendLenEncString(p, "12.50")
	p = append(p, 7)
	p = binary.LittleEndian.AppendUint16(p, 2024)
	p = append(p, 2, 29, 13, 14, 15)
	p = append(p, 4)
	p = binary.LittleEndian.AppendUint16(p, 2024)
	p = append(p, 1, 2)
	p = append(p, 12, 1)
	p = binary.LittleEndian.AppendUint32(p, 1)
	p = append(p, 2, 3, 4)
	p = binary.LittleEndian.AppendUint32(p, 5)
	p = AppendLenEncString(p, "blob")
	types := []ParamType{
		{mysql.MYSQL_TYPE_TINY, false},
		{mysql.MYSQL_TYPE_SHORT, true},
		{mysql.MYSQL_TYPE_LONG, false},
		{mysql.MYSQL_TYPE_LONGLONG, true},
		{mysql.MYSQL_TYPE_DOUBLE, false},
		{mysql.MYSQL_TYPE_FLOAT, false},
		{mysql.MYSQL_TYPE_VAR_STRING, false},
		{mysql.MYSQL_TYPE_STRING, false},
		{mysql.MYSQL_TYPE_NEWDECIMAL, false},
		{mysql.MYSQL_TYPE_DATETIME, false},
		{mysql.MYSQL_TYPE_DATE, false},
		{mysql.MYSQL_TYPE_TIME, false},
		{mysql.MYSQL_TYPE_NULL, false},
		{mysql.MYSQL_TYPE_LONG, false}, // NULL by the bitmap
		{mysql.MYSQL_TYPE_BLOB, false},
		{mysql.MYSQL_TYPE_STRING, false}, // long data
	}
	nulls := make([]bool, len(types))
	nulls[13] = true
	got, err := DecodeParams(types, nulls, p, map[int][]byte{15: []byte("long")})
	if err != nil {
		t.Fatal(err)
	}
	want := []any{int64(-128), uint64(65535), int64(-1 << 31), uint64(math.MaxUint64), 2.5, 0.1,
		"héllo", "\xff\x00", sqltypes.DecimalLiteral("12.50"), "2024-02-29 13:14:15", "2024-01-02",
		"-26:03:04.000005", nil, nil, []byte("blob"), "long"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("params\n got %#v\nwant %#v", got, want)
	}
	if _, err := DecodeParams(types[:4], nulls[:4], p[:5], nil); err == nil {
		t.Fatal("no error for values cut short")
	}
	bad := AppendLenEncString(nil, "1; drop table t")
	if _, err := DecodeParams([]ParamType{{mysql.MYSQL_TYPE_NEWDECIMAL, false}}, []bool{false}, bad, nil); err == nil {
		t.Fatal("a decimal parameter that is not a number was accepted")
	}
}

func TestParseExecuteHeader(t *testing.T) {
	b := binary.LittleEndian.AppendUint32(nil, 7)
	b = append(b, 0)
	b = binary.LittleEndian.AppendUint32(b, 1)
	b = append(b, 0b10) // second of two params NULL
	b = append(b, 1)    // new params bound
	b = append(b, mysql.MYSQL_TYPE_LONGLONG, 0x80, mysql.MYSQL_TYPE_VAR_STRING, 0)
	b = binary.LittleEndian.AppendUint64(b, 42)
	r, err := ParseExecuteHeader(b, 2)
	if err != nil {
		t.Fatal(err)
	}
	if r.StmtID != 7 || !reflect.DeepEqual(r.Nulls, []bool{false, true}) ||
		!reflect.DeepEqual(r.Types, []ParamType{{mysql.MYSQL_TYPE_LONGLONG, true}, {mysql.MYSQL_TYPE_VAR_STRING, false}}) || len(r.Values) != 8 {
		t.Fatalf("parsed %+v", r)
	}
	if _, err := ParseExecuteHeader(b[:11], 2); err == nil {
		t.Fatal("no error for a cut packet")
	}
}
