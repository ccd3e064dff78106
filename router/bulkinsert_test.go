package router

import (
	"fmt"
	"strings"
	"testing"
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
		head, ok := cutInsertRows(c.sql)
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
	if _, ok := r.planBulkInsert(sql, "commerce", 0); !ok {
		t.Fatal("not planned from its first row")
	}
	// An expression in a later row: planned whole, and still sent as
	// written.
	withExpr := bigInsert("product", 3000, "(3000, CONCAT('a', 'b'))")
	p, _, err = r.Plan(withExpr, "commerce", 0)
	if err != nil || p.Type != "Passthrough" {
		t.Fatalf("with an expression: %v %v", p, err)
	}
	if _, ok := r.planBulkInsert(withExpr, "commerce", 0); ok {
		t.Fatal("with an expression: planned from its first row")
	}
	// A sharded keyspace needs every row's vindex value: planned whole.
	p, bv, err = r.Plan(bigInsert("customer", 3000, ""), "customer4", 0)
	if err != nil {
		t.Fatal(err)
	}
	ins, ok := p.Primitive.(*Insert)
	if !ok || len(ins.Rows) != 3000 || len(bv) == 0 {
		t.Fatalf("sharded: plan %s %T", p.Type, p.Primitive)
	}
	if _, ok := r.planBulkInsert(bigInsert("customer", 3000, ""), "customer4", 0); ok {
		t.Fatal("sharded: planned from its first row")
	}
}
