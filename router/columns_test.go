package router

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/mosaicdb/mosaic/sqlerr"
)

// TestLearnedColumnsChange: a cached plan built with learned columns is
// planned again once ColumnsChanged says they changed, for every cache (the
// statement's exact text, its shape, its normalized form).
func TestLearnedColumnsChange(t *testing.T) {
	cols := mapColumns{"customer": {"events": {"id", "kind", "at"}}}
	cfg := DefaultConfig()
	cfg.Columns = cols
	r := New(cfg)
	r.SetVSchema(loadTestVSchema(t))
	run := func(sql string) string {
		t.Helper()
		plan, bv, err := r.Plan(sql, "customer", 0)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		var f fakeExec
		if _, err := plan.Execute(context.Background(), &f, bv); err != nil {
			t.Fatal(err)
		}
		return strings.Join(f.lines, "\n")
	}
	for _, sql := range []string{"insert into events values (1, 'a', 'b')", "insert into events values (2, 'c', 'd')", "insert into events values (3, 'e\\'', 'f')"} {
		if got := run(sql); !strings.Contains(got, "(`id`,`kind`,`at`)") {
			t.Fatalf("%s: got %s", sql, got)
		}
	}
	cols["customer"]["events"] = []string{"id", "at", "kind"}
	r.ColumnsChanged()
	for _, sql := range []string{"insert into events values (1, 'a', 'b')", "insert into events values (4, 'c', 'd')", "insert into events values (3, 'e\\'', 'f')"} {
		if got := run(sql); !strings.Contains(got, "(`id`,`at`,`kind`)") {
			t.Errorf("%s after the columns changed: got %s", sql, got)
		}
	}
}

// TestColumnsNeeded: without learned columns the router asks for them, and
// a caller that does not learn them gets a MySQL error.
func TestColumnsNeeded(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Columns = mapColumns{}
	r := New(cfg)
	r.SetVSchema(loadTestVSchema(t))
	_, _, err := r.Plan("insert into events values (1, 'a')", "customer", 0)
	var cn *ColumnsNeededError
	if !errors.As(err, &cn) || cn.Keyspace != "customer" || cn.Table != "events" {
		t.Fatalf("got %v, want columns of customer.events needed", err)
	}
	if e := sqlerr.FromError(err); e.Num != sqlerr.ERNotSupportedYet {
		t.Fatalf("got %v, want 1235", e)
	}
	// Without a ColumnSource: the plain error.
	r = New(DefaultConfig())
	r.SetVSchema(loadTestVSchema(t))
	if _, _, err := r.Plan("insert into events values (1, 'a')", "customer", 0); errors.As(err, &cn) || sqlerr.FromError(err).Num != sqlerr.ERNotSupportedYet {
		t.Fatalf("got %v, want a plain 1235", err)
	}
}
