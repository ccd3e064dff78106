package e2e

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/mosaicdb/mosaic/e2e/cluster"
	"github.com/mosaicdb/mosaic/proto/vreplicationpb"
	"github.com/mosaicdb/mosaic/router/vindexes"
)

// TestLookupBackfill creates a unique lookup on a table that has rows
// while the application writes to it (new rows, rows moved to a new
// order_id, deleted rows): `mosaicctl lookup create` adds the vindex
// write_only, backfills the existing rows with the replication engine (a
// LOOKUP workflow, which `lookup show` reports while it runs) and then
// lets reads use it. Besides the gate's writers, one writer plays a gate
// that never learns of the vindex: it inserts and deletes rows straight
// on the owner's shards until the vindex serves, so only the engine's
// binlog streams can give its rows their entries and remove those of the
// rows it deletes (until the streams keep entries, just before the vindex
// serves). Afterwards every row has its entry, no row deleted straight
// has one (but those deleted in the last 2 s before the streams began
// keeping entries, which a stream may apply after), a query by order_id goes to one shard, and `lookup
// show` says the vindex serves.
func TestLookupBackfill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	ctl := cluster.BuildMosaicctl(t)
	c := cluster.Start(t, cluster.Options{Keyspaces: []cluster.Keyspace{
		{Name: "commerce", VSchema: `{"tables": {}}`},
		{Name: "customer", Shards: []string{"-80", "80-"}, VSchema: `{"sharded": true, "vindexes": {"hash": {"type": "hash"}},
		  "tables": {"corder": {"column_vindexes": [{"column": "customer_id", "name": "hash"}]}}}`},
	}})
	ctx := t.Context()
	db := c.DB(t, "customer")
	db.SetMaxOpenConns(8)
	mustExec(t, db, lookupOwnerDDL)
	// MOSAIC_LOOKUP_BACKFILL_ROWS loads more rows (the 100000).
	nrows := 20000
	if n, err := strconv.Atoi(os.Getenv("MOSAIC_LOOKUP_BACKFILL_ROWS")); err == nil && n > 0 {
		nrows = n
	}
	start := time.Now()
	for i := 0; i < nrows; i += 500 {
		var vals []string
		for j := i; j < i+500; j++ {
			vals = append(vals, fmt.Sprintf("(%d, %d, 's-%d')", 100000+j, j%997, j%50))
		}
		mustExec(t, db, "insert into corder (order_id, customer_id, sku) values "+strings.Join(vals, ", "))
	}
	t.Logf("%d rows loaded in %v", nrows, time.Since(start).Round(time.Millisecond))

	// The writer that never sees the vindex: straight on the shards, until
	// the VSchema in topo shows it serving.
	hash, err := vindexes.New("hash", nil)
	if err != nil {
		t.Fatal(err)
	}
	direct := map[string]*sql.DB{}
	for _, sh := range []string{"-80", "80-"} {
		d, err := sql.Open("mysql", c.DirectDSN("customer", sh))
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		direct[sh] = d
	}
	shardOf := func(customer int) string {
		ksid, _ := hash.Map(fmt.Sprint(customer))
		if ksid[0] < 0x80 {
			return "-80"
		}
		return "80-"
	}
	serving := func() bool {
		vs, err := c.TS.GetVSchema(ctx, "customer")
		if err != nil {
			return false
		}
		v := vs.Vindexes["corder_order_id_lookup"]
		return v != nil && v.Params["write_only"] == ""
	}
	// keeping: the backfill's streams no longer remove entries (its
	// record says so, or is stopped to say so): deletes from then on
	// would leave stale entries, by design, so the writer makes none.
	keeping := func() bool {
		wf, _, err := c.TS.GetWorkflow(ctx, "commerce", "corder_order_id_lookup")
		return err == nil && (wf.State == vreplicationpb.WorkflowState_STOPPED || wf.Tables[0].GetLookup().GetKeepEntries())
	}
	var directDeleted []int
	// lastDeletes are the deletes of the last 2 s before keeping: a
	// stream that lags may apply them after it restarts keeping entries.
	var lastDeletes map[int]bool
	var deletedAt []time.Time
	var directInserted int

	// Writes while the lookup is created: through the gate, which
	// maintains the entries once it sees the write_only vindex.
	wctx, stopWrites := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		rng := rand.New(rand.NewPCG(99, 7))
		next := 9000000
		deleting := true
		for wctx.Err() == nil && !serving() {
			if deleting && keeping() {
				deleting = false
				lastDeletes = map[int]bool{}
				for i, at := range deletedAt {
					if time.Since(at) < 2*time.Second {
						lastDeletes[directDeleted[i]] = true
					}
				}
			}
			if !deleting || rng.IntN(2) == 0 {
				next++
				cu := rng.IntN(997)
				if _, err := direct[shardOf(cu)].ExecContext(wctx, fmt.Sprintf("insert into corder (order_id, customer_id, sku) values (%d, %d, 'direct')", next, cu)); err != nil {
					if wctx.Err() == nil {
						t.Errorf("direct insert: %v", err)
					}
					return
				}
				directInserted++
				continue
			}
			// A row of the loaded ones (order 100000+j has customer j%997).
			j := rng.IntN(nrows)
			cu := j % 997
			res, err := direct[shardOf(cu)].ExecContext(wctx, fmt.Sprintf("delete from corder where order_id = %d and customer_id = %d", 100000+j, cu))
			var me *mysql.MySQLError
			if errors.As(err, &me) && (me.Number == 1213 || me.Number == 1205) {
				continue // the gate's writers lock these rows too
			}
			if err != nil {
				if wctx.Err() == nil {
					t.Errorf("direct delete: %v", err)
				}
				return
			}
			if n, _ := res.RowsAffected(); n == 1 {
				directDeleted = append(directDeleted, 100000+j)
				deletedAt = append(deletedAt, time.Now())
			}
		}
	}()
	var mu sync.Mutex
	var writes, refused int
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, 11))
			next := 500000 + int(seed)*1000000
			for wctx.Err() == nil {
				var q string
				switch rng.IntN(3) {
				case 0:
					next++
					q = fmt.Sprintf("insert into corder (order_id, customer_id, sku) values (%d, %d, 'new')", next, rng.IntN(997))
				case 1:
					next++
					q = fmt.Sprintf("update corder set order_id = %d where customer_id = %d and order_id = %d", next, rng.IntN(997), 100000+rng.IntN(nrows))
				case 2:
					q = fmt.Sprintf("delete from corder where customer_id = %d and order_id = %d", rng.IntN(997), 100000+rng.IntN(nrows))
				}
				_, err := db.ExecContext(wctx, q)
				mu.Lock()
				writes++
				if err != nil && wctx.Err() == nil {
					var me *mysql.MySQLError
					if errors.As(err, &me) && (me.Number == 1062 || me.Number == 1213) {
						refused++
					} else {
						t.Errorf("%s: %v", q, err)
					}
				}
				mu.Unlock()
			}
		}(uint64(w + 1))
	}
	ctlRun := func(args ...string) string {
		t.Helper()
		cctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(cctx, ctl, append(append([]string{"--topo-endpoints", c.TopoAddr}, c.Security.Flags()...), args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("mosaicctl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	start = time.Now()
	// `lookup show` reports the backfill's workflow while it runs.
	showCtx, stopShow := context.WithCancel(ctx)
	var shown string
	var showWG sync.WaitGroup
	showWG.Add(1)
	go func() {
		defer showWG.Done()
		for showCtx.Err() == nil {
			out, err := exec.CommandContext(showCtx, ctl, append(append([]string{"--topo-endpoints", c.TopoAddr}, c.Security.Flags()...), "lookup", "show", "--keyspace", "customer", "--name", "corder_order_id_lookup")...).CombinedOutput()
			if err == nil && strings.Contains(string(out), "backfill of corder_order_id_lookup") {
				shown = string(out)
				return
			}
			select {
			case <-showCtx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	out := ctlRun("lookup", "create", "--keyspace", "customer", "--table", "corder", "--column", "order_id",
		"--name", "corder_order_id_lookup", "--unique", "--lookup-keyspace", "commerce", "--settle", "1s")
	took := time.Since(start)
	stopShow()
	showWG.Wait()
	if !strings.Contains(shown, "TARGET") {
		t.Errorf("lookup show never reported the backfill's streams while it ran (got %q)", shown)
	}
	t.Logf("lookup show during the backfill:\n%s", shown)
	if wfs, err := c.TS.ListWorkflows(ctx, "commerce"); err != nil || len(wfs) != 0 {
		t.Errorf("after lookup create, workflows of commerce: %v %v", wfs, err)
	}
	time.Sleep(500 * time.Millisecond) // writes go on a little with the lookup serving
	stopWrites()
	wg.Wait()
	t.Logf("lookup create took %v under %d writes (%d refused with 1062 or deadlock) and %d inserts and %d deletes straight on the shards:\n%s",
		took.Round(time.Millisecond), writes, refused, directInserted, len(directDeleted), out)
	if directInserted == 0 || len(directDeleted) == 0 {
		t.Errorf("the direct writer made %d inserts and %d deletes: the test proves nothing", directInserted, len(directDeleted))
	}

	// Every row has its entry.
	rows, err := db.QueryContext(ctx, "select order_id, customer_id from corder")
	if err != nil {
		t.Fatal(err)
	}
	owner := map[int64]int64{}
	for rows.Next() {
		var o, cu int64
		if err := rows.Scan(&o, &cu); err != nil {
			t.Fatal(err)
		}
		owner[o] = cu
	}
	rows.Close()
	lrows, err := c.DB(t, "commerce").QueryContext(ctx, "select order_id, customer_id from corder_order_id_lookup")
	if err != nil {
		t.Fatal(err)
	}
	entries := map[int64]int64{}
	for lrows.Next() {
		var o, cu int64
		if err := lrows.Scan(&o, &cu); err != nil {
			t.Fatal(err)
		}
		entries[o] = cu
	}
	lrows.Close()
	missing := 0
	for o, cu := range owner {
		if got, ok := entries[o]; !ok || got != cu {
			missing++
			if missing <= 5 {
				t.Errorf("order %d (customer %d): entry %v %v", o, cu, got, ok)
			}
		}
	}
	t.Logf("%d rows, %d entries (%d stale), %d rows without their entry", len(owner), len(entries), len(entries)-len(owner)+missing, missing)
	if missing > 0 {
		t.Fatalf("%d rows without their entry", missing)
	}
	// The rows deleted straight on the shards lost their entries through
	// the binlog (the gate's deletes may leave a stale entry now and then,
	// by design: see docs/vschema.md).
	staleDirect := 0
	for _, o := range directDeleted {
		if _, ok := owner[int64(o)]; ok {
			continue // inserted again meanwhile? (not by these writers)
		}
		if _, ok := entries[int64(o)]; ok {
			if lastDeletes[o] {
				t.Logf("order %d, deleted straight on its shard just before the streams began keeping entries, keeps one", o)
				continue
			}
			staleDirect++
			if staleDirect <= 5 {
				t.Errorf("order %d, deleted straight on its shard, still has an entry", o)
			}
		}
	}

	// Reads use it: poll until the gate has the serving vindex.
	var some int64
	for o := range owner {
		some = o
		break
	}
	cn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer cn.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		n, plan := explainShards(t, cn, fmt.Sprintf("select * from corder where order_id = %d", some))
		if n == 1 && strings.Contains(plan, "ByLookup") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("order_id = %d still not routed by the lookup:\n%s", some, plan)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var cu int64
	if err := db.QueryRowContext(ctx, "select customer_id from corder where order_id = ?", some).Scan(&cu); err != nil || cu != owner[some] {
		t.Errorf("order %d: customer %d, %v; want %d", some, cu, err, owner[some])
	}
	show := ctlRun("lookup", "show", "--keyspace", "customer")
	// (A write whose client gave up at the stop may still have landed,
	// so the counts are compared with each other, not with owner.)
	var nRows, nEntries int
	i := strings.Index(show, "owner rows ")
	if i >= 0 {
		fmt.Sscanf(show[i:], "owner rows %d\tentries %d", &nRows, &nEntries)
	}
	if !strings.Contains(show, "corder_order_id_lookup\tconsistent_lookup_unique") || !strings.Contains(show, "\tserving\t") || nRows < len(owner)-5 || nEntries < nRows {
		t.Errorf("lookup show:\n%s", show)
	}

	// A non-unique lookup in the owner's own (sharded) keyspace, its
	// table sharded by the looked-up column.
	out = ctlRun("lookup", "create", "--keyspace", "customer", "--table", "corder", "--column", "sku",
		"--name", "corder_sku_lookup", "--settle", "500ms")
	t.Logf("%s", out)
	deadline = time.Now().Add(20 * time.Second)
	for {
		n, plan := explainShards(t, cn, "select * from corder where sku = 's-7'")
		if strings.Contains(plan, "corder_sku_lookup") && n >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sku = 's-7' not routed by the lookup:\n%s", plan)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var byLookup, byScan int
	if err := db.QueryRowContext(ctx, "select count(*) from corder where sku = 's-7'").Scan(&byLookup); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRowContext(ctx, "select count(*) from corder where sku like 's-7'").Scan(&byScan); err != nil {
		t.Fatal(err)
	}
	if byLookup != byScan || byScan == 0 {
		t.Errorf("sku = 's-7': %d rows by the lookup, %d by a scan", byLookup, byScan)
	}

	// Refusals: a column the table lacks (nothing changes), and a unique
	// lookup on a column whose values repeat (the backfill stops, the
	// vindex stays write_only).
	ctlFail := func(want string, args ...string) {
		t.Helper()
		out, err := exec.CommandContext(ctx, ctl, append(append([]string{"--topo-endpoints", c.TopoAddr}, c.Security.Flags()...), args...)...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), want) {
			t.Errorf("mosaicctl %s: %v, want an error saying %q:\n%s", strings.Join(args, " "), err, want, out)
		}
	}
	ctlFail("table corder has no column nosuch", "lookup", "create", "--keyspace", "customer", "--table", "corder", "--column", "nosuch", "--name", "x_lookup")
	ctlFail("not unique", "lookup", "create", "--keyspace", "customer", "--table", "corder", "--column", "sku", "--name", "corder_sku_unique", "--unique", "--settle", "200ms")
	show = ctlRun("lookup", "show", "--keyspace", "customer", "--name", "corder_sku_unique")
	if !strings.Contains(show, "write_only") {
		t.Errorf("after a failed backfill:\n%s", show)
	}
}
