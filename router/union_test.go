package router

import (
	"strings"
	"testing"

	"github.com/mosaicdb/mosaic/proto/querypb"
)

// TestUnionTypesColumns: a UNION across shards types each column from all
// its parts, as MariaDB does, and converts every part's values before it
// removes duplicates: 1 and 1.0 are one DECIMAL value (shown 1.0), but 1,
// 1.0 and '1' make a string column where 1 and '1' are one value and 1.0
// another.
func TestUnionTypesColumns(t *testing.T) {
	const (
		intPart  = "`customer_id` = 1"
		decPart  = "`customer_id` = 2"
		textPart = "`customer_id` = 7"
	)
	f := &shardFake{bySQL: map[string]map[string]*querypb.QueryResult{
		intPart:  anyShard(result([]string{"v:" + tInt}, "1", "5")),
		decPart:  anyShard(result([]string{"v:" + tDec + ":63:1"}, "1.0", "2.5")),
		textPart: anyShard(result([]string{"v:" + tVar + ":45"}, "1", "x")),
	}}
	q := func(parts ...string) string {
		var s []string
		for _, p := range parts {
			s = append(s, "select v from customer where "+strings.ReplaceAll(p, "`", ""))
		}
		return strings.Join(s, " union ")
	}
	for _, c := range []struct {
		sql  string
		want string
	}{
		{q(intPart, decPart), "1.0,5.0,2.5"},
		{q(intPart, textPart), "1,5,x"},
		{q(intPart, decPart, textPart), "1,5,1.0,2.5,x"},
		{q(intPart, decPart) + " order by 1", "1.0,2.5,5.0"},
		{q(textPart, intPart) + " order by 1", "1,5,x"},
		{strings.Replace(q(intPart, decPart), "union", "union all", 1), "1.0,5.0,1.0,2.5"},
	} {
		res := runQuery(t, f, c.sql)
		if got := strings.Join(rowsOf(t, res), ","); got != c.want {
			t.Errorf("%s:\ngot  %s\nwant %s", c.sql, got, c.want)
		}
	}
	// The columns are typed as the UNION's: DECIMAL(…,1), then a string.
	res := runQuery(t, f, q(intPart, decPart))
	if res.Fields[0].Type != 246 || res.Fields[0].Decimals != 1 {
		t.Errorf("int with decimal: field %v", res.Fields[0])
	}
	res = runQuery(t, f, q(intPart, textPart))
	if res.Fields[0].Type != 253 || res.Fields[0].Charset != 45 {
		t.Errorf("int with text: field %v", res.Fields[0])
	}
}

// TestUnionDistinctAfterAll: `a UNION ALL b UNION c` removes duplicates
// among all three parts; `a UNION b UNION ALL c` keeps c's.
func TestUnionDistinctAfterAll(t *testing.T) {
	f := &shardFake{bySQL: map[string]map[string]*querypb.QueryResult{
		"`customer_id` = 1": anyShard(result([]string{"v:" + tInt}, "1", "1")),
		"`customer_id` = 2": anyShard(result([]string{"v:" + tInt}, "1", "2")),
		"`customer_id` = 7": anyShard(result([]string{"v:" + tInt}, "2", "3", "3")),
	}}
	for sql, want := range map[string]string{
		"select v from customer where customer_id = 1 union all select v from customer where customer_id = 2 union select v from customer where customer_id = 7":                                                    "1,2,3",
		"select v from customer where customer_id = 1 union select v from customer where customer_id = 2 union all select v from customer where customer_id = 7":                                                    "1,2,2,3,3",
		"select v from customer where customer_id = 1 union select v from customer where customer_id = 2 union all select v from customer where customer_id = 7 union select v from customer where customer_id = 1": "1,2,3",
	} {
		if got := strings.Join(rowsOf(t, runQuery(t, f, sql)), ","); got != want {
			t.Errorf("%s:\ngot  %s\nwant %s", sql, got, want)
		}
	}
}

// anyShard answers with res on every shard of the test keyspaces.
func anyShard(res *querypb.QueryResult) map[string]*querypb.QueryResult {
	return map[string]*querypb.QueryResult{"customer/-80": res, "customer/80-": res}
}
