package e2e

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mosaicdb/mosaic/mtls"
	"github.com/mosaicdb/mosaic/proto/vreplicationpb"
	"github.com/mosaicdb/mosaic/tablet/vrepl/workflow"
	"github.com/mosaicdb/mosaic/topo"
)

var moveTablesSwitches = flag.Int("movetables-switches", 12, "traffic moves (switch, reverse, switch, ...) in TestMoveTablesSwitches")

// startSwitchLoad writes through the gate to keyspace commerce until
// stopped, each writer on one connection it keeps, in the shapes whose
// writes a traffic switch must neither lose nor apply twice: new
// customers with an order in a transaction (the transaction a fence may
// find on its way to mysqld), new customers alone (autocommit), prepared
// updates of existing customers, an update of an existing customer with
// a new order in a transaction that pauses between its statements (it
// may be open when the fence comes), and a transaction that writes
// product (which stays in commerce) and a new customer. It remembers
// every acknowledged write as startMoveLoad does.
func startSwitchLoad(t *testing.T, db *sql.DB, writers, existing int) *moveLoad {
	ctx, cancel := context.WithCancel(context.Background())
	l := &moveLoad{customers: map[int64]string{}, orders: map[int64]int64{}, uncertain: map[int64]bool{}, cancel: cancel}
	for w := 0; w < writers; w++ {
		conn, err := db.Conn(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			defer conn.Close()
			r := rand.New(rand.NewPCG(uint64(w), 29))
			var mine []int64
			for id := int64(w + 1); id <= int64(existing); id += int64(writers) {
				mine = append(mine, id)
			}
			next := int64(1_000_000_000 + w)
			newID := func() int64 {
				id := next
				next += int64(writers)
				return id
			}
			// tx runs stmts in one transaction, pausing up to pause
			// between them.
			tx := func(qctx context.Context, pause time.Duration, stmts ...string) error {
				tx, err := conn.BeginTx(qctx, nil)
				if err != nil {
					return err
				}
				for i, q := range stmts {
					if i > 0 && pause > 0 {
						time.Sleep(time.Duration(r.Int64N(int64(pause))))
					}
					if _, err := tx.ExecContext(qctx, q); err != nil {
						tx.Rollback()
						return err
					}
				}
				return tx.Commit()
			}
			for seq := 1; ctx.Err() == nil; seq++ {
				v := fmt.Sprintf("s%d-%d", w, seq)
				qctx, qcancel := context.WithTimeout(context.Background(), time.Minute)
				var err error
				var id, order, product int64
				kind := r.IntN(5)
				switch kind {
				case 0:
					id = newID()
					order = id
					err = tx(qctx, 0,
						fmt.Sprintf("INSERT INTO customer (id, name, v) VALUES (%d, 'new', '%s')", id, v),
						fmt.Sprintf("INSERT INTO corder (order_id, customer_id, sku, price) VALUES (%d, %d, 'sku-tx', 2.50)", order, id))
				case 1:
					id = newID()
					_, err = conn.ExecContext(qctx, fmt.Sprintf("INSERT INTO customer (id, name, v) VALUES (%d, 'alone', '%s')", id, v))
				case 2:
					id = mine[r.IntN(len(mine))]
					_, err = conn.ExecContext(qctx, "UPDATE customer SET v = ? WHERE id = ?", v, id)
				case 3:
					id = mine[r.IntN(len(mine))]
					order = newID()
					err = tx(qctx, 10*time.Millisecond,
						fmt.Sprintf("UPDATE customer SET v = '%s' WHERE id = %d", v, id),
						fmt.Sprintf("INSERT INTO corder (order_id, customer_id, sku, price) VALUES (%d, %d, 'sku-up', 3.50)", order, id))
				default:
					id = newID()
					product = id
					err = tx(qctx, 0,
						fmt.Sprintf("INSERT INTO product (sku, descr) VALUES ('p%d', 'with a customer')", product),
						fmt.Sprintf("INSERT INTO customer (id, name, v) VALUES (%d, 'with product', '%s')", id, v))
				}
				qcancel()
				l.mu.Lock()
				if err != nil {
					// The write may have landed: its row's value is
					// unknown from now on (a new row is not checked).
					l.uncertain[id] = true
					l.errors = append(l.errors, err.Error())
				} else {
					l.writes++
					l.customers[id] = v
					if order != 0 {
						l.orders[order] = id
					}
					if product != 0 {
						l.products++
					}
					if kind != 2 && kind != 3 {
						mine = append(mine, id)
					}
				}
				l.mu.Unlock()
				if err != nil {
					time.Sleep(20 * time.Millisecond)
				}
			}
		}()
	}
	t.Cleanup(l.stop)
	return l
}

// TestMoveTablesSwitches moves customer and corder from commerce to
// customer (-80,80-) and back again many times (-movetables-switches)
// while writers on kept connections to commerce write them in
// transactions that may be open when a fence comes, in autocommit
// statements and in transactions with a table that stays: after the last
// switch every acknowledged customer write and order is in customer
// exactly once, on the shard its keyspace id names, with its value, and
// the reverse streams kept commerce identical. A write that a source
// took after the switch read its position for the catch-up, or that a
// stream applied after a newer one, fails it. Client errors are logged,
// not failed on (TestMoveTables holds the switch to none): their writes
// are not counted as acknowledged.
func TestMoveTablesSwitches(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three mariadbd")
	}
	targets := []string{"-80", "80-"}
	n := 2000
	rc := startReshardCluster(t, []reshardSpec{
		{Keyspace: "commerce", Sources: []string{"0"}, VSchema: `{}`},
		{Keyspace: "customer", Sources: targets, VSchema: moveTablesVSchema},
	}, 0, "--vrepl-copy-cycle", "2s")
	m := workflow.New(rc.TS, rc.TabletCreds(t, mtls.RoleOperator), slog.New(slog.DiscardHandler))
	commerce := rc.DB(t, "commerce")
	for _, q := range []string{
		"CREATE TABLE customer (id BIGINT NOT NULL PRIMARY KEY, name VARCHAR(64) NOT NULL, v VARCHAR(64), updated DATETIME(6))",
		"CREATE TABLE corder (order_id BIGINT NOT NULL, customer_id BIGINT NOT NULL, sku VARCHAR(32) NOT NULL, price DECIMAL(10,2), PRIMARY KEY (order_id))",
		"CREATE TABLE product (sku VARCHAR(64) NOT NULL PRIMARY KEY, descr VARCHAR(128))",
	} {
		if _, err := commerce.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	var cs []string
	for id := 1; id <= n; id++ {
		cs = append(cs, fmt.Sprintf("(%d, 'customer %d', 'v0')", id, id))
	}
	if _, err := commerce.Exec("INSERT INTO customer (id, name, v) VALUES " + strings.Join(cs, ",")); err != nil {
		t.Fatal(err)
	}

	load := startSwitchLoad(t, commerce, 4, n)
	load.waitWrites(t, 20)
	rc.mustCtl(t, "movetables", "create", "--workflow", "mt", "--source-keyspace", "commerce", "--target-keyspace", "customer", "--tables", "customer,corder")
	waitReportOf(t, m, "customer", "mt", "caught up", func(r *workflow.Report) bool { ok, _ := r.Caught(2); return ok })

	// Every change of the two keyspaces' workflow records, in order: the
	// streams that fed the side taking the traffic are stopped (their
	// record STOPPED, and the switch waits for the streams) before the
	// commit that switches it, which freezes them.
	wctx, wcancel := context.WithCancel(t.Context())
	defer wcancel()
	var recMu sync.Mutex
	var recs []string // "workflow state version"
	var watchers sync.WaitGroup
	for _, ks := range []string{"commerce", "customer"} {
		_, events, err := rc.TS.Store().Watch(wctx, "keyspaces/"+ks+"/workflows/")
		if err != nil {
			t.Fatal(err)
		}
		watchers.Add(1)
		go func() {
			defer watchers.Done()
			for ev := range events {
				if ev.Err != nil || ev.Deleted {
					continue
				}
				wf := &vreplicationpb.Workflow{}
				if topo.Unmarshal(ev.Value, wf) != nil {
					continue
				}
				recMu.Lock()
				recs = append(recs, fmt.Sprintf("%s %s %d", wf.Name, wf.State, ev.Version))
				recMu.Unlock()
			}
		}()
	}

	on := "commerce"
	for i := range *moveTablesSwitches {
		cmd, feed, feedKs := "switch-traffic", "mt_reverse", "commerce"
		if on == "customer" {
			cmd, feed, feedKs = "reverse-traffic", "mt", "customer"
		}
		out, err := rc.ctl("movetables", cmd, "--target-keyspace", "customer", "--workflow", "mt")
		if err != nil {
			t.Fatalf("move %d: mosaicctl movetables %s: %v\n%s", i+1, cmd, err, out)
		}
		on = map[string]string{"commerce": "customer", "customer": "commerce"}[on]
		t.Logf("move %d: %s", i+1, strings.TrimSpace(out))
		waitReportOf(t, m, feedKs, feed, "caught up after "+cmd, func(r *workflow.Report) bool { ok, _ := r.Caught(2); return ok })
		load.waitWrites(t, 20+rand.IntN(40))
	}
	if on != "customer" {
		rc.mustCtl(t, "movetables", "switch-traffic", "--target-keyspace", "customer", "--workflow", "mt")
	}
	load.waitWrites(t, 20)
	load.stop()
	if errs := load.errorsSince(0); len(errs) > 0 {
		t.Logf("%d client errors (their writes are not counted as acknowledged); first: %s", len(errs), errs[0])
	}
	wcancel()
	watchers.Wait()
	t.Run("feeds stop before the switch", func(t *testing.T) {
		last := map[string][2]string{} // workflow -> state, version
		frozen := 0
		for _, r := range recs {
			f := strings.Fields(r)
			name, state, version := f[0], f[1], f[2]
			if prev, ok := last[name]; ok && state == "FROZEN" && prev[0] != "FROZEN" {
				frozen++
				pv, _ := strconv.ParseInt(prev[1], 10, 64)
				v, _ := strconv.ParseInt(version, 10, 64)
				if prev[0] != "STOPPED" || pv >= v {
					t.Errorf("workflow %s went from %s (version %s) to FROZEN (version %s) in the switch: its streams were not stopped before the commit that switched the traffic", name, prev[0], prev[1], version)
				}
			}
			last[name] = [2]string{state, version}
		}
		if frozen < *moveTablesSwitches-1 {
			t.Errorf("the watch saw %d workflows frozen by %d switches:\n%s", frozen, *moveTablesSwitches, strings.Join(recs, "\n"))
		}
	})
	t.Run("acknowledged writes in customer", func(t *testing.T) { rc.checkMoved(t, load, targets) })
	t.Run("reverse streams vdiff", func(t *testing.T) {
		rc.waitMoveApplied(t, "customer", targets, "commerce", "mt_reverse", []string{"0"})
		if out := rc.mustCtl(t, "movetables", "vdiff", "--target-keyspace", "commerce", "--workflow", "mt_reverse"); !strings.Contains(out, "vdiff: identical") {
			t.Errorf("vdiff of the reverse workflow:\n%s", out)
		}
	})
}
