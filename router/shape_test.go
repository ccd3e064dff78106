package router

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mosaicdb/mosaic/proto/topodatapb"
)

func TestShapeOf(t *testing.T) {
	for _, c := range []struct {
		sql, shape string
		lits       []any
	}{
		{"SELECT c FROM sbtest1 WHERE id = 5", "SELECT c FROM sbtest1 WHERE id = \x01", []any{int64(5)}},
		{"select * from t where a='x y' and b = \"q\" and c=-12", "select * from t where a=\x01 and b = \x01 and c=-\x01", []any{"x y", "q", int64(12)}},
		{"insert into t1 (id, v) values (1,'a'),(2,'b')", "insert into t1 (id, v) values (\x01,\x01),(\x01,\x01)", []any{int64(1), "a", int64(2), "b"}},
		{"select `x 1`, t.c2 from `t``` /* 5 */ where id = 3 -- 4\n and k = 1e5 # 9", "", nil}, // `t``` has an escape
		{"select `x 1`, t.c2 from tt /* 5 */ where id = 3 -- 4\n and k = 1e5 # 9", "select `x 1`, t.c2 from tt /* 5 */ where id = \x01 -- 4\n and k = 1e5 # 9", []any{int64(3)}},
		{"select @v1, @@max_execution_time, 0x1f, x'ab', 1.5 from t where id = 7", "select @v1, @@max_execution_time, 0x1f, x\x01, 1.5 from t where id = \x01", []any{"ab", int64(7)}},
		{"select * from t", "", nil},                                 // no literal
		{"select * from t where id = ?", "", nil},                    // a marker
		{"select * from t where s = 'it''s'", "", nil},               // doubled quote
		{"select * from t where s = 'a\\'b'", "", nil},               // backslash
		{"select * from t where s = 'open", "", nil},                 // unterminated
		{"select * from t /* open where id = 1", "", nil},            // unterminated comment
		{"select * from t where id = 99999999999999999999", "", nil}, // past int64
		{"select * from t where id = 1\x01", "", nil},
	} {
		shape, lits, ok := shapeOf(c.sql)
		if ok != (c.shape != "") || shape != c.shape || !reflect.DeepEqual(lits, c.lits) {
			t.Errorf("shapeOf(%q) = %q %v %v, want %q %v", c.sql, shape, lits, ok, c.shape, c.lits)
		}
	}
}

func TestMatchLiterals(t *testing.T) {
	for _, c := range []struct {
		lits []any
		bv   BindVars
		want []string
	}{
		{[]any{int64(5), "x"}, BindVars{"v1": int64(5), "v2": "x"}, []string{"v1", "v2"}},
		{[]any{int64(5), "x"}, BindVars{"v2": int64(5), "v1": "x"}, []string{"v2", "v1"}},
		{[]any{int64(5), int64(5)}, BindVars{"v1": int64(5), "v2": int64(5)}, nil}, // ambiguous
		{[]any{int64(0)}, BindVars{"v1": int64(0)}, nil},                           // -0 is 0
		{[]any{int64(7)}, BindVars{"v1": int64(-7)}, nil},                          // unary minus
		{[]any{int64(1), int64(5)}, BindVars{"v1": int64(5)}, nil},                 // a literal left in place
		{[]any{"5"}, BindVars{"v1": int64(5)}, nil},                                // kinds differ
		{[]any{"x"}, BindVars{"v1": []byte("x")}, nil},
	} {
		got, ok := matchLiterals(c.lits, c.bv)
		if ok != (c.want != nil) || !reflect.DeepEqual(got, c.want) {
			t.Errorf("matchLiterals(%v, %v) = %v %v, want %v", c.lits, c.bv, got, ok, c.want)
		}
	}
}

// shiftLiterals changes every literal shapeOf finds: integers by a
// thousand and more, strings by a suffix.
func shiftLiterals(sql string) (string, bool) {
	shape, lits, ok := shapeOf(sql)
	if !ok {
		return "", false
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(shape); i++ {
		if shape[i] != shapeMarker {
			b.WriteByte(shape[i])
			continue
		}
		switch v := lits[n].(type) {
		case int64:
			fmt.Fprintf(&b, "%d", v+1000+int64(n))
		case string:
			fmt.Fprintf(&b, "'%sz%d'", v, n)
		}
		n++
	}
	return b.String(), true
}

// TestShapeCacheMatchesPlanner plans every golden statement, then the
// same statement with other literal values, which may come from the shape
// cache, and compares the plan and the SQL sent to each shard with what a
// fresh router plans for it.
func TestShapeCacheMatchesPlanner(t *testing.T) {
	vs := loadTestVSchema(t)
	files, _ := filepath.Glob("testdata/*_cases.json")
	hits, total := 0, 0
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var cases []goldenCase
		if err := json.Unmarshal(raw, &cases); err != nil {
			t.Fatal(err)
		}
		for _, c := range cases {
			ks := c.Keyspace
			switch ks {
			case "":
				ks = "customer"
			case "none":
				ks = ""
			}
			variant, ok := shiftLiterals(c.Query)
			if !ok {
				continue
			}
			total++
			warm := New(DefaultConfig())
			warm.SetVSchema(vs)
			warm.Plan(c.Query, ks, 0)
			before := warm.texts.len()
			got, _ := json.Marshal(describePlan(warm, variant, ks, topodatapb.TabletType_PRIMARY))
			if warm.texts.len() == before {
				// Planned from the shape cache: the parser never saw it.
				hits++
			}
			fresh := New(DefaultConfig())
			fresh.SetVSchema(vs)
			want, _ := json.Marshal(describePlan(fresh, variant, ks, topodatapb.TabletType_PRIMARY))
			if string(got) != string(want) {
				t.Errorf("%s: %s\nafter %s\nwarm:  %s\nfresh: %s", file, variant, c.Query, got, want)
			}
		}
	}
	t.Logf("%d of %d statements with other literals planned by shape", hits, total)
	if hits < total/3 {
		t.Errorf("only %d of %d statements hit the cache", hits, total)
	}
}

// TestPassthroughShape: statements an unsharded keyspace gets as written
// are found by shape too, each sent with its own text, and counted
// together.
func TestPassthroughShape(t *testing.T) {
	r := New(DefaultConfig())
	r.SetVSchema(loadTestVSchema(t))
	p1, _, err := r.Plan("select  name FROM product where id = 5", "commerce", 0)
	if err != nil || p1.Type != "Passthrough" {
		t.Fatalf("plan %+v %v", p1, err)
	}
	texts := r.texts.len()
	p2, _, err := r.Plan("select  name FROM product where id = 7", "commerce", 0)
	if err != nil || r.texts.len() != texts {
		t.Fatalf("not planned by shape: %v", err)
	}
	f := &fakeExec{}
	if _, err := p2.Execute(context.Background(), f, nil); err != nil {
		t.Fatal(err)
	}
	if want := "Execute commerce/0 select  name FROM product where id = 7"; len(f.lines) != 1 || f.lines[0] != want {
		t.Fatalf("sent %q, want %q", f.lines, want)
	}
	p3, _, _ := r.Plan("select  name FROM product where id = 8", "commerce", 0)
	if p2.Stats != p3.Stats || p2.Stats == nil {
		t.Fatal("statements of one shape do not share stats")
	}
	p3.Stats.Record(time.Millisecond, 1, false)
	var found bool
	for _, cp := range r.CachedPlans() {
		if cp.Query == "select  name FROM product where id = ?" && cp.Execs == 1 && cp.Type == "Passthrough" {
			found = true
		}
	}
	if !found {
		t.Fatalf("shape not among the cached plans: %+v", r.CachedPlans())
	}
}

// TestBigStatementsNotCachedByText: a bulk INSERT is planned, but its text
// is not kept for an exact repeat.
func TestBigStatementsNotCachedByText(t *testing.T) {
	r := New(DefaultConfig())
	r.SetVSchema(loadTestVSchema(t))
	var b strings.Builder
	b.WriteString("insert into product (id, title) values ")
	for i := 1; b.Len() <= maxCachedText; i++ {
		if i > 1 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "(%d, 'title %d')", i, i)
	}
	if _, _, err := r.Plan(b.String(), "commerce", 0); err != nil {
		t.Fatal(err)
	}
	if n := r.texts.len(); n != 0 {
		t.Fatalf("%d texts cached", n)
	}
	if _, _, err := r.Plan("select 1 from product", "commerce", 0); err != nil || r.texts.len() != 1 {
		t.Fatalf("small statement not cached: %v", err)
	}
}
