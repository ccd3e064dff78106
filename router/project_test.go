package router

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// TestProjectOverAggregates: SUM(age) / COUNT(*) across shards is the
// merged SUM divided by the merged COUNT, a DECIMAL with 4 more decimals
// as MariaDB types it (not the sum of the shards' quotients); text in such
// an expression is refused at execution, as the gate does not know its
// column's collation.
func TestProjectOverAggregates(t *testing.T) {
	cols := []string{"sum(age) / count(*):6", "sum(age):" + tDec + ":63:0", "count(*):" + tInt}
	f := &shardFake{results: map[string]*querypb.QueryResult{
		"customer/-80": result(cols, "NULL|10|3"),
		"customer/80-": result(cols, "NULL|5|1"),
	}}
	res := runQuery(t, f, "select sum(age) / count(*) from customer")
	if got := strings.Join(rowsOf(t, res), ","); got != "3.7500" {
		t.Fatalf("got %s, want 3.7500", got)
	}
	if len(res.Fields) != 1 || res.Fields[0].Name != "sum(age) / count(*)" || res.Fields[0].Decimals != 4 {
		t.Fatalf("fields %v", res.Fields)
	}

	tcols := []string{"max(name) = 'anna':6", "max(name):" + tVar + ":45", wCol}
	f = &shardFake{results: map[string]*querypb.QueryResult{
		"customer/-80": result(tcols, "NULL|anna|"+ws("anna")),
		"customer/80-": result(tcols, "NULL|bob|"+ws("bob")),
	}}
	r := New(DefaultConfig())
	r.SetVSchema(loadTestVSchema(t))
	p, bv, err := r.Plan("select max(name) = 'anna' from customer", "customer", 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Execute(context.Background(), f, bv)
	var se *sqlerr.Error
	if !errors.As(err, &se) || se.Num != sqlerr.ERNotSupportedYet {
		t.Fatalf("text in an expression over aggregates: got %v, want 1235", err)
	}
}
