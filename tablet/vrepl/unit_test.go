package vrepl

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/mosaicdb/mosaic/keyrange"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/proto/vreplicationpb"
	"github.com/mosaicdb/mosaic/tablet/mysqlconn"
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

// A table move places rows by the target keyspace's vindexes, which the
// source's shards do not follow: every source feeds every target.
func TestStreamsOfMoveTables(t *testing.T) {
	rec := &vreplicationpb.Workflow{Name: "mt", Type: vreplicationpb.WorkflowType_MOVE_TABLES, SourceShards: []string{"80-", "-80"}, TargetShards: []string{"-40", "40-80", "80-"},
		Tables: []*vreplicationpb.TableRule{{Name: "c", VindexType: "xxhash", VindexColumn: "id"}}}
	kr, _ := keyrange.Parse("-40")
	ws := streamsOf(rec, kr)
	if len(ws) != 2 || ws[0].source != "-80" || ws[1].source != "80-" {
		t.Fatalf("streams: %+v", ws)
	}
	rec.Type = vreplicationpb.WorkflowType_RESHARD
	if ws := streamsOf(rec, kr); len(ws) != 1 || ws[0].source != "-80" {
		t.Fatalf("reshard streams: %+v", ws)
	}
}

func TestCountValues(t *testing.T) {
	row := []byte{1, 'a', 0xfb, 3, 'x', 'y', 'z'}
	if n := countValues(row); n != 3 {
		t.Fatalf("countValues = %d", n)
	}
}

// testTable is `t (id BIGINT PRIMARY KEY, v VARCHAR(10), g generated)`.
func testTable(t *testing.T) *Table {
	t.Helper()
	tb := &Table{Name: "t", Cols: []Column{
		{Name: "id", DataType: "bigint"},
		{Name: "v", DataType: "varchar", Charset: "utf8mb4", Collation: "utf8mb4_general_ci", MaxChars: 10},
		{Name: "g", DataType: "bigint", Generated: true},
	}, PK: []int{0}}
	if err := tb.prepare(); err != nil {
		t.Fatal(err)
	}
	return tb
}

func row(vals ...string) []byte {
	var vs [][]byte
	for _, v := range vals {
		if v == "NULL" {
			vs = append(vs, nil)
		} else {
			vs = append(vs, []byte(v))
		}
	}
	return mysqlconn.EncodeRow(vs)
}

// TestChangeOps: how binlog changes become writes, during the copy and
// after it.
func TestChangeOps(t *testing.T) {
	tb := testTable(t)
	et, err := newEventTable(tb, []string{"id", "v", "g"})
	if err != nil {
		t.Fatal(err)
	}
	s := &stream{}
	a := &applier{maxStmt: 1 << 20}
	changes := []*vreplicationpb.RowChange{
		{After: row("5", "new", "10")},                              // insert
		{Before: row("6", "a", "12"), After: row("6", "b", "12")},   // update, same key
		{Before: row("7", "a", "14"), After: row("70", "a", "140")}, // key change
		{Before: row("8", "x", "16")},                               // delete (or moved out)
		{Before: row("9", "x", "18"), After: row("9", "y", "18")},   // another update
	}
	describe := func(ops []rowOp) string {
		var out []string
		for _, op := range ops {
			kind := "replace"
			if op.del {
				kind = "delete"
			}
			out = append(out, kind+" "+string(op.vals[0]))
		}
		return strings.Join(out, ", ")
	}
	copied := &streamState{}
	ops, err := s.changeOps(a, et, copied, changes)
	if err != nil {
		t.Fatal(err)
	}
	if got := describe(ops); got != "replace 5, replace 6, delete 7, replace 70, delete 8, replace 9" {
		t.Errorf("after the copy: %s", got)
	}
	if got := strings.Join(a.opStatements(ops), "; "); got != "REPLACE INTO `t` (`id`,`v`) VALUES (5,_utf8mb4'new'),(6,_utf8mb4'b'); "+
		"DELETE FROM `t` WHERE `id` IN (7); REPLACE INTO `t` (`id`,`v`) VALUES (70,_utf8mb4'a'); DELETE FROM `t` WHERE `id` IN (8); "+
		"REPLACE INTO `t` (`id`,`v`) VALUES (9,_utf8mb4'y')" {
		t.Errorf("statements: %s", got)
	}
	// Copying t up to key 7: changes past it are skipped.
	copying := &streamState{copy: []copyTable{{name: "t", lastpk: [][]byte{[]byte("7")}}}}
	ops, err = s.changeOps(a, et, copying, changes)
	if err != nil {
		t.Fatal(err)
	}
	if got := describe(ops); got != "replace 5, replace 6, delete 7" {
		t.Errorf("copying up to 7: %s", got)
	}
	// Not reached yet: nothing applies.
	waiting := &streamState{copy: []copyTable{{name: "other", lastpk: [][]byte{[]byte("1")}}, {name: "t"}}}
	if ops, _ := s.changeOps(a, et, waiting, changes); len(ops) != 0 {
		t.Errorf("a table not reached yet: %s", describe(ops))
	}
	// A source whose binlog has a column the target lacks.
	if _, err := newEventTable(tb, []string{"id", "v", "extra"}); err == nil {
		t.Error("an extra column was accepted")
	}
	if _, err := newEventTable(tb, []string{"id"}); err == nil {
		t.Error("a missing column was accepted")
	}
}

// A traffic switch records the types it moved and the reverse workflow in
// the record: the streams must not restart for that, but must for what
// they run by.
func TestSameStreams(t *testing.T) {
	base := &vreplicationpb.Workflow{Name: "wf", State: vreplicationpb.WorkflowState_RUNNING, SourceShards: []string{"-80"}, TargetShards: []string{"-40", "40-80"}}
	same := proto.Clone(base).(*vreplicationpb.Workflow)
	same.SwitchedTypes = []topodatapb.TabletType{topodatapb.TabletType_REPLICA}
	same.Reverse = "wf_reverse"
	if !sameStreams(base, same) {
		t.Error("switched types and the reverse's name restart the streams")
	}
	for name, change := range map[string]func(*vreplicationpb.Workflow){
		"state":   func(w *vreplicationpb.Workflow) { w.State = vreplicationpb.WorkflowState_FROZEN },
		"epoch":   func(w *vreplicationpb.Workflow) { w.Epoch = 1 },
		"start":   func(w *vreplicationpb.Workflow) { w.StartPositions = map[string]string{"-80": "0-1-5"} },
		"message": func(w *vreplicationpb.Workflow) { w.Message = "started again" },
	} {
		other := proto.Clone(base).(*vreplicationpb.Workflow)
		change(other)
		if sameStreams(base, other) {
			t.Errorf("a change of %s does not restart the streams", name)
		}
	}
}

func TestAppendLoadValue(t *testing.T) {
	for _, c := range []struct {
		in   []byte
		want string
	}{
		{nil, `\N`},
		{[]byte{}, ``},
		{[]byte(`\N`), `\\N`},
		{[]byte("a\tb\nc\\d\x00e\rf'g\"h"), "a\\tb\\nc\\\\d\\0e\rf'g\"h"},
		{[]byte("plain"), "plain"},
	} {
		if got := string(appendLoadValue(nil, c.in)); got != c.want {
			t.Errorf("appendLoadValue(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
