package tablet_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proto/tabletmanagerpb"
	"github.com/mosaicdb/mosaic/sqlerr"
	"github.com/mosaicdb/mosaic/tablet"
	"github.com/mosaicdb/mosaic/tablet/flavor"
	"github.com/mosaicdb/mosaic/tablet/mysqlconn"
	"github.com/mosaicdb/mosaic/tablet/reparent"
	"github.com/mosaicdb/mosaic/tablet/tablettest"
	"github.com/mosaicdb/mosaic/topo"
	"github.com/mosaicdb/mosaic/topo/memstore"
)

// TestHungPrimary stops a primary's mysqld (SIGSTOP) and checks the
// tablet's side of failing it over: its health says mysqld does not answer
// within the probe timeout; an emergency reparent asked to fail over a
// hung primary fences it; the tablet kills the stopped mysqld instead of
// waiting for it to turn read-only; a replica is promoted; the old tablet
// comes back as a read-only replica of it, holding nothing the new
// primary lacks. Twice:
//
//   - a COMMIT on its way to the stopped mysqld (in its socket) never
//     runs, and its caller gets an error;
//   - a commit that reached the binlog but no replica (its semi-sync ack
//     never came) is recovered by mysqld when it starts again: the
//     tablet finds it holds a transaction the new primary lacks and is
//     rebuilt from a peer instead of replicating. Its caller got an error.
func TestHungPrimary(t *testing.T) {
	ts := topo.NewServer(memstore.New())
	sh := tablettest.StartShardWithOptions(t, ts, "commerce", "0", 2, tablettest.Options{
		SemiSync: true,
		Configure: func(c *tablet.Config) {
			c.MysqldProbeInterval = 200 * time.Millisecond
			c.MysqldProbeTimeout = 500 * time.Millisecond
			c.SemiSyncTimeout = time.Hour
			// Only the errant-transaction check may repair a tablet here.
			c.RepairDelay = time.Hour
		},
	})
	ctx := t.Context()
	byAlias := map[string]*tablettest.Tablet{}
	for _, tb := range sh.Tablets {
		byAlias[tb.AliasString] = tb
	}
	exec := func(tb *tablettest.Tablet, sql string, txID int64) error {
		_, err := tb.Dial(t).Query.Execute(ctx, &querypb.ExecuteRequest{Target: sh.Target(primaryType), Sql: sql, TransactionId: txID})
		return err
	}
	// async runs fn in the background and returns its error's channel.
	async := func(fn func(ctx context.Context) error) <-chan error {
		ch := make(chan error, 1)
		go func() {
			cctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			ch <- fn(cctx)
		}()
		return ch
	}
	// failOver stops old's mysqld, runs afterStop, waits for old's health
	// to say mysqld does not answer, and runs the emergency reparent the
	// failure detector would: it returns the new primary.
	failOver := func(old *tablettest.Tablet, afterStop func()) (*tablettest.Tablet, time.Time) {
		t.Helper()
		pid := old.Agent.Mysqld().PID()
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		stopped := time.Now()
		// kill returns once the signal is queued; the process stops when
		// one of its threads takes it, and until then its other threads
		// run on. On a busy machine that is long enough for a COMMIT sent
		// now to run (CI saw it committed and replicated): wait until
		// every thread is stopped, so that what afterStop sends sits
		// unread.
		waitStopped(t, pid)
		afterStop()
		t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
		hctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		h, err := old.WaitHealth(hctx, func(h *querypb.StreamHealthResponse) bool {
			return !h.Serving && h.RealtimeStats.GetMysqldUnresponsive()
		})
		if err != nil {
			t.Fatalf("health of the primary with a stopped mysqld: %v", err)
		}
		t.Logf("unhealthy %v after SIGSTOP: %s", time.Since(stopped).Round(time.Millisecond), h.RealtimeStats.HealthError)
		if took := time.Since(stopped); took > 5*time.Second {
			t.Errorf("unhealthy only %v after SIGSTOP (probe every 200ms, timeout 500ms)", took)
		}
		res, err := reparent.Emergency(ctx, ts, "commerce", "0", reparent.Options{OnlyIfPrimaryDown: true, FailHungPrimary: true, LeaseWait: 30 * time.Second, Creds: old.Creds})
		if err != nil {
			t.Fatalf("emergency reparent of the hung primary: %v", err)
		}
		t.Logf("failed over to %s %v after SIGSTOP (reparent %v)", topo.AliasString(res.NewPrimary), time.Since(stopped).Round(time.Millisecond), res.Duration.Round(time.Millisecond))
		// The stopped mysqld was killed, not resumed.
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("the stopped mysqld %d still exists after the failover (kill 0: %v)", pid, err)
		}
		return byAlias[topo.AliasString(res.NewPrimary)], stopped
	}
	// settle waits until old replicates from primary again, writes id on
	// primary and checks that every tablet holds exactly rows and nothing
	// primary lacks.
	settle := func(old, primary *tablettest.Tablet, stopped time.Time, id int, rows string) {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		defer cancel()
		if _, err := old.WaitHealth(wctx, func(h *querypb.StreamHealthResponse) bool {
			return h.Serving && h.Target.TabletType == replicaType && h.RealtimeStats.GetReplicationRunning()
		}); err != nil {
			t.Fatalf("the old primary did not come back as a replica: %v", err)
		}
		t.Logf("the old primary %s replicates again %v after SIGSTOP", old.AliasString, time.Since(stopped).Round(time.Millisecond))
		if err := exec(primary, fmt.Sprintf("INSERT INTO t VALUES (%d)", id), 0); err != nil {
			t.Fatalf("write on the new primary: %v", err)
		}
		pos, err := primary.Dial(t).TM.PrimaryPosition(ctx, &tabletmanagerpb.PrimaryPositionRequest{})
		if err != nil {
			t.Fatal(err)
		}
		for _, tb := range sh.Tablets {
			if tb != primary {
				if _, err := tb.Dial(t).TM.WaitForPosition(ctx, &tabletmanagerpb.WaitForPositionRequest{Position: pos.Position, TimeoutMs: 30000}); err != nil {
					t.Fatalf("%s does not catch up: %v", tb.AliasString, err)
				}
			}
			if got := flat(values(t, tb.ExecuteFetchAsDba(t, "SELECT id FROM commerce.t ORDER BY id"))); got != rows {
				t.Errorf("rows on %s: %s, want %s", tb.AliasString, got, rows)
			}
			// The primary's history only grows (heartbeats): read it after.
			mine := flat(values(t, tb.ExecuteFetchAsDba(t, "SELECT @@GLOBAL.gtid_binlog_state")))
			theirs := flat(values(t, primary.ExecuteFetchAsDba(t, "SELECT @@GLOBAL.gtid_binlog_state")))
			if errant, err := (flavor.MariaDB{}).Errant(mine, theirs); err != nil || errant != "" {
				t.Errorf("%s holds %q the primary lacks (%v): %s vs %s", tb.AliasString, errant, err, mine, theirs)
			}
		}
		// The old mysqld takes no write from the application's account.
		app := old.Agent.Mysqld().AppParams()
		app.DB = "commerce"
		c, err := mysqlconn.Dial(ctx, app)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		err = c.Exec("INSERT INTO t VALUES (1000)")
		if se := sqlerr.FromError(err); se == nil || se.Num != 1290 {
			t.Errorf("write as the app user on the old primary: %v, want error 1290 (read-only)", err)
		}
	}
	// ended waits for what's error and returns it.
	ended := func(what string, ch <-chan error) error {
		t.Helper()
		select {
		case err := <-ch:
			if err == nil {
				t.Fatalf("%s was acknowledged", what)
			}
			t.Logf("%s failed: %v", what, err)
			return err
		case <-time.After(time.Minute):
			t.Fatalf("%s did not end", what)
		}
		return nil
	}

	old := sh.Primary()
	for _, sql := range []string{"CREATE TABLE t (id INT PRIMARY KEY)", "INSERT INTO t VALUES (1)"} {
		if err := exec(old, sql, 0); err != nil {
			t.Fatal(err)
		}
	}

	t.Log("a COMMIT sits in the stopped mysqld's socket")
	begin, err := old.Dial(t).Query.Begin(ctx, &querypb.BeginRequest{Target: sh.Target(primaryType)})
	if err != nil {
		t.Fatal(err)
	}
	if err := exec(old, "INSERT INTO t VALUES (2)", begin.TransactionId); err != nil {
		t.Fatal(err)
	}
	var commit <-chan error
	newPrimary, stopped := failOver(old, func() {
		commit = async(func(ctx context.Context) error {
			_, err := old.Dial(t).Query.Commit(ctx, &querypb.CommitRequest{Target: sh.Target(primaryType), TransactionId: begin.TransactionId})
			return err
		})
	})
	err = ended("the COMMIT sent to the stopped mysqld", commit)
	// The tablet cannot know that the COMMIT never ran: its error says
	// that the outcome is not known (the connection was cut), or, if the
	// call came after the fence, that the tablet refused it (not serving,
	// or the transaction already gone). Never a plain connection failure,
	// which the gate would report as nothing committed. The row is absent
	// all the same: the COMMIT died unread with the mysqld.
	if !sqlerr.IsOutcomeUnknown(err) && !sqlerr.IsRetryable(err) && !sqlerr.IsTxEnded(err) {
		t.Errorf("the COMMIT sent to the stopped mysqld failed with %v, want 2013 (outcome unknown) or a refusal", err)
	}
	settle(old, newPrimary, stopped, 3, "1;3")

	t.Log("a commit waits in the stopped mysqld for a semi-sync ack that never comes")
	old = newPrimary
	for _, tb := range sh.Tablets {
		if tb != old {
			tb.ExecuteFetchAsDba(t, "STOP SLAVE IO_THREAD")
		}
	}
	insert := async(func(ctx context.Context) error {
		_, err := old.Dial(t).Query.Execute(ctx, &querypb.ExecuteRequest{Target: sh.Target(primaryType), Sql: "INSERT INTO t VALUES (5)"})
		return err
	})
	eventually(t, 20*time.Second, "the commit waits for its semi-sync ack", func() error {
		res := old.ExecuteFetchAsDba(t, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE STATE LIKE '%semi-sync%'")
		if n := flat(values(t, res)); n == "0" {
			return fmt.Errorf("no commit waits for an ack")
		}
		return nil
	})
	newPrimary, stopped = failOver(old, func() {})
	ended("the commit that no replica acknowledged", insert)
	settle(old, newPrimary, stopped, 6, "1;3;6")
}

// waitStopped waits until every thread of process pid is stopped (state T
// in /proc): only then does nothing run in it.
func waitStopped(t *testing.T, pid int) {
	t.Helper()
	eventually(t, 20*time.Second, "every thread of the SIGSTOPped mysqld stopped", func() error {
		stats, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
		if err != nil || len(stats) == 0 {
			return fmt.Errorf("threads of %d: %v", pid, err)
		}
		for _, f := range stats {
			b, err := os.ReadFile(f)
			if err != nil {
				return err
			}
			// pid (comm) state ...: comm may hold spaces and parentheses.
			i := bytes.LastIndexByte(b, ')')
			if i < 0 || i+2 >= len(b) {
				return fmt.Errorf("%s: %q", f, b)
			}
			if st := b[i+2]; st != 'T' {
				return fmt.Errorf("%s is in state %c", f, st)
			}
		}
		return nil
	})
}
