package tablet_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proto/tabletmanagerpb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/sqlerr"
	"github.com/mosaicdb/mosaic/tablet"
	"github.com/mosaicdb/mosaic/tablet/mysqlconn"
	"github.com/mosaicdb/mosaic/tablet/reparent"
	"github.com/mosaicdb/mosaic/tablet/tablettest"
	"github.com/mosaicdb/mosaic/topo"
	"github.com/mosaicdb/mosaic/topo/etcdstore/etcdtest"
)

const (
	primaryType = topodatapb.TabletType_PRIMARY
	replicaType = topodatapb.TabletType_REPLICA
)

// values decodes a result's rows into strings ("NULL" for NULL).
func values(t *testing.T, res *querypb.QueryResult) [][]string {
	t.Helper()
	var out [][]string
	for _, raw := range res.Rows {
		vals, err := mysqlconn.RowValues(raw, len(res.Fields))
		if err != nil {
			t.Fatal(err)
		}
		row := make([]string, len(vals))
		for i, v := range vals {
			if v == nil {
				row[i] = "NULL"
			} else {
				row[i] = string(v)
			}
		}
		out = append(out, row)
	}
	return out
}

func flat(rows [][]string) string {
	var parts []string
	for _, r := range rows {
		parts = append(parts, strings.Join(r, ","))
	}
	return strings.Join(parts, ";")
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %v: %v", what, d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func mysqlErr(err error) *sqlerr.Error {
	if err == nil {
		return nil
	}
	return sqlerr.FromError(err)
}

// TestTablet runs one shard (primary + replica, real mariadbd, embedded
// etcd) and checks the query service, replication, health and the
// TabletManager on it. The subtests share the shard and run in order.
func TestTablet(t *testing.T) {
	// txIdle is the shard's transaction idle limit: short enough for
	// IdleTransactionKilled, long enough that no stall of a busy machine
	// kills a transaction another subtest keeps open across several calls
	// (LockWaits' holder sits idle while the test polls for the statement
	// waiting on it, and is used again after the abort; at 2s a loaded CI
	// machine rolled such transactions back under the subtests).
	const txIdle = 6 * time.Second
	ts := topo.NewServer(etcdtest.NewStore(t))
	sh := tablettest.StartShardWithOptions(t, ts, "commerce", "0", 1, tablettest.Options{
		SemiSync: true,
		Configure: func(c *tablet.Config) {
			c.Query.TxIdleTimeout = txIdle
			c.Query.ReservedTimeout = 3 * time.Second
		},
	})
	primary, replica := sh.Primary(), sh.Replicas()[0]
	pc, rc := primary.Dial(t), replica.Dial(t)
	ctx := t.Context()
	target := sh.Target(primaryType)

	exec := func(sql string, opts *querypb.ExecuteOptions) (*querypb.QueryResult, error) {
		resp, err := pc.Query.Execute(ctx, &querypb.ExecuteRequest{Target: target, Sql: sql, Options: opts})
		if err != nil {
			return nil, err
		}
		return resp.Result, nil
	}
	mustExec := func(sql string) *querypb.QueryResult {
		t.Helper()
		res, err := exec(sql, nil)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return res
	}

	t.Run("Topo", func(t *testing.T) {
		shard, _, err := ts.GetShard(ctx, "commerce", "0")
		if err != nil {
			t.Fatal(err)
		}
		if topo.AliasString(shard.PrimaryAlias) != primary.AliasString || shard.PrimaryTermStartUnixNano == 0 {
			t.Errorf("shard record = %v", shard)
		}
		rec, err := ts.GetTablet(ctx, replica.Alias)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Type != replicaType || int(rec.MysqlPort) != replica.MySQLPort || rec.DbFlavor != "mariadb" || rec.Hostname != "127.0.0.1" {
			t.Errorf("replica record = %v", rec)
		}
		rec, _ = ts.GetTablet(ctx, primary.Alias)
		if rec.Type != primaryType || rec.PrimaryTermStartUnixNano != shard.PrimaryTermStartUnixNano {
			t.Errorf("primary record = %v", rec)
		}
	})

	t.Run("Execute", func(t *testing.T) {
		mustExec("CREATE TABLE users (id BIGINT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(64) NOT NULL, score INT NULL)")
		res := mustExec("INSERT INTO users (name, score) VALUES ('ann', 10), ('bob', NULL), ('cy', 30)")
		if res.RowsAffected != 3 || res.InsertId != 1 {
			t.Errorf("insert: affected %d, insert id %d", res.RowsAffected, res.InsertId)
		}
		res = mustExec("SELECT id, name, score FROM users ORDER BY id")
		if len(res.Fields) != 3 || res.Fields[0].Name != "id" || res.Fields[1].Name != "name" || res.Fields[0].Table != "users" || res.Fields[1].Database != "commerce" {
			t.Fatalf("fields = %v", res.Fields)
		}
		if res.Fields[0].Type != 8 || res.Fields[1].Type != 253 || res.Fields[2].Type != 3 {
			t.Errorf("field types = %d %d %d, want 8 253 3", res.Fields[0].Type, res.Fields[1].Type, res.Fields[2].Type)
		}
		if got := flat(values(t, res)); got != "1,ann,10;2,bob,NULL;3,cy,30" {
			t.Errorf("rows = %s", got)
		}
		res = mustExec("UPDATE users SET score = score + 1 WHERE score IS NOT NULL")
		if res.RowsAffected != 2 || !strings.Contains(res.Info, "matched: 2") {
			t.Errorf("update: affected %d, info %q", res.RowsAffected, res.Info)
		}
		res = mustExec("INSERT INTO users (name) VALUES ('dee')")
		if res.InsertId != 4 {
			t.Errorf("insert id = %d, want 4", res.InsertId)
		}
		res = mustExec("DELETE FROM users WHERE name = 'dee'")
		if res.RowsAffected != 1 {
			t.Errorf("delete: affected %d", res.RowsAffected)
		}
		res = mustExec("SELECT name FROM users WHERE id = 999")
		if len(res.Rows) != 0 || len(res.Fields) != 1 {
			t.Errorf("empty select: %v", res)
		}
	})

	t.Run("Errors", func(t *testing.T) {
		_, err := exec("INSERT INTO users (id, name) VALUES (1, 'again')", nil)
		if e := mysqlErr(err); e == nil || e.Num != 1062 || e.State != "23000" {
			t.Errorf("duplicate key: %v", err)
		}
		_, err = exec("SELECT * FROM nope", nil)
		if e := mysqlErr(err); e == nil || e.Num != 1146 || e.State != "42S02" {
			t.Errorf("unknown table: %v", err)
		}
		_, err = exec("SELEC 1", nil)
		if e := mysqlErr(err); e == nil || e.Num != 1064 {
			t.Errorf("parse error: %v", err)
		}
		_, err = exec("SELECT id FROM users", &querypb.ExecuteOptions{MaxRows: 2})
		if e := mysqlErr(err); e == nil || e.Num != sqlerr.ERTooManyRows {
			t.Errorf("max rows: %v", err)
		}
		mustExec("SELECT 1")
	})

	t.Run("NoDirtyConnections", func(t *testing.T) {
		testNoDirtyConnections(t, pc, target, primary, 16)
	})

	t.Run("LockWaits", func(t *testing.T) {
		testLockWaits(t, pc, target)
	})

	t.Run("ReservedConnections", func(t *testing.T) {
		testReservedConnections(t, pc, target, primary, 3*time.Second, txIdle)
	})

	t.Run("Transactions", func(t *testing.T) {
		b, err := pc.Query.Begin(ctx, &querypb.BeginRequest{Target: target})
		if err != nil {
			t.Fatal(err)
		}
		if b.TransactionId == 0 || topo.AliasString(b.TabletAlias) != primary.AliasString {
			t.Fatalf("begin = %v", b)
		}
		if _, err := pc.Query.Execute(ctx, &querypb.ExecuteRequest{Target: target, TransactionId: b.TransactionId, Sql: "INSERT INTO users (id, name) VALUES (10, 'tx1')"}); err != nil {
			t.Fatal(err)
		}
		if got := flat(values(t, mustExec("SELECT COUNT(*) FROM users WHERE id = 10"))); got != "0" {
			t.Errorf("uncommitted row visible outside: %s", got)
		}
		if _, err := pc.Query.Commit(ctx, &querypb.CommitRequest{Target: target, TransactionId: b.TransactionId}); err != nil {
			t.Fatal(err)
		}
		if got := flat(values(t, mustExec("SELECT name FROM users WHERE id = 10"))); got != "tx1" {
			t.Errorf("committed row: %q", got)
		}
		_, err = pc.Query.Commit(ctx, &querypb.CommitRequest{Target: target, TransactionId: b.TransactionId})
		if err == nil || !strings.Contains(err.Error(), "committed") {
			t.Errorf("second commit: %v", err)
		}

		be, err := pc.Query.BeginExecute(ctx, &querypb.BeginExecuteRequest{Target: target, Sql: "INSERT INTO users (id, name) VALUES (11, 'tx2')"})
		if err != nil || be.Error != nil || be.Result.RowsAffected != 1 {
			t.Fatalf("begin execute: %v %v", be, err)
		}
		if _, err := pc.Query.Rollback(ctx, &querypb.RollbackRequest{Target: target, TransactionId: be.TransactionId}); err != nil {
			t.Fatal(err)
		}
		if got := flat(values(t, mustExec("SELECT COUNT(*) FROM users WHERE id = 11"))); got != "0" {
			t.Errorf("rolled back row visible: %s", got)
		}

		// A failing first statement still hands the transaction over.
		be, err = pc.Query.BeginExecute(ctx, &querypb.BeginExecuteRequest{Target: target, Sql: "INSERT INTO users (id, name) VALUES (1, 'dup')"})
		if err != nil || be.Error == nil || be.Error.Code != 1062 || be.TransactionId == 0 {
			t.Fatalf("begin execute with error: %v %v", be, err)
		}
		if _, err := pc.Query.Rollback(ctx, &querypb.RollbackRequest{Target: target, TransactionId: be.TransactionId}); err != nil {
			t.Fatal(err)
		}
		_, err = pc.Query.Execute(ctx, &querypb.ExecuteRequest{Target: target, Sql: "BEGIN"})
		if e := mysqlErr(err); e == nil || e.Num != sqlerr.ERNotSupportedYet {
			t.Errorf("BEGIN through Execute: %v", err)
		}
	})

	t.Run("IdleTransactionKilled", func(t *testing.T) {
		be, err := pc.Query.BeginExecute(ctx, &querypb.BeginExecuteRequest{Target: target, Sql: "INSERT INTO users (id, name) VALUES (20, 'idle')"})
		if err != nil || be.Error != nil {
			t.Fatalf("begin execute: %v %v", be, err)
		}
		// Polling must not touch the transaction: that would keep it alive.
		eventually(t, txIdle+15*time.Second, "idle transaction rolled back", func() error {
			if n := primary.Agent.PoolStats().OpenTx; n != 0 {
				return fmt.Errorf("%d transactions open", n)
			}
			return nil
		})
		_, err = pc.Query.Execute(ctx, &querypb.ExecuteRequest{Target: target, TransactionId: be.TransactionId, Sql: "SELECT 1"})
		if err == nil || !strings.Contains(err.Error(), "idle") {
			t.Errorf("statement in killed transaction: %v", err)
		}
		if got := flat(values(t, mustExec("SELECT COUNT(*) FROM users WHERE id = 20"))); got != "0" {
			t.Errorf("killed transaction's row visible: %s", got)
		}
	})

	t.Run("StreamExecute", func(t *testing.T) {
		mustExec("CREATE TABLE big (id INT PRIMARY KEY, pad VARCHAR(32))")
		if res := mustExec("INSERT INTO big SELECT seq, REPEAT('x', 20) FROM seq_1_to_100000"); res.RowsAffected != 100000 {
			t.Fatalf("inserted %d rows", res.RowsAffected)
		}
		stream, err := pc.Query.StreamExecute(ctx, &querypb.ExecuteRequest{Target: target, Sql: "SELECT id, pad FROM big ORDER BY id"})
		if err != nil {
			t.Fatal(err)
		}
		chunks, rows, next := 0, 0, 1
		for {
			resp, err := stream.Recv()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			chunks++
			qr := resp.Result
			if (chunks == 1) != (len(qr.Fields) == 2) {
				t.Fatalf("chunk %d has %d fields", chunks, len(qr.Fields))
			}
			size := 0
			for _, r := range qr.Rows {
				size += len(r)
				vals, err := mysqlconn.RowValues(r, 2)
				if err != nil {
					t.Fatal(err)
				}
				if string(vals[0]) != fmt.Sprint(next) {
					t.Fatalf("row %d has id %s", next, vals[0])
				}
				next++
			}
			if size > 80<<10 {
				t.Errorf("chunk of %d bytes", size)
			}
			rows += len(qr.Rows)
		}
		if rows != 100000 || chunks < 20 {
			t.Errorf("streamed %d rows in %d chunks", rows, chunks)
		}
	})

	t.Run("Timeout", func(t *testing.T) {
		start := time.Now()
		_, err := exec("SELECT SLEEP(10)", &querypb.ExecuteOptions{TimeoutMs: 500})
		if e := mysqlErr(err); e == nil || e.Num != sqlerr.ERQueryTimeout {
			t.Fatalf("SLEEP past timeout: %v", err)
		}
		// Well under the SLEEP's 10 s: the timeout ended it (a loaded
		// machine may take seconds to get there).
		if d := time.Since(start); d > 8*time.Second {
			t.Errorf("timeout took %v", d)
		}
		if status.Code(err) != codes.DeadlineExceeded {
			t.Errorf("grpc code %v", status.Code(err))
		}
		for i := 0; i < 20; i++ {
			if got := flat(values(t, mustExec("SELECT 7"))); got != "7" {
				t.Fatalf("after timeout: %s", got)
			}
		}
		// A caller's own cancellation interrupts too.
		cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		start = time.Now()
		_, err = pc.Query.Execute(cctx, &querypb.ExecuteRequest{Target: target, Sql: "SELECT SLEEP(10)"})
		if err == nil || time.Since(start) > 3*time.Second {
			t.Errorf("canceled call: %v after %v", err, time.Since(start))
		}
		eventually(t, 10*time.Second, "killed query gone from mysqld", func() error {
			res := primary.ExecuteFetchAsDba(t, "SELECT COUNT(*) FROM information_schema.processlist WHERE info LIKE 'SELECT SLEEP%'")
			if n := flat(values(t, res)); n != "0" {
				return fmt.Errorf("%s sleeping queries", n)
			}
			return nil
		})
	})

	t.Run("Settings", func(t *testing.T) {
		ansi := &querypb.ExecuteOptions{Settings: []string{"SET SESSION sql_mode = 'ANSI_QUOTES'"}}
		for i := 0; i < 6; i++ {
			opts := ansi
			if i%2 == 1 {
				opts = nil
			}
			res, err := exec("SELECT @@SESSION.sql_mode", opts)
			if err != nil {
				t.Fatal(err)
			}
			mode := flat(values(t, res))
			if (opts != nil) != (mode == "ANSI_QUOTES") {
				t.Errorf("run %d (settings %v): sql_mode = %q", i, opts != nil, mode)
			}
		}
		// A bare SET must not leak into other requests.
		mustExec("SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES'")
		for i := 0; i < 5; i++ {
			if mode := flat(values(t, mustExec("SELECT @@SESSION.sql_mode"))); strings.Contains(mode, "NO_BACKSLASH") {
				t.Fatalf("bare SET leaked: %q", mode)
			}
		}
		_, err := exec("SELECT 1", &querypb.ExecuteOptions{Settings: []string{"SET SESSION no_such_var = 1"}})
		if e := mysqlErr(err); e == nil || e.Num != sqlerr.ERUnknownSystemVariable {
			t.Errorf("bad setting: %v", err)
		}
	})

	t.Run("WrongTarget", func(t *testing.T) {
		_, err := pc.Query.Execute(ctx, &querypb.ExecuteRequest{Target: &querypb.Target{Keyspace: "other", Shard: "0", TabletType: primaryType}, Sql: "SELECT 1"})
		if e := mysqlErr(err); e == nil || e.Num != sqlerr.ERUnknown || !strings.Contains(e.Message, "wrong target") {
			t.Errorf("wrong keyspace: %v", err)
		}
		_, err = rc.Query.Execute(ctx, &querypb.ExecuteRequest{Target: sh.Target(primaryType), Sql: "SELECT 1"})
		if e := mysqlErr(err); e == nil || !strings.Contains(e.Message, "not PRIMARY") || !sqlerr.IsRetryable(err) || status.Code(err) != codes.FailedPrecondition {
			t.Errorf("primary target on replica: %v", err)
		}
		_, err = rc.Query.Execute(ctx, &querypb.ExecuteRequest{Sql: "SELECT 1"})
		if err == nil || sqlerr.IsRetryable(err) {
			t.Error("request without target served")
		}
		if _, err := rc.Query.Execute(ctx, &querypb.ExecuteRequest{Target: sh.Target(replicaType), Sql: "SELECT 1"}); err != nil {
			t.Errorf("replica target on replica: %v", err)
		}
	})

	t.Run("Replication", func(t *testing.T) {
		mustExec("CREATE TABLE repl (id INT PRIMARY KEY)")
		mustExec("INSERT INTO repl VALUES (1)")
		pos, err := pc.TM.PrimaryPosition(ctx, &tabletmanagerpb.PrimaryPositionRequest{})
		if err != nil || !strings.HasPrefix(pos.Position, "0-") {
			t.Fatalf("primary position %v %v", pos, err)
		}
		if _, err := rc.TM.WaitForPosition(ctx, &tabletmanagerpb.WaitForPositionRequest{Position: pos.Position, TimeoutMs: 10000}); err != nil {
			t.Fatalf("wait for position: %v", err)
		}
		resp, err := rc.Query.Execute(ctx, &querypb.ExecuteRequest{Target: sh.Target(replicaType), Sql: "SELECT id FROM repl"})
		if err != nil || flat(values(t, resp.Result)) != "1" {
			t.Fatalf("replica read: %v %v", resp, err)
		}
		_, err = rc.TM.WaitForPosition(ctx, &tabletmanagerpb.WaitForPositionRequest{Position: fmt.Sprintf("0-%d-999999", primary.Alias.Uid), TimeoutMs: 200})
		if status.Code(err) != codes.DeadlineExceeded {
			t.Errorf("wait for unreachable position: %v", err)
		}
		st, err := pc.TM.ExecuteFetchAsDba(ctx, &tabletmanagerpb.ExecuteFetchAsDbaRequest{Sql: "SHOW STATUS LIKE 'Rpl_semi_sync_master_clients'"})
		if err != nil || flat(values(t, st.Result)) != "Rpl_semi_sync_master_clients,1" {
			t.Errorf("semi-sync clients: %v %v", st, err)
		}

		hctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		h, err := replica.WaitHealth(hctx, func(h *querypb.StreamHealthResponse) bool {
			return h.Serving && h.RealtimeStats.ReplicationRunning
		})
		if err != nil {
			t.Fatal(err)
		}
		if h.RealtimeStats.ReplicationLagSeconds > 5 || h.Target.TabletType != replicaType || h.RealtimeStats.HealthError != "" {
			t.Errorf("replica health = %v", h)
		}

		replica.ExecuteFetchAsDba(t, "STOP SLAVE SQL_THREAD")
		mustExec("INSERT INTO repl VALUES (2)")
		h, err = replica.WaitHealth(hctx, func(h *querypb.StreamHealthResponse) bool {
			return !h.RealtimeStats.ReplicationRunning && h.RealtimeStats.ReplicationLagSeconds >= 2
		})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(h.RealtimeStats.HealthError, "not running") {
			t.Errorf("stopped replica health = %v", h)
		}
		if _, err := rc.TM.StartReplication(ctx, &tabletmanagerpb.StartReplicationRequest{}); err != nil {
			t.Fatal(err)
		}
		if _, err := replica.WaitHealth(hctx, func(h *querypb.StreamHealthResponse) bool {
			return h.RealtimeStats.ReplicationRunning && h.RealtimeStats.ReplicationLagSeconds < 2
		}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "row 2 on replica", func() error {
			resp, err := rc.Query.Execute(ctx, &querypb.ExecuteRequest{Target: sh.Target(replicaType), Sql: "SELECT COUNT(*) FROM repl"})
			if err != nil {
				return err
			}
			if n := flat(values(t, resp.Result)); n != "2" {
				return fmt.Errorf("%s rows", n)
			}
			return nil
		})
		rs, err := rc.TM.ReplicationStatus(ctx, &tabletmanagerpb.ReplicationStatusRequest{})
		if err != nil || !rs.Status.IoRunning || !rs.Status.SqlRunning || int(rs.Status.SourcePort) != primary.MySQLPort {
			t.Errorf("replication status %v %v", rs, err)
		}
	})

	t.Run("Heartbeat", func(t *testing.T) {
		position := func() string {
			t.Helper()
			pos, err := pc.TM.PrimaryPosition(ctx, &tabletmanagerpb.PrimaryPositionRequest{})
			if err != nil {
				t.Fatal(err)
			}
			return pos.Position
		}
		moves := func(what string) {
			t.Helper()
			from := position()
			eventually(t, 20*time.Second, what, func() error {
				if p := position(); p == from {
					return fmt.Errorf("position still %s", p)
				}
				return nil
			})
		}
		// Nothing else writes: the primary's heartbeat moves its position,
		// and the replica measures its lag by the row.
		moves("an idle primary's heartbeat moves its position")
		eventually(t, 20*time.Second, "replica's lag comes from the heartbeat", func() error {
			if src := gaugeLabel(t, replica.Agent, "mosaic_tablet_replication_lag_source"); src != "heartbeat" {
				return fmt.Errorf("lag source %q", src)
			}
			return nil
		})
		if got := flat(values(t, replica.ExecuteFetchAsDba(t, "SELECT tablet FROM _mosaic.heartbeat"))); got != primary.AliasString {
			t.Errorf("heartbeat row on the replica names %q, want %s", got, primary.AliasString)
		}

		// The heartbeat is written as the app user, whose writes read_only
		// refuses: a read-only primary makes no GTID of its own, even
		// while it still counts itself the serving primary.
		if _, err := pc.TM.SetReadOnly(ctx, &tabletmanagerpb.SetReadOnlyRequest{ReadOnly: true}); err != nil {
			t.Fatal(err)
		}
		fixed := position()
		refused := counterValue(t, primary.Agent, "mosaic_tablet_heartbeat_write_errors_total")
		eventually(t, 20*time.Second, "heartbeat writes refused by read_only", func() error {
			if n := counterValue(t, primary.Agent, "mosaic_tablet_heartbeat_write_errors_total"); n < refused+3 {
				return fmt.Errorf("%v refused writes", n-refused)
			}
			return nil
		})
		if p := position(); p != fixed {
			t.Errorf("read-only primary's position moved from %s to %s", fixed, p)
		}
		if _, err := pc.TM.SetReadOnly(ctx, &tabletmanagerpb.SetReadOnlyRequest{ReadOnly: false}); err != nil {
			t.Fatal(err)
		}
		moves("heartbeat resumes once writable")
	})

	t.Run("TabletManager", func(t *testing.T) {
		st, err := pc.TM.Status(ctx, &tabletmanagerpb.StatusRequest{})
		if err != nil || !st.MysqldRunning || st.ReadOnly || !st.Serving || st.Tablet.Type != primaryType || st.Position == "" {
			t.Errorf("primary status %v %v", st, err)
		}
		st, err = rc.TM.Status(ctx, &tabletmanagerpb.StatusRequest{})
		if err != nil || !st.ReadOnly || st.Replication.SourceHost != "127.0.0.1" {
			t.Errorf("replica status %v %v", st, err)
		}
		if _, err := rc.TM.ChangeType(ctx, &tabletmanagerpb.ChangeTypeRequest{TabletType: topodatapb.TabletType_RDONLY}); err != nil {
			t.Fatal(err)
		}
		rec, _ := ts.GetTablet(ctx, replica.Alias)
		if rec.Type != topodatapb.TabletType_RDONLY {
			t.Errorf("record type after ChangeType: %v", rec.Type)
		}
		if _, err := rc.TM.ChangeType(ctx, &tabletmanagerpb.ChangeTypeRequest{TabletType: replicaType}); err != nil {
			t.Fatal(err)
		}
		if _, err := pc.TM.ChangeType(ctx, &tabletmanagerpb.ChangeTypeRequest{TabletType: replicaType}); status.Code(err) != codes.FailedPrecondition {
			t.Errorf("ChangeType on primary: %v", err)
		}
		_, err = rc.TM.ExecuteFetchAsDba(ctx, &tabletmanagerpb.ExecuteFetchAsDbaRequest{Sql: "SELECT * FROM nope"})
		if e := mysqlErr(err); e == nil || e.Num != 1146 {
			t.Errorf("dba error: %v", err)
		}

		// An action waiting behind a long one gives up when its caller's
		// deadline passes, instead of running late.
		release, err := replica.Agent.HoldActions(ctx)
		if err != nil {
			t.Fatal(err)
		}
		held := time.AfterFunc(30*time.Second, release)
		cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		start := time.Now()
		_, err = rc.TM.ChangeType(cctx, &tabletmanagerpb.ChangeTypeRequest{TabletType: topodatapb.TabletType_RDONLY})
		cancel()
		took := time.Since(start)
		// The handler's deadline came with the call, a little after the
		// caller's: hold the lock past it, or a handler still within its
		// deadline would rightly take the lock and change the type.
		time.Sleep(500 * time.Millisecond)
		if held.Stop() {
			release()
		}
		if status.Code(err) != codes.DeadlineExceeded || took > 10*time.Second {
			t.Errorf("ChangeType behind a held action: %v after %v", err, took)
		}
		// Its handler must have given up too, not changed the type once
		// the lock was free (with an expired context, so that the record
		// would not even say so). A late handler runs at once on release:
		// give it a moment.
		time.Sleep(500 * time.Millisecond)
		st, err = rc.TM.Status(ctx, &tabletmanagerpb.StatusRequest{})
		if err != nil || st.Tablet.GetType() != replicaType {
			t.Errorf("type after an abandoned ChangeType: %v %v", st.GetTablet().GetType(), err)
		}
	})

	t.Run("HTTP", func(t *testing.T) {
		get := func(path string) (int, string) {
			resp, err := http.Get("http://" + primary.HTTPAddr + path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		if code, body := get("/healthz"); code != 200 || !strings.Contains(body, "serving") {
			t.Errorf("/healthz: %d %s", code, body)
		}
		if code, body := get("/debug/status"); code != 200 || !strings.Contains(body, "PRIMARY") {
			t.Errorf("/debug/status: %d %s", code, body)
		}
		code, body := get("/metrics")
		for _, want := range []string{`mosaic_tablet_queries_total{stmt_type="SELECT"}`, `mosaic_tablet_query_errors_total{code="1062"}`, "mosaic_tablet_pool_size 16", "mosaic_tablet_serving 1"} {
			if code != 200 || !strings.Contains(body, want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
	})

	t.Run("MysqldRestart", func(t *testing.T) {
		m := primary.Agent.Mysqld()
		starts := m.Starts()
		if err := syscall.Kill(m.PID(), syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		eventually(t, 60*time.Second, "mysqld restarted", func() error {
			if m.Starts() <= starts {
				return errors.New("not yet")
			}
			return nil
		})
		eventually(t, 30*time.Second, "primary takes writes again", func() error {
			_, err := exec("INSERT INTO repl VALUES (3)", nil)
			return err
		})
		eventually(t, 30*time.Second, "write after restart replicated", func() error {
			resp, err := rc.Query.Execute(ctx, &querypb.ExecuteRequest{Target: sh.Target(replicaType), Sql: "SELECT COUNT(*) FROM repl"})
			if err != nil {
				return err
			}
			if n := flat(values(t, resp.Result)); n != "3" {
				return fmt.Errorf("%s rows", n)
			}
			return nil
		})
	})

	t.Run("Reparent", func(t *testing.T) {
		res, err := reparent.Planned(ctx, ts, "commerce", "0", reparent.Options{Creds: primary.Creds})
		if err != nil {
			t.Fatal(err)
		}
		if topo.AliasString(res.NewPrimary) != replica.AliasString || res.WritePause <= 0 || len(res.RepointErrors) != 0 {
			t.Fatalf("planned reparent = %+v", res)
		}
		if _, err := exec("INSERT INTO repl VALUES (4)", nil); err == nil {
			t.Fatal("demoted primary took a PRIMARY write")
		}
		// The old primary's mysqld refuses the query service's writes too.
		_, err = pc.Query.Execute(ctx, &querypb.ExecuteRequest{Target: sh.Target(replicaType), Sql: "INSERT INTO repl VALUES (4)"})
		if e := mysqlErr(err); e == nil || e.Num != sqlerr.ERReadOnly {
			t.Errorf("write through a replica target on the old primary: %v, want 1290", err)
		}
		if _, err := rc.Query.Execute(ctx, &querypb.ExecuteRequest{Target: sh.Target(primaryType), Sql: "INSERT INTO repl VALUES (5)"}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 20*time.Second, "write on new primary reaches old one", func() error {
			resp, err := pc.Query.Execute(ctx, &querypb.ExecuteRequest{Target: sh.Target(replicaType), Sql: "SELECT MAX(id) FROM repl"})
			if err != nil {
				return err
			}
			if n := flat(values(t, resp.Result)); n != "5" {
				return fmt.Errorf("max id %s", n)
			}
			return nil
		})
		// A tablet the shard record does not name cannot be promoted.
		_, err = pc.TM.PromoteReplica(ctx, &tabletmanagerpb.PromoteReplicaRequest{PrimaryTermStartUnixNano: res.Term})
		if status.Code(err) != codes.FailedPrecondition {
			t.Errorf("promote a tablet the record does not name: %v", err)
		}
		lease, _, err := ts.GetPrimaryLease(ctx, "commerce", "0")
		if err != nil || topo.AliasString(lease.Alias) != replica.AliasString || lease.PrimaryTermStartUnixNano != res.Term {
			t.Errorf("primary lease after reparent = %v, %v", lease, err)
		}
		h, err := primary.WaitHealth(ctx, func(h *querypb.StreamHealthResponse) bool { return h.RealtimeStats.ReplicationRunning })
		if err != nil || h.Target.TabletType != replicaType {
			t.Errorf("old primary health %v %v", h, err)
		}
	})
}

// counterValue returns the value of the unlabelled counter name on a's
// registry.
func counterValue(t *testing.T, a *tablet.Agent, name string) float64 {
	t.Helper()
	mfs, err := a.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.Metric) == 1 {
			return mf.Metric[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// gaugeLabel returns the value of the only label of the gauge name on a's
// registry (gauges like mosaic_tablet_type that report one labelled 1).
func gaugeLabel(t *testing.T, a *tablet.Agent, name string) string {
	t.Helper()
	mfs, err := a.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.Metric) == 1 && len(mf.Metric[0].Label) == 1 {
			return mf.Metric[0].Label[0].GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return ""
}
