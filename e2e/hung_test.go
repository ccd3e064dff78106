package e2e

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mosaicdb/mosaic/e2e/cluster"
	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proto/tabletmanagerpb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/proxy"
	"github.com/mosaicdb/mosaic/tablet/failover"
	"github.com/mosaicdb/mosaic/tablet/flavor"
	"github.com/mosaicdb/mosaic/tablet/mysqlconn"
	"github.com/mosaicdb/mosaic/tablet/mysqlctl"
)

var hungRuns = flag.Int("hung-runs", 1, "TestFailoverHungPrimary: how many times to stop a primary's mysqld (the median and worst write gap are reported)")

// TestFailoverHungPrimary runs a shard of three tablets as child processes
// (`mosaic tablet`, semi-sync that never falls back to asynchronous), a
// gate and a failure detector with their default health settings, and a
// write load through the gate that records every acknowledged write.
//
// HungMysqld stops the primary's mysqld with SIGSTOP: the tablet's probe
// finds it does not answer, the detector fails it over after its grace,
// the tablet kills the stopped mysqld when fenced, and writes resume on a
// new primary within 10 s. Then SIGCONT: the old mysqld is gone and runs
// nothing; the tablet comes back as a read-only replica holding nothing
// the new primary lacks (rebuilt if it held a commit no replica had).
//
// FrozenPrimaryTablet stops the primary's agent instead (its mysqld keeps
// running, writable): its lease expires, the detector fails it over, and
// when the agent resumes it turns its mysqld read-only and rejoins.
//
// Every acknowledged write is there at the end, and all tablets agree.
//
//	go test ./e2e -run TestFailoverHungPrimary -hung-runs 5 -v
//
// reports the write gap over several stops.
func TestFailoverHungPrimary(t *testing.T) {
	if testing.Short() {
		t.Skip("stops and kills tablet processes")
	}
	bin := cluster.BuildMosaic(t)
	c := cluster.StartTopo(t, cluster.Options{
		Keyspaces: []cluster.Keyspace{{Name: "commerce"}},
		Replicas:  2,
		Gate: func(cfg *proxy.Config) {
			cfg.HealthCheckTimeout = 3 * time.Second
		},
	})
	// The mysqld probe runs with its defaults (every 1s, 2s timeout).
	c.StartProcShards(t, bin, "--semi-sync-timeout", "1h", "--repair-delay", "2s", "--primary-lease-ttl", "4s")
	shard := c.ProcShards["commerce"]["0"]

	fcfg := failover.DefaultConfig() // unresponsive grace 3s
	fcfg.StartupGrace = 0
	fcfg.HealthTimeout = 3 * time.Second
	fcfg.Reparent.TabletTimeout = 3 * time.Second
	fc, err := failover.New(fcfg, c.TS, testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	fctx, stopFailover := context.WithCancel(context.Background())
	var fwg sync.WaitGroup
	fwg.Add(1)
	go func() { defer fwg.Done(); fc.Run(fctx) }()
	t.Cleanup(func() { stopFailover(); fwg.Wait() })

	c.StartGate(t)
	db := c.DB(t, "commerce", "interpolateParams=true")
	db.SetMaxOpenConns(8)
	mustExec(t, db, "create table t (id bigint primary key, v varchar(40) not null)")
	load := startWriteLoad(t, db, "t", 4)
	load.waitAcks(t, 200, time.Minute)

	primary := func(t *testing.T) *cluster.ProcTablet {
		t.Helper()
		sh, _, err := c.TS.GetShard(t.Context(), "commerce", "0")
		if err != nil {
			t.Fatal(err)
		}
		p := shard.Tablet(sh.PrimaryAlias)
		if p == nil {
			t.Fatalf("no tablet for primary %v", sh.PrimaryAlias)
		}
		return p
	}
	// resumed waits until writes are acknowledged again after t0 and
	// returns when, and the longest stretch without an acknowledged write
	// around t0.
	resumed := func(t *testing.T, t0 time.Time, within time.Duration) (time.Duration, time.Duration) {
		t.Helper()
		deadline := t0.Add(within)
		for {
			if first, ok := load.firstAckSentAfter(t0); ok {
				gap, _ := load.pause(t0.Add(-time.Second), first)
				return first.Sub(t0), gap
			}
			if time.Now().After(deadline) {
				t.Fatalf("no write succeeded in %v; last errors: %v", within, load.lastErrors(3))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// rejoined checks that the old primary came back as a read-only
	// replica, caught up, holding nothing the primary lacks.
	rejoined := func(t *testing.T, old *cluster.ProcTablet) {
		t.Helper()
		start := time.Now()
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
		defer cancel()
		if err := old.WaitHealth(ctx, func(h *querypb.StreamHealthResponse) bool {
			return h.Serving && h.Target.TabletType == topodatapb.TabletType_REPLICA && h.RealtimeStats.GetReplicationRunning()
		}); err != nil {
			t.Fatalf("the old primary did not come back as a replica: %v", err)
		}
		waitCaughtUp(t, c, shard, old, 3*time.Minute)
		t.Logf("old primary %s replicates again, caught up, %v later", old.AliasString, time.Since(start).Round(time.Millisecond))
		mine := binlogState(t, old)
		theirs := binlogState(t, primary(t))
		if errant, err := (flavor.MariaDB{}).Errant(mine, theirs); err != nil || errant != "" {
			t.Errorf("old primary %s holds %q that the primary lacks (%v): %s vs %s", old.AliasString, errant, err, mine, theirs)
		}
		if err := appCannotWrite(t, old); err != nil {
			t.Errorf("the application's account could write on the old primary's mysqld: %v", err)
		}
	}

	t.Run("HungMysqld", func(t *testing.T) {
		var recoveries, gaps []time.Duration
		for run := 1; run <= *hungRuns; run++ {
			victim := primary(t)
			load.waitAcks(t, 200, time.Minute)
			pid := victim.MysqldPID()
			if pid <= 0 {
				t.Fatalf("no mysqld pid for %s", victim.AliasString)
			}
			t0 := time.Now()
			if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
			rec, gap := resumed(t, t0, time.Minute)
			recoveries, gaps = append(recoveries, rec), append(gaps, gap)
			now := primary(t)
			t.Logf("run %d: stopped mysqld of primary %s (SIGSTOP); first write acknowledged %v later on %s; longest write gap %v; %d writes failed meanwhile",
				run, victim.AliasString, rec.Round(time.Millisecond), now.AliasString, gap.Round(time.Millisecond), len(load.failuresBetween(t0.Add(-time.Second), t0.Add(rec))))
			if now == victim {
				t.Fatalf("run %d: writes resumed on the stopped primary %s", run, victim.AliasString)
			}
			if rec > 10*time.Second {
				t.Errorf("run %d: writes resumed only %v after the primary's mysqld stopped", run, rec)
			}
			// SIGCONT: the stopped mysqld was killed while stopped, so
			// nothing it had received runs.
			if err := syscall.Kill(pid, syscall.SIGCONT); !errors.Is(err, syscall.ESRCH) {
				t.Errorf("run %d: the stopped mysqld %d still existed after the failover (SIGCONT: %v)", run, pid, err)
			}
			rejoined(t, victim)
			load.waitAcks(t, 200, time.Minute)
		}
		slices.Sort(recoveries)
		slices.Sort(gaps)
		t.Logf("hung mysqld (SIGSTOP) to first acknowledged write: median %v, worst %v; longest write gap: median %v, worst %v, over %d runs (gaps %v)",
			recoveries[len(recoveries)/2].Round(time.Millisecond), recoveries[len(recoveries)-1].Round(time.Millisecond),
			gaps[len(gaps)/2].Round(time.Millisecond), gaps[len(gaps)-1].Round(time.Millisecond), len(gaps), gaps)
	})

	t.Run("FrozenPrimaryTablet", func(t *testing.T) {
		victim := primary(t)
		load.waitAcks(t, 200, time.Minute)
		t0 := time.Now()
		if err := victim.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = victim.Signal(syscall.SIGCONT) })
		rec, gap := resumed(t, t0, time.Minute)
		now := primary(t)
		t.Logf("stopped the agent of primary %s (SIGSTOP; lease ttl 4s); first write acknowledged %v later on %s; longest write gap %v",
			victim.AliasString, rec.Round(time.Millisecond), now.AliasString, gap.Round(time.Millisecond))
		if now == victim {
			t.Fatalf("writes resumed on the frozen primary %s", victim.AliasString)
		}
		load.waitAcks(t, 200, time.Minute)
		if err := victim.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		rejoined(t, victim)
		load.waitAcks(t, 200, time.Minute)
	})

	load.stop()
	n, sum := load.verify(t, db)
	t.Logf("data: %d acknowledged writes all present (%d rows, checksum %08x); %d writes failed in all", load.ackCount(), n, sum, len(load.failures))
	waitInSync(t, shard, "t")
}

// binlogState returns a tablet's @@gtid_binlog_state.
func binlogState(t *testing.T, p *cluster.ProcTablet) string {
	t.Helper()
	c, err := p.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	resp, err := c.TM.ExecuteFetchAsDba(ctx, &tabletmanagerpb.ExecuteFetchAsDbaRequest{Sql: "SELECT @@GLOBAL.gtid_binlog_state"})
	if err != nil {
		t.Fatalf("binlog state of %s: %v", p.AliasString, err)
	}
	vals, err := mysqlconn.RowValues(resp.Result.Rows[0], 1)
	if err != nil {
		t.Fatal(err)
	}
	return string(vals[0])
}

// appCannotWrite checks that the application's account cannot write on
// a tablet's mysqld: it is read_only, and that account may not write past
// read_only (no READ_ONLY ADMIN or SUPER). The account's password lives
// in the tablet process, so the test reads the state as the DBA.
func appCannotWrite(t *testing.T, p *cluster.ProcTablet) error {
	t.Helper()
	if ro := dbaValue(t, p, "SELECT @@GLOBAL.read_only"); ro != "1" {
		return fmt.Errorf("read_only is %s", ro)
	}
	app := mysqlctl.DefaultAccounts().App
	grants := dbaValue(t, p, "SELECT GROUP_CONCAT(PRIVILEGE_TYPE) FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = "+
		mysqlctl.QuoteString("'"+app+"'@'localhost'"))
	for _, g := range strings.Split(grants, ",") {
		if g == "READ_ONLY ADMIN" || g == "SUPER" {
			return fmt.Errorf("%s may write past read_only (%s)", app, grants)
		}
	}
	return nil
}

// dbaValue runs a one-value query on a tablet's mysqld as its DBA.
func dbaValue(t *testing.T, p *cluster.ProcTablet, sql string) string {
	t.Helper()
	c, err := p.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	resp, err := c.TM.ExecuteFetchAsDba(ctx, &tabletmanagerpb.ExecuteFetchAsDbaRequest{Sql: sql})
	if err != nil {
		t.Fatalf("%s on %s: %v", sql, p.AliasString, err)
	}
	vals, err := mysqlconn.RowValues(resp.Result.Rows[0], 1)
	if err != nil {
		t.Fatal(err)
	}
	return string(vals[0])
}
