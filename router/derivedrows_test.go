package router

import (
	"errors"
	"strings"
	"testing"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// TestDerivedAcrossShards runs an outer query in the gate over the rows of
// a grouped derived table whose groups the gate merges from two shards.
func TestDerivedAcrossShards(t *testing.T) {
	cols := []string{"tier:" + tInt, "n:" + tInt, wCol, wCol}
	f := &shardFake{results: map[string]*querypb.QueryResult{
		"customer/-80": result(cols, "1|2|a|a", "2|3|b|b", "NULL|1|NULL|NULL"),
		"customer/80-": result(cols, "1|2|a|a", "3|1|c|c", "4|5|d|d"),
	}}
	res := runQuery(t, f, "select t.tier, t.n from (select tier, count(*) as n from customer group by tier) t where t.n > 2 order by t.n desc, t.tier")
	if got := strings.Join(rowsOf(t, res), ","); got != "4|5,1|4,2|3" {
		t.Fatalf("got %s", got)
	}
	if res.Fields[0].Name != "tier" || res.Fields[1].Name != "n" || len(res.Fields) != 2 {
		t.Fatalf("fields %v", res.Fields)
	}
	// Aggregates over the merged groups, with a NULL group key.
	res = runQuery(t, f, "select count(*), count(t.tier), sum(t.n), max(t.n) from (select tier, count(*) as n from customer group by tier) t")
	if got := strings.Join(rowsOf(t, res), ","); got != "5|4|14|5" {
		t.Fatalf("aggregates: got %s", got)
	}
}

// TestDerivedRefusesUnknownText checks that the gate refuses (1235) to
// order by a text column whose collation weights no shard computes (a
// UNION's), rather than order it in a collation that may be wrong, and
// that it orders numbers there.
func TestDerivedRefusesUnknownText(t *testing.T) {
	f := &shardFake{results: map[string]*querypb.QueryResult{
		"customer/-80": result([]string{"n:" + tVar + ":45"}, "b", "A"),
		"customer/80-": result([]string{"n:" + tVar + ":45"}, "a"),
	}}
	r := New(DefaultConfig())
	r.SetVSchema(loadTestVSchema(t))
	p, bv, err := r.Plan("select u.n from (select name as n from customer union all select name from customer) u order by u.n", "customer", 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Execute(t.Context(), f, bv)
	var me *sqlerr.Error
	if !errors.As(err, &me) || me.Num != 1235 {
		t.Fatalf("text ordered without weights: %v, want 1235", err)
	}
	f = &shardFake{results: map[string]*querypb.QueryResult{
		"customer/-80": result([]string{"n:" + tInt}, "3", "1"),
		"customer/80-": result([]string{"n:" + tInt}, "2"),
	}}
	res := runQuery(t, f, "select u.n from (select id as n from customer union all select id from customer) u order by u.n desc")
	if got := strings.Join(rowsOf(t, res), ","); got != "3,3,2,2,1,1" {
		t.Fatalf("numbers: got %s", got)
	}
}
