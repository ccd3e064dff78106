package e2e

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/mosaicdb/mosaic/e2e/cluster"
	"github.com/mosaicdb/mosaic/proxy"
	"github.com/mosaicdb/mosaic/tablet"
	"github.com/mosaicdb/mosaic/tablet/tablettest"
	"github.com/mosaicdb/mosaic/topo/etcdstore/etcdtest"
)

// userLockReservedTimeout is the tablets' --reserved-timeout in
// TestUserLocks: short, so that a dead gate's locks go quickly.
const userLockReservedTimeout = 4 * time.Second

const userLocksCustomerVSchema = `{
  "sharded": true,
  "vindexes": {"hash": {"type": "hash"}},
  "tables": {"ul_items": {"column_vindexes": [{"column": "id", "name": "hash"}]}}
}`

// TestUserLocks: GET_LOCK and the other user-level lock functions work
// through the gate on a lock session per client session (the keyspace's
// first shard), separate from transactions, never on pooled connections,
// and released when the client goes away, when its gate dies (the
// tablet's reserved timeout), and lost with a clear error when the
// tablet restarts.
func TestUserLocks(t *testing.T) {
	c := cluster.Start(t, cluster.Options{
		Keyspaces: []cluster.Keyspace{
			{Name: "commerce"},
			{Name: "customer", Shards: []string{"-80", "80-"}, VSchema: userLocksCustomerVSchema},
		},
		Gate: func(cfg *proxy.Config) { cfg.LockHeartbeatInterval = 500 * time.Millisecond },
		Tablets: tablettest.Options{Configure: func(cfg *tablet.Config) {
			cfg.Query.PoolSize = connStatePoolSize
			cfg.Query.ReservedTimeout = userLockReservedTimeout
		}},
	})
	for _, ks := range []string{"commerce", "customer"} {
		t.Run(ks, func(t *testing.T) { testUserLocks(t, c, ks) })
	}
	t.Run("ResetAndChangeUser", func(t *testing.T) { testUserLockReset(t, c) })
	t.Run("GateKilled", func(t *testing.T) { testUserLockGateKilled(t, c) })
	t.Run("TabletRestarted", func(t *testing.T) { testUserLockTabletRestarted(t, c) })
}

// lockShard is the shard a keyspace's lock sessions live on.
func lockShard(ks string) string {
	if ks == "customer" {
		return "-80"
	}
	return "0"
}

// queryInt runs a one-value query; NULL is -1.
func queryInt(t *testing.T, ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, query string, args ...any) int64 {
	t.Helper()
	var v sql.NullInt64
	if err := q.QueryRowContext(ctx, query, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	if !v.Valid {
		return -1
	}
	return v.Int64
}

// waitLockFree polls mysqld directly until the lock is free.
func waitLockFree(t *testing.T, ctx context.Context, direct *sql.DB, name string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		if queryInt(t, ctx, direct, "SELECT IS_FREE_LOCK(?)", name) == 1 {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("lock %s still held on mysqld after %v", name, within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func testUserLocks(t *testing.T, c *cluster.Cluster, ks string) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	direct := openDirect(t, c.DirectDSN(ks, lockShard(ks)))
	dbA := c.DB(t, ks)
	if _, err := dbA.ExecContext(ctx, "CREATE TABLE ul_items (id BIGINT PRIMARY KEY, v INT)"); err != nil {
		t.Fatal(err)
	}
	a, err := dbA.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	// B gets a handle of its own, to disconnect it later.
	dbB, err := sql.Open("mysql", c.DSN(ks))
	if err != nil {
		t.Fatal(err)
	}
	defer dbB.Close()
	b, err := dbB.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}

	if got := queryInt(t, ctx, a, "SELECT GET_LOCK('job', 0)"); got != 1 {
		t.Fatalf("A: GET_LOCK = %d, want 1", got)
	}
	if got := queryInt(t, ctx, b, "SELECT GET_LOCK('job', 0)"); got != 0 {
		t.Fatalf("B: GET_LOCK of A's lock = %d, want 0", got)
	}
	holderA := queryInt(t, ctx, a, "SELECT IS_USED_LOCK('job')")
	if holderA <= 0 {
		t.Fatalf("A: IS_USED_LOCK = %d", holderA)
	}
	if got := queryInt(t, ctx, b, "SELECT IS_USED_LOCK('job')"); got != holderA {
		t.Errorf("B: IS_USED_LOCK = %d, want A's %d", got, holderA)
	}
	if got := queryInt(t, ctx, direct, "SELECT IS_USED_LOCK('job')"); got != holderA {
		t.Errorf("mysqld: IS_USED_LOCK = %d, want A's lock session thread %d", got, holderA)
	}
	// The prepared form (the driver prepares statements with arguments).
	if got := queryInt(t, ctx, b, "SELECT IS_FREE_LOCK(?)", "job"); got != 0 {
		t.Errorf("B: prepared IS_FREE_LOCK = %d, want 0", got)
	}

	// A's transactions leave its locks alone.
	for _, q := range []string{"BEGIN", "INSERT INTO ul_items (id, v) VALUES (1, 1)", "COMMIT",
		"BEGIN", "INSERT INTO ul_items (id, v) VALUES (2, 2)", "ROLLBACK"} {
		if _, err := a.ExecContext(ctx, q); err != nil {
			t.Fatalf("A: %s: %v", q, err)
		}
	}
	if got := queryInt(t, ctx, a, "SELECT COUNT(*) FROM ul_items"); got != 1 {
		t.Errorf("A: rows = %d, want 1", got)
	}
	if got := queryInt(t, ctx, b, "SELECT GET_LOCK('job', 0)"); got != 0 {
		t.Errorf("B: GET_LOCK after A's COMMIT and ROLLBACK = %d, want 0 (A still holds it)", got)
	}
	// Inside a transaction the lock functions run on the lock session too.
	if _, err := a.ExecContext(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	if got := queryInt(t, ctx, a, "SELECT IS_USED_LOCK('job')"); got != holderA {
		t.Errorf("A in a transaction: IS_USED_LOCK = %d, want %d", got, holderA)
	}
	if _, err := a.ExecContext(ctx, "COMMIT"); err != nil {
		t.Fatal(err)
	}

	if got := queryInt(t, ctx, a, "SELECT RELEASE_LOCK('job')"); got != 1 {
		t.Fatalf("A: RELEASE_LOCK = %d, want 1", got)
	}
	if got := queryInt(t, ctx, a, "SELECT RELEASE_LOCK('job')"); got != -1 {
		t.Errorf("A: second RELEASE_LOCK = %d, want NULL", got)
	}
	// B takes it with a prepared statement, and a DO.
	stmt, err := b.PrepareContext(ctx, "SELECT GET_LOCK(?, ?)")
	if err != nil {
		t.Fatal(err)
	}
	var took int64
	if err := stmt.QueryRowContext(ctx, "job", 5).Scan(&took); err != nil || took != 1 {
		t.Fatalf("B: prepared GET_LOCK after A released = %d, %v; want 1", took, err)
	}
	stmt.Close()
	if _, err := b.ExecContext(ctx, "DO GET_LOCK('job_do', 0)"); err != nil {
		t.Fatal(err)
	}
	holderB := queryInt(t, ctx, b, "SELECT IS_USED_LOCK('job_do')")
	if got := queryInt(t, ctx, direct, "SELECT IS_USED_LOCK('job')"); got != holderB || holderB == holderA {
		t.Errorf("mysqld: holder %d, want B's lock session %d (A's was %d)", got, holderB, holderA)
	}

	// A statement mixing a lock function with a table is refused.
	for _, q := range []string{"SELECT GET_LOCK('job', 0) FROM ul_items", "SET @x = GET_LOCK('job', 0)"} {
		_, err := a.ExecContext(ctx, q)
		var me *mysql.MySQLError
		if !errors.As(err, &me) || me.Number != 1235 {
			t.Errorf("%s: %v, want 1235", q, err)
		}
	}

	// Many other sessions, enough to take every pooled connection of
	// every tablet: none of their queries meets the lock, and a third
	// session sees it held by B.
	others := c.DB(t, ks)
	others.SetMaxOpenConns(3 * connStatePoolSize)
	var wg sync.WaitGroup
	errs := make(chan error, 128)
	for i := range 3 * connStatePoolSize {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := others.Conn(ctx)
			if err != nil {
				errs <- err
				return
			}
			defer conn.Close()
			for _, q := range []string{"SELECT COUNT(*) FROM ul_items", fmt.Sprintf("UPDATE ul_items SET v = v + 1 WHERE id = %d", 1+i%2)} {
				if _, err := conn.ExecContext(ctx, q); err != nil {
					errs <- fmt.Errorf("%s: %w", q, err)
				}
			}
			var free int64
			if err := conn.QueryRowContext(ctx, "SELECT IS_FREE_LOCK('job')").Scan(&free); err != nil || free != 0 {
				errs <- fmt.Errorf("third session: IS_FREE_LOCK('job') = %d, %v; want 0", free, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, sh := range keyspaceShards(c, ks) {
		d := openDirect(t, c.DirectDSN(ks, sh))
		want := int64(-1)
		if sh == lockShard(ks) {
			want = holderB
		}
		if got := queryInt(t, ctx, d, "SELECT IS_USED_LOCK('job')"); got != want {
			t.Errorf("shard %s: IS_USED_LOCK('job') = %d, want %d (only B's lock session)", sh, got, want)
		}
	}

	// B goes away without releasing: the gate releases its lock session.
	b.Close()
	dbB.Close()
	waitLockFree(t, ctx, direct, "job", 10*time.Second)
	waitLockFree(t, ctx, direct, "job_do", 10*time.Second)
	if got := queryInt(t, ctx, a, "SELECT GET_LOCK('job', 0)"); got != 1 {
		t.Errorf("A: GET_LOCK after B left = %d, want 1", got)
	}
	if got := queryInt(t, ctx, a, "SELECT RELEASE_ALL_LOCKS()"); got != 1 {
		t.Errorf("A: RELEASE_ALL_LOCKS = %d, want 1", got)
	}
}

// testUserLockReset: COM_RESET_CONNECTION and COM_CHANGE_USER start a
// fresh session at the gate, which releases the old one's locks.
func testUserLockReset(t *testing.T, c *cluster.Cluster) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	direct := openDirect(t, c.DirectDSN("commerce", "0"))
	conn := rawConn(t, c.GateAddr, "root", "", "commerce")
	for _, step := range []struct {
		name string
		do   func()
	}{
		{"COM_RESET_CONNECTION", func() {
			if r := command(t, conn, 0x1f); r[0] != 0x00 {
				t.Fatalf("reset connection: %x", r)
			}
		}},
		{"COM_CHANGE_USER", func() { changeUser(t, conn, "root", "", "commerce") }},
	} {
		r, err := conn.Execute("SELECT GET_LOCK('reset_lock', 0)")
		if err != nil {
			t.Fatal(err)
		}
		if v, _ := r.GetInt(0, 0); v != 1 {
			t.Fatalf("before %s: GET_LOCK = %d", step.name, v)
		}
		if queryInt(t, ctx, direct, "SELECT IS_FREE_LOCK('reset_lock')") != 0 {
			t.Fatalf("before %s: the lock is free on mysqld", step.name)
		}
		step.do()
		if queryInt(t, ctx, direct, "SELECT IS_FREE_LOCK('reset_lock')") != 1 {
			t.Errorf("after %s: the lock is still held on mysqld", step.name)
		}
	}
}

// testUserLockGateKilled: a gate process holding a lock is killed; while
// it lives its heartbeats keep the lock past the tablet's reserved
// timeout, and once it is dead the tablet frees the lock within that
// timeout.
func testUserLockGateKilled(t *testing.T, c *cluster.Cluster) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	bin := cluster.BuildMosaic(t)
	port := etcdtest.FreePort(t)
	logPath := filepath.Join(t.TempDir(), "gate.log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(bin, append([]string{"gate", "--mysql-port", fmt.Sprint(port), "--http-port", fmt.Sprint(etcdtest.FreePort(t)),
		"--topo-endpoints", c.TopoAddr, "--lock-heartbeat-interval", "500ms"}, c.Security.Flags()...)...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if err := waitListening(ctx, port, time.Minute); err != nil {
		t.Fatal(err)
	}
	cfg := mysql.NewConfig()
	cfg.User, cfg.Net, cfg.Addr, cfg.DBName = "root", "tcp", fmt.Sprintf("127.0.0.1:%d", port), "commerce"
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	deadline := time.Now().Add(time.Minute)
	for {
		var got int64
		err := conn.QueryRowContext(ctx, "SELECT GET_LOCK('gate_lock', 0)").Scan(&got)
		if err == nil && got == 1 {
			break
		}
		if err == nil || time.Now().After(deadline) {
			data, _ := os.ReadFile(logPath)
			t.Fatalf("GET_LOCK through the second gate: %d, %v\n%s", got, err, data)
		}
		time.Sleep(200 * time.Millisecond)
	}
	direct := openDirect(t, c.DirectDSN("commerce", "0"))
	// Silent on the session, but heartbeated: held past the timeout.
	held := time.Now().Add(userLockReservedTimeout + userLockReservedTimeout/2)
	for time.Now().Before(held) {
		if queryInt(t, ctx, direct, "SELECT IS_FREE_LOCK('gate_lock')") != 0 {
			t.Fatal("the lock of a live gate's idle session was released")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	waited := waitLockFree(t, ctx, direct, "gate_lock", userLockReservedTimeout+10*time.Second)
	t.Logf("lock of the killed gate freed after %v (reserved timeout %v)", waited, userLockReservedTimeout)
}

// testUserLockTabletRestarted: the lock session's tablet restarts (as in
// a failover, the mysqld connection and its locks are gone): the next
// lock statement fails with an error saying the locks are lost, and the
// one after starts a new lock session.
func testUserLockTabletRestarted(t *testing.T, c *cluster.Cluster) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	conn, err := c.DB(t, "commerce").Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if got := queryInt(t, ctx, conn, "SELECT GET_LOCK('restart_lock', 0)"); got != 1 {
		t.Fatalf("GET_LOCK = %d", got)
	}
	c.Shards["commerce"]["0"].Primary().Restart(t)
	c.WaitServing(t)
	var got int64
	err = conn.QueryRowContext(ctx, "SELECT IS_USED_LOCK('restart_lock')").Scan(&got)
	if err == nil || !strings.Contains(err.Error(), "lock session") || !strings.Contains(err.Error(), "released") {
		t.Fatalf("lock statement after the tablet restarted: %d, %v; want the lock session lost", got, err)
	}
	t.Logf("after the restart: %v", err)
	if got := queryInt(t, ctx, conn, "SELECT IS_FREE_LOCK('restart_lock')"); got != 1 {
		t.Errorf("IS_FREE_LOCK after the loss = %d, want 1", got)
	}
	if got := queryInt(t, ctx, conn, "SELECT GET_LOCK('restart_lock', 0)"); got != 1 {
		t.Errorf("GET_LOCK on a new lock session = %d, want 1", got)
	}
}
