package router

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/sqlerr"
)

// fakeExec records every call as a line and answers with empty results.
type fakeExec struct {
	mu    sync.Mutex
	lines []string
}

func (f *fakeExec) record(kind string, qs []ShardQuery) []*querypb.QueryResult {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]*querypb.QueryResult, len(qs))
	for i, q := range qs {
		f.lines = append(f.lines, fmt.Sprintf("%s %s/%s %s", kind, q.Keyspace, q.Shard, q.SQL))
		out[i] = &querypb.QueryResult{}
	}
	return out
}

func (f *fakeExec) Execute(ctx context.Context, qs []ShardQuery) ([]*querypb.QueryResult, error) {
	return f.record("Execute", qs), nil
}

func (f *fakeExec) ExecuteAutocommit(ctx context.Context, qs []ShardQuery) ([]*querypb.QueryResult, error) {
	return f.record("ExecuteAutocommit", qs), nil
}

func (f *fakeExec) Stream(ctx context.Context, qs []ShardQuery, cb func(int, *querypb.QueryResult) error) error {
	for i, r := range f.record("Stream", qs) {
		if err := cb(i, r); err != nil {
			return err
		}
	}
	return nil
}

func testRouter() *Router {
	r := New(DefaultConfig())
	r.SetVSchema(BuildVSchema([]KeyspaceInput{
		{Name: "commerce", Shards: []string{"0"}},
	}, nil))
	return r
}

func TestUnshardedPassthrough(t *testing.T) {
	r := testRouter()
	// An unsharded keyspace gets the statement as written whenever the
	// router has nothing to change in it; what the parser rejects passes
	// through too. Dropping a keyspace qualifier, ? markers and gate
	// values (LAST_INSERT_ID()) need the regenerated text.
	for _, c := range []struct{ sql, want string }{
		{"select * from t where id = 1", "select * from t where id = 1"},
		{"select /*! STRAIGHT_JOIN */ a || b from t", "select /*! STRAIGHT_JOIN */ a || b from t"},
		{"insert into t values (1)", "insert into t values (1)"},
		{"create table t (id int primary key)", "create table t (id int primary key)"},
		{"select * from t where id = 1 procedure analyse()", "select * from t where id = 1 procedure analyse()"},
		{"select * from commerce.t where id = 1", "SELECT * FROM `t` WHERE `id` = 1"},
		{"select last_insert_id(), id from t", "SELECT 0 AS `last_insert_id()`,`id` FROM `t`"},
	} {
		p, bv, err := r.Plan(c.sql, "commerce", 0)
		if err != nil {
			t.Fatalf("%s: %v", c.sql, err)
		}
		if p.Kind != PlanRoute {
			t.Fatalf("%s: kind %v", c.sql, p.Kind)
		}
		f := &fakeExec{}
		if _, err := p.Execute(t.Context(), f, withBinds(bv, LastInsertIDBind, uint64(0))); err != nil {
			t.Fatal(err)
		}
		if want := "Execute commerce/0 " + c.want; len(f.lines) != 1 || f.lines[0] != want {
			t.Errorf("%s: sent %q, want %q", c.sql, f.lines, want)
		}
	}
	// A passthrough plan holds its own literals: the same statement with
	// other values must not reuse it.
	for _, v := range []string{"1", "2"} {
		p, bv, err := r.Plan("select * from t where id = "+v, "commerce", 0)
		if err != nil {
			t.Fatal(err)
		}
		f := &fakeExec{}
		if _, err := p.Execute(t.Context(), f, bv); err != nil {
			t.Fatal(err)
		}
		if want := "Execute commerce/0 select * from t where id = " + v; f.lines[0] != want {
			t.Fatalf("sent %q, want %q", f.lines[0], want)
		}
	}
	// With ? markers the text is regenerated to bind the arguments.
	p, bv, err := r.Plan("select * from t where id = ?", "commerce", 0)
	if err != nil {
		t.Fatal(err)
	}
	bv, err = p.Bind(bv, []any{int64(7)})
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeExec{}
	if _, err := p.Execute(t.Context(), f, bv); err != nil {
		t.Fatal(err)
	}
	if want := "Execute commerce/0 SELECT * FROM `t` WHERE `id` = 7"; f.lines[0] != want {
		t.Fatalf("sent %q, want %q", f.lines[0], want)
	}
}

func TestSessionStatements(t *testing.T) {
	r := testRouter()
	for _, sql := range []string{"begin", "commit", "rollback", "use commerce", "set autocommit = 0", "set names utf8mb4", "show databases", "kill 12"} {
		p, _, err := r.Plan(sql, "", 0)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		if p.Kind != PlanSession || p.Stmt == nil {
			t.Fatalf("%s: not a session plan", sql)
		}
	}
}

// TestSavepointTextNotPassedThrough: savepoint statements the parser
// rejects are parse errors even on an unsharded keyspace, where other
// unparsable text goes to mysqld as it is.
func TestSavepointTextNotPassedThrough(t *testing.T) {
	r := testRouter()
	for _, sql := range []string{"SAVEPOINT a b", "release savepoint", "ROLLBACK TO SAVEPOINT a b"} {
		_, _, err := r.Plan(sql, "commerce", 0)
		var se *sqlerr.Error
		if !errors.As(err, &se) || se.Num != sqlerr.ERParseError {
			t.Errorf("%s: %v, want a parse error", sql, err)
		}
	}
}

func TestKeyspaceErrors(t *testing.T) {
	r := testRouter()
	_, _, err := r.Plan("select 1", "nosuch", 0)
	var se *sqlerr.Error
	if !errors.As(err, &se) || se.Num != sqlerr.ERBadDB || !strings.Contains(se.Message, "nosuch") {
		t.Fatalf("unknown keyspace: %v", err)
	}
	// Without a keyspace, a table-less select goes to the unsharded one.
	p, _, err := r.Plan("select 1", "", 0)
	if err != nil || p.Primitive.Describe()["keyspace"] != "commerce" {
		t.Fatalf("select 1 without keyspace: %v %v", p, err)
	}
	empty := New(DefaultConfig())
	if _, _, err := empty.Plan("select 1", "", 0); !errors.As(err, &se) || se.Num != sqlerr.ERNoDB {
		t.Fatalf("no keyspaces: %v", err)
	}
}

// TestParserPanicIsAnError: the parser panics on some long numeric
// literals (found by FuzzPlan, whose worker then stalled while minimizing):
// a sharded keyspace gets a 1235 error, an unsharded one the text unchanged.
func TestParserPanicIsAnError(t *testing.T) {
	long := "select " + strings.Repeat("5", 140) + " from t"
	r := New(DefaultConfig())
	r.SetVSchema(loadTestVSchema(t))
	if _, err := r.Parse(long, 0); err == nil {
		t.Fatal("parse succeeded")
	} else if e := sqlerr.FromError(err); e.Num != sqlerr.ERNotSupportedYet {
		t.Fatalf("parse error %v, want 1235", err)
	}
	if _, _, err := r.Plan(long, "customer", 0); sqlerr.FromError(err).Num != sqlerr.ERNotSupportedYet {
		t.Fatalf("sharded plan error %v, want 1235", err)
	}
	p, _, err := r.Plan(long, "commerce", 0)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeExec{}
	if _, err := p.Execute(t.Context(), f, nil); err != nil {
		t.Fatal(err)
	}
	if want := "Execute commerce/0 " + long; len(f.lines) != 1 || f.lines[0] != want {
		t.Fatalf("sent %q, want %q", f.lines, want)
	}
}

// spawnExec is a fakeExec that is also a Spawner.
type spawnExec struct {
	fakeExec
	count int32
	mu    sync.Mutex
}

func (s *spawnExec) Go(fn func()) {
	s.mu.Lock()
	s.count++
	s.mu.Unlock()
	go fn()
}

// TestMergeUsesSpawner: a merge starts its per-shard goroutines through
// the executor's Spawner when it has one.
func TestMergeUsesSpawner(t *testing.T) {
	e := &spawnExec{}
	qs := []ShardQuery{{Keyspace: "ks", Shard: "-80", SQL: "select 1"}, {Keyspace: "ks", Shard: "80-", SQL: "select 1"}}
	if err := mergeStream(t.Context(), e, qs, nil, func(*querypb.QueryResult) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if e.count != 2 || len(e.lines) != 2 {
		t.Fatalf("%d goroutines through the spawner, calls %q", e.count, e.lines)
	}
}

func TestParseModeIgnoreSpace(t *testing.T) {
	// Unparsed, the statement would go to the unsharded keyspace as
	// written (Stmt nil); parsed, it is planned (Stmt set). Each order: a
	// plan cached in one mode must not serve the other.
	const spaced = "select count (*) from t where id = 1"
	for _, modes := range [][]ParseMode{{0, IgnoreSpace, 0}, {IgnoreSpace, 0, IgnoreSpace}} {
		r := testRouter()
		for _, m := range modes {
			plan, _, err := r.Plan(spaced, "commerce", m)
			if err != nil {
				t.Fatalf("mode %q: %v", m, err)
			}
			if parsed := plan.Stmt != nil; parsed != (m == IgnoreSpace) {
				t.Fatalf("modes %v, mode %q: parsed %v", modes, m, parsed)
			}
		}
	}
	for in, want := range map[string]ParseMode{
		"STRICT_TRANS_TABLES":                        0,
		"IGNORE_SPACE,STRICT_TRANS_TABLES":           IgnoreSpace,
		"REAL_AS_FLOAT,PIPES_AS_CONCAT,IGNORE_SPACE": IgnoreSpace,
		"ansi": IgnoreSpace,
		"":     0,
	} {
		if got := ParseModeOf(in); got != want {
			t.Errorf("ParseModeOf(%q) = %v, want %v", in, got, want)
		}
	}
}
