package vrepl_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mosaicdb/mosaic/keyrange"
	"github.com/mosaicdb/mosaic/proto/vreplicationpb"
	"github.com/mosaicdb/mosaic/router/vindexes"
)

// TestLookupWorkflow backfills a unique lookup on customer.big (a nullable
// column) from source shards -80 and 80- into a lookup table sharded by
// big on -40 and 40-, on real tablets: the copy, then binlog changes of
// every kind (an update of the looked-up value, one of another column, a
// delete, NULL to a value and back, inserts with and without a value).
// Every entry is on the shard its value hashes to and the entries are
// exactly those of the rows; a row that takes another row's value stops
// the stream with "not unique" and leaves the entry as it was.
func TestLookupWorkflow(t *testing.T) {
	if testing.Short() {
		t.Skip("starts tablets")
	}
	e := startEnv(t, []string{"-80", "80-"}, []string{"-40", "40-"}, nil)
	e.load(400)
	for _, s := range e.shardList(e.sources) {
		e.exec(s, "UPDATE customer SET big = NULL WHERE id % 7 = 0")
	}
	for _, s := range e.shardList(e.targets) {
		e.exec(s, "CREATE TABLE big_lookup (big BIGINT UNSIGNED NOT NULL PRIMARY KEY, id BIGINT NOT NULL)")
	}
	wf := &vreplicationpb.Workflow{Name: "big_lookup", Type: vreplicationpb.WorkflowType_LOOKUP, SourceKeyspace: e.ks, TargetKeyspace: e.ks,
		SourceShards: []string{"-80", "80-"}, TargetShards: []string{"-40", "40-"}, State: vreplicationpb.WorkflowState_RUNNING,
		Tables: []*vreplicationpb.TableRule{{Name: "customer", VindexType: "hash", VindexColumn: "big", Lookup: &vreplicationpb.LookupRule{
			Table: "big_lookup", From: "big", To: "id", OwnerFrom: "big", OwnerTo: "id", Unique: true}}}}
	if err := e.ts.CreateWorkflow(t.Context(), e.ks, wf); err != nil {
		t.Fatal(err)
	}
	e.waitStreams("big_lookup", 3*time.Minute, func(st *vreplicationpb.StreamStatus) bool { return st.Phase == "running" })
	if got := len(e.waitStreams("big_lookup", time.Minute, func(*vreplicationpb.StreamStatus) bool { return true })); got != 4 {
		t.Errorf("%d streams, want 4 (every source feeds every target)", got)
	}
	on := func(id int, stmt string) { e.exec(e.sources[e.sourceOf(id)], stmt) }
	on(1, "UPDATE customer SET big = 100001 WHERE id = 1") // the value moves
	on(2, "UPDATE customer SET name = 'x' WHERE id = 2")   // the entry stays
	on(3, "DELETE FROM customer WHERE id = 3")             // the entry goes
	on(7, "UPDATE customer SET big = 700007 WHERE id = 7") // NULL to a value
	on(4, "UPDATE customer SET big = NULL WHERE id = 4")   // a value to NULL
	on(500, "INSERT INTO customer (id, name, big) VALUES (500, 'n', 500005)")
	on(501, "INSERT INTO customer (id, name, big) VALUES (501, 'n', NULL)")
	e.checkEntries(t)

	// id 600 takes id 2's value: the entry keeps naming id 2.
	var big2 string
	if err := e.db(e.sources[e.sourceOf(2)]).QueryRow("SELECT big FROM customer WHERE id = 2").Scan(&big2); err != nil {
		t.Fatal(err)
	}
	on(600, "INSERT INTO customer (id, name, big) VALUES (600, 'dup', "+big2+")")
	e.waitStreams("big_lookup", time.Minute, func(st *vreplicationpb.StreamStatus) bool {
		return st.SourceShard != e.sourceOf(600) || st.TargetShard != lookupShard(big2) || strings.Contains(st.Message, "not unique")
	})
	var id int
	if err := e.db(e.targets[lookupShard(big2)]).QueryRow("SELECT id FROM big_lookup WHERE big = " + big2).Scan(&id); err != nil || id != 2 {
		t.Errorf("entry of %s names %d (%v), want 2", big2, id, err)
	}
}

// lookupShard is the target shard holding big's entry.
func lookupShard(big string) string {
	ksid, _ := vindexes.Hash{}.Map(big)
	lo, _ := keyrange.Parse("-40")
	if keyrange.Contains(lo, ksid) {
		return "-40"
	}
	return "40-"
}

// checkEntries polls until the targets' entries are those of the
// sources' rows, each on the shard its value hashes to.
func (e *env) checkEntries(t *testing.T) {
	t.Helper()
	var want []string
	for _, s := range e.shardList(e.sources) {
		rs, err := e.db(s).Query("SELECT big, id FROM customer WHERE big IS NOT NULL")
		if err != nil {
			t.Fatal(err)
		}
		for rs.Next() {
			var big string
			var id int
			if err := rs.Scan(&big, &id); err != nil {
				t.Fatal(err)
			}
			want = append(want, fmt.Sprintf("%s %s %d", lookupShard(big), big, id))
		}
		rs.Close()
	}
	slices.Sort(want)
	var got []string
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		got = nil
		for _, s := range e.shardList(e.targets) {
			rs, err := e.db(s).Query("SELECT big, id FROM big_lookup")
			if err != nil {
				t.Fatal(err)
			}
			for rs.Next() {
				var big string
				var id int
				if err := rs.Scan(&big, &id); err != nil {
					t.Fatal(err)
				}
				got = append(got, fmt.Sprintf("%s %s %d", s.Shard, big, id))
			}
			rs.Close()
		}
		slices.Sort(got)
		if slices.Equal(got, want) {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("entries (shard value id) differ from the rows':\n%s", diffLines(want, got))
}
