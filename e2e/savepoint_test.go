package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/mosaicdb/mosaic/e2e/cluster"
)

// savepointScript runs through the gate and on mysqld directly, statement
// by statement; {t} is the table, L1.. are ids on shard -80 and H1.. ids
// on shard 80- of the sharded keyspace.
var savepointScript = []string{
	// Outside a transaction: SAVEPOINT is accepted and forgotten.
	"savepoint outside",
	"rollback to outside",
	"release savepoint outside",
	"begin",
	"insert into {t} (id) values (L1)",
	"savepoint a",
	// Shard 80- joins after a: a is set on it first.
	"insert into {t} (id) values (H1)",
	"savepoint b",
	"insert into {t} (id) values (L2), (H2)",
	"savepoint `C c`",
	"insert into {t} (id) values (L3)",
	// Back to the middle one: c goes, b stays.
	"rollback to savepoint b",
	"select id from {t} order by id",
	"rollback to `c C`",
	"rollback to b",
	"insert into {t} (id) values (H2)",
	// A name set again moves: A is now after b.
	"savepoint A",
	"insert into {t} (id) values (L2)",
	"rollback to b",
	"rollback to a",
	"select id from {t} order by id",
	"savepoint d",
	"insert into {t} (id) values (H3)",
	"release savepoint d",
	"rollback to d",
	"savepoint e",
	"savepoint f",
	// RELEASE drops the later savepoints too.
	"release savepoint e",
	"rollback to f",
	// A failing statement leaves the transaction and its savepoints.
	"insert into {t} (id) values (L1)",
	"savepoint g",
	"insert into {t} (id) values (L4)",
	"rollback work to savepoint g",
	"select id from {t} order by id",
	"commit",
	"rollback to b",
	"select id from {t} order by id",
	// Rolled back to a savepoint set before shard 80- joined: its rows
	// go, the rows of -80 before the savepoint stay.
	"start transaction",
	"insert into {t} (id) values (L5)",
	"savepoint s",
	"insert into {t} (id) values (H5)",
	"insert into {t} (id) values (L6)",
	"rollback to s",
	"select id from {t} order by id",
	"insert into {t} (id) values (H6)",
	"commit",
	// With autocommit off a savepoint opens the transaction.
	"set autocommit = 0",
	"savepoint z",
	"insert into {t} (id) values (H7)",
	"rollback to z",
	"commit",
	"set autocommit = 1",
	"select id from {t} order by id",
}

// savepointIDs gives the script's ids.
func savepointIDs() *strings.Replacer {
	low, high := idsOnShards(7)
	var pairs []string
	for i := 1; i <= 7; i++ {
		pairs = append(pairs, fmt.Sprintf("L%d", i), fmt.Sprint(low[i-1]), fmt.Sprintf("H%d", i), fmt.Sprint(high[i-1]))
	}
	return strings.NewReplacer(pairs...)
}

// testSavepoints runs savepointScript through the gate on the unsharded
// and the sharded keyspace (in modes multi and twopc), compares each
// step with mysqld, and checks the rows each shard holds in the end.
func testSavepoints(t *testing.T, c *cluster.Cluster) {
	ctx := context.Background()
	ids := savepointIDs()
	script := make([]string, len(savepointScript))
	for i, q := range savepointScript {
		script[i] = ids.Replace(q)
	}
	ref := openDirect(t, c.DirectDSN("commerce", "0"))
	mustExec(t, ref, "create table if not exists spd (id bigint primary key)")
	mustExec(t, ref, "delete from spd")
	refConn, err := ref.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer refConn.Close()
	want := runScript(t, refConn, "spd", script)

	low, high := idsOnShards(7)
	// The rows the script leaves: L1 H1 H3 L5 H6.
	wantLow := []string{fmt.Sprint(low[0]), fmt.Sprint(low[4])}
	wantHigh := []string{fmt.Sprint(high[0]), fmt.Sprint(high[2]), fmt.Sprint(high[5])}

	for _, tc := range []struct{ ks, table, mode string }{
		{"commerce", "spu", "multi"},
		{"customer", "sp", "multi"},
		{"customer", "sp", "twopc"},
	} {
		t.Run(tc.ks+" "+tc.mode, func(t *testing.T) {
			db := c.DB(t, tc.ks)
			mustExec(t, db, "create table if not exists "+tc.table+" (id bigint primary key)")
			mustExec(t, db, "delete from "+tc.table)
			conn, err := db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			mustExecConn(t, conn, "set transaction_mode = '"+tc.mode+"'")
			// In twopc the script's first commit is the first two-phase
			// commit of a fresh cluster, after reads in its transaction: the
			// tablets made _mosaic.dt_state when they started (made lazily
			// at the first commit, a transaction whose read view predated
			// it could not write its record there: 1412).
			got := runScript(t, conn, tc.table, script)
			for i := range script {
				if got[i] != want[i] {
					t.Errorf("%s\n  gate:    %s\n  mariadb: %s", script[i], got[i], want[i])
				}
			}
			if tc.ks != "customer" {
				return
			}
			for sh, w := range map[string][]string{"-80": wantLow, "80-": wantHigh} {
				rows := queryRows(t, direct(t, c, "customer", sh), "select id from sp")
				if !sameSet(rows, w) {
					t.Errorf("shard %s holds %v, want %v", sh, rows, w)
				}
			}
			for _, sh := range []string{"-80", "80-"} {
				waitTrx(t, c, "customer", sh, 0)
			}
		})
	}
	t.Run("single", func(t *testing.T) { testSavepointsSingle(t, c) })
	t.Run("tx.Exec", func(t *testing.T) { testSavepointsTxExec(t, c) })
	t.Run("prepared and multi-statement", func(t *testing.T) { testSavepointsProtocols(t, c) })
}

// testSavepointsSingle: in mode single, savepoints on the one shard of
// the transaction.
func testSavepointsSingle(t *testing.T, c *cluster.Cluster) {
	ctx := context.Background()
	low, _ := idsOnShards(3)
	conn, err := c.DB(t, "customer").Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	mustExecConn(t, conn, "set transaction_mode = 'single'")
	mustExecConn(t, conn, "delete from sp")
	for _, q := range []string{
		"begin",
		fmt.Sprintf("insert into sp (id) values (%d)", low[0]),
		"savepoint a",
		fmt.Sprintf("insert into sp (id) values (%d)", low[1]),
		"savepoint b",
		fmt.Sprintf("insert into sp (id) values (%d)", low[2]),
		"rollback to a",
		"commit",
	} {
		mustExecConn(t, conn, q)
	}
	if got, want := queryRows(t, conn, "select id from sp"), []string{fmt.Sprint(low[0])}; !slices.Equal(got, want) {
		t.Fatalf("rows %v, want %v", got, want)
	}
}

// testSavepointsTxExec: go-sql-driver's tx.Exec("SAVEPOINT ...") in each
// transaction mode, with rows on both shards.
func testSavepointsTxExec(t *testing.T, c *cluster.Cluster) {
	ctx := context.Background()
	low, high := idsOnShards(3)
	for _, mode := range []string{"single", "multi", "twopc"} {
		t.Run(mode, func(t *testing.T) {
			db := c.DB(t, "customer", "transaction_mode=%27"+mode+"%27")
			mustExec(t, db, "delete from sp")
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			exec := func(q string, args ...any) {
				t.Helper()
				if _, err := tx.ExecContext(ctx, q, args...); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			exec("insert into sp (id) values (?)", low[0])
			exec("SAVEPOINT sp1")
			exec("insert into sp (id) values (?)", low[1])
			if mode != "single" {
				exec("insert into sp (id) values (?)", high[0])
			}
			exec("ROLLBACK TO SAVEPOINT sp1")
			exec("SAVEPOINT sp2")
			exec("insert into sp (id) values (?)", low[2])
			exec("RELEASE SAVEPOINT sp2")
			if _, err := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT sp2"); err == nil || describeErr(err) != "ERROR 1305 (42000)" {
				t.Fatalf("rollback to a released savepoint: %v", err)
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			got := queryRows(t, db, "select id from sp")
			want := []string{fmt.Sprint(low[0]), fmt.Sprint(low[2])}
			if !sameSet(got, want) {
				t.Fatalf("rows %v, want %v", got, want)
			}
		})
	}
}

// testSavepointsProtocols: SAVEPOINT, ROLLBACK TO and RELEASE as prepared
// statements (COM_STMT_PREPARE, as MariaDB allows; ROLLBACK WORK TO is a
// form the parser does not take) and inside a
// multi-statement batch.
func testSavepointsProtocols(t *testing.T, c *cluster.Cluster) {
	ctx := context.Background()
	low, high := idsOnShards(2)
	conn, err := c.DB(t, "customer").Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	mustExecConn(t, conn, "delete from sp")
	prep := func(q string) *sql.Stmt {
		t.Helper()
		st, err := conn.PrepareContext(ctx, q)
		if err != nil {
			t.Fatalf("prepare %s: %v", q, err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	save, back, release := prep("SAVEPOINT p"), prep("ROLLBACK WORK TO SAVEPOINT p"), prep("RELEASE SAVEPOINT p")
	mustExecConn(t, conn, "begin")
	mustExecConn(t, conn, "insert into sp (id) values (?)", low[0])
	if _, err := save.ExecContext(ctx); err != nil {
		t.Fatal(err)
	}
	mustExecConn(t, conn, "insert into sp (id) values (?)", high[0])
	if _, err := back.ExecContext(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := release.ExecContext(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := back.ExecContext(ctx); describeErr(err) != "ERROR 1305 (42000)" {
		t.Fatalf("prepared rollback to a released savepoint: %v", err)
	}
	mustExecConn(t, conn, "commit")
	if got, want := queryRows(t, conn, "select id from sp"), []string{fmt.Sprint(low[0])}; !slices.Equal(got, want) {
		t.Fatalf("after prepared savepoints: rows %v, want %v", got, want)
	}

	multi := c.DB(t, "customer", "multiStatements=true")
	multi.SetMaxOpenConns(1)
	mustExec(t, multi, fmt.Sprintf("begin; savepoint m; insert into sp (id) values (%d); savepoint n; insert into sp (id) values (%d); rollback to m; insert into sp (id) values (%d); commit", high[1], low[1], high[0]))
	got := queryRows(t, multi, "select id from sp")
	if want := []string{fmt.Sprint(low[0]), fmt.Sprint(high[0])}; !sameSet(got, want) {
		t.Fatalf("after the multi-statement batch: rows %v, want %v", got, want)
	}
}

// sameSet reports whether a and b hold the same strings in any order.
func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
