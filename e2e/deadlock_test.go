package e2e

import (
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/mosaicdb/mosaic/e2e/cluster"
)

const deadlockVSchema = `{
  "sharded": true,
  "vindexes": {"hash": {"type": "hash"}},
  "tables": {"dl": {"column_vindexes": [{"column": "id", "name": "hash"}]}}
}`

// deadlockShards are the shards of TestCrossShardDeadlock's keyspace.
var deadlockShards = []string{"-55", "55-aa", "aa-"}

// TestCrossShardDeadlock is issue 17's check: sessions that lock rows on
// different shards in opposite orders make a deadlock no mysqld can see;
// the deadlock detector finds it, and within a second exactly one
// session, the one that began last, gets 1213 (SQLSTATE 40001) with its
// whole transaction rolled back on every shard, while the others go on
// and commit. Without the detector the sessions wait for
// innodb_lock_wait_timeout (20 s) and get 1205.
func TestCrossShardDeadlock(t *testing.T) {
	c := cluster.Start(t, cluster.Options{Keyspaces: []cluster.Keyspace{{Name: "dlk", Shards: deadlockShards, VSchema: deadlockVSchema}}})
	// Two detectors, as during a restart or with two failure detectors:
	// still one victim per deadlock.
	reg := c.StartDeadlockDetector(t, testLogger(t), nil)
	reg2 := c.StartDeadlockDetector(t, testLogger(t), nil)
	gate2 := c.StartExtraGate(t, nil)
	db := c.DB(t, "dlk")
	mustExec(t, db, "CREATE TABLE dl (id BIGINT PRIMARY KEY, bal BIGINT NOT NULL)")
	var vals []string
	for id := 1; id <= 90; id++ {
		vals = append(vals, fmt.Sprintf("(%d, 0)", id))
	}
	mustExec(t, db, "INSERT INTO dl VALUES "+strings.Join(vals, ","))
	// Which ids each shard holds, taken one by one by the subtests.
	free := map[string][]int64{}
	for _, sh := range deadlockShards {
		direct, err := sql.Open("mysql", c.DirectDSN("dlk", sh))
		if err != nil {
			t.Fatal(err)
		}
		defer direct.Close()
		rows, err := direct.Query("SELECT id FROM dl ORDER BY id")
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id int64
			_ = rows.Scan(&id)
			free[sh] = append(free[sh], id)
		}
		rows.Close()
		if len(free[sh]) < 10 {
			t.Fatalf("shard %s holds only ids %v", sh, free[sh])
		}
	}
	take := func(sh string) int64 {
		id := free[sh][0]
		free[sh] = free[sh][1:]
		return id
	}
	dsn1, dsn2 := c.DSN("dlk"), strings.Replace(c.DSN("dlk"), c.GateAddr, gate2, 1)

	t.Run("two sessions on two shards", func(t *testing.T) {
		ringDeadlock(t, c, []string{dsn1, dsn1}, []int64{take("-55"), take("55-aa")}, "")
	})
	t.Run("three sessions on three shards", func(t *testing.T) {
		ringDeadlock(t, c, []string{dsn1, dsn1, dsn1}, []int64{take("-55"), take("55-aa"), take("aa-")}, "")
	})
	t.Run("two gates", func(t *testing.T) {
		ringDeadlock(t, c, []string{dsn2, dsn1}, []int64{take("55-aa"), take("aa-")}, "")
	})
	t.Run("twopc", func(t *testing.T) {
		ringDeadlock(t, c, []string{dsn1, dsn2}, []int64{take("aa-"), take("-55")}, "twopc")
	})
	t.Run("a statement waiting on two shards", func(t *testing.T) {
		twoShardWait(t, c, dsn1, take("-55"), take("55-aa"), take("aa-"))
	})
	t.Run("a long wait that is no deadlock", func(t *testing.T) {
		found := func() float64 {
			return counterValue(t, reg, "mosaic_deadlock_found_total", "", "") + counterValue(t, reg2, "mosaic_deadlock_found_total", "", "")
		}
		victims := func() float64 {
			return counterValue(t, c.GateRegistry, "mosaic_gate_deadlock_victims_total", "kind", "cross_shard")
		}
		f0, v0 := found(), victims()
		longWait(t, c, dsn1, dsn2, take("-55"), take("55-aa"), take("aa-"))
		if f, v := found(), victims(); f != f0 || v != v0 {
			t.Errorf("a wait without a cycle counted as a deadlock: found %v -> %v, gate victims %v -> %v", f0, f, v0, v)
		}
	})

	// The detectors found the deadlocks and aborted their victims (both
	// may count one: the second abort finds it under way).
	aborted := counterValue(t, reg, "mosaic_deadlock_victims_total", "outcome", "aborted") + counterValue(t, reg2, "mosaic_deadlock_victims_total", "outcome", "aborted")
	found := counterValue(t, reg, "mosaic_deadlock_found_total", "", "") + counterValue(t, reg2, "mosaic_deadlock_found_total", "", "")
	if aborted < 5 || found < 5 {
		t.Errorf("detectors: %v deadlocks found, %v victims aborted, want 5 of each at least", found, aborted)
	}
	if got := counterValue(t, c.GateRegistry, "mosaic_gate_deadlock_victims_total", "kind", "cross_shard"); got < 3 {
		t.Errorf("gate: %v victims of deadlocks across shards, want 3 (two other victims were the other gate's)", got)
	}
	resp, err := http.Get("http://" + c.Gate.HTTPAddr().String() + "/debug/status")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), "Recent deadlocks") || !strings.Contains(string(page), "across shards") || !strings.Contains(string(page), " waits for ") {
		t.Errorf("the gate's status page does not show the deadlocks:\n%s", page)
	}
}

// session is one client connection of a deadlock test.
type session struct {
	conn *sql.Conn
}

func openSession(t *testing.T, dsn, mode string) *session {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if mode != "" {
		mustExecConn(t, conn, "SET transaction_mode = '"+mode+"'")
	}
	return &session{conn: conn}
}

// stmtResult is how a statement ended, and when.
type stmtResult struct {
	err error
	at  time.Time
}

// ringDeadlock runs len(ids) sessions, one per DSN, in a cycle: session i
// begins and updates row ids[i] (in order: the last begins last), then
// each updates row ids[i+1], which session i+1 holds. It checks that the
// last session alone gets 1213 within a second of closing the cycle,
// that the others commit, and what every row holds after.
func ringDeadlock(t *testing.T, c *cluster.Cluster, dsns []string, ids []int64, mode string) {
	ctx := t.Context()
	n := len(ids)
	db := c.DB(t, "dlk")
	before := balances(t, db, ids)
	ss := make([]*session, n)
	for i := range ss {
		ss[i] = openSession(t, dsns[i], mode)
	}
	for i, s := range ss {
		mustExecConn(t, s.conn, "BEGIN")
		mustExecConn(t, s.conn, "UPDATE dl SET bal = bal + 1 WHERE id = ?", ids[i])
	}
	results := make(chan struct {
		i int
		stmtResult
	}, n)
	// A session whose statement went through commits at once: the one
	// waiting for its row goes on then.
	run := func(i int) {
		_, err := ss[i].conn.ExecContext(ctx, "UPDATE dl SET bal = bal + 10 WHERE id = ?", ids[(i+1)%n])
		at := time.Now()
		if err == nil {
			_, err = ss[i].conn.ExecContext(ctx, "COMMIT")
		}
		results <- struct {
			i int
			stmtResult
		}{i, stmtResult{err, at}}
	}
	for i := 0; i < n-1; i++ {
		go run(i)
	}
	closed := time.Now()
	go run(n - 1)
	got := make([]stmtResult, n)
	for range n {
		select {
		case r := <-results:
			got[r.i] = r.stmtResult
		case <-time.After(30 * time.Second):
			t.Fatal("the sessions still wait after 30s: the deadlock was not broken")
		}
	}
	victim := -1
	for i, r := range got {
		if r.err == nil {
			continue
		}
		var me *mysql.MySQLError
		if !errors.As(r.err, &me) || me.Number != 1213 || string(me.SQLState[:]) != "40001" {
			t.Fatalf("session %d: %v, want 1213 (40001) for the victim only", i, r.err)
		}
		if victim >= 0 {
			t.Fatalf("sessions %d and %d were both victims of one deadlock", victim, i)
		}
		victim = i
		if took := r.at.Sub(closed); took > time.Second {
			t.Errorf("the victim got 1213 %v after the cycle closed, want within 1s", took)
		}
		t.Logf("victim: session %d, 1213 %v after the cycle closed: %s", i, r.at.Sub(closed).Round(time.Millisecond), me.Message)
	}
	if victim != n-1 {
		t.Fatalf("victim = session %d, want %d (the youngest transaction)", victim, n-1)
	}
	// The victim's session is usable, and no longer in a transaction:
	// its COMMIT commits nothing.
	mustExecConn(t, ss[victim].conn, "UPDATE dl SET bal = bal + 100 WHERE id = ?", ids[victim])
	mustExecConn(t, ss[victim].conn, "ROLLBACK")
	want := make([]int64, n)
	for i := range ids {
		want[i] = before[i]
		if i != victim {
			want[i]++
		}
		if prev := (i + n - 1) % n; prev != victim {
			want[i] += 10
		}
		want[i] += 100 * boolInt(i == victim) // autocommit after the deadlock
	}
	if after := balances(t, db, ids); fmt.Sprint(after) != fmt.Sprint(want) {
		t.Errorf("balances %v, want %v (victim %d rolled back on every shard)", after, want, victim)
	}
	checkNoOpenTransactions(t, c)
}

// twoShardWait makes the victim's statement wait on two shards at once:
// session B holds rows y and z, session A (begun after) holds x and
// updates y and z in one statement, then B updates x. A is the victim:
// both its waits are aborted, its statement fails with 1213, and B
// commits.
func twoShardWait(t *testing.T, c *cluster.Cluster, dsn string, x, y, z int64) {
	ctx := t.Context()
	db := c.DB(t, "dlk")
	ids := []int64{x, y, z}
	before := balances(t, db, ids)
	a, b := openSession(t, dsn, ""), openSession(t, dsn, "")
	mustExecConn(t, b.conn, "BEGIN")
	mustExecConn(t, b.conn, "UPDATE dl SET bal = bal + 1 WHERE id IN (?, ?)", y, z)
	mustExecConn(t, a.conn, "BEGIN")
	mustExecConn(t, a.conn, "UPDATE dl SET bal = bal + 10 WHERE id = ?", x)
	aDone, bDone := make(chan stmtResult, 1), make(chan stmtResult, 1)
	go func() {
		_, err := a.conn.ExecContext(ctx, "UPDATE dl SET bal = bal + 10 WHERE id IN (?, ?)", y, z)
		aDone <- stmtResult{err, time.Now()}
	}()
	closed := time.Now()
	go func() {
		_, err := b.conn.ExecContext(ctx, "UPDATE dl SET bal = bal + 1 WHERE id = ?", x)
		bDone <- stmtResult{err, time.Now()}
	}()
	var ra, rb stmtResult
	for range 2 {
		select {
		case ra = <-aDone:
		case rb = <-bDone:
		case <-time.After(30 * time.Second):
			t.Fatal("the sessions still wait after 30s: the deadlock was not broken")
		}
	}
	var me *mysql.MySQLError
	if !errors.As(ra.err, &me) || me.Number != 1213 {
		t.Fatalf("session A (the youngest, waiting on two shards): %v, want 1213", ra.err)
	}
	if took := ra.at.Sub(closed); took > time.Second {
		t.Errorf("the victim got 1213 %v after the cycle closed, want within 1s", took)
	}
	if rb.err != nil {
		t.Fatalf("session B: %v", rb.err)
	}
	mustExecConn(t, b.conn, "COMMIT")
	want := []int64{before[0] + 1, before[1] + 1, before[2] + 1}
	if after := balances(t, db, ids); fmt.Sprint(after) != fmt.Sprint(want) {
		t.Errorf("balances %v, want %v (A rolled back on every shard)", after, want)
	}
	checkNoOpenTransactions(t, c)
}

// longWait makes a transaction that spans shards wait, longer than the
// detectors need to see it many times over, for a row another holds,
// without a cycle: A (the elder) holds x and y, B (on another gate)
// holds z and waits for x. Nothing may be aborted: B waits until A
// commits, then goes on and commits.
func longWait(t *testing.T, c *cluster.Cluster, dsnA, dsnB string, x, y, z int64) {
	ctx := t.Context()
	db := c.DB(t, "dlk")
	ids := []int64{x, y, z}
	before := balances(t, db, ids)
	a, b := openSession(t, dsnA, ""), openSession(t, dsnB, "twopc")
	mustExecConn(t, a.conn, "BEGIN")
	mustExecConn(t, a.conn, "UPDATE dl SET bal = bal + 1 WHERE id = ?", x)
	mustExecConn(t, a.conn, "UPDATE dl SET bal = bal + 1 WHERE id = ?", y)
	mustExecConn(t, b.conn, "BEGIN")
	mustExecConn(t, b.conn, "UPDATE dl SET bal = bal + 10 WHERE id = ?", z)
	bDone := make(chan stmtResult, 1)
	go func() {
		_, err := b.conn.ExecContext(ctx, "UPDATE dl SET bal = bal + 10 WHERE id = ?", x)
		bDone <- stmtResult{err, time.Now()}
	}()
	// Two seconds: the detectors poll every 120 ms and look at waits of
	// 100 ms and more, so they see this one a dozen times each.
	select {
	case r := <-bDone:
		t.Fatalf("B's statement ended while A still held the row: %v", r.err)
	case <-time.After(2 * time.Second):
	}
	mustExecConn(t, a.conn, "COMMIT")
	select {
	case r := <-bDone:
		if r.err != nil {
			t.Fatalf("B after A committed: %v", r.err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("B still waits after A committed")
	}
	mustExecConn(t, b.conn, "COMMIT")
	want := []int64{before[0] + 11, before[1] + 1, before[2] + 10}
	if after := balances(t, db, ids); fmt.Sprint(after) != fmt.Sprint(want) {
		t.Errorf("balances %v, want %v (both committed)", after, want)
	}
	checkNoOpenTransactions(t, c)
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// balances reads the rows' balances through the gate, in the order of ids.
func balances(t *testing.T, db *sql.DB, ids []int64) []int64 {
	t.Helper()
	out := make([]int64, len(ids))
	for i, id := range ids {
		if err := db.QueryRow("SELECT bal FROM dl WHERE id = ?", id).Scan(&out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// checkNoOpenTransactions checks that no shard's mysqld holds an open
// transaction: the victim's parts were rolled back, the others committed.
func checkNoOpenTransactions(t *testing.T, c *cluster.Cluster) {
	t.Helper()
	for _, sh := range deadlockShards {
		direct, err := sql.Open("mysql", c.DirectDSN("dlk", sh))
		if err != nil {
			t.Fatal(err)
		}
		// A transaction whose client got its answer may still be ending
		// on mysqld for a moment. InnoDB refreshes innodb_trx only when
		// nobody read it for 100 ms: polling faster would freeze it.
		deadline := time.Now().Add(10 * time.Second)
		for {
			n := count(t, direct, "SELECT COUNT(*) FROM information_schema.innodb_trx")
			if n == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("shard %s: %d transactions still open", sh, n)
				break
			}
			time.Sleep(150 * time.Millisecond)
		}
		direct.Close()
	}
}

// counterValue returns a counter's value on reg, for the child with label
// name=value (name empty: a counter without labels); 0 when absent.
func counterValue(t *testing.T, reg *prometheus.Registry, metric, name, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != metric {
			continue
		}
		for _, m := range mf.Metric {
			if name == "" || hasLabel(m, name, value) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.Label {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}
