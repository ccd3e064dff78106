package router

import (
	"strings"
	"testing"
)

// TestExplainShowsItsOwnValues: EXPLAIN FORMAT=mosaic of a statement whose
// plan is cached for another value shows the shard and SQL of the value
// it was given (id 1 lives on 80-, id 7 on -80), not the cached ones.
func TestExplainShowsItsOwnValues(t *testing.T) {
	r := New(DefaultConfig())
	r.SetVSchema(loadTestVSchema(t))
	explain := func(q string) string {
		t.Helper()
		p, bv, err := r.Plan(q, "customer", 0)
		if err != nil {
			t.Fatal(err)
		}
		res, err := p.Execute(t.Context(), nopExec{}, bv)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(rowsOf(t, res), "\n")
	}
	first := explain("EXPLAIN FORMAT=mosaic SELECT * FROM customer WHERE customer_id = 1")
	if !strings.Contains(first, "customer/80-: SELECT * FROM `customer` WHERE `customer_id` = 1") {
		t.Fatalf("first EXPLAIN:\n%s", first)
	}
	for _, q := range []string{
		"EXPLAIN FORMAT=mosaic SELECT * FROM customer WHERE customer_id = 7",
		"explain format=mosaic select * from customer where customer_id = 7",
	} {
		got := explain(q)
		if !strings.Contains(got, "customer/-80: SELECT * FROM `customer` WHERE `customer_id` = 7") || strings.Contains(got, "= 1") {
			t.Fatalf("%s:\n%s", q, got)
		}
	}
	if s := r.CacheStats(); s.NormalizedHits == 0 {
		t.Fatalf("the second EXPLAIN was planned afresh (%+v): the test does not exercise the cache", s)
	}
}
