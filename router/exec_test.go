package router

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/router/sqltypes"
)

// shardFake answers each shard's queries from canned results and records
// every call as a line.
type shardFake struct {
	mu    sync.Mutex
	lines []string
	// results by "keyspace/shard"; a query matching a key of bySQL (a
	// substring) gets that result instead.
	results map[string]*querypb.QueryResult
	bySQL   map[string]map[string]*querypb.QueryResult
	nextID  uint64
}

func (f *shardFake) answer(kind string, qs []ShardQuery) []*querypb.QueryResult {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]*querypb.QueryResult, len(qs))
	for i, q := range qs {
		f.lines = append(f.lines, fmt.Sprintf("%s %s/%s %s", kind, q.Keyspace, q.Shard, q.SQL))
		key := q.Keyspace + "/" + q.Shard
		res := f.results[key]
		for sub, m := range f.bySQL {
			if strings.Contains(q.SQL, sub) && m[key] != nil {
				res = m[key]
			}
		}
		if strings.HasPrefix(q.SQL, "UPDATE `customer_seq`") {
			f.nextID += 10
			res = &querypb.QueryResult{RowsAffected: 1, InsertId: f.nextID}
		}
		if strings.HasPrefix(q.SQL, "SELECT `cache`") {
			res = result([]string{"cache:8"}, "10")
		}
		if res == nil {
			res = &querypb.QueryResult{RowsAffected: 1}
		}
		out[i] = res
	}
	return out
}

func (f *shardFake) Execute(_ context.Context, qs []ShardQuery) ([]*querypb.QueryResult, error) {
	return f.answer("Execute", qs), nil
}

func (f *shardFake) ExecuteAutocommit(_ context.Context, qs []ShardQuery) ([]*querypb.QueryResult, error) {
	return f.answer("ExecuteAutocommit", qs), nil
}

func (f *shardFake) Stream(_ context.Context, qs []ShardQuery, cb func(int, *querypb.QueryResult) error) error {
	for i, r := range f.answer("Stream", qs) {
		if err := cb(i, r); err != nil {
			return err
		}
	}
	return nil
}

// result builds a result from "name:type[:charset]" columns and rows of
// "|"-separated cells ("NULL" is NULL).
func result(cols []string, rows ...string) *querypb.QueryResult {
	res := &querypb.QueryResult{}
	for _, c := range cols {
		parts := strings.Split(c, ":")
		f := &querypb.Field{Name: parts[0], Charset: 63}
		fmt.Sscan(parts[1], &f.Type)
		if len(parts) > 2 {
			fmt.Sscan(parts[2], &f.Charset)
		}
		if len(parts) > 3 {
			fmt.Sscan(parts[3], &f.Decimals)
		}
		res.Fields = append(res.Fields, f)
	}
	for _, r := range rows {
		var cells [][]byte
		for _, c := range strings.Split(r, "|") {
			if c == "NULL" {
				cells = append(cells, nil)
			} else {
				cells = append(cells, []byte(c))
			}
		}
		res.Rows = append(res.Rows, sqltypes.EncodeRow(cells))
	}
	return res
}

func rowsOf(t *testing.T, res *querypb.QueryResult) []string {
	t.Helper()
	rows, err := decodeRows(res)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rows {
		var cells []string
		for _, c := range r {
			if c == nil {
				cells = append(cells, "NULL")
			} else {
				cells = append(cells, string(c))
			}
		}
		out = append(out, strings.Join(cells, "|"))
	}
	return out
}

func runQuery(t *testing.T, f *shardFake, sql string) *querypb.QueryResult {
	t.Helper()
	r := New(DefaultConfig())
	r.SetVSchema(loadTestVSchema(t))
	p, bv, err := r.Plan(sql, "customer", 0)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	res, err := p.Execute(t.Context(), f, bv)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	// Stream must give the same rows.
	var streamed []string
	var fields []*querypb.Field
	err = p.Stream(t.Context(), f, bv, func(c *querypb.QueryResult) error {
		if len(c.Fields) > 0 {
			fields = c.Fields
		}
		cp := copyResult(c)
		cp.Fields = fields
		streamed = append(streamed, rowsOf(t, cp)...)
		return nil
	})
	if err != nil {
		t.Fatalf("stream %s: %v", sql, err)
	}
	if got := rowsOf(t, res); strings.Join(got, ",") != strings.Join(streamed, ",") {
		t.Fatalf("%s: execute %q != stream %q", sql, got, streamed)
	}
	return res
}

const (
	tInt   = "8"   // LONGLONG
	tDec   = "246" // NEWDECIMAL
	tVar   = "253" // VAR_STRING
	tFloat = "5"
	// wCol is a WEIGHT_STRING column the planner adds beside text keys.
	wCol = "weight:252:63"
)

// ws returns a general_ci-like weight of s, as a shard's WEIGHT_STRING
// would give it ("NULL" for "NULL").
func ws(s string) string {
	if s == "NULL" {
		return s
	}
	c, _ := sqltypes.NewComparator(&querypb.Field{Type: 253, Charset: 45})
	return string(c.Key([]byte(s))[1:])
}

// wrow appends to a "|"-separated row the weight of its cell at col.
func wrow(row string, col int) string {
	return row + "|" + ws(strings.Split(row, "|")[col])
}

func TestMergeSortCollation(t *testing.T) {
	f := &shardFake{results: map[string]*querypb.QueryResult{
		"customer/-80": result([]string{"customer_id:" + tInt, "name:" + tVar + ":45", wCol}, wrow("1|alice", 1), wrow("3|Bob", 1), wrow("5|émile", 1)),
		"customer/80-": result([]string{"customer_id:" + tInt, "name:" + tVar + ":45", wCol}, wrow("2|Alicia", 1), wrow("4|bob", 1), wrow("6|zed", 1)),
	}}
	res := runQuery(t, f, "select customer_id, name from customer order by name")
	got := strings.Join(rowsOf(t, res), ",")
	// general_ci: case and accents do not matter; ties keep shard order.
	want := "1|alice,2|Alicia,3|Bob,4|bob,5|émile,6|zed"
	if got != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
	f.results = map[string]*querypb.QueryResult{
		"customer/-80": result([]string{"customer_id:" + tInt, "name:" + tVar + ":45"}, "5|émile", "3|Bob", "1|alice"),
		"customer/80-": result([]string{"customer_id:" + tInt, "name:" + tVar + ":45"}, "6|zed", "4|bob", "2|Alicia"),
	}
	res = runQuery(t, f, "select customer_id, name from customer order by customer_id desc limit 2, 3")
	if got := strings.Join(rowsOf(t, res), ","); got != "4|bob,3|Bob,2|Alicia" {
		t.Fatalf("limit: %s", got)
	}
	for _, l := range f.lines {
		if strings.Contains(l, "DESC") && !strings.HasSuffix(l, "LIMIT 5") {
			t.Fatalf("limit not pushed as offset+count: %s", l)
		}
	}
}

func TestMergeNumericAndHidden(t *testing.T) {
	f := &shardFake{results: map[string]*querypb.QueryResult{
		// Each shard sorts its rows, as the shard query says.
		"customer/-80": result([]string{"name:" + tVar + ":45", "age:" + tInt}, "c|-3", "b|9", "a|10"),
		"customer/80-": result([]string{"name:" + tVar + ":45", "age:" + tInt}, "e|2", "d|100"),
	}}
	res := runQuery(t, f, "select name from customer order by age")
	if got := strings.Join(rowsOf(t, res), ","); got != "c,e,b,a,d" {
		t.Fatalf("got %s", got)
	}
	if len(res.Fields) != 1 {
		t.Fatalf("hidden column not dropped: %d fields", len(res.Fields))
	}
}

func TestAggregates(t *testing.T) {
	cols := []string{"count(*):" + tInt, "sum(age):" + tDec + ":63:0", "min(age):" + tInt, "max(age):" + tInt}
	f := &shardFake{results: map[string]*querypb.QueryResult{
		"customer/-80": result(cols, "3|60|10|30"),
		"customer/80-": result(cols, "2|45|5|40"),
	}}
	res := runQuery(t, f, "select count(*), sum(age), min(age), max(age) from customer")
	if got := strings.Join(rowsOf(t, res), ","); got != "5|105|5|40" {
		t.Fatalf("got %s", got)
	}
	// AVG = SUM / COUNT with 4 more decimals.
	acols := []string{"avg(age):" + tDec + ":63:0", "count(age):" + tInt}
	f = &shardFake{results: map[string]*querypb.QueryResult{
		"customer/-80": result(acols, "10|3"),
		"customer/80-": result(acols, "NULL|0"),
	}}
	res = runQuery(t, f, "select avg(age) from customer")
	if got := strings.Join(rowsOf(t, res), ","); got != "3.3333" || res.Fields[0].Decimals != 4 || len(res.Fields) != 1 {
		t.Fatalf("avg: %s (%d fields)", got, len(res.Fields))
	}
	// Empty shards: one row, count 0, sum NULL.
	f = &shardFake{results: map[string]*querypb.QueryResult{
		"customer/-80": result([]string{"name:" + tVar + ":45", wCol}),
		"customer/80-": result([]string{"name:" + tVar + ":45", wCol}),
	}}
	res = runQuery(t, f, "select count(distinct name) from customer")
	if got := strings.Join(rowsOf(t, res), ","); got != "0" {
		t.Fatalf("empty count distinct: %q", got)
	}
}

func TestGroupByHavingOrder(t *testing.T) {
	cols := []string{"name:" + tVar + ":45", "count(*):" + tInt, wCol}
	f := &shardFake{results: map[string]*querypb.QueryResult{
		"customer/-80": result(cols, wrow("a|1", 0), wrow("B|2", 0), wrow("c|5", 0)),
		"customer/80-": result(cols, wrow("A|3", 0), wrow("b|1", 0), wrow("d|1", 0)),
	}}
	res := runQuery(t, f, "select name, count(*) from customer group by name having count(*) > 1 order by count(*) desc, name")
	if got := strings.Join(rowsOf(t, res), ","); got != "c|5,a|4,B|3" {
		t.Fatalf("got %s", got)
	}
	// Implicit order of GROUP BY, as MariaDB.
	res = runQuery(t, f, "select name, count(*) from customer group by name")
	if got := strings.Join(rowsOf(t, res), ","); got != "a|4,B|3,c|5,d|1" {
		t.Fatalf("got %s", got)
	}
}

func TestCountDistinct(t *testing.T) {
	cols := []string{"age:" + tInt, "count(distinct name):" + tVar + ":45", wCol}
	f := &shardFake{results: map[string]*querypb.QueryResult{
		"customer/-80": result(cols, wrow("1|x", 1), wrow("1|y", 1), wrow("2|x", 1)),
		"customer/80-": result(cols, wrow("1|X", 1), wrow("1|z", 1), wrow("2|NULL", 1)),
	}}
	res := runQuery(t, f, "select age, count(distinct name) from customer group by age")
	if got := strings.Join(rowsOf(t, res), ","); got != "1|3,2|1" {
		t.Fatalf("got %s", got)
	}
}

func TestUnionDistinct(t *testing.T) {
	f := &shardFake{results: map[string]*querypb.QueryResult{
		"customer/-80": result([]string{"name:" + tVar + ":45"}, "a", "b"),
		"customer/80-": result([]string{"name:" + tVar + ":45"}, "A", "c"),
	}}
	res := runQuery(t, f, "select name from customer union select name from country order by name")
	if got := strings.Join(rowsOf(t, res), ","); got != "a,b,c" {
		t.Fatalf("got %s", got)
	}
}

func TestCrossShardJoin(t *testing.T) {
	f := &shardFake{
		results: map[string]*querypb.QueryResult{
			"customer/-80": result([]string{"name:" + tVar + ":45", "order_id:" + tInt}, "x|1", "y|2", "z|NULL"),
			"customer/80-": result([]string{"name:" + tVar + ":45", "order_id:" + tInt}, "w|3"),
		},
		bySQL: map[string]map[string]*querypb.QueryResult{
			"FROM `payment`": {
				"customer/-80": result([]string{"amount:" + tInt, "order_id:" + tInt}, "10|2"),
				"customer/80-": result([]string{"amount:" + tInt, "order_id:" + tInt}, "20|1", "30|1"),
			},
		},
	}
	res := runQuery(t, f, "select c.name, p.amount from corder c left join payment p on c.order_id = p.order_id")
	got := rowsOf(t, res)
	sort.Strings(got)
	if strings.Join(got, ",") != "w|NULL,x|20,x|30,y|10,z|NULL" {
		t.Fatalf("got %v\n%s", got, strings.Join(f.lines, "\n"))
	}
	// The right side gets only the keys of its own shard.
	var right []string
	for _, l := range f.lines {
		if strings.Contains(l, "`payment`") {
			right = append(right, l)
		}
	}
	if len(right) < 2 || !strings.Contains(strings.Join(right, "\n"), "IN (") {
		t.Fatalf("right side: %q", right)
	}
}

func TestPulloutSubquery(t *testing.T) {
	f := &shardFake{
		results: map[string]*querypb.QueryResult{
			"customer/-80": result([]string{"name:" + tVar + ":45"}, "a"),
			"customer/80-": result([]string{"name:" + tVar + ":45"}, "b"),
		},
		bySQL: map[string]map[string]*querypb.QueryResult{
			"FROM `corder`": {
				"customer/-80": result([]string{"customer_id:" + tInt}),
				"customer/80-": result([]string{"customer_id:" + tInt}),
			},
		},
	}
	runQuery(t, f, "select name from customer where customer_id not in (select customer_id from corder)")
	joined := strings.Join(f.lines, "\n")
	if !strings.Contains(joined, "NOT IN (SELECT 1 FROM DUAL WHERE 0)") {
		t.Fatalf("empty NOT IN list: %s", joined)
	}
}

func TestInsertSequence(t *testing.T) {
	f := &shardFake{nextID: 1} // next_id starts at 1
	r := New(DefaultConfig())
	r.SetVSchema(loadTestVSchema(t))
	p, bv, err := r.Plan("insert into customer (name) values ('a'), ('b'), ('c')", "customer", 0)
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.Execute(t.Context(), f, bv)
	if err != nil {
		t.Fatal(err)
	}
	// cache 10: the block is [1, 11).
	if res.InsertId != 1 {
		t.Fatalf("insert id %d", res.InsertId)
	}
	want := []string{
		"ExecuteAutocommit commerce/0 SELECT `cache` FROM `customer_seq` WHERE `id` = 0",
		"ExecuteAutocommit commerce/0 UPDATE `customer_seq` SET `next_id` = LAST_INSERT_ID(`next_id` + 10) WHERE `id` = 0",
	}
	for i, w := range want {
		if f.lines[i] != w {
			t.Fatalf("line %d = %q, want %q", i, f.lines[i], w)
		}
	}
	all := strings.Join(f.lines, "\n")
	for _, id := range []string{"('a', 1)", "('b', 2)", "('c', 3)"} {
		if !strings.Contains(all, id) {
			t.Fatalf("missing row %s in\n%s", id, all)
		}
	}
	// The next statement uses the same block without a round trip.
	n := len(f.lines)
	res, err = p.Execute(t.Context(), f, bv)
	if err != nil || res.InsertId != 4 {
		t.Fatalf("second insert: %v %v", res, err)
	}
	for _, l := range f.lines[n:] {
		if strings.HasPrefix(l, "ExecuteAutocommit") {
			t.Fatalf("unexpected reservation %s", l)
		}
	}
}

func TestPreparedBind(t *testing.T) {
	r := New(DefaultConfig())
	r.SetVSchema(loadTestVSchema(t))
	p, bv, err := r.Plan("select * from customer where customer_id = ? and name = ?", "customer", 0)
	if err != nil {
		t.Fatal(err)
	}
	bv2, err := p.Bind(bv, []any{int64(5), "o'x"})
	if err != nil {
		t.Fatal(err)
	}
	f := &shardFake{}
	if _, err := p.Execute(t.Context(), f, bv2); err != nil {
		t.Fatal(err)
	}
	if want := "Execute customer/80- SELECT * FROM `customer` WHERE `customer_id` = 5 AND `name` = 'o\\'x'"; f.lines[0] != want {
		t.Fatalf("got %s", f.lines[0])
	}
	if _, err := p.Bind(bv, []any{int64(1)}); err == nil {
		t.Fatal("wrong arg count accepted")
	}
}

func TestPlanCache(t *testing.T) {
	r := New(DefaultConfig())
	r.SetVSchema(loadTestVSchema(t))
	p1, bv1, _ := r.Plan("select * from customer where customer_id = 1", "customer", 0)
	p2, bv2, _ := r.Plan("select * from customer where customer_id = 2", "customer", 0)
	_, _, _ = r.Plan("select * from customer where customer_id = 2", "customer", 0)
	st := r.CacheStats()
	// The second and third statements share the first one's shape.
	if st.Misses != 1 || st.NormalizedHits != 2 || st.Hits != 0 {
		t.Fatalf("stats %+v", st)
	}
	if p1.Primitive != p2.Primitive || bv1["v1"] != int64(1) || bv2["v1"] != int64(2) {
		t.Fatal("plans not shared")
	}
	small := New(Config{PlanCacheSize: 2})
	small.SetVSchema(loadTestVSchema(t))
	for i := 0; i < 5; i++ {
		small.Plan(fmt.Sprintf("select * from customer where customer_id = 1 and age = %d", i), "customer", 0)
		small.Plan(fmt.Sprintf("select %d from customer", i), "customer", 0)
	}
	if st := small.CacheStats(); st.Size > 2 {
		t.Fatalf("cache over its bound: %+v", st)
	}
}

func TestRoundTrip(t *testing.T) {
	r := New(DefaultConfig())
	for _, sql := range []string{
		"select a, b + 1 as c from t where x in (1, 2) and y like 'a%' order by 2 desc limit 3",
		"select count(*), sum(distinct x) from t group by y having count(*) > 1",
		"insert into t (a, b) values (1, 'x\\'y'), (2, null) on duplicate key update b = values(b)",
		"update t set a = a + 1 where b between 1 and 2",
		"select * from a left join b on a.id = b.id where exists (select 1 from c where c.x = a.x)",
		"select name from t union all select name from u order by name",
	} {
		stmt, err := r.Parse(sql, 0)
		if err != nil {
			t.Fatal(err)
		}
		normalize(stmt)
		tmpl, err := newTemplate(stmt, 0)
		if err != nil {
			t.Fatal(err)
		}
		out, err := tmpl.render(func(string) (any, bool) { return int64(7), true })
		if err != nil {
			t.Fatal(err)
		}
		stmt2, err := r.Parse(out, 0)
		if err != nil {
			t.Fatalf("%s regenerated as %s: %v", sql, out, err)
		}
		out2, _ := restoreSQL(stmt2)
		stmt3, _ := r.Parse(out2, 0)
		out3, _ := restoreSQL(stmt3)
		if out2 != out3 {
			t.Fatalf("not stable: %s vs %s", out2, out3)
		}
	}
}

func BenchmarkPlanPointSelect(b *testing.B) {
	r := New(DefaultConfig())
	r.SetVSchema(loadTestVSchema(b))
	f := &nopExec{}
	queries := make([]string, 1000)
	for i := range queries {
		queries[i] = fmt.Sprintf("select * from customer where customer_id = %d", i)
	}
	b.Run("same-text", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			p, bv, err := r.Plan(queries[0], "customer", 0)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := p.Execute(context.Background(), f, bv); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("prepared", func(b *testing.B) {
		args := []any{int64(0)}
		for i := 0; i < b.N; i++ {
			p, bv, err := r.Plan("select * from customer where customer_id = ?", "customer", 0)
			if err != nil {
				b.Fatal(err)
			}
			args[0] = int64(i)
			bv2, _ := p.Bind(bv, args)
			if _, err := p.Execute(context.Background(), f, bv2); err != nil {
				b.Fatal(err)
			}
		}
	})
	// The point select of an unsharded keyspace: a shape hit whose plan
	// sends the client's own text, streamed.
	b.Run("passthrough-stream", func(b *testing.B) {
		texts := make([]string, 1000)
		for i := range texts {
			texts[i] = fmt.Sprintf("SELECT c FROM sbtest1 WHERE id = %d", 1000+i)
		}
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			p, bv, err := r.Plan(texts[i%len(texts)], "commerce", 0)
			if err != nil {
				b.Fatal(err)
			}
			if err := p.Stream(context.Background(), f, bv, func(*querypb.QueryResult) error { return nil }); err != nil {
				b.Fatal(err)
			}
		}
	})
	// The point select of a sharded keyspace: the same shape, its value
	// hashed to a shard.
	b.Run("sharded-stream", func(b *testing.B) {
		texts := make([]string, 1000)
		for i := range texts {
			texts[i] = fmt.Sprintf("SELECT email FROM customer WHERE customer_id = %d", 1000+i)
		}
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			p, bv, err := r.Plan(texts[i%len(texts)], "customer", 0)
			if err != nil {
				b.Fatal(err)
			}
			if err := p.Stream(context.Background(), f, bv, func(*querypb.QueryResult) error { return nil }); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("new-literal", func(b *testing.B) {
		small := New(Config{PlanCacheSize: 100})
		small.SetVSchema(r.VSchema())
		for i := 0; i < b.N; i++ {
			p, bv, err := small.Plan(queries[i%len(queries)], "customer", 0)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := p.Execute(context.Background(), f, bv); err != nil {
				b.Fatal(err)
			}
		}
	})
}

type nopExec struct{}

var emptyResult = &querypb.QueryResult{}

func (nopExec) Execute(_ context.Context, qs []ShardQuery) ([]*querypb.QueryResult, error) {
	out := make([]*querypb.QueryResult, len(qs))
	for i := range out {
		out[i] = emptyResult
	}
	return out, nil
}
func (n nopExec) ExecuteAutocommit(ctx context.Context, qs []ShardQuery) ([]*querypb.QueryResult, error) {
	return n.Execute(ctx, qs)
}
func (nopExec) Stream(context.Context, []ShardQuery, func(int, *querypb.QueryResult) error) error {
	return nil
}

// TestWeightsDecideText: text keys merge by the shards' WEIGHT_STRING,
// not by the collation the column definitions carry (MariaDB sends the
// connection's). Here the weights are a made-up collation in which 'ð'
// sorts between 'd' and 'e' and 'x' equals 'X'.
func TestWeightsDecideText(t *testing.T) {
	w := map[string]string{"delta": "d1", "Ðelta": "d2", "epsilon": "e1", "x": "x", "X": "x", "zeta": "z"}
	row := func(id, name string) string { return id + "|" + name + "|" + w[name] }
	cols := []string{"customer_id:" + tInt, "name:" + tVar + ":45", wCol}
	f := &shardFake{results: map[string]*querypb.QueryResult{
		"customer/-80": result(cols, row("1", "delta"), row("3", "epsilon"), row("5", "zeta")),
		"customer/80-": result(cols, row("2", "Ðelta"), row("4", "x")),
	}}
	res := runQuery(t, f, "select customer_id, name from customer order by name")
	if got := strings.Join(rowsOf(t, res), ","); got != "1|delta,2|Ðelta,3|epsilon,4|x,5|zeta" {
		t.Fatalf("order: %s", got)
	}
	if len(res.Fields) != 2 {
		t.Fatalf("weight column not dropped: %d fields", len(res.Fields))
	}
	// MIN/MAX follow the weights (general_ci would put Ð after z).
	mcols := []string{"min(name):" + tVar + ":45", "max(name):" + tVar + ":45", wCol, wCol}
	f.results = map[string]*querypb.QueryResult{
		"customer/-80": result(mcols, "epsilon|zeta|e1|z"),
		"customer/80-": result(mcols, "Ðelta|Ðelta|d2|d2"),
	}
	res = runQuery(t, f, "select min(name), max(name) from customer")
	if got := strings.Join(rowsOf(t, res), ","); got != "Ðelta|zeta" {
		t.Fatalf("min/max: %s", got)
	}
	// Groups and distinct values are those of the weights: x and X are one.
	gcols := []string{"name:" + tVar + ":45", "count(*):" + tInt, wCol}
	f.results = map[string]*querypb.QueryResult{
		"customer/-80": result(gcols, "x|2|x", "zeta|1|z"),
		"customer/80-": result(gcols, "X|3|x", "Ðelta|1|d2"),
	}
	res = runQuery(t, f, "select name, count(*) from customer group by name")
	if got := strings.Join(rowsOf(t, res), ","); got != "Ðelta|1,x|5,zeta|1" {
		t.Fatalf("group by: %s", got)
	}
	dcols := []string{"count(distinct name):" + tVar + ":45", wCol}
	f.results = map[string]*querypb.QueryResult{
		"customer/-80": result(dcols, "x|x", "zeta|z"),
		"customer/80-": result(dcols, "X|x", "Ðelta|d2"),
	}
	res = runQuery(t, f, "select count(distinct name) from customer")
	if got := strings.Join(rowsOf(t, res), ","); got != "3" {
		t.Fatalf("count distinct: %s", got)
	}
	// A key that is not text ignores its weight column.
	ncols := []string{"name:" + tInt, wCol}
	f.results = map[string]*querypb.QueryResult{
		"customer/-80": result(ncols, "10|a", "30|b"),
		"customer/80-": result(ncols, "9|z", "20|y"),
	}
	res = runQuery(t, f, "select name from customer order by name")
	if got := strings.Join(rowsOf(t, res), ","); got != "9,10,20,30" {
		t.Fatalf("numbers: %s", got)
	}
}

// TestFormatDouble pins formatDouble to what MariaDB 10.11 prints for a
// DOUBLE (measured with SELECT x, SUM(x) on a DOUBLE column).
func TestFormatDouble(t *testing.T) {
	for in, want := range map[float64]string{
		1206530: "1206530", 1e15: "1e15", 1e16: "1e16", 123456789012345678: "1.2345678901234568e17",
		0.1: "0.1", 0.30000000000000004: "0.30000000000000004", 1e-4: "0.0001", 1.5e-7: "0.00000015",
		-1206530.25: "-1206530.25", 1e21: "1e21", 3: "3", 100000000000000.5: "100000000000000.5",
		999999999999999: "999999999999999", 9999999999999998: "9.999999999999998e15",
		5e-324: "5e-324", 123456789.123456789: "123456789.12345679", 1e-15: "0.000000000000001",
		1e-16: "1e-16", 1.1e-15: "0.0000000000000011", 9.87654321e-18: "9.87654321e-18", -1e-15: "-0.000000000000001",
		0: "0", 1.5e15: "1.5e15", 1.7976931348623157e308: "1.7976931348623157e308",
	} {
		if got := string(formatDouble(in)); got != want {
			t.Errorf("formatDouble(%v) = %s, want %s", in, got, want)
		}
	}
}

// TestJoinTextKeysByWeight: a gate join matches text keys by the shards'
// weights: 'Ðelta@x' on the left matches 'delta@x' on the right in a
// collation where they are equal (general_ci, which the column
// definitions claim, says they are not).
func TestJoinTextKeysByWeight(t *testing.T) {
	lcols := []string{"name:" + tVar + ":45", "email:" + tVar + ":45", wCol}
	rcols := []string{"email:" + tVar + ":45", "email:" + tVar + ":45", wCol}
	f := &shardFake{
		results: map[string]*querypb.QueryResult{
			"customer/-80": result(lcols, "a|Ðelta@x|dx"),
			"customer/80-": result(lcols),
		},
		bySQL: map[string]map[string]*querypb.QueryResult{
			"FROM `users`": {
				"customer/-80": result(rcols, "delta@x|delta@x|dx"),
				"customer/80-": result(rcols, "delta@x|delta@x|dx"),
			},
		},
	}
	res := runQuery(t, f, "select c.name, u.email from customer c join users u on c.email = u.email")
	if got := strings.Join(rowsOf(t, res), ","); got != "a|delta@x" {
		t.Fatalf("got %q\n%s", got, strings.Join(f.lines, "\n"))
	}
}

// BeginSide records a side transaction; its statements are answered as
// the fake's others are and recorded as "Side ks/shard SQL".
func (f *shardFake) BeginSide(_ context.Context, ks, shard string, _ bool) (SideTx, error) {
	f.record("BeginSide " + ks + "/" + shard)
	return &fakeSide{f: f, ks: ks, shard: shard}, nil
}

func (f *shardFake) record(line string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lines = append(f.lines, line)
}

type fakeSide struct {
	f         *shardFake
	ks, shard string
	// fail, when set, is the error of a statement (nil: it runs).
	fail func(sql string) error
}

func (s *fakeSide) Execute(_ context.Context, sql string) (*querypb.QueryResult, error) {
	if s.fail != nil {
		if err := s.fail(sql); err != nil {
			s.f.record("Side " + s.ks + "/" + s.shard + " " + sql + " -> error")
			return nil, err
		}
	}
	return s.f.answer("Side", []ShardQuery{{Keyspace: s.ks, Shard: s.shard, SQL: sql}})[0], nil
}

func (s *fakeSide) Commit(context.Context) error {
	s.f.record("Commit " + s.ks + "/" + s.shard)
	if s.fail != nil {
		return s.fail("COMMIT " + s.ks + "/" + s.shard)
	}
	return nil
}

func (s *fakeSide) Rollback(context.Context) { s.f.record("Rollback " + s.ks + "/" + s.shard) }
