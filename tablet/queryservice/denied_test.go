package queryservice

import (
	"slices"
	"strings"
	"testing"
)

// A denied table is refused in every statement that names it, and only
// there.
func TestDeniedTables(t *testing.T) {
	s := &Service{}
	for _, q := range []string{"SELECT * FROM customer", "INSERT INTO customer VALUES (1)"} {
		if err := s.checkDenied(q); err != nil {
			t.Errorf("%s with nothing denied: %v", q, err)
		}
	}
	s.SetDeniedTables([]string{"Customer", "corder", "customer"})
	if got := s.DeniedTables(); !slices.Equal(got, []string{"corder", "customer"}) {
		t.Errorf("DeniedTables = %v", got)
	}
	for _, c := range []struct {
		sql    string
		denied string
	}{
		{"SELECT * FROM customer WHERE id = 1", "customer"},
		{"select c.id from `CUSTOMER` c", "CUSTOMER"},
		{"INSERT INTO corder (order_id) VALUES (1)", "corder"},
		{"UPDATE customer SET v = 'x' WHERE id = 2", "customer"},
		{"DELETE FROM corder WHERE order_id = 3", "corder"},
		{"REPLACE INTO customer VALUES (1)", "customer"},
		{"SELECT p.sku FROM product p JOIN corder o ON o.sku = p.sku", "corder"},
		{"SELECT * FROM product WHERE sku IN (SELECT sku FROM corder)", "corder"},
		{"SELECT customer FROM product", ""},
		{"SELECT 'customer' FROM dual", ""},
		{"INSERT INTO product (sku, descr) VALUES ('a', 'corder')", ""},
		{"BEGIN", ""},
		{"not sql at all", ""},
	} {
		err := s.checkDenied(c.sql)
		switch {
		case c.denied == "" && err != nil:
			t.Errorf("%s: refused: %v", c.sql, err)
		case c.denied != "" && (err == nil || !strings.Contains(err.Error(), "table "+c.denied+" was moved")):
			t.Errorf("%s: %v; want a refusal naming %s", c.sql, err, c.denied)
		}
	}
	s.SetDeniedTables(nil)
	if err := s.checkDenied("SELECT * FROM customer"); err != nil || s.DeniedTables() != nil {
		t.Errorf("after the denial is lifted: %v, %v", err, s.DeniedTables())
	}
}
