package vrepl

import (
	"testing"

	"github.com/mosaicdb/mosaic/keyrange"
	"github.com/mosaicdb/mosaic/proto/vreplicationpb"
)

func TestCompareValues(t *testing.T) {
	for _, c := range []struct {
		o    pkOrder
		a, b string
		want int
	}{
		{orderSigned, "-5", "3", -1},
		{orderSigned, "10", "9", 1},
		{orderUnsigned, "18446744073709551615", "9223372036854775808", 1},
		{orderDecimal, "10.5", "9.75", 1},
		{orderDecimal, "-10.5", "-9.75", -1},
		{orderDecimal, "0.00", "-0.0", 0},
		{orderDecimal, "1.50", "1.5", 0},
		{orderDecimal, "-0.01", "0", -1},
		{orderFloat, "1e3", "999.5", 1},
		{orderBytes, "2024-01-02 00:00:00", "2023-12-31 23:59:59", 1},
		{orderBytes, "ab", "abc", -1},
	} {
		if got := compareValues(c.o, []byte(c.a), []byte(c.b)); got != c.want {
			t.Errorf("compare(%v, %q, %q) = %d, want %d", c.o, c.a, c.b, got, c.want)
		}
	}
}

func TestOrderOfRefusesUnorderedKeys(t *testing.T) {
	for _, c := range []Column{
		{Name: "t", DataType: "time", ColumnType: "time"},
		{Name: "e", DataType: "enum", ColumnType: "enum('a','b')"},
		{Name: "u", DataType: "uuid", ColumnType: "uuid"},
	} {
		if _, err := orderOf(c); err == nil {
			t.Errorf("a %s key was accepted", c.ColumnType)
		}
	}
	if o, err := orderOf(Column{DataType: "varchar", Charset: "utf8mb4", Collation: "utf8mb4_general_ci"}); err != nil || o != orderWeight {
		t.Errorf("varchar: %v %v", o, err)
	}
	if o, _ := orderOf(Column{DataType: "int", Unsigned: true}); o != orderUnsigned {
		t.Errorf("int unsigned: %v", o)
	}
	if got := weightExpr(Column{Collation: "utf8mb4_general_ci", MaxChars: 20}, "`x`"); got != "WEIGHT_STRING(`x` AS CHAR(20))" {
		t.Errorf("weight of a PAD SPACE column: %s", got)
	}
	if got := weightExpr(Column{Collation: "utf8mb4_general_nopad_ci", MaxChars: 20}, "`x`"); got != "WEIGHT_STRING(`x`)" {
		t.Errorf("weight of a NO PAD column: %s", got)
	}
}

func TestAppendLiteral(t *testing.T) {
	for _, c := range []struct {
		col  Column
		v    []byte
		want string
	}{
		{Column{DataType: "int"}, []byte("-42"), "-42"},
		{Column{DataType: "int"}, []byte("1; DROP TABLE x"), "X'313b2044524f50205441424c452078'"},
		{Column{DataType: "varchar", Charset: "latin1"}, []byte("n\xe9'\\\x00"), "_latin1'n\xe9\\'\\\\\\0'"},
		{Column{DataType: "varchar", Charset: "sjis"}, []byte("\x95\\"), "_sjis X'955c'"},
		{Column{DataType: "varbinary"}, []byte{0, 1}, "X'0001'"},
		{Column{DataType: "varbinary"}, []byte{}, "X''"},
		{Column{DataType: "datetime"}, []byte("2024-01-02 03:04:05.5"), "'2024-01-02 03:04:05.5'"},
		{Column{DataType: "int"}, nil, "NULL"},
	} {
		if got := string(appendLiteral(nil, &c.col, c.v)); got != c.want {
			t.Errorf("literal of %q as %s = %s, want %s", c.v, c.col.DataType, got, c.want)
		}
	}
}

func TestRangeShare(t *testing.T) {
	for _, c := range []struct {
		src, dst string
		want     float64
	}{
		{"0", "-80", 0.5},
		{"-80", "-40", 0.5},
		{"-80", "80-", 0},
		{"-40", "-80", 1},
		{"40-80", "-80", 1},
	} {
		s, _ := keyrange.Parse(c.src)
		d, _ := keyrange.Parse(c.dst)
		if got := rangeShare(s, d); got != c.want {
			t.Errorf("share of %s in %s = %v, want %v", c.src, c.dst, got, c.want)
		}
	}
}

// A merge target gets one stream per source; reference tables come from
// the first source only, or every reference row would arrive twice.
func TestStreamsOf(t *testing.T) {
	rec := &vreplicationpb.Workflow{Name: "m", SourceShards: []string{"80-c0", "-40", "40-80", "c0-"}, TargetShards: []string{"-80", "80-"},
		Tables: []*vreplicationpb.TableRule{{Name: "c", VindexType: "hash", VindexColumn: "id"}, {Name: "r", Reference: true}}}
	kr, _ := keyrange.Parse("-80")
	ws := streamsOf(rec, kr)
	if len(ws) != 2 || ws[0].source != "-40" || ws[1].source != "40-80" {
		t.Fatalf("streams: %+v", ws)
	}
	if len(ws[0].rules) != 2 || len(ws[1].rules) != 1 || ws[1].rules[0].Name != "c" {
		t.Fatalf("rules: %v / %v", ws[0].rules, ws[1].rules)
	}
}

func TestCountValues(t *testing.T) {
	row := []byte{1, 'a', 0xfb, 3, 'x', 'y', 'z'}
	if n := countValues(row); n != 3 {
		t.Fatalf("countValues = %d", n)
	}
}
