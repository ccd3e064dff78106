package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mosaicdb/mosaic/e2e/cluster"
	"github.com/mosaicdb/mosaic/proxy"
)

// TestStatementMemoryLimit runs a gate whose statements may hold 256 KiB
// of rows: a cross-shard DISTINCT and GROUP BY over some 1 MB of rows fail
// with 1290 naming the option, while the same session goes on, and
// statements that stream (a scatter SELECT of all the rows) or hold little
// (COUNT) work as before.
func TestStatementMemoryLimit(t *testing.T) {
	c := cluster.Start(t, cluster.Options{
		Keyspaces: []cluster.Keyspace{{Name: "bank", Shards: []string{"-80", "80-"}, VSchema: `{
  "sharded": true,
  "vindexes": {"hash": {"type": "hash"}},
  "tables": {"wide": {"column_vindexes": [{"column": "id", "name": "hash"}]}}
}`}},
		Gate: func(cfg *proxy.Config) { cfg.Router.MaxStatementMemory = 256 << 10 },
	})
	db := c.DB(t, "bank")
	db.SetMaxOpenConns(1) // one session throughout
	mustExec(t, db, "create table wide (id bigint primary key, pad varchar(300) not null)")
	const rows = 4000
	for start := 0; start < rows; start += 500 {
		var vals []string
		for id := start; id < start+500; id++ {
			vals = append(vals, fmt.Sprintf("(%d, '%0250d')", id, id))
		}
		mustExec(t, db, "insert into wide (id, pad) values "+strings.Join(vals, ","))
	}
	for _, q := range []string{
		"select distinct pad from wide",
		"select pad, count(*) from wide group by pad",
		// The gate sorts the rows of a derived table across shards.
		"select t.pad from (select id, pad from wide order by id limit 4000) t order by t.pad desc",
	} {
		_, err := db.Exec(q)
		if err == nil {
			t.Fatalf("%s: no error over the limit", q)
		}
		if num, state := mysqlErr(t, err); num != 1290 || state != "HY000" || !strings.Contains(err.Error(), "--max-memory-per-statement=262144") {
			t.Fatalf("%s: %v, want error 1290", q, err)
		}
	}
	if got := oneValue(t, db, "select count(*) from wide"); got != fmt.Sprint(rows) {
		t.Fatalf("count after refusals: %s", got)
	}
	// A scatter SELECT streams its 1 MB: it is not held, not limited.
	r, err := db.Query("select id, pad from wide")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for r.Next() {
		n++
	}
	if err := r.Err(); err != nil || n != rows {
		t.Fatalf("scatter select: %d rows, %v", n, err)
	}
	r.Close()
	// Under the limit, the gate groups as before.
	if got := oneValue(t, db, "select count(*) from (select 1) x"); got != "1" {
		t.Fatalf("small statement: %s", got)
	}
	if got := oneValue(t, db, "select count(distinct id) from wide where id < 100"); got != "100" {
		t.Fatalf("count distinct under the limit: %s", got)
	}
	if got := oneValue(t, db, "select count(*) from (select id from wide order by id limit 100) t"); got != "100" {
		t.Fatalf("derived table under the limit: %s", got)
	}
}
