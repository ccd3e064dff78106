package e2e

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mosaicdb/mosaic/e2e/cluster"
	"github.com/mosaicdb/mosaic/mtls"
	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proto/tabletmanagerpb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/proxy"
	"github.com/mosaicdb/mosaic/tablet/failover"
	"github.com/mosaicdb/mosaic/tablet/mysqlconn"
	"github.com/mosaicdb/mosaic/topo"
)

var failoverRuns = flag.Int("failover-runs", 1, "TestFailoverKill9: how many times to kill the primary (the median and worst recovery are reported)")

// TestFailoverKill9 runs a shard of three tablets as child processes of
// the test (`mosaic tablet`, durable, semi-sync), a gate and a failover
// controller in the test, and a continuous write load through the gate.
// It kills the primary's mysqld and agent with SIGKILL: writes must resume
// with no operator action and every acknowledged write must be there
// afterwards. The killed tablet is started again and must re-attach as a
// replica. Before that, a replica agent that stops answering (SIGSTOP) must
// be dropped by the gate within a few seconds and used again once back.
//
//	go test ./e2e -run TestFailoverKill9 -failover-runs 5 -v
//
// measures recovery over several kills.
func TestFailoverKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts tablet processes")
	}
	bin := cluster.BuildMosaic(t)
	c := cluster.StartTopo(t, cluster.Options{
		Keyspaces: []cluster.Keyspace{{Name: "commerce"}},
		Replicas:  2,
		Gate: func(cfg *proxy.Config) {
			cfg.HealthCheckTimeout = 3 * time.Second
		},
	})
	// Semi-sync never falls back to asynchronous here: a commit is
	// acknowledged only once a replica has it.
	c.StartProcShards(t, bin, "--semi-sync-timeout", "1h", "--repair-delay", "2s")
	shard := c.ProcShards["commerce"]["0"]

	fcfg := failover.DefaultConfig()
	fcfg.StartupGrace = 0
	fcfg.HealthTimeout = 3 * time.Second
	fcfg.Reparent.Creds = c.TabletCreds(t, mtls.RoleOperator)
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

	t.Run("SilentReplicaDroppedAndBack", func(t *testing.T) {
		r := shard.Tablets[2]
		if err := r.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		stopped := time.Now()
		waitGate(t, c, 20*time.Second, "gate drops the silent replica", func() bool {
			return !gateServes(c, r.AliasString, topodatapb.TabletType_REPLICA)
		})
		dropped := time.Since(stopped)
		if err := r.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		waitGate(t, c, 30*time.Second, "gate uses the replica again", func() bool {
			return gateServes(c, r.AliasString, topodatapb.TabletType_REPLICA)
		})
		t.Logf("silent replica dropped after %v (health check timeout 3s), used again %v after it answered",
			dropped.Round(10*time.Millisecond), (time.Since(stopped) - dropped).Round(10*time.Millisecond))
		if dropped > 6*time.Second {
			t.Errorf("silent replica dropped only after %v", dropped)
		}
	})

	load := startWriteLoad(t, db, "t", 4)
	load.waitAcks(t, 200, time.Minute)
	var recoveries []time.Duration
	for run := 1; run <= *failoverRuns; run++ {
		sh, _, err := c.TS.GetShard(t.Context(), "commerce", "0")
		if err != nil {
			t.Fatal(err)
		}
		victim := shard.Tablet(sh.PrimaryAlias)
		if victim == nil {
			t.Fatalf("no tablet for primary %v", sh.PrimaryAlias)
		}
		load.waitAcks(t, 200, time.Minute)
		acksBefore := load.ackCount()
		t0 := time.Now()
		victim.Kill9(t)
		var first time.Time
		deadline := t0.Add(90 * time.Second)
		for {
			var ok bool
			if first, ok = load.firstAckSentAfter(t0); ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("run %d: no write succeeded in 90s after killing primary %s; last errors: %v", run, victim.AliasString, load.lastErrors(3))
			}
			time.Sleep(10 * time.Millisecond)
		}
		rec := first.Sub(t0)
		recoveries = append(recoveries, rec)
		failed := load.failuresBetween(t0.Add(-time.Second), first)
		sh, _, _ = c.TS.GetShard(t.Context(), "commerce", "0")
		t.Logf("run %d: killed primary %s (mysqld and agent, SIGKILL); first write acknowledged %v later on %s; %d writes failed meanwhile, %d acknowledged before the kill",
			run, victim.AliasString, rec.Round(time.Millisecond), topo.AliasString(sh.PrimaryAlias), len(failed), acksBefore)
		for i, f := range failed {
			if i < 3 {
				t.Logf("  failed write: %v", f.err)
			}
		}
		if rec > 20*time.Second {
			t.Errorf("run %d: writes resumed only after %v", run, rec)
		}
		load.waitAcks(t, 200, time.Minute)

		// The killed tablet's process comes back, as its supervisor would
		// start it: it re-attaches as a replica of the new primary
		// (rebuilding itself if it diverged).
		restarted := time.Now()
		victim.Start(t)
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
		err = victim.WaitHealth(ctx, func(h *querypb.StreamHealthResponse) bool {
			return h.Serving && h.Target.TabletType == topodatapb.TabletType_REPLICA && h.RealtimeStats.GetReplicationRunning()
		})
		cancel()
		if err != nil {
			t.Fatalf("run %d: restarted tablet did not re-attach: %v", run, err)
		}
		// Re-attached means caught up with the primary: a tablet that
		// diverged (it wrote transactions nobody received before it died)
		// rebuilds itself first.
		waitCaughtUp(t, c, shard, victim, 3*time.Minute)
		waitGate(t, c, 30*time.Second, "gate uses the restarted tablet", func() bool {
			return gateServes(c, victim.AliasString, topodatapb.TabletType_REPLICA)
		})
		t.Logf("run %d: restarted %s re-attached as a replica in %v", run, victim.AliasString, time.Since(restarted).Round(time.Millisecond))
	}
	load.stop()
	n, sum := load.verify(t, db)
	t.Logf("data: %d acknowledged writes all present (%d rows, checksum %08x); %d writes failed in all", load.ackCount(), n, sum, len(load.failures))
	waitInSync(t, shard, "t")

	slices.Sort(recoveries)
	t.Logf("failover: kill -9 of primary mysqld+agent to first acknowledged write: median %v, worst %v over %d runs (%v)",
		recoveries[len(recoveries)/2].Round(time.Millisecond), recoveries[len(recoveries)-1].Round(time.Millisecond), len(recoveries), recoveries)
}

// waitCaughtUp waits until p has applied its shard primary's position.
func waitCaughtUp(t *testing.T, c *cluster.Cluster, shard *cluster.ProcShard, p *cluster.ProcTablet, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	var last error
	for time.Now().Before(deadline) {
		last = func() error {
			sh, _, err := c.TS.GetShard(t.Context(), "commerce", "0")
			if err != nil {
				return err
			}
			primary := shard.Tablet(sh.PrimaryAlias)
			if primary == nil {
				return fmt.Errorf("no primary")
			}
			pc, err := primary.Dial()
			if err != nil {
				return err
			}
			defer pc.Close()
			vc, err := p.Dial()
			if err != nil {
				return err
			}
			defer vc.Close()
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			pos, err := pc.TM.PrimaryPosition(ctx, &tabletmanagerpb.PrimaryPositionRequest{})
			if err != nil {
				return err
			}
			_, err = vc.TM.WaitForPosition(ctx, &tabletmanagerpb.WaitForPositionRequest{Position: pos.Position, TimeoutMs: 5000})
			return err
		}()
		if last == nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s did not catch up with the primary in %v: %v", p.AliasString, within, last)
}

// gateServes reports whether the gate's health check has alias serving
// as type tt.
func gateServes(c *cluster.Cluster, alias string, tt topodatapb.TabletType) bool {
	for _, h := range c.Gate.HealthCheck().Serving("commerce", "0", tt) {
		if h.Alias == alias {
			return true
		}
	}
	return false
}

func waitGate(t *testing.T, c *cluster.Cluster, within time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %v", what, within)
		}
		select {
		case <-c.Gate.HealthCheck().Changed():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitInSync waits until every tablet of the shard holds the same rows
// in table.
func waitInSync(t *testing.T, shard *cluster.ProcShard, table string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var sums []string
		for _, p := range shard.Tablets {
			sums = append(sums, p.AliasString+"="+procChecksum(t, p, table))
		}
		same := true
		for _, s := range sums[1:] {
			if s[strings.Index(s, "="):] != sums[0][strings.Index(sums[0], "="):] {
				same = false
			}
		}
		if same {
			t.Logf("all tablets hold the same rows: %s", strings.Join(sums, " "))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("tablets differ after 60s: %s", strings.Join(sums, " "))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// procChecksum returns "count/crc" of a table on one tablet's mysqld.
func procChecksum(t *testing.T, p *cluster.ProcTablet, table string) string {
	t.Helper()
	c, err := p.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	resp, err := c.TM.ExecuteFetchAsDba(ctx, &tabletmanagerpb.ExecuteFetchAsDbaRequest{
		Sql: fmt.Sprintf("SELECT COUNT(*), COALESCE(BIT_XOR(CRC32(CONCAT(id, ':', v))), 0) FROM %s", table),
	})
	if err != nil {
		return "error: " + err.Error()
	}
	vals, err := mysqlconn.RowValues(resp.Result.Rows[0], 2)
	if err != nil {
		t.Fatal(err)
	}
	return string(vals[0]) + "/" + string(vals[1])
}

func testLogger(t *testing.T) *slog.Logger {
	level := slog.LevelWarn
	_ = level.UnmarshalText([]byte(os.Getenv("MOSAIC_TEST_LOG")))
	return slog.New(slog.NewTextHandler(tLogWriter{t}, &slog.HandlerOptions{Level: level}))
}

type tLogWriter struct{ t *testing.T }

func (w tLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
