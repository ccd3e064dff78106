package vrepl

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mosaicdb/mosaic/keyrange"
	"github.com/mosaicdb/mosaic/proto/vreplicationpb"
	"github.com/mosaicdb/mosaic/tablet/mysqlconn"
)

// lookupFixture is a lookup on corder(order_id, customer_id, sku) by
// order_id, its table corder_order_id_lookup(order_id, customer_id).
func lookupFixture(t *testing.T, unique bool) (*lookupProj, *eventTable) {
	t.Helper()
	lt := &Table{Name: "corder_order_id_lookup", Cols: []Column{
		{Name: "order_id", DataType: "bigint", ColumnType: "bigint(20)"},
		{Name: "customer_id", DataType: "bigint", ColumnType: "bigint(20)"},
	}, PK: []int{0}}
	if !unique {
		lt.PK = []int{0, 1}
	}
	if err := lt.prepare(); err != nil {
		t.Fatal(err)
	}
	rule := &vreplicationpb.LookupRule{Table: lt.Name, From: "order_id", To: "customer_id", OwnerFrom: "order_id", OwnerTo: "customer_id", Unique: unique}
	cols := []string{"sku", "customer_id", "order_id"}
	p, err := newLookupProj(rule, lt, cols)
	if err != nil {
		t.Fatal(err)
	}
	return p, &eventTable{t: lt, cols: cols, lk: p}
}

// row is an owner row (sku, customer_id, order_id); "" is NULL.
func ownerRow(sku, customer, order string) [][]byte {
	v := func(s string) []byte {
		if s == "" {
			return nil
		}
		return []byte(s)
	}
	return [][]byte{v(sku), v(customer), v(order)}
}

// opsText shows entry writes as "put 5,1" / "del 5,1".
func opsText(ops []rowOp) string {
	var out []string
	for _, op := range ops {
		verb := "put"
		if op.del {
			verb = "del"
		}
		out = append(out, fmt.Sprintf("%s %s,%s", verb, op.vals[0], op.vals[1]))
	}
	return strings.Join(out, "; ")
}

// TestLookupChangeOps: how owner row changes, as a source streams them,
// become writes of entries, for a unique and a non-unique lookup.
func TestLookupChangeOps(t *testing.T) {
	for _, c := range []struct {
		name          string
		before, after [][]byte
		unique, plain string
	}{
		{"insert", nil, ownerRow("a", "1", "5"), "put 5,1", "put 5,1"},
		{"delete", ownerRow("a", "1", "5"), nil, "del 5,1", ""},
		{"update of the looked-up value", ownerRow("a", "1", "5"), ownerRow("a", "1", "6"), "del 5,1; put 6,1", "put 6,1"},
		{"update of another column", ownerRow("a", "1", "5"), ownerRow("b", "1", "5"), "", ""},
		{"update of the sharding value", ownerRow("a", "1", "5"), ownerRow("a", "2", "5"), "del 5,1; put 5,2", "put 5,2"},
		{"insert of NULL", nil, ownerRow("a", "1", ""), "", ""},
		{"delete of NULL", ownerRow("a", "1", ""), nil, "", ""},
		{"update from NULL", ownerRow("a", "1", ""), ownerRow("a", "1", "7"), "put 7,1", "put 7,1"},
		{"update to NULL", ownerRow("a", "1", "7"), ownerRow("a", "1", ""), "del 7,1", ""},
		// A source sends an update that moves a row out of the target's
		// range (its new value belongs to another lookup shard) as the
		// before image alone, one into it as the after image alone.
		{"update out of the range", ownerRow("a", "1", "5"), nil, "del 5,1", ""},
		{"update into the range", nil, ownerRow("a", "1", "6"), "put 6,1", "put 6,1"},
	} {
		for _, unique := range []bool{true, false} {
			_, et := lookupFixture(t, unique)
			ch := &vreplicationpb.RowChange{}
			if c.before != nil {
				ch.Before = mysqlconn.EncodeRow(c.before)
			}
			if c.after != nil {
				ch.After = mysqlconn.EncodeRow(c.after)
			}
			ops, err := lookupChangeOps(et, []*vreplicationpb.RowChange{ch})
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			want := c.plain
			if unique {
				want = c.unique
			}
			if got := opsText(ops); got != want {
				t.Errorf("%s (unique %v): %q, want %q", c.name, unique, got, want)
			}
			// Keeping entries, a unique lookup writes what a non-unique one does.
			et.lk.rule.KeepEntries = true
			ops, _ = lookupChangeOps(et, []*vreplicationpb.RowChange{ch})
			if got := opsText(ops); got != c.plain {
				t.Errorf("%s (unique %v, keep_entries): %q, want %q", c.name, unique, got, c.plain)
			}
		}
	}
}

// TestLookupStatements: the SQL of entry writes: puts leave an entry
// already there as it is, deletes match both columns, the unique check
// counts each distinct entry once.
func TestLookupStatements(t *testing.T) {
	p, et := lookupFixture(t, true)
	puts := []rowOp{{et: et, vals: [][]byte{[]byte("5"), []byte("1")}}, {et: et, vals: [][]byte{[]byte("6"), []byte("1")}}, {et: et, vals: [][]byte{[]byte("5"), []byte("1")}}}
	q, n := p.putStatement(puts, 1<<20)
	if want := "INSERT INTO `corder_order_id_lookup` (`order_id`,`customer_id`) VALUES (5,1),(6,1),(5,1) ON DUPLICATE KEY UPDATE `order_id` = `order_id`"; q != want || n != 3 {
		t.Errorf("put: %d %s\nwant %s", n, q, want)
	}
	q, n = p.putStatement(puts, 10)
	if n != 1 || !strings.Contains(q, "VALUES (5,1) ON DUPLICATE") {
		t.Errorf("a put over maxStmt holds %d: %s", n, q)
	}
	q, n = p.deleteStatement(puts[:2], 1<<20)
	if want := "DELETE FROM `corder_order_id_lookup` WHERE (`order_id` = 5 AND `customer_id` = 1) OR (`order_id` = 6 AND `customer_id` = 1)"; q != want || n != 2 {
		t.Errorf("delete: %d %s\nwant %s", n, q, want)
	}
	q, n = p.checkQuery(puts)
	if want := "SELECT COUNT(*) FROM `corder_order_id_lookup` WHERE (`order_id`,`customer_id`) IN ((5,1),(6,1))"; q != want || n != 2 {
		t.Errorf("check: %d %s\nwant %s", n, q, want)
	}
}

// TestLookupRowEntries: copied rows (which end with the owner key's sort
// keys) become puts; a row with a NULL value none.
func TestLookupRowEntries(t *testing.T) {
	p, et := lookupFixture(t, false)
	rows := [][]byte{
		mysqlconn.EncodeRow(append(ownerRow("a", "1", "5"), []byte("weight"))),
		mysqlconn.EncodeRow(ownerRow("b", "2", "")),
		mysqlconn.EncodeRow(ownerRow("c", "3", "7")),
	}
	ops, err := p.rowEntries(et, rows)
	if err != nil {
		t.Fatal(err)
	}
	if got := opsText(ops); got != "put 5,1; put 7,3" {
		t.Errorf("entries %q", got)
	}
	if _, err := newLookupProj(p.rule, p.t, []string{"sku", "customer_id"}); err == nil {
		t.Error("owner rows without the looked-up column were accepted")
	}
}

// TestLookupFilter: a lookup's rows are kept by the lookup table's
// vindex on the looked-up value; a NULL value is left out, where a
// table's own vindex column holding NULL is an error.
func TestLookupFilter(t *testing.T) {
	lo, _ := keyrange.Parse("-80")
	hi, _ := keyrange.Parse("80-")
	cols := []string{"sku", "customer_id", "order_id"}
	f := &vreplicationpb.TableFilter{Name: "corder", VindexType: "hash", VindexColumn: "order_id", SkipNulls: true}
	rlo, err := newRowFilter(f, lo, cols)
	if err != nil {
		t.Fatal(err)
	}
	rhi, _ := newRowFilter(f, hi, cols)
	for _, order := range []string{"1", "2", "3", "4", "5", "100001"} {
		a, err1 := rlo.match(ownerRow("a", "1", order))
		b, err2 := rhi.match(ownerRow("a", "1", order))
		if err1 != nil || err2 != nil || a == b {
			t.Errorf("order %s: in -80 %v, in 80- %v (%v %v): want exactly one", order, a, b, err1, err2)
		}
	}
	if ok, err := rlo.match(ownerRow("a", "1", "")); ok || err != nil {
		t.Errorf("NULL under skip_nulls: %v %v", ok, err)
	}
	f.SkipNulls = false
	strict, _ := newRowFilter(f, lo, cols)
	if _, err := strict.match(ownerRow("a", "1", "")); err == nil {
		t.Error("NULL in a vindex column without skip_nulls was accepted")
	}
	// Every owner shard feeds every lookup shard.
	wf := &vreplicationpb.Workflow{Type: vreplicationpb.WorkflowType_LOOKUP}
	if !StreamMeets(wf, lo, hi) {
		t.Error("a lookup workflow's source -80 does not feed target 80-")
	}
}
