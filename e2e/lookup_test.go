package e2e

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/mosaicdb/mosaic/e2e/cluster"
)

// The lookup keyspaces: corder is sharded by customer_id and has three
// lookups, each kind of write path once:
//   - order_id: consistent_lookup_unique, table in the unsharded commerce;
//   - sku: consistent_lookup, table in customer itself, sharded by sku;
//   - tag: lookup (plain: written in the client's transaction), in commerce.
const lookupCommerceVSchema = `{"tables": {"corder_order_id_lookup": {}, "corder_tag_lookup": {}}}`

const lookupCustomerVSchema = `{
  "sharded": true,
  "vindexes": {
    "hash": {"type": "hash"},
    "xxhash": {"type": "xxhash"},
    "corder_order_id_lookup": {"type": "consistent_lookup_unique", "owner": "corder",
      "params": {"table": "commerce.corder_order_id_lookup", "from": "order_id", "to": "customer_id"}},
    "corder_sku_lookup": {"type": "consistent_lookup", "owner": "corder",
      "params": {"table": "customer.corder_sku_lookup", "from": "sku", "to": "customer_id"}},
    "corder_tag_lookup": {"type": "lookup", "owner": "corder",
      "params": {"table": "commerce.corder_tag_lookup", "from": "tag", "to": "customer_id"}}
  },
  "tables": {
    "corder": {"column_vindexes": [
      {"column": "customer_id", "name": "hash"},
      {"column": "order_id", "name": "corder_order_id_lookup"},
      {"column": "sku", "name": "corder_sku_lookup"},
      {"column": "tag", "name": "corder_tag_lookup"}
    ]},
    "corder_sku_lookup": {"column_vindexes": [{"column": "sku", "name": "xxhash"}]}
  }
}`

const lookupOwnerDDL = `create table corder (
  order_id bigint not null primary key,
  customer_id bigint not null,
  sku varchar(32),
  tag varchar(32),
  qty int not null default 1,
  key (customer_id), key (sku), key (tag)
)`

var (
	lookupCommerceDDL = []string{
		"create table corder_order_id_lookup (order_id bigint not null primary key, customer_id bigint not null)",
		"create table corder_tag_lookup (tag varchar(32) not null, customer_id bigint not null, primary key (tag, customer_id))",
	}
	lookupCustomerDDL = []string{
		lookupOwnerDDL,
		"create table corder_sku_lookup (sku varchar(32) not null, customer_id bigint not null, primary key (sku, customer_id))",
	}
)

// startLookupEnv starts a 2-shard cluster with the lookup VSchema and a
// plain MariaDB with the same corder table, and returns connections to
// both (customer database) and the gate's pool.
func startLookupEnv(t *testing.T) (c *cluster.Cluster, gate, plain *sql.Conn) {
	type plainRes struct {
		p   *cluster.Plain
		err error
	}
	pc := make(chan plainRes, 1)
	go func() {
		p, err := cluster.StartPlain(t)
		pc <- plainRes{p, err}
	}()
	c = cluster.Start(t, cluster.Options{Keyspaces: []cluster.Keyspace{
		{Name: "commerce", VSchema: lookupCommerceVSchema},
		{Name: "customer", Shards: []string{"-80", "80-"}, VSchema: lookupCustomerVSchema},
	}})
	pr := <-pc
	if pr.err != nil {
		t.Fatal(pr.err)
	}
	for _, q := range lookupCommerceDDL {
		mustExec(t, c.DB(t, "commerce"), q)
	}
	for _, q := range lookupCustomerDDL {
		mustExec(t, c.DB(t, "customer"), q)
	}
	mustExec(t, openDirect(t, pr.p.DSN("")), "create database customer")
	mustExec(t, openDirect(t, pr.p.DSN("customer")), lookupOwnerDDL)
	conn := func(db *sql.DB) *sql.Conn {
		t.Helper()
		cn, err := db.Conn(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cn.Close() })
		return cn
	}
	return c, conn(c.DB(t, "customer")), conn(openDirect(t, pr.p.DSN("customer")))
}

// explainShards runs EXPLAIN FORMAT=mosaic of q and returns the number of
// customer shard queries it names and the plan's text.
func explainShards(t *testing.T, gate *sql.Conn, q string) (int, string) {
	t.Helper()
	got := run(t.Context(), gate, "explain format=mosaic "+q)
	if got.err != nil {
		t.Fatalf("explain %s: %v", q, got.err)
	}
	var all strings.Builder
	for _, r := range got.rows {
		for _, cell := range r {
			if cell != nil {
				all.WriteString(*cell + "\n")
			}
		}
	}
	return strings.Count(all.String(), "customer/"), all.String()
}

// TestLookup checks lookup vindexes on a real cluster: queries by a
// looked-up column answer as on plain MariaDB and go to the shards the
// lookup names; writes maintain the lookup tables; a unique lookup
// refuses a duplicate as MariaDB's unique key does; and after a
// randomized run of concurrent inserts, updates and deletes every row is
// found by each of its looked-up columns.
func TestLookup(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	c, gate, plain := startLookupEnv(t)
	// Lookup writes hold entries in side transactions while a client's
	// transaction holds rows: a wait across them is a deadlock no one
	// mysqld sees, which the detector breaks (as `mosaic failover` runs it).
	c.StartDeadlockDetector(t, testLogger(t), nil)
	ctx := t.Context()

	// Rows through the gate (which fills the lookups) and into plain.
	const nrows = 200
	var rows []string
	for i := 1; i <= nrows; i++ {
		rows = append(rows, fmt.Sprintf("(%d, %d, 'sku-%d', 'tag-%d', %d)", 1000+i, i%37, i%23, i%5, i))
		if len(rows) == 50 || i == nrows {
			q := "insert into corder (order_id, customer_id, sku, tag, qty) values " + strings.Join(rows, ", ")
			mustExecConn(t, gate, q)
			mustExecConn(t, plain, q)
			rows = nil
		}
	}

	t.Run("differential", func(t *testing.T) {
		for _, q := range []string{
			"select * from corder where order_id = 1017",
			"select * from corder where order_id = 99999",
			"select order_id, qty from corder where order_id in (1001, 1002, 1150, 99999) order by order_id",
			"select * from corder where order_id in (null)",
			"select * from corder where sku = 'sku-7' order by order_id",
			"select count(*), sum(qty) from corder where sku in ('sku-1', 'sku-2')",
			"select * from corder where tag = 'tag-3' order by order_id",
			"select order_id from corder where tag = 'tag-3' and sku = 'sku-4' order by order_id",
			"select * from corder where order_id = '1018'",
			"update corder set qty = qty + 1 where order_id = 1020",
			"select qty from corder where order_id = 1020",
			"update corder set sku = 'sku-new' where order_id in (1030, 1031)",
			"select order_id, sku from corder where sku = 'sku-new' order by order_id",
			"select order_id from corder where sku = 'sku-7' order by order_id",
			"update corder set tag = 'tag-x' where customer_id = 3",
			"select order_id from corder where tag = 'tag-x' order by order_id",
			"select order_id from corder where tag = 'tag-3' order by order_id",
			"update corder set order_id = 5040 where order_id = 1040",
			"select order_id, customer_id from corder where order_id in (1040, 5040)",
			"delete from corder where order_id = 1050",
			"select * from corder where order_id = 1050",
			"delete from corder where sku = 'sku-9'",
			"select order_id from corder where sku = 'sku-9'",
			"insert into corder (order_id, customer_id, sku, tag) values (1017, 5, 'a', 'b')",
			"insert into corder (order_id, customer_id, sku, tag) values (7000, 5, 'sku-7', 'tag-1')",
			"select order_id from corder where sku = 'sku-7' order by order_id",
			"update corder set order_id = 1001 where order_id = 1002",
			"select count(*) from corder",
		} {
			e := &corpusEntry{sql: q, ordered: strings.Contains(q, "order by")}
			t.Run(q, func(t *testing.T) { e.compare(t, gate, plain) })
		}
		// The duplicate is 1062 with SQLSTATE 23000 from the gate too.
		_, err := gate.ExecContext(ctx, "insert into corder (order_id, customer_id) values (1017, 36)")
		var me *mysql.MySQLError
		if !errors.As(err, &me) || me.Number != 1062 || string(me.SQLState[:]) != "23000" {
			t.Errorf("duplicate order_id: %v, want 1062 (23000)", err)
		}
	})

	t.Run("explain", func(t *testing.T) {
		var o1, c1 int64
		if err := gate.QueryRowContext(ctx, "select order_id, customer_id from corder where order_id = 1017").Scan(&o1, &c1); err != nil {
			t.Fatal(err)
		}
		if n, plan := explainShards(t, gate, "select * from corder where order_id = 1017"); n != 1 || !strings.Contains(plan, "ByLookup") || !strings.Contains(plan, "commerce.corder_order_id_lookup") {
			t.Errorf("= on order_id: %d shard queries, want 1:\n%s", n, plan)
		}
		if n, plan := explainShards(t, gate, "select * from corder where order_id = 99999"); n != 1 {
			t.Errorf("= on a missing order_id: %d shard queries, want 1:\n%s", n, plan)
		}
		// Two orders of the same customer: one shard.
		if n, plan := explainShards(t, gate, "select * from corder where order_id in (1001, 1038)"); n != 1 {
			t.Errorf("IN of one customer's orders: %d shard queries, want 1:\n%s", n, plan)
		}
		// tag-x names customer 3 only.
		if n, plan := explainShards(t, gate, "select * from corder where tag = 'tag-x'"); n != 1 {
			t.Errorf("= on tag: %d shard queries, want 1:\n%s", n, plan)
		}
		if n, plan := explainShards(t, gate, "select * from corder where qty = 5"); n != 2 {
			t.Errorf("a column without a vindex: %d shard queries, want 2:\n%s", n, plan)
		}
	})

	t.Run("transaction", func(t *testing.T) {
		// In a transaction: the row is found by its lookups inside and
		// after; a rolled-back insert is found by none of them.
		tx, err := gate.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, "insert into corder (order_id, customer_id, sku, tag) values (8000, 11, 'tx-sku', 'tx-tag')"); err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{"select count(*) from corder where order_id = 8000", "select count(*) from corder where tag = 'tx-tag'", "select count(*) from corder where sku = 'tx-sku'"} {
			var n int
			if err := tx.QueryRowContext(ctx, q).Scan(&n); err != nil || n != 1 {
				t.Errorf("in the transaction, %s: %d %v", q, n, err)
			}
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		tx, err = gate.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, "insert into corder (order_id, customer_id, sku, tag) values (8001, 12, 'rb-sku', 'rb-tag')"); err != nil {
			t.Fatal(err)
		}
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := gate.QueryRowContext(ctx, "select count(*) from corder where order_id in (8000, 8001)").Scan(&n); err != nil || n != 1 {
			t.Errorf("after commit and rollback: %d rows, %v", n, err)
		}
		// The plain lookup's entry rolled back with the row.
		if err := c.DB(t, "commerce").QueryRowContext(ctx, "select count(*) from corder_tag_lookup where tag = 'rb-tag'").Scan(&n); err != nil || n != 0 {
			t.Errorf("rolled-back plain lookup entries: %d, %v", n, err)
		}
	})

	t.Run("never missing", func(t *testing.T) { lookupNeverMissing(t, c) })
	t.Run("concurrent", func(t *testing.T) { lookupChurn(t, c, gate) })
}

// lookupChurn runs concurrent inserts, updates of looked-up columns and
// deletes of owner rows through the gate, some in transactions, then
// checks that every row is found by each of its looked-up columns.
func lookupChurn(t *testing.T, c *cluster.Cluster, gate *sql.Conn) {
	ctx := t.Context()
	db := c.DB(t, "customer")
	db.SetMaxOpenConns(16)
	const workers = 6
	const ids = 200 // order ids 20000..20199, contended on purpose
	runFor := 6 * time.Second
	if d, err := time.ParseDuration(os.Getenv("MOSAIC_LOOKUP_CHURN")); err == nil {
		runFor = d // a longer run, to chase a race
	}
	if d, ok := t.Deadline(); ok && time.Until(d) < 2*time.Minute {
		runFor = 2 * time.Second
	}
	var ops, fails [4]int
	var mu sync.Mutex
	// history keeps every statement with its times, to explain a miss.
	type done struct {
		worker     int
		start, end time.Duration
		q          string
		tx         string
		err        error
	}
	var history []done
	t0 := time.Now()
	var wg sync.WaitGroup
	stop := time.Now().Add(runFor)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, 7))
			for time.Now().Before(stop) && ctx.Err() == nil {
				id := 20000 + rng.IntN(ids)
				cust := rng.IntN(50)
				sku := fmt.Sprintf("c-%d", rng.IntN(15))
				tag := fmt.Sprintf("t-%d", rng.IntN(8))
				kind := rng.IntN(5)
				if kind == 4 {
					kind = 0 // inserts twice as often: most rows exist
				}
				var q string
				switch kind {
				case 0:
					q = fmt.Sprintf("insert into corder (order_id, customer_id, sku, tag) values (%d, %d, '%s', '%s')", id, cust, sku, tag)
				case 1:
					q = fmt.Sprintf("update corder set sku = '%s', tag = '%s' where order_id = %d", sku, tag, id)
				case 2:
					q = fmt.Sprintf("update corder set order_id = %d where order_id = %d", 20000+rng.IntN(ids), id)
				case 3:
					q = fmt.Sprintf("delete from corder where order_id = %d", id)
				}
				var err error
				began := time.Since(t0)
				txKind := ""
				if rng.IntN(4) == 0 {
					rollback := rng.IntN(3) == 0
					txKind = "commit"
					if rollback {
						txKind = "rollback"
					}
					err = lookupInTx(ctx, db, q, rollback)
				} else {
					_, err = db.ExecContext(ctx, q)
				}
				mu.Lock()
				history = append(history, done{int(seed), began, time.Since(t0), q, txKind, err})
				ops[kind]++
				if err != nil {
					fails[kind]++
					var me *mysql.MySQLError
					if !errors.As(err, &me) || (me.Number != 1062 && me.Number != 1213 && me.Number != 1205) {
						t.Errorf("%s: %v", q, err)
					}
				}
				mu.Unlock()
			}
		}(uint64(w + 1))
	}
	wg.Wait()
	t.Logf("ops insert/update-cols/update-id/delete %v, refused (1062, deadlock, lock wait) %v", ops, fails)
	lat := map[string][]time.Duration{}
	for _, h := range history {
		k := strings.Fields(h.q)[0] + "/" + h.tx
		lat[k] = append(lat[k], h.end-h.start)
	}
	for k, l := range lat {
		slices.Sort(l)
		t.Logf("%s: %d, median %v, p99 %v, max %v", k, len(l), l[len(l)/2], l[len(l)*99/100], l[len(l)-1])
	}

	// Every row, read from every shard, is found by each looked-up column.
	rs, err := db.QueryContext(ctx, "select order_id, customer_id, sku, tag from corder where order_id >= 20000")
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		id, cust int64
		sku, tag string
	}
	var all []row
	for rs.Next() {
		var r row
		if err := rs.Scan(&r.id, &r.cust, &r.sku, &r.tag); err != nil {
			t.Fatal(err)
		}
		all = append(all, r)
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	rs.Close()
	if len(all) == 0 {
		t.Fatal("no rows after the run")
	}
	missed := 0
	found := func(q string, arg any, id int64) bool {
		rs, err := db.QueryContext(ctx, q, arg)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		defer rs.Close()
		for rs.Next() {
			var got int64
			if err := rs.Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got == id {
				return true
			}
		}
		if err := rs.Err(); err != nil {
			t.Fatal(err)
		}
		return false
	}
	// explain logs the statements that named the row's order id, or for
	// a sku miss, any order id its customer ever had.
	explain := func(r any, id, cust int64, byCustomer bool) {
		t.Helper()
		ids := map[string]bool{fmt.Sprint(id): true}
		if byCustomer {
			for _, h := range history {
				var o, c int64
				if n, _ := fmt.Sscanf(h.q, "insert into corder (order_id, customer_id, sku, tag) values (%d, %d,", &o, &c); n == 2 && c == cust {
					ids[fmt.Sprint(o)] = true
				}
			}
		}
		var b strings.Builder
		for _, h := range history {
			hit := false
			for o := range ids {
				hit = hit || strings.Contains(h.q, "= "+o) || strings.Contains(h.q, "("+o+",")
			}
			if hit {
				fmt.Fprintf(&b, "\n  w%d %v..%v %s %s: %v", h.worker, h.start, h.end, h.tx, h.q, h.err)
			}
		}
		t.Logf("history of %+v:%s", r, b.String())
	}
	for _, r := range all {
		// Each query is routed by the one looked-up column it names.
		for _, q := range []struct {
			sql string
			arg any
		}{
			{"select order_id from corder where order_id = ?", r.id},
			{"select order_id from corder where sku = ?", r.sku},
			{"select order_id from corder where tag = ?", r.tag},
		} {
			if !found(q.sql, q.arg, r.id) {
				missed++
				t.Errorf("row %+v not found by %s", r, q.sql)
				explain(r, r.id, r.cust, !strings.Contains(q.sql, "order_id ="))
			}
		}
	}
	// And the entries are in the lookup tables themselves (a gate that
	// scattered instead of looking up would pass the reads above).
	commerce := c.DB(t, "commerce")
	for _, r := range all {
		for _, q := range []struct {
			db  *sql.DB
			sql string
			arg any
		}{
			{commerce, "select count(*) from corder_order_id_lookup where order_id = ? and customer_id = ?", r.id},
			{db, "select count(*) from corder_sku_lookup where sku = ? and customer_id = ?", r.sku},
			{commerce, "select count(*) from corder_tag_lookup where tag = ? and customer_id = ?", r.tag},
		} {
			var n int
			if err := q.db.QueryRowContext(ctx, q.sql, q.arg, r.cust).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 1 {
				missed++
				t.Errorf("row %+v: %s gives %d", r, q.sql, n)
			}
		}
	}
	var stale [3]int
	for i, q := range []struct {
		db  *sql.DB
		sql string
	}{
		{commerce, "select count(*) from corder_order_id_lookup where order_id >= 20000"},
		{db, "select count(*) from corder_sku_lookup where sku like 'c-%'"},
		{commerce, "select count(*) from corder_tag_lookup where tag like 't-%'"},
	} {
		if err := q.db.QueryRowContext(ctx, q.sql).Scan(&stale[i]); err != nil {
			t.Fatal(err)
		}
		// Rows of one customer may share a sku or tag, and its entry.
		need := map[string]bool{}
		for _, r := range all {
			need[fmt.Sprint([]any{r.id, r.sku, r.tag, r.cust}[min(i, 2)], "/", r.cust)] = true
		}
		stale[i] -= len(need)
	}
	t.Logf("%d rows after the run, each found by order_id, sku and tag (%d misses); stale entries left (order_id, sku, tag): %v", len(all), missed, stale)
}

// lookupInTx runs q in a transaction and commits it, or rolls it back
// when rollback is set.
func lookupInTx(ctx context.Context, db *sql.DB, q string, rollback bool) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, q); err != nil {
		_ = tx.Rollback()
		return err
	}
	if rollback {
		return tx.Rollback()
	}
	return tx.Commit()
}

// queryIDs runs q and returns the first column of its rows.
func queryIDs(ctx context.Context, db *sql.DB, q string, args ...any) ([]int64, error) {
	rs, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var ids []int64
	for rs.Next() {
		var id int64
		if err := rs.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rs.Err()
}

// lookupNeverMissing checks that a row is found by its lookups at every
// moment while other statements write and remove entries it shares: rows
// of its customer with its sku and tag are inserted and deleted, and
// inserts of its own order id fail on the owner's primary key, while
// readers look it up all along.
func lookupNeverMissing(t *testing.T, c *cluster.Cluster) {
	ctx := t.Context()
	db := c.DB(t, "customer")
	mustExec(t, db, "insert into corder (order_id, customer_id, sku, tag) values (40000, 9, 'shared-sku', 'shared-tag')")
	runFor := 5 * time.Second
	stop := time.Now().Add(runFor)
	var mu sync.Mutex
	var reads, writes, missed int
	var wg sync.WaitGroup
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; time.Now().Before(stop) && ctx.Err() == nil; i++ {
				id := 40001 + w*100000 + i
				var err error
				switch i % 3 {
				case 0:
					_, err = db.ExecContext(ctx, fmt.Sprintf("insert into corder (order_id, customer_id, sku, tag) values (%d, 9, 'shared-sku', 'shared-tag')", id))
				case 1:
					_, err = db.ExecContext(ctx, fmt.Sprintf("delete from corder where order_id = %d", id-1))
				case 2:
					// The row's own order id again: refused by the owner's
					// primary key after its entries were written.
					_, err = db.ExecContext(ctx, "insert into corder (order_id, customer_id, sku, tag) values (40000, 9, 'shared-sku', 'shared-tag')")
					var me *mysql.MySQLError
					if errors.As(err, &me) && me.Number == 1062 {
						err = nil
					} else if err == nil {
						err = errors.New("a second row with order id 40000 was accepted")
					}
				}
				if err != nil {
					if ctx.Err() == nil {
						t.Errorf("writer: %v", err)
					}
					return
				}
				mu.Lock()
				writes++
				mu.Unlock()
			}
		}(w)
	}
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) && ctx.Err() == nil {
				for _, q := range []string{
					"select order_id from corder where order_id = 40000",
					"select order_id from corder where sku = 'shared-sku'",
					"select order_id from corder where tag = 'shared-tag'",
				} {
					ids, err := queryIDs(ctx, db, q)
					if err != nil {
						if ctx.Err() == nil {
							t.Errorf("%s: %v", q, err)
						}
						return
					}
					mu.Lock()
					reads++
					if !slices.Contains(ids, 40000) {
						missed++
						if missed <= 5 {
							t.Errorf("order 40000 not found by %s (found %v)", q, ids)
						}
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("%d writes sharing the row's entries, %d lookups of the row, %d missed it", writes, reads, missed)
	if reads == 0 || writes == 0 {
		t.Errorf("nothing checked: %d reads, %d writes", reads, writes)
	}
}
