package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mosaicdb/mosaic/e2e/cluster"
)

// TestSmallResultFirst: a plan whose results have been small asks the
// tablet for whole results (Execute); when one is suddenly large the
// tablet gives up and the gate streams it instead, and the client gets
// every row either way.
func TestSmallResultFirst(t *testing.T) {
	c := cluster.Start(t, cluster.Options{Keyspaces: []cluster.Keyspace{{Name: "commerce"}}})
	db := c.DB(t, "commerce")
	mustExec(t, db, "create table big (id int primary key, pad varchar(200))")
	pad := strings.Repeat("x", 200)
	var vals []string
	for i := 1; i <= 3000; i++ {
		vals = append(vals, fmt.Sprintf("(%d, '%s')", i, pad))
	}
	mustExec(t, db, "insert into big values "+strings.Join(vals, ","))
	// Small results first: the plan learns they are small.
	for i := 1; i <= 3; i++ {
		if n := count(t, db, fmt.Sprintf("select count(*) from (select id from big where id <= %d) x", i)); n != i {
			t.Fatalf("count %d", n)
		}
		rows, err := db.Query(fmt.Sprintf("select id, pad from big where id <= %d", i))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for rows.Next() {
			n++
		}
		if rows.Close(); n != i {
			t.Fatalf("small select: %d rows, want %d", n, i)
		}
	}
	// The same plan with a result of ~600 KB: more than a stream chunk.
	for _, limit := range []int{3000, 2500, 5} {
		rows, err := db.Query(fmt.Sprintf("select id, pad from big where id <= %d", limit))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for rows.Next() {
			var id int
			var p string
			if err := rows.Scan(&id, &p); err != nil {
				t.Fatal(err)
			}
			if p != pad {
				t.Fatalf("row %d: pad of %d bytes", id, len(p))
			}
			n++
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		if n != limit {
			t.Fatalf("select of %d rows returned %d", limit, n)
		}
	}
}
