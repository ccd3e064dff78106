package router

import (
	"errors"
	"slices"
	"sort"
	"testing"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proto/vschemapb"
)

func batchRouter() *Router {
	vs := &vschemapb.Keyspace{
		Sharded:  true,
		Vindexes: map[string]*vschemapb.Vindex{"hash": {Type: "hash"}},
		Tables: map[string]*vschemapb.Table{
			"c": {ColumnVindexes: []*vschemapb.ColumnVindex{{Column: "id", Name: "hash"}}},
		},
	}
	r := New(DefaultConfig())
	r.SetVSchema(BuildVSchema([]KeyspaceInput{{Name: "customer", VSchema: vs, Shards: []string{"-80", "80-"}}}, nil))
	return r
}

func TestBatchInsertText(t *testing.T) {
	r := batchRouter()
	b, ok, err := r.NewBatchInsert("insert into c (id, name, n) values (?, ?, ? + 1) on duplicate key update n = n + 1", 0, 3)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	// Execution 1's name is DEFAULT.
	text, order, err := b.Text(3, func(e, p int) bool { return e == 1 && p == 1 })
	if err != nil {
		t.Fatal(err)
	}
	want := "INSERT INTO `c` (`id`,`name`,`n`) VALUES (?,?,? + 1),(?,DEFAULT,? + 1),(?,?,? + 1) ON DUPLICATE KEY UPDATE `n`=`n` + 1"
	if text != want {
		t.Fatalf("text\n %s\nwant\n %s", text, want)
	}
	wantOrder := []BatchParam{{0, 0}, {0, 1}, {0, 2}, {1, 0}, {1, 2}, {2, 0}, {2, 1}, {2, 2}}
	if !slices.Equal(order, wantOrder) {
		t.Fatalf("order %v, want %v", order, wantOrder)
	}
	// The statement plans and splits by shard as any multi-row INSERT.
	plan, bv, err := r.Plan(text, "customer", 0)
	if err != nil {
		t.Fatal(err)
	}
	args := []any{int64(1), "a", int64(10), int64(2), int64(20), int64(3), "c", int64(30)}
	bound, err := plan.Bind(bv, args)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeExec{}
	if _, err := plan.Execute(t.Context(), f, bound); err != nil {
		t.Fatal(err)
	}
	lines := slices.Clone(f.lines)
	sort.Strings(lines)
	// hash(2) and hash(3) are on -80, hash(1) on 80-.
	wantLines := []string{
		"Execute customer/-80 INSERT INTO `c` (`id`,`name`,`n`) VALUES (2, DEFAULT, 20 + 1), (3, 'c', 30 + 1) ON DUPLICATE KEY UPDATE `n`=`n` + 1",
		"Execute customer/80- INSERT INTO `c` (`id`,`name`,`n`) VALUES (1, 'a', 10 + 1) ON DUPLICATE KEY UPDATE `n`=`n` + 1",
	}
	if !slices.Equal(lines, wantLines) {
		t.Errorf("shard queries\n %v\nwant\n %v", lines, wantLines)
	}
	// A marker inside an expression cannot be DEFAULT.
	if _, _, err := b.Text(1, func(e, p int) bool { return p == 2 }); !errors.Is(err, ErrBatchDefault) {
		t.Errorf("DEFAULT in an expression: %v", err)
	}
	// Text leaves the statement as it was: it serves the next batch.
	if again, _, _ := b.Text(3, func(e, p int) bool { return e == 1 && p == 1 }); again != want {
		t.Errorf("second text %s", again)
	}
}

func TestBatchInsertRefused(t *testing.T) {
	r := batchRouter()
	for _, c := range []struct {
		sql string
		n   int
	}{
		{"insert into c (id, n) values (?, ?) on duplicate key update n = ?", 3},
		{"insert into c set id = ?", 1},
		{"insert into c (id) select ?", 1},
		{"update c set n = ? where id = ?", 2},
		{"delete from c where id = ?", 1},
		{"select ?", 1},
		{"insert into c (id) values (1)", 0},
	} {
		if _, ok, err := r.NewBatchInsert(c.sql, 0, c.n); ok || err != nil {
			t.Errorf("%s: ok=%v err=%v", c.sql, ok, err)
		}
	}
	for _, sql := range []string{"replace into c (id, n) values (?, ?)", "insert into c (id, n) values (?, 1), (?, 2)"} {
		if _, ok, err := r.NewBatchInsert(sql, 0, 2); !ok || err != nil {
			t.Errorf("%s: ok=%v err=%v", sql, ok, err)
		}
	}
}

func TestInsertInfo(t *testing.T) {
	res := func(info string, affected uint64, warnings uint32) *querypb.QueryResult {
		return &querypb.QueryResult{Info: info, RowsAffected: affected, Warnings: warnings}
	}
	for _, c := range []struct {
		results []*querypb.QueryResult
		rowsOf  [][]int
		want    string
	}{
		// One shard: its own (none for one row).
		{[]*querypb.QueryResult{res("", 1, 0)}, [][]int{{0}}, ""},
		{[]*querypb.QueryResult{res("Records: 2  Duplicates: 0  Warnings: 0", 2, 0)}, [][]int{{0, 1}}, "Records: 2  Duplicates: 0  Warnings: 0"},
		// Two shards, summed; a one-row shard counts its row, a
		// duplicate when it replaced (2) or was ignored (0).
		{[]*querypb.QueryResult{res("Records: 3  Duplicates: 1  Warnings: 1", 4, 1), res("", 1, 0)}, [][]int{{0, 1, 2}, {3}}, "Records: 4  Duplicates: 1  Warnings: 1"},
		{[]*querypb.QueryResult{res("", 2, 0), res("", 0, 1)}, [][]int{{0}, {1}}, "Records: 2  Duplicates: 2  Warnings: 1"},
		// An info of another form: none.
		{[]*querypb.QueryResult{res("Rows matched: 1", 1, 0), res("", 1, 0)}, [][]int{{0}, {1}}, ""},
	} {
		if got := insertInfo(c.results, c.rowsOf); got != c.want {
			t.Errorf("insertInfo(%v) = %q, want %q", c.results, got, c.want)
		}
	}
}

func TestWithDefaults(t *testing.T) {
	r := batchRouter()
	uses := func(u ...ParamUse) func(int) ParamUse { return func(p int) ParamUse { return u[p] } }
	for _, c := range []struct {
		sql    string
		use    []ParamUse
		want   string
		params []int
		err    bool
	}{
		{"update c set name = ?, n = ? where id = ?", []ParamUse{ParamDefault, ParamIgnore, ParamValue},
			"UPDATE `c` SET `name`=DEFAULT, `n`=COALESCE(`n`, DEFAULT(`n`)) WHERE `id` = ?", []int{2}, false},
		{"update c set name = ?, n = ? + 1 where id = ?", []ParamUse{ParamValue, ParamDefault, ParamValue}, "", nil, true},
		{"update c set name = ? where id = ?", []ParamUse{ParamValue, ParamIgnore}, "", nil, true},
		{"insert into c (id, name, n) values (?, ?, ?) on duplicate key update name = ?", []ParamUse{ParamValue, ParamIgnore, ParamValue, ParamDefault},
			"INSERT INTO `c` (`id`,`name`,`n`) VALUES (?,DEFAULT,?) ON DUPLICATE KEY UPDATE `name`=DEFAULT", []int{0, 2}, false},
		{"delete from c where id = ?", []ParamUse{ParamDefault}, "", nil, true},
	} {
		text, params, err := r.WithDefaults(c.sql, 0, len(c.use), uses(c.use...))
		if c.err {
			if !errors.Is(err, ErrBatchDefault) {
				t.Errorf("%s: %q %v, want ErrBatchDefault", c.sql, text, err)
			}
			continue
		}
		if err != nil || text != c.want || !slices.Equal(params, c.params) {
			t.Errorf("%s:\n got %q %v %v\nwant %q %v", c.sql, text, params, err, c.want, c.params)
		}
	}
}
