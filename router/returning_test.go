package router

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
)

func TestSplitReturning(t *testing.T) {
	cases := []struct {
		sql, body, ret string
		params         int
		subquery       bool
	}{
		{sql: "insert into t (a) values (1) returning a, b", body: "insert into t (a) values (1)", ret: "a, b"},
		{sql: "INSERT INTO t VALUES (1) RETURNING *;  ", body: "INSERT INTO t VALUES (1)", ret: "*"},
		{sql: "replace t set a = 1 Returning a+1 as x", body: "replace t set a = 1", ret: "a+1 as x"},
		{sql: "delete from t where a = 'returning' returning a", body: "delete from t where a = 'returning'", ret: "a"},
		{sql: "/* c */ delete from t where `returning` = 1 returning `returning`", body: "/* c */ delete from t where `returning` = 1", ret: "`returning`"},
		{sql: "insert into t values ('it''s returning', \"x\\\" returning\") returning a", body: "insert into t values ('it''s returning', \"x\\\" returning\")", ret: "a"},
		{sql: "insert into t values (1) -- returning x\n# returning y\n returning z", body: "insert into t values (1) -- returning x\n# returning y", ret: "z"},
		{sql: "delete from t where t.returning = 1", body: ""},
		{sql: "insert into t values ((select 1 returning)) returning a", body: "insert into t values ((select 1 returning))", ret: "a"},
		{sql: "insert into t values (?) returning a + ?, (select 1)", body: "insert into t values (?)", ret: "a + ?, (select 1)", params: 1, subquery: true},
		{sql: "update t set a = 1 returning a", body: ""},
		{sql: "select 1 returning", body: ""},
		{sql: "insert into t values (1) /* returning", body: ""},
		{sql: "insert into t values ('returning", body: ""},
	}
	for _, c := range cases {
		body, ret, ok := splitReturning(c.sql, 0)
		if c.body == "" {
			if ok || body != c.sql {
				t.Errorf("%q: split into %q and %+v", c.sql, body, ret)
			}
			continue
		}
		if !ok || body != c.body || ret.text != c.ret || ret.params != c.params || ret.subquery != c.subquery {
			t.Errorf("%q: got %v %q %+v, want %q %q", c.sql, ok, body, ret, c.body, c.ret)
		}
	}
}

// echoInsert answers each shard's INSERT ... RETURNING with one row per
// inserted row, the row's values as one column, as mysqld returns them:
// in the order of the shard's statement.
type echoInsert struct{ nopExec }

func (echoInsert) Execute(_ context.Context, qs []ShardQuery) ([]*querypb.QueryResult, error) {
	out := make([]*querypb.QueryResult, len(qs))
	for i, q := range qs {
		vals := q.SQL[strings.Index(q.SQL, "VALUES (")+len("VALUES (") : strings.Index(q.SQL, ") RETURNING")]
		out[i] = result([]string{"row:253"}, strings.Split(vals, "), (")...)
	}
	return out, nil
}

// TestInsertReturningOrder: the rows of a multi-row INSERT ... RETURNING
// come back in the order of the statement's rows, though each shard
// returns only its own.
func TestInsertReturningOrder(t *testing.T) {
	r := New(DefaultConfig())
	r.SetVSchema(loadTestVSchema(t))
	p, bv, err := r.Plan("insert into users (email, name) values ('a', 1), ('b', 2), ('c', 3), ('d', 4), ('e', 5), ('f', 6) returning email, name", "customer", 0)
	if err != nil {
		t.Fatal(err)
	}
	var shards []string
	qs, _, err := p.Primitive.(*Insert).queries(bv)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		shards = append(shards, q.Shard)
	}
	if len(shards) != 2 {
		t.Fatalf("rows go to shards %v: the test needs both", shards)
	}
	res, err := p.Execute(t.Context(), echoInsert{}, bv)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"'a', 1", "'b', 2", "'c', 3", "'d', 4", "'e', 5", "'f', 6"}
	if got := rowsOf(t, res); !slices.Equal(got, want) {
		t.Fatalf("rows %q, want %q", got, want)
	}
	if len(res.Fields) != 1 {
		t.Fatalf("fields %v", res.Fields)
	}
}

// TestReturningPlanCache: statements that differ only in their RETURNING
// clause do not share a plan.
func TestReturningPlanCache(t *testing.T) {
	r := New(DefaultConfig())
	r.SetVSchema(loadTestVSchema(t))
	for _, ret := range []string{"email", "name", ""} {
		sql := "insert into users (email, name) values ('a', 1)"
		if ret != "" {
			sql += " returning " + ret
		}
		for _, v := range []string{"'a'", "'z'"} {
			p, bv, err := r.Plan(strings.Replace(sql, "'a'", v, 1), "customer", 0)
			if err != nil {
				t.Fatal(err)
			}
			qs, _, err := p.Primitive.(*Insert).queries(bv)
			if err != nil {
				t.Fatal(err)
			}
			if got := qs[0].SQL; ret != "" && !strings.HasSuffix(got, " RETURNING "+ret) || ret == "" && strings.Contains(got, "RETURNING") {
				t.Fatalf("%s: shard gets %s", sql, got)
			}
		}
	}
}

// TestReturningLiteralsNotShared: literals in the RETURNING list are
// part of the clause's text, so statements that differ in them never
// share a cached plan (by shape or normalized text).
func TestReturningLiteralsNotShared(t *testing.T) {
	r := New(DefaultConfig())
	r.SetVSchema(loadTestVSchema(t))
	for _, c := range []struct{ ks, table string }{{"customer", "users (email, name)"}, {"commerce", "product (id, title)"}} {
		for i, v := range []string{"1", "2", "3"} {
			sql := "insert into " + c.table + " values ('" + v + "', 'x') returning concat(name, '" + v + "'), " + v
			p, bv, err := r.Plan(sql, c.ks, 0)
			if err != nil {
				t.Fatal(err)
			}
			var got string
			switch x := p.Primitive.(type) {
			case *Insert:
				qs, _, err := x.queries(bv)
				if err != nil {
					t.Fatal(err)
				}
				got = qs[0].SQL
			case *Route:
				qs, err := x.queries(bv, topodatapb.TabletType_PRIMARY)
				if err != nil {
					t.Fatal(err)
				}
				got = qs[0].SQL
			}
			if want := "returning concat(name, '" + v + "'), " + v; !strings.HasSuffix(strings.ToLower(got), want) {
				t.Fatalf("%d: %s: shard gets %s", i, sql, got)
			}
		}
	}
}
