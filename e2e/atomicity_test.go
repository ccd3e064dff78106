package e2e

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/mosaicdb/mosaic/e2e/cluster"
	"github.com/mosaicdb/mosaic/proxy"
)

var atomicityRounds = flag.Int("atomicity-rounds", 200, "TestStatementAtomicity: rounds per transaction mode and per failing shard")

const acctVSchema = `{
  "sharded": true,
  "vindexes": {"hash": {"type": "hash"}},
  "tables": {"acct": {"column_vindexes": [{"column": "id", "name": "hash"}]}}
}`

// TestStatementAtomicity is issue 12's scenario: acct(id, bal) over two
// shards, rows a (-80) and b (80-); BEGIN, +10 on both, then a statement
// that reaches both rows and fails with 1264 (out of range) on one shard
// only, then COMMIT. As on one MariaDB server, the client gets 1264, the
// transaction goes on with the failed statement undone on both shards,
// and COMMIT commits the +10s: never one row at 10 and the other at 0.
// Each round is one of three forms: the statement (which changes
// nothing on the shard where it succeeds), one that adds 1 on that shard
// (which must be undone there), and one where the failing statement
// brings the second shard into the transaction (which must end up as if
// it never ran it). Several clients at once, both failing shards, modes
// multi and twopc; before the fix the failing shard's error cancelled the
// sibling's call, whose tablet killed its transaction, and COMMIT then
// committed one shard only. The cluster also serves the two-phase commit
// branch proof test (twopc_proof_test.go).
func TestStatementAtomicity(t *testing.T) {
	c := cluster.Start(t, cluster.Options{
		Keyspaces: []cluster.Keyspace{{Name: "bank", Shards: []string{"-80", "80-"}, VSchema: acctVSchema}},
		Log:       testLogger(t),
	})
	setup := c.DB(t, "bank")
	mustExec(t, setup, "create table acct (id bigint primary key, bal int not null)")
	const clients = 4
	low, high := idsOnShards(clients)
	for i := range clients {
		mustExec(t, setup, "insert into acct (id, bal) values (?, 0), (?, 0)", low[i], high[i])
	}
	onLow, onHigh := direct(t, c, "bank", "-80"), direct(t, c, "bank", "80-")

	for _, mode := range []string{"multi", "twopc"} {
		t.Run(mode, func(t *testing.T) {
			db := c.DB(t, "bank", "interpolateParams=true")
			db.SetMaxOpenConns(clients)
			ctx := t.Context()
			var mu sync.Mutex
			var problems []string
			report := func(format string, args ...any) {
				mu.Lock()
				defer mu.Unlock()
				if len(problems) < 20 {
					problems = append(problems, fmt.Sprintf(format, args...))
				}
			}
			halfApplied := 0
			var wg sync.WaitGroup
			for k := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					conn, err := db.Conn(ctx)
					if err != nil {
						report("client %d: %v", k, err)
						return
					}
					defer conn.Close()
					if _, err := conn.ExecContext(ctx, "set transaction_mode = '"+mode+"'"); err != nil {
						report("client %d: %v", k, err)
						return
					}
					a, b := low[k], high[k]
					for r := k; r < 2**atomicityRounds; r += clients {
						failing := a
						if r%2 == 1 {
							failing = b
						}
						form := (r / 2) % 3
						if err := atomicityRound(ctx, conn, a, b, failing, form); err != nil {
							report("client %d round %d (failing id %d, form %d): %v", k, r, failing, form, err)
						}
						var balA, balB int
						if err := onLow.QueryRowContext(ctx, "select bal from acct where id = ?", a).Scan(&balA); err != nil {
							report("read a: %v", err)
							return
						}
						if err := onHigh.QueryRowContext(ctx, "select bal from acct where id = ?", b).Scan(&balB); err != nil {
							report("read b: %v", err)
							return
						}
						if balA != 10 || balB != 10 {
							mu.Lock()
							first := false
							if balA != balB {
								halfApplied++
								first = halfApplied == 1
							}
							mu.Unlock()
							if first {
								t.Logf("shard -80 after the first half-applied round:\n%s", shardTxDump(ctx, onLow))
								t.Logf("shard 80- after the first half-applied round:\n%s", shardTxDump(ctx, onHigh))
							}
							report("client %d round %d (failing id %d, form %d): after COMMIT a=%d b=%d, want 10 and 10", k, r, failing, form, balA, balB)
						}
					}
				}()
			}
			wg.Wait()
			if halfApplied > 0 || len(problems) > 0 {
				t.Errorf("%d of %d transactions half-applied; first problems:", halfApplied, 2**atomicityRounds)
				for _, p := range problems {
					t.Error(p)
				}
			}
		})
	}
	t.Run("twopc branch proof", func(t *testing.T) { testTwoPCBranchProof(t, c) })
}

// atomicityRound runs one transaction of TestStatementAtomicity on conn
// and checks what the client sees; the caller checks the shards.
func atomicityRound(ctx context.Context, conn *sql.Conn, a, b, failing int64, form int) error {
	if _, err := conn.ExecContext(ctx, "update acct set bal = 0 where id in (?, ?)", a, b); err != nil {
		return fmt.Errorf("reset: %w", err)
	}
	exec := func(q string, args ...any) error {
		_, err := conn.ExecContext(ctx, q, args...)
		return err
	}
	failingStmt := "update acct set bal = if(id = ?, 99999999999999, bal) where id in (?, ?)"
	if form == 1 {
		failingStmt = "update acct set bal = if(id = ?, 99999999999999, bal + 1) where id in (?, ?)"
	}
	fail := func() error {
		err := exec(failingStmt, failing, a, b)
		var me *mysql.MySQLError
		if !errors.As(err, &me) || me.Number != 1264 {
			return fmt.Errorf("the failing statement returned %v, want error 1264", err)
		}
		return nil
	}
	steps := []func() error{
		func() error { return exec("begin") },
		func() error { return exec("update acct set bal = bal + 10 where id = ?", a) },
	}
	if form == 2 {
		// b's shard joins the transaction with the failing statement.
		steps = append(steps, fail, func() error { return exec("update acct set bal = bal + 10 where id = ?", b) })
	} else {
		steps = append(steps, func() error { return exec("update acct set bal = bal + 10 where id = ?", b) }, fail)
	}
	steps = append(steps, func() error {
		// The transaction goes on, with the failed statement undone.
		var sa, sb int
		if err := conn.QueryRowContext(ctx, "select bal from acct where id = ?", a).Scan(&sa); err != nil {
			return err
		}
		if err := conn.QueryRowContext(ctx, "select bal from acct where id = ?", b).Scan(&sb); err != nil {
			return err
		}
		if sa != 10 || sb != 10 {
			return fmt.Errorf("inside the transaction after the failed statement a=%d b=%d, want 10 and 10", sa, sb)
		}
		return nil
	}, func() error { return exec("commit") })
	// Every step runs, whatever the one before said, as an application
	// that ignores the failed statement and commits would.
	var errs []error
	for i, step := range steps {
		if err := step(); err != nil {
			errs = append(errs, fmt.Errorf("step %d: %w", i, err))
		}
	}
	return errors.Join(errs...)
}

var savepointCostRounds = flag.Int("savepoint-cost-rounds", 0, "TestStatementSavepointCost: rounds of 300 statements per side (0 skips the test)")

// TestStatementSavepointCost measures what the implicit savepoint costs a
// statement that writes on two shards inside a transaction, and what
// multi COMMIT's check of every writer costs: two gates on one cluster,
// one as shipped and one with BenchNoStatementSavepoint and
// BenchNoCommitCheck, take turns (rounds of 300 transactions each), and
// the test logs the latency of the two-shard UPDATE and of COMMIT on
// each. A measurement, not a check:
//
//	go test ./e2e -run TestStatementSavepointCost -savepoint-cost-rounds 5 -v
func TestStatementSavepointCost(t *testing.T) {
	if *savepointCostRounds <= 0 {
		t.Skip("a measurement: -savepoint-cost-rounds N runs it")
	}
	c := cluster.Start(t, cluster.Options{
		Keyspaces: []cluster.Keyspace{{Name: "bank", Shards: []string{"-80", "80-"}, VSchema: acctVSchema}},
		Log:       testLogger(t),
	})
	noSP := c.StartExtraGate(t, func(cfg *proxy.Config) {
		cfg.BenchNoStatementSavepoint = true
		cfg.BenchNoCommitCheck = true
	})
	setup := c.DB(t, "bank")
	mustExec(t, setup, "create table acct (id bigint primary key, bal int not null)")
	low, high := idsOnShards(1)
	a, b := low[0], high[0]
	mustExec(t, setup, "insert into acct (id, bal) values (?, 0), (?, 0)", a, b)
	open := func(addr string) *sql.Conn {
		cfg := mysql.NewConfig()
		cfg.User, cfg.Net, cfg.Addr, cfg.DBName, cfg.InterpolateParams = "root", "tcp", addr, "bank", true
		db, err := sql.Open("mysql", cfg.FormatDSN())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		conn, err := db.Conn(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	sides := []struct {
		name   string
		conn   *sql.Conn
		lat    []time.Duration
		commit []time.Duration
	}{{name: "as shipped", conn: open(c.GateAddr)}, {name: "without", conn: open(noSP)}}
	ctx := t.Context()
	for round := 0; round <= *savepointCostRounds; round++ {
		for i := range sides {
			s := &sides[i]
			for range 300 {
				if _, err := s.conn.ExecContext(ctx, "begin"); err != nil {
					t.Fatal(err)
				}
				start := time.Now()
				if _, err := s.conn.ExecContext(ctx, "update acct set bal = bal + 1 where id in (?, ?)", a, b); err != nil {
					t.Fatal(err)
				}
				d := time.Since(start)
				start = time.Now()
				if _, err := s.conn.ExecContext(ctx, "commit"); err != nil {
					t.Fatal(err)
				}
				if round > 0 { // round 0 warms up
					s.lat = append(s.lat, d)
					s.commit = append(s.commit, time.Since(start))
				}
			}
		}
	}
	pct := func(l []time.Duration) string {
		slices.Sort(l)
		n := len(l)
		return fmt.Sprintf("p50 %v, p90 %v, p99 %v", l[n/2].Round(time.Microsecond), l[n*9/10].Round(time.Microsecond), l[n*99/100].Round(time.Microsecond))
	}
	for _, s := range sides {
		t.Logf("%-11s %d transactions: two-shard UPDATE %s; COMMIT %s", s.name, len(s.lat), pct(s.lat), pct(s.commit))
	}
}

// shardTxDump describes what a shard's mysqld holds open: its prepared XA
// branches, its InnoDB transactions and their connections.
func shardTxDump(ctx context.Context, db *sql.DB) string {
	var b strings.Builder
	for _, q := range []string{
		"XA RECOVER",
		"SELECT trx_id, trx_state, trx_started, trx_mysql_thread_id, trx_rows_locked, trx_rows_modified, IFNULL(trx_query, '') FROM information_schema.innodb_trx",
		"SELECT id, user, IFNULL(db, ''), command, time, IFNULL(state, ''), IFNULL(info, '') FROM information_schema.processlist",
	} {
		fmt.Fprintf(&b, "%s:\n", q)
		rows, err := db.QueryContext(ctx, q)
		if err != nil {
			fmt.Fprintf(&b, "  %v\n", err)
			continue
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]sql.RawBytes, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				fmt.Fprintf(&b, "  %v\n", err)
				break
			}
			parts := make([]string, len(vals))
			for i, v := range vals {
				parts[i] = string(v)
			}
			fmt.Fprintf(&b, "  %s\n", strings.Join(parts, " | "))
		}
		rows.Close()
	}
	return b.String()
}
