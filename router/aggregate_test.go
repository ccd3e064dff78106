package router

import (
	"strings"
	"testing"

	"github.com/mosaicdb/mosaic/proto/querypb"
)

// TestSumDistinctOfText: SUM(DISTINCT text) and AVG(DISTINCT text) read
// the strings as MariaDB does in numeric context ('abc' is 0, ' 2' is 2,
// '1a' is 1) and keep the distinct numbers, not the distinct strings: 'x'
// and 'y' are one 0, '1' and '1.0' one 1. The result is a DOUBLE.
func TestSumDistinctOfText(t *testing.T) {
	cols := []string{"name:" + tVar + ":45"}
	f := &shardFake{results: map[string]*querypb.QueryResult{
		"customer/-80": result(cols, "x", "1", "1a", " 2"),
		"customer/80-": result(cols, "y", "1.0", "1e1", "NULL"),
	}}
	for _, c := range [][2]string{
		{"select sum(distinct name) from customer", "13"},
		{"select avg(distinct name) from customer", "3.25"},
	} {
		res := runQuery(t, f, c[0])
		if got := strings.Join(rowsOf(t, res), ","); got != c[1] {
			t.Errorf("%s: got %s, want %s", c[0], got, c[1])
		}
		if res.Fields[0].Type != 5 {
			t.Errorf("%s: type %d, want DOUBLE", c[0], res.Fields[0].Type)
		}
	}
}

// TestCountDistinctOfSeveral: COUNT(DISTINCT a, b) counts the distinct
// pairs without a NULL the shards' groups hold.
func TestCountDistinctOfSeveral(t *testing.T) {
	cols := []string{"age:" + tInt, "tier:" + tInt}
	f := &shardFake{results: map[string]*querypb.QueryResult{
		"customer/-80": result(cols, "1|1", "1|2", "2|NULL"),
		"customer/80-": result(cols, "1|1", "2|1", "NULL|3"),
	}}
	res := runQuery(t, f, "select count(distinct age, tier) from customer")
	if got := strings.Join(rowsOf(t, res), ","); got != "3" {
		t.Fatalf("got %s\n%s", got, strings.Join(f.lines, "\n"))
	}
	if !strings.Contains(strings.Join(f.lines, "\n"), "GROUP BY `age`,`tier`") {
		t.Fatalf("shards should group by both arguments:\n%s", strings.Join(f.lines, "\n"))
	}
}
