package router

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/mosaicdb/mosaic/proto/topodatapb"
)

func TestCutInsertRows(t *testing.T) {
	for _, c := range []struct{ sql, head string }{
		{"INSERT INTO t VALUES (1,'a'),(2,'b')", "INSERT INTO t VALUES (1,'a')"},
		{"insert into t (a, b) values (now(), 1), (-2.5e3, 'it''s'), ( NULL , \"x\\\"y\" ) ;  ", "insert into t (a, b) values (now(), 1)"},
		{"/* c */ REPLACE t VALUE (f(1,(2))),(0x1F),(X'0a'),(b'01'),(TRUE),(+.5)", "/* c */ REPLACE t VALUE (f(1,(2)))"},
		{"INSERT INTO t VALUES (1)", "INSERT INTO t VALUES (1)"},
		// Not cut: an expression, a name or a ? in a later row, anything
		// after the rows, no VALUES list, unterminated text.
		{"INSERT INTO t VALUES (1),(now())", ""},
		{"INSERT INTO t VALUES (1),(a)", ""},
		{"INSERT INTO t VALUES (1),(?)", ""},
		{"INSERT INTO t VALUES (1),(1abc)", ""},
		{"INSERT INTO t VALUES (1),(2) ON DUPLICATE KEY UPDATE a = 1", ""},
		{"INSERT INTO t VALUES (1),(2) RETURNING id", ""},
		{"INSERT INTO t VALUES (1),(2); DROP TABLE t", ""},
		{"INSERT INTO t VALUES (1),(2) /* x */", ""},
		{"INSERT INTO t SELECT * FROM u", ""},
		{"INSERT INTO t SET a = 1", ""},
		{"INSERT INTO t VALUES (1),('x", ""},
		{"INSERT INTO t VALUES (1),(2", ""},
		{"UPDATE t SET a = 1", ""},
		{"INSERT INTO t (a) SELECT 1 FROM DUAL WHERE 'VALUES' = 'x'", ""},
	} {
		head, _, ok := cutInsertRows(c.sql)
		if ok != (c.head != "") || head != c.head {
			t.Errorf("cutInsertRows(%q) = %q %v, want %q", c.sql, head, ok, c.head)
		}
	}
}

// bigInsert is an INSERT of rows rows, over maxCachedText.
func bigInsert(table string, rows int, last string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "INSERT INTO %s (customer_id, name) VALUES ", table)
	for i := 1; i <= rows; i++ {
		if i > 1 {
			b.WriteByte(',')
		}
		if i == rows && last != "" {
			b.WriteString(last)
			continue
		}
		fmt.Fprintf(&b, "(%d, 'name %d')", i, i)
	}
	return b.String()
}

// TestPlanBulkInsert: a big INSERT of literal rows on an unsharded
// keyspace is planned from its first row and goes as written; on a
// sharded keyspace, or with an expression in a later row, it is planned
// whole.
func TestPlanBulkInsert(t *testing.T) {
	r := New(DefaultConfig())
	r.SetVSchema(loadTestVSchema(t))
	sql := bigInsert("product", 3000, "")
	if len(sql) <= maxCachedText {
		t.Fatalf("statement of %d bytes is not big", len(sql))
	}
	p, bv, err := r.Plan(sql, "commerce", 0)
	if err != nil {
		t.Fatal(err)
	}
	rt, ok := p.Primitive.(*Route)
	if p.Type != "Passthrough" || !ok || rt.Opcode != Unsharded || len(bv) != 0 {
		t.Fatalf("plan %s %T, %d bind variables", p.Type, p.Primitive, len(bv))
	}
	if got := rt.Query.display; got != sql {
		t.Fatalf("sends %d bytes, not the statement's %d", len(got), len(sql))
	}
	if p.StmtType != "INSERT" || p.ReadOnly || !p.UsesTables {
		t.Fatalf("plan %+v", p)
	}
	// It came from the first row alone.
	if _, _, ok, _ := r.planBulkInsert(sql, "commerce", topodatapb.TabletType_PRIMARY, 0); !ok {
		t.Fatal("not planned from its first row")
	}
	// An expression in a later row: planned whole, and still sent as
	// written.
	withExpr := bigInsert("product", 3000, "(3000, CONCAT('a', 'b'))")
	p, _, err = r.Plan(withExpr, "commerce", 0)
	if err != nil || p.Type != "Passthrough" {
		t.Fatalf("with an expression: %v %v", p, err)
	}
	if _, _, ok, _ := r.planBulkInsert(withExpr, "commerce", topodatapb.TabletType_PRIMARY, 0); ok {
		t.Fatal("with an expression: planned from its first row")
	}
	// On a sharded keyspace, the other rows join the first row's plan,
	// each routed by its vindex column's literal: to the same shards as
	// when the whole statement is planned.
	sharded := bigInsert("customer", 3000, "")
	fast, fbv, ok, err := r.planBulkInsert(sharded, "customer4", topodatapb.TabletType_PRIMARY, 0)
	if !ok || err != nil {
		t.Fatal("sharded: not planned from its first row")
	}
	full, gbv, err := r.planWith(sharded, "customer4", topodatapb.TabletType_PRIMARY, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	fq, frows, err := fast.Primitive.(*Insert).queries(fbv)
	if err != nil {
		t.Fatal(err)
	}
	gq, grows, err := full.Primitive.(*Insert).queries(gbv)
	if err != nil {
		t.Fatal(err)
	}
	if len(fq) != 4 || len(fq) != len(gq) {
		t.Fatalf("sharded: %d shards from the first row, %d planned whole", len(fq), len(gq))
	}
	for i := range fq {
		if fq[i].Shard != gq[i].Shard || !reflect.DeepEqual(frows[i], grows[i]) {
			t.Fatalf("shard %s gets rows %v from the first row's plan, %s gets %v planned whole", fq[i].Shard, frows[i][:5], gq[i].Shard, grows[i][:5])
		}
		if !strings.HasPrefix(fq[i].SQL, "INSERT INTO `customer` (`customer_id`,`name`) VALUES (") {
			t.Fatalf("shard statement %.80s", fq[i].SQL)
		}
	}
	if p, bv, err := r.Plan(sharded, "customer4", 0); err != nil || p.Primitive.(*Insert) == nil || len(bv) == 0 {
		t.Fatalf("Plan: %v %v", p, err)
	}
	// Planned whole: a vindex value that is no integer literal, rows of
	// different lengths (mysqld's error 1136 comes from the planner).
	for _, c := range []struct{ sql, ks string }{
		{bigInsert("customer", 3000, "('3000', 'x')"), "customer4"},
		{bigInsert("customer", 3000, "(-3000.5, 'x')"), "customer4"},
		{bigInsert("customer", 3000, "(3000, 'x', 3)"), "customer4"},
	} {
		if _, _, ok, _ := r.planBulkInsert(c.sql, c.ks, topodatapb.TabletType_PRIMARY, 0); ok {
			t.Errorf("%.60s ... %s: planned from its first row", c.sql, c.sql[len(c.sql)-20:])
		}
	}
	// An error planning the first row is the statement's, found without
	// parsing the other rows.
	if _, _, ok, err := r.planBulkInsert(bigInsert("nosuch", 3000, ""), "customer4", topodatapb.TabletType_PRIMARY, 0); !ok || err == nil {
		t.Errorf("an unknown table: handled %v, error %v", ok, err)
	}
	if _, _, err := r.Plan(bigInsert("customer", 3000, "(3000, 'x', 3)"), "customer4", 0); err == nil || !strings.Contains(err.Error(), "count") {
		t.Errorf("a row of the wrong length: %v", err)
	}
}
