package router

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// bigShards answers every query on both customer shards with n rows of
// "name|order_id" where name is a width-byte text.
func bigShards(n, width int) *shardFake {
	cols := []string{"name:" + tVar + ":45", "order_id:" + tInt}
	rows := func(shard int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("%0*d|%d", width, shard*n+i, shard*n+i)
		}
		return out
	}
	// GROUP BY order_id gets the key and the count.
	gcols := []string{"order_id:" + tInt, "count(*):" + tInt}
	groups := func(shard int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("%d|1", shard*n+i)
		}
		return out
	}
	return &shardFake{
		results: map[string]*querypb.QueryResult{
			"customer/-80": result(cols, rows(0)...),
			"customer/80-": result(cols, rows(1)...),
		},
		bySQL: map[string]map[string]*querypb.QueryResult{
			"GROUP BY": {
				"customer/-80": result(gcols, groups(0)...),
				"customer/80-": result(gcols, groups(1)...),
			},
		},
	}
}

// TestStatementMemoryLimit runs statements that hold rows in the gate
// (group, distinct, union, join) under a limit: a small one fails them
// with 1290, a big one lets them through, and a scatter SELECT that
// streams is never limited.
func TestStatementMemoryLimit(t *testing.T) {
	r := New(DefaultConfig())
	r.SetVSchema(loadTestVSchema(t))
	// 2 x 2000 rows of about 130 bytes: some 1 MB arrives.
	f := bigShards(2000, 100)
	held := []string{
		"select order_id, count(*) from customer group by order_id",
		"select distinct name from customer",
		"select name from customer union select name from country",
		"select c.name, p.amount from corder c join payment p on c.order_id = p.order_id",
		// The gate sorts the rows of a derived table that spans shards.
		"select t.name, t.order_id from (select name, order_id from customer union all select name, order_id from customer) t order by t.order_id + 0 desc",
	}
	run := func(ctx context.Context, sql string) error {
		t.Helper()
		p, bv, err := r.Plan(sql, "customer", 0)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		_, err = p.Execute(ctx, f, bv)
		if err != nil {
			return err
		}
		return p.Stream(ctx, f, bv, func(*querypb.QueryResult) error { return nil })
	}
	small := WithStatementMemory(t.Context(), 256<<10)
	for _, sql := range held {
		err := run(small, sql)
		var me *sqlerr.Error
		if !errors.As(err, &me) || me.Num != sqlerr.EROptionPreventsStatement || !strings.Contains(me.Message, "--max-memory-per-statement=262144") {
			t.Errorf("%s under 256 KiB: %v, want error 1290", sql, err)
		}
	}
	big := WithStatementMemory(t.Context(), 1<<30)
	for _, sql := range held {
		if err := run(big, sql); err != nil {
			t.Errorf("%s under 1 GiB: %v", sql, err)
		}
	}
	if err := run(t.Context(), held[0]); err != nil {
		t.Errorf("without a limit: %v", err)
	}
	// A join without an equality runs its right side once per left row
	// and keeps every result: here 4000 times 4000 rows, which a limit
	// stops long before they are all held.
	theta := "select c.name, p.order_id from corder c join payment p on c.order_id < p.order_id"
	if err := run(WithStatementMemory(t.Context(), 64<<20), theta); err == nil || !strings.Contains(err.Error(), "--max-memory-per-statement") {
		t.Errorf("%s under 64 MiB: %v, want error 1290", theta, err)
	}
	// A scatter SELECT streams its rows to the client: it holds none.
	p, bv, err := r.Plan("select name from customer", "customer", 0)
	if err != nil {
		t.Fatal(err)
	}
	rows := 0
	err = p.Stream(small, f, bv, func(c *querypb.QueryResult) error { rows += len(c.Rows); return nil })
	if err != nil || rows != 4000 {
		t.Fatalf("streamed scatter under 256 KiB: %d rows, %v", rows, err)
	}
}

// TestStatementMemoryGivesBack checks the count after each kind of
// operator: what the operators consumed is given back, and what is left
// is the result the statement returns.
func TestStatementMemoryGivesBack(t *testing.T) {
	r := New(DefaultConfig())
	r.SetVSchema(loadTestVSchema(t))
	f := bigShards(300, 20)
	for _, sql := range []string{
		"select order_id, count(*) from customer group by order_id",
		"select count(distinct order_id) from customer",
		"select distinct name from customer",
		"select name from customer union select name from country",
		"select name from customer union all select name from country limit 10",
		"select c.name, p.amount from corder c left join payment p on c.order_id = p.order_id",
		"select c.name, p.order_id from corder c join payment p on c.order_id < p.order_id",
		"select order_id from customer order by order_id limit 10 offset 5",
		"select t.name, t.order_id from (select name, order_id from customer union all select name, order_id from customer) t where t.order_id > 10 order by t.order_id + 0 desc",
		"select count(*), max(t.order_id + 1) from (select name, order_id from customer union all select name, order_id from customer) t",
	} {
		p, bv, err := r.Plan(sql, "customer", 0)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		ctx := beginStatement(WithStatementMemory(t.Context(), 1<<30))
		res, err := p.Primitive.Execute(ctx, f, bv)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		if used, want := statementMemory(ctx).used.Load(), resultSize(res); used != want {
			t.Errorf("%s: %d bytes counted after it ran, want %d (its result's)", sql, used, want)
		}
	}
}

// TestJoinStreamsIntoAggregate checks that an aggregate over a join holds
// the join's inputs and its groups, not the joined rows: under a limit
// that the joined rows pass, the join alone fails and the count over it
// succeeds, with the same count as the rows the join gives without a
// limit.
func TestJoinStreamsIntoAggregate(t *testing.T) {
	r := New(DefaultConfig())
	r.SetVSchema(loadTestVSchema(t))
	f := bigShards(2000, 100)
	plan := func(sql string) (*Plan, BindVars) {
		p, bv, err := r.Plan(sql, "customer", 0)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return p, bv
	}
	join, jbv := plan("select c.name, p.amount from corder c join payment p on c.order_id = p.order_id")
	all, err := join.Execute(t.Context(), f, jbv)
	if err != nil {
		t.Fatal(err)
	}
	// The join's rows streamed, chunk by chunk, are the rows it returns.
	streamed := 0
	if err := join.Stream(t.Context(), f, jbv, func(c *querypb.QueryResult) error { streamed += len(c.Rows); return nil }); err != nil || streamed != len(all.Rows) {
		t.Fatalf("join streamed %d rows (%v), executed %d", streamed, err, len(all.Rows))
	}
	limit := resultSize(all) // the joined rows alone
	ctx := WithStatementMemory(t.Context(), limit)
	if _, err := join.Execute(ctx, f, jbv); err == nil {
		t.Fatalf("the join held its %d rows under a limit of %d bytes", len(all.Rows), limit)
	}
	count, cbv := plan("select count(*) from corder c join payment p on c.order_id = p.order_id")
	res, err := count.Execute(ctx, f, cbv)
	if err != nil {
		t.Fatalf("count over the join under %d bytes: %v", limit, err)
	}
	if got := rowsOf(t, res); len(got) != 1 || got[0] != fmt.Sprint(len(all.Rows)) {
		t.Fatalf("count over the join = %v, want %d", got, len(all.Rows))
	}
}
