package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/mosaicdb/mosaic/e2e/cluster"
	"github.com/mosaicdb/mosaic/router/vindexes"
	"github.com/mosaicdb/mosaic/tablet"
	"github.com/mosaicdb/mosaic/tablet/mysqlctl"
	"github.com/mosaicdb/mosaic/tablet/tablettest"
)

func tabletOptionsWith(configure func(*tablet.Config)) tablettest.Options {
	return tablettest.Options{Configure: configure}
}

const accountVSchema = `{
  "sharded": true,
  "vindexes": {"hash": {"type": "hash"}},
  "tables": {"account": {"column_vindexes": [{"column": "id", "name": "hash"}]}}
}`

// idsOnShards returns n ids the hash vindex puts on shard -80 and n on 80-.
func idsOnShards(n int) (low, high []int64) {
	for id := int64(1); len(low) < n || len(high) < n; id++ {
		ksid, _ := vindexes.Hash{}.Map(id)
		if ksid[0] < 0x80 {
			if len(low) < n {
				low = append(low, id)
			}
		} else if len(high) < n {
			high = append(high, id)
		}
	}
	return low, high
}

// directDBs caches handles straight to the shards' primaries.
var directDBs sync.Map // DSN → *sql.DB

// direct returns a handle to a shard's primary mysqld, kept for the test.
func direct(t *testing.T, c *cluster.Cluster, ks, shard string) *sql.DB {
	t.Helper()
	dsn := c.DirectDSN(ks, shard)
	if db, ok := directDBs.Load(dsn); ok {
		return db.(*sql.DB)
	}
	db := openDirect(t, dsn)
	t.Cleanup(func() { directDBs.Delete(dsn) })
	directDBs.Store(dsn, db)
	return db
}

// openTrx counts the transactions the gate's sessions hold open in a
// shard's mysqld: those of the application accounts' connections, and
// prepared XA branches no connection holds. The tablet's own writes (the
// heartbeat every second, as the agent account) are open for a moment
// too, and are not the gate's.
func openTrx(t *testing.T, c *cluster.Cluster, ks, shard string) int {
	t.Helper()
	acc := mysqlctl.DefaultAccounts()
	return count(t, direct(t, c, ks, shard), fmt.Sprintf(
		"select count(*) from information_schema.innodb_trx t"+
			" left join information_schema.processlist p on p.id = t.trx_mysql_thread_id"+
			" where t.trx_mysql_thread_id = 0 or p.user in ('%s', '%s')", acc.App, acc.ReadOnly))
}

// trxPoll spaces reads of information_schema.innodb_trx.
const trxPoll = 150 * time.Millisecond

// waitTrx waits until a shard's mysqld has want open transactions.
// InnoDB refreshes information_schema.innodb_trx only when it was not read
// for 100 ms: one read may show the past, and reads closer together than
// that keep showing it.
func waitTrx(t *testing.T, c *cluster.Cluster, ks, shard string, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := openTrx(t, c, ks, shard)
		if n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d transactions open on %s/%s, want %d", n, ks, shard, want)
		}
		time.Sleep(trxPoll)
	}
}

// waitNoTrx waits until no shard's mysqld has an open transaction.
func waitNoTrx(t *testing.T, c *cluster.Cluster, ks string, shards ...string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		open := 0
		for _, sh := range shards {
			open += openTrx(t, c, ks, sh)
		}
		if open == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d transactions still open on %s", open, ks)
		}
		time.Sleep(trxPoll)
	}
}

func rowsOn(t *testing.T, c *cluster.Cluster, shard string, q string) int {
	t.Helper()
	return count(t, direct(t, c, "bank", shard), q)
}

// killableDialer lets a test cut a client's TCP connection without the
// COM_QUIT a polite client sends.
type killableDialer struct {
	mu    sync.Mutex
	conns []net.Conn
}

func (d *killableDialer) dial(ctx context.Context, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err == nil {
		d.mu.Lock()
		d.conns = append(d.conns, c)
		d.mu.Unlock()
	}
	return c, err
}

func (d *killableDialer) killAll() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.conns {
		c.Close()
	}
	d.conns = nil
}

// TestTransactions checks what a transaction holds on the tablets, the
// single and multi transaction modes, and that nothing stays open when a
// client goes away or idles.
func TestTransactions(t *testing.T) {
	c := cluster.Start(t, cluster.Options{
		Keyspaces: []cluster.Keyspace{{Name: "bank", Shards: []string{"-80", "80-"}, VSchema: accountVSchema}},
		Tablets: tabletOptionsWith(func(cfg *tablet.Config) {
			cfg.Query.TxIdleTimeout = 4 * time.Second
			cfg.Mysqld.LockWaitTimeout = 3 * time.Second
		}),
	})
	ctx := context.Background()
	db := c.DB(t, "bank", "interpolateParams=true")
	mustExec(t, db, "create table account (id bigint primary key, balance int)")
	// Each subtest's sessions come from a handle of its own, closed when
	// it ends: a session a failed subtest leaves in a transaction must not
	// be handed to the next one.
	session := func(t *testing.T) *sql.Conn {
		t.Helper()
		conn, err := c.DB(t, "bank", "interpolateParams=true").Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	low, high := idsOnShards(4)
	a, b := low[0], high[0]
	t.Logf("account %d on -80, %d on 80-", a, b)
	mustExec(t, db, "insert into account (id, balance) values (?, 100), (?, 100)", a, b)

	t.Run("OneTabletTransactionPerShard", func(t *testing.T) {
		conn := session(t)
		execC(t, conn, "begin")
		execC(t, conn, "update account set balance = balance - 10 where id = ?", a)
		waitTrx(t, c, "bank", "-80", 1)
		if n := openTrx(t, c, "bank", "80-"); n != 0 {
			t.Fatalf("%d transactions on 80- before it was touched", n)
		}
		execC(t, conn, "update account set balance = balance + 10 where id = ?", b)
		execC(t, conn, "update account set balance = balance - 1 where id in (?, ?)", a, b)
		queryRows(t, conn, "select * from account")
		for _, sh := range []string{"-80", "80-"} {
			waitTrx(t, c, "bank", sh, 1)
		}
		// Other sessions do not see it yet.
		if got := oneValue(t, db, "select balance from account where id = ?", b); got != "100" {
			t.Fatalf("uncommitted balance visible: %s", got)
		}
		execC(t, conn, "commit")
		waitNoTrx(t, c, "bank", "-80", "80-")
		if got := oneValue(t, db, "select sum(balance) from account where id in (?, ?)", a, b); got != "198" {
			t.Fatalf("sum after commit = %s", got)
		}
	})

	t.Run("SingleModeRefusesSecondShard", func(t *testing.T) {
		conn := session(t)
		execC(t, conn, "set transaction_mode = 'single'")
		if got := oneValue(t, conn, "select @@transaction_mode"); got != "single" {
			t.Fatalf("@@transaction_mode = %s", got)
		}
		execC(t, conn, "begin")
		execC(t, conn, "update account set balance = 50 where id = ?", a)
		_, err := conn.ExecContext(ctx, "update account set balance = 50 where id = ?", b)
		if num, _ := mysqlErr(t, err); num != 1235 || !strings.Contains(err.Error(), "transaction_mode 'single'") {
			t.Fatalf("second shard in single mode: %v", err)
		}
		// A statement on both shards is refused before it runs anywhere.
		_, err = conn.ExecContext(ctx, "update account set balance = 0 where id in (?, ?)", a, b)
		if num, _ := mysqlErr(t, err); num != 1235 {
			t.Fatalf("two-shard statement in single mode: %v", err)
		}
		// The transaction is still there and usable.
		if got := oneValue(t, conn, "select balance from account where id = ?", a); got != "50" {
			t.Fatalf("balance in the transaction = %s", got)
		}
		execC(t, conn, "commit")
		if got := oneValue(t, db, "select balance from account where id = ?", a); got != "50" {
			t.Fatalf("committed balance on -80 = %s", got)
		}
		if got := oneValue(t, db, "select balance from account where id = ?", b); got == "50" || got == "0" {
			t.Fatalf("refused statement changed 80-: %s", got)
		}
		// Outside a transaction, single mode does not limit statements.
		execC(t, conn, "update account set balance = 100 where id in (?, ?)", a, b)
		execC(t, conn, "set transaction_mode = 'multi'")
	})

	t.Run("DisconnectLeavesNothingOpen", func(t *testing.T) {
		for _, how := range []string{"quit", "killed socket"} {
			d := &killableDialer{}
			network := "killable-" + strings.ReplaceAll(how, " ", "-")
			mysql.RegisterDialContext(network, d.dial)
			cfg := mysql.NewConfig()
			cfg.User, cfg.Net, cfg.Addr, cfg.DBName = "root", network, c.GateAddr, "bank"
			cfg.InterpolateParams = true
			client, err := sql.Open("mysql", cfg.FormatDSN())
			if err != nil {
				t.Fatal(err)
			}
			client.SetMaxIdleConns(0)
			conn, err := client.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			execC(t, conn, "begin")
			execC(t, conn, "update account set balance = balance + 1 where id in (?, ?)", a, b)
			waitTrx(t, c, "bank", "-80", 1)
			waitTrx(t, c, "bank", "80-", 1)
			if how == "quit" {
				conn.Close() // COM_QUIT, then the socket closes
			} else {
				d.killAll()
				conn.Close()
			}
			client.Close()
			waitNoTrx(t, c, "bank", "-80", "80-")
			if got := oneValue(t, db, "select sum(balance) from account where id in (?, ?)", a, b); got != "200" {
				t.Fatalf("%s: uncommitted updates survived: sum = %s", how, got)
			}
		}
	})

	t.Run("IdleTransactionKilled", func(t *testing.T) {
		conn := session(t)
		execC(t, conn, "begin")
		execC(t, conn, "update account set balance = 7 where id = ?", a)
		execC(t, conn, "update account set balance = 7 where id = ?", b)
		waitTrx(t, c, "bank", "-80", 1)
		waitTrx(t, c, "bank", "80-", 1)
		// The tablets roll both back once idle past their limit.
		waitNoTrx(t, c, "bank", "-80", "80-")
		_, err := conn.ExecContext(ctx, "update account set balance = 8 where id = ?", a)
		if err == nil || !strings.Contains(err.Error(), "idle") || !strings.Contains(err.Error(), "the transaction was rolled back") {
			t.Fatalf("statement after the idle kill: %v", err)
		}
		// The session left the dead transaction: this runs on its own.
		execC(t, conn, "update account set balance = 9 where id = ?", b)
		if got := oneValue(t, conn, "select @@in_transaction"); got != "0" {
			t.Fatalf("@@in_transaction = %s after the rollback", got)
		}
		if got := oneValue(t, db, "select balance from account where id = ?", a); got != "100" {
			t.Fatalf("balance on -80 = %s, the idle transaction was not rolled back", got)
		}
		if got := oneValue(t, db, "select balance from account where id = ?", b); got != "9" {
			t.Fatalf("balance on 80- = %s", got)
		}
		execC(t, conn, "update account set balance = 100 where id = ?", b)
	})

	t.Run("InterruptedStatementEndsTransaction", func(t *testing.T) {
		conn := session(t)
		execC(t, conn, "begin")
		execC(t, conn, "update account set balance = 5 where id = ?", a)
		execC(t, conn, "update account set balance = 5 where id = ?", b)
		execC(t, conn, "set max_statement_time = 0.5")
		_, err := conn.ExecContext(ctx, "select sleep(3) from account where id = ?", a)
		if num, _ := mysqlErr(t, err); num != 1969 || !strings.Contains(err.Error(), "the transaction was rolled back") {
			t.Fatalf("statement over max_statement_time in a transaction: %v", err)
		}
		execC(t, conn, "set max_statement_time = 0")
		if got := oneValue(t, conn, "select @@in_transaction"); got != "0" {
			t.Fatalf("@@in_transaction = %s", got)
		}
		waitNoTrx(t, c, "bank", "-80", "80-")
		if got := oneValue(t, db, "select sum(balance) from account where id in (?, ?)", a, b); got != "200" {
			t.Fatalf("interrupted transaction's writes survived: sum = %s", got)
		}
	})

	t.Run("DeadlockRollsBackEveryShard", func(t *testing.T) {
		c1 := session(t)
		c2 := session(t)
		// c2 writes more rows on -80, so that InnoDB picks c1, the lighter
		// transaction, as the deadlock's victim: c1 is also on 80-.
		mustExec(t, db, "insert into account (id, balance) values (?, 100), (?, 100), (?, 100)", low[1], low[2], low[3])
		execC(t, c1, "begin")
		execC(t, c1, "update account set balance = 1 where id = ?", b)
		execC(t, c1, "update account set balance = 1 where id = ?", a)
		execC(t, c2, "begin")
		// One row at a time, by primary key: an IN list on this small
		// table would be a scan that waits for c1's row.
		for _, id := range low[1:] {
			execC(t, c2, "update account set balance = 2 where id = ?", id)
		}
		done := make(chan error, 1)
		go func() {
			_, err := c2.ExecContext(ctx, "update account set balance = 2 where id = ?", a) // waits for c1
			done <- err
		}()
		deadline := time.Now().Add(30 * time.Second)
		for rowsOn(t, c, "-80", "select count(*) from information_schema.innodb_trx where trx_state = 'LOCK WAIT'") == 0 {
			select {
			case err := <-done:
				t.Fatalf("c2 did not wait for c1's lock: %v", err)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatal("c2 never waited for c1's lock")
			}
			time.Sleep(trxPoll)
		}
		_, err := c1.ExecContext(ctx, "update account set balance = 1 where id = ?", low[1])
		if num, _ := mysqlErr(t, err); num != 1213 || !strings.Contains(err.Error(), "the transaction was rolled back") {
			t.Fatalf("deadlock victim got %v", err)
		}
		if err := <-done; err != nil {
			t.Fatalf("the deadlock's survivor: %v", err)
		}
		execC(t, c2, "commit")
		// The victim's whole transaction is gone, on 80- too, and its
		// session is out of it.
		if got := oneValue(t, db, "select balance from account where id = ?", b); got != "100" {
			t.Fatalf("victim's write on 80- survived: %s", got)
		}
		if got := oneValue(t, c1, "select @@in_transaction"); got != "0" {
			t.Fatalf("victim still in a transaction: %s", got)
		}
		waitNoTrx(t, c, "bank", "-80", "80-")
		mustExec(t, db, "update account set balance = 100 where id in (?, ?)", a, b)
	})

	t.Run("CrossShardDeadlockEndsAsLockWaitTimeout", func(t *testing.T) {
		// c1 holds a (-80) and waits for b (80-); c2 holds b and waits for
		// a. Neither mysqld sees a cycle: the waits end with the lock wait
		// timeout (1205, which clients retry; the statement is rolled
		// back, the transaction stays), not with the tablet's query
		// timeout killing them.
		c1, c2 := session(t), session(t)
		execC(t, c1, "begin")
		execC(t, c1, "update account set balance = 1 where id = ?", a)
		execC(t, c2, "begin")
		execC(t, c2, "update account set balance = 2 where id = ?", b)
		start := time.Now()
		errs := make(chan error, 2)
		go func() {
			_, err := c1.ExecContext(ctx, "update account set balance = 1 where id = ?", b)
			errs <- err
		}()
		go func() {
			_, err := c2.ExecContext(ctx, "update account set balance = 2 where id = ?", a)
			errs <- err
		}()
		for range 2 {
			err := <-errs
			if num, _ := mysqlErr(t, err); num != 1205 {
				t.Fatalf("a wait in a deadlock across shards ended with %v after %v, want 1205", err, time.Since(start))
			}
		}
		if d := time.Since(start); d > 15*time.Second {
			t.Errorf("the cross-shard deadlock lasted %v", d)
		}
		for _, conn := range []*sql.Conn{c1, c2} {
			if got := oneValue(t, conn, "select @@in_transaction"); got != "1" {
				t.Errorf("@@in_transaction after 1205 = %s (MariaDB keeps the transaction)", got)
			}
			execC(t, conn, "rollback")
		}
		waitNoTrx(t, c, "bank", "-80", "80-")
		if got := oneValue(t, db, "select sum(balance) from account where id in (?, ?)", a, b); got != "200" {
			t.Fatalf("rolled-back writes survived: sum = %s", got)
		}
	})

	t.Run("MultiModeShardLostBeforeCommit", func(t *testing.T) {
		conn := session(t)
		execC(t, conn, "begin")
		execC(t, conn, "update account set balance = 11 where id = ?", a)
		execC(t, conn, "update account set balance = 11 where id = ?", b)
		// The tablet of 80- dies before COMMIT: its part is gone, so
		// COMMIT commits nothing, rolls back -80 and says so (before the
		// fix -80 committed alone).
		tb := c.Shards["bank"]["80-"].Primary()
		tb.Stop()
		_, err := conn.ExecContext(ctx, "commit")
		if num, _ := mysqlErr(t, err); num != 1180 || !strings.Contains(err.Error(), "commit failed: the transaction on bank/80- was lost") ||
			!strings.Contains(err.Error(), "nothing was committed, the transaction was rolled back on every shard") {
			t.Fatalf("commit with a dead shard: %v", err)
		}
		tb.Restart(t)
		c.WaitServing(t)
		if got := rowsOn(t, c, "-80", fmt.Sprintf("select balance from account where id = %d", a)); got != 100 {
			t.Fatalf("-80 balance = %d, reported as rolled back", got)
		}
		if got := rowsOn(t, c, "80-", fmt.Sprintf("select balance from account where id = %d", b)); got != 100 {
			t.Fatalf("80- balance = %d, reported as not committed", got)
		}
	})
}
