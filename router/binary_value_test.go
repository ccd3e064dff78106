package router

import (
	"strings"
	"testing"

	"github.com/mosaicdb/mosaic/router/sqltypes"
)

// Bytes that are not UTF-8 reach the shards unchanged: from a _binary
// literal or a bound []byte as a hex literal (binary, whatever the
// connection's character set), from a string (a latin1 client's text) as
// the same bytes quoted, so they stay text.
func TestBinaryValues(t *testing.T) {
	r := New(DefaultConfig())
	r.SetVSchema(loadTestVSchema(t))
	f := &shardFake{}
	for _, c := range []struct {
		sql  string
		args []any
		want string
	}{
		{"insert into customer (customer_id, name) values (1, _binary'\xff\x00a')", nil, "X'ff0061'"},
		{"insert into customer (customer_id, name) values (2, _binary'abc')", nil, "_binary'abc'"},
		{"insert into customer (customer_id, name) values (3, ?)", []any{[]byte("\xfe\x01")}, "X'fe01'"},
		{"insert into customer (customer_id, name) values (4, ?)", []any{"caf\xe9"}, "'caf\xe9'"},
		{"insert into customer (customer_id, name) values (6, 'caf\xe9')", nil, "'caf\xe9'"},
		{"insert into customer (customer_id, name) values (5, ?)", []any{"héllo"}, "'héllo'"},
	} {
		p, bv, err := r.Plan(c.sql, "customer", 0)
		if err != nil {
			t.Fatalf("%q: %v", c.sql, err)
		}
		if c.args != nil {
			if bv, err = p.Bind(bv, c.args); err != nil {
				t.Fatal(err)
			}
		}
		f.lines = nil
		if _, err := p.Execute(t.Context(), f, bv); err != nil {
			t.Fatalf("%q: %v", c.sql, err)
		}
		sent := strings.Join(f.lines, "\n")
		if !strings.Contains(sent, c.want) {
			t.Errorf("%q sent %q, want it to hold %s", c.sql, sent, c.want)
		}
	}
	b, _ := sqltypes.AppendSQL(nil, []byte{0x80})
	if string(b) != "X'80'" {
		t.Errorf("AppendSQL(0x80) = %s", b)
	}
}

// ON DUPLICATE KEY UPDATE may set the vindex column to VALUES(itself),
// which cannot move the row, but not to anything else.
func TestOnDuplicateVindexColumn(t *testing.T) {
	r := New(DefaultConfig())
	r.SetVSchema(loadTestVSchema(t))
	if _, _, err := r.Plan("insert into customer (customer_id, name) values (1, 'a') on duplicate key update customer_id = values(customer_id), name = values(name)", "customer", 0); err != nil {
		t.Fatalf("col = VALUES(col): %v", err)
	}
	if _, _, err := r.Plan("insert into customer (customer_id, name) values (1, 'a') on duplicate key update customer_id = 2", "customer", 0); err == nil {
		t.Fatal("changing the vindex column was planned")
	}
}
