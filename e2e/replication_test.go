package e2e

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mosaicdb/mosaic/e2e/cluster"
	"github.com/mosaicdb/mosaic/mtls"
	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proto/tabletmanagerpb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/proxy"
	"github.com/mosaicdb/mosaic/proxy/tabletgw"
	"github.com/mosaicdb/mosaic/tablet"
	"github.com/mosaicdb/mosaic/tablet/mysqlconn"
	"github.com/mosaicdb/mosaic/tablet/reparent"
	"github.com/mosaicdb/mosaic/tablet/tablettest"
	"github.com/mosaicdb/mosaic/tablet/tmclient"
	"github.com/mosaicdb/mosaic/topo"
)

var repairMB = flag.Int("repair-mb", 0, "TestReplication/RepairLostDataDir: load this many MB into the shard before deleting a replica's data dir (0: a small table)")

// TestReplication runs one shard (a primary and two replicas, in-process
// tablets, semi-sync) behind a gate and checks, in order on the same
// shard: the replica lag limit of @replica reads, planned reparents under
// a write load, a replica rebuilding itself after its data dir is deleted
// and after an errant transaction, and an emergency reparent followed by
// the old primary re-attaching.
func TestReplication(t *testing.T) {
	if testing.Short() {
		t.Skip("reparents and repairs a shard")
	}
	const maxLag = 2 * time.Second
	backupDir := t.TempDir()
	c := cluster.Start(t, cluster.Options{
		Keyspaces: []cluster.Keyspace{{Name: "commerce"}},
		Replicas:  2,
		Tablets: tablettest.Options{SemiSync: true, Configure: func(cfg *tablet.Config) {
			cfg.Backup.Storage = "file://" + backupDir
			cfg.Backup.ArchiveBinlogs = true
			cfg.Backup.ArchiveRotate = time.Second
		}},
		Gate: func(cfg *proxy.Config) {
			cfg.MaxReplicaLag = maxLag
		},
	})
	shard := c.Shards["commerce"]["0"]
	db := c.DB(t, "commerce", "interpolateParams=true")
	db.SetMaxOpenConns(8)
	mustExec(t, db, "create table t (id bigint primary key, v varchar(40) not null)")
	mustExec(t, db, "create table marks (id int primary key)")
	ctx := t.Context()

	primary := func() *tablettest.Tablet {
		sh, _, err := c.TS.GetShard(ctx, "commerce", "0")
		if err != nil {
			t.Fatal(err)
		}
		for _, tb := range shard.Tablets {
			if topo.AliasString(sh.PrimaryAlias) == tb.AliasString {
				return tb
			}
		}
		t.Fatalf("no tablet for primary %v", sh.PrimaryAlias)
		return nil
	}
	replicas := func() []*tablettest.Tablet {
		p := primary()
		var out []*tablettest.Tablet
		for _, tb := range shard.Tablets {
			if tb != p {
				out = append(out, tb)
			}
		}
		return out
	}

	t.Run("ReplicaLagLimit", func(t *testing.T) {
		rdb := c.DB(t, "commerce@replica")
		rs := replicas()
		lagging, healthy := rs[0], rs[1]
		lc := lagging.Dial(t)
		mustExec(t, db, "create table lagmarks (id int primary key)")
		link := startLinkProxy(t, fmt.Sprintf("127.0.0.1:%d", primary().MySQLPort))
		setSource := func(req *tabletmanagerpb.SetReplicationSourceRequest) {
			t.Helper()
			req.StartReplication = true
			if _, err := lc.TM.SetReplicationSource(ctx, req); err != nil {
				t.Fatal(err)
			}
		}
		gateSees := func(what string, ok func(h *tabletgw.TabletHealth) bool) {
			t.Helper()
			waitGate(t, c, 30*time.Second, what, func() bool {
				for _, h := range c.Gate.HealthCheck().All() {
					if h.Alias == lagging.AliasString {
						return ok(h)
					}
				}
				return false
			})
		}
		// Each way of falling behind: the replica's reported lag must grow
		// past the gate's limit, which then keeps @replica reads off it,
		// and drop back once it catches up.
		stalls := []struct {
			name          string
			stall, resume func(t *testing.T)
		}{
			{"sql thread stopped",
				func(t *testing.T) { lagging.ExecuteFetchAsDba(t, "STOP SLAVE SQL_THREAD") },
				func(t *testing.T) { lagging.ExecuteFetchAsDba(t, "START SLAVE SQL_THREAD") }},
			// Nothing relayed, nothing to apply: Seconds_Behind_Master is
			// NULL; only the aging heartbeat tells.
			{"io thread stopped",
				func(t *testing.T) { lagging.ExecuteFetchAsDba(t, "STOP SLAVE IO_THREAD") },
				func(t *testing.T) { lagging.ExecuteFetchAsDba(t, "START SLAVE IO_THREAD") }},
			// A stalled network: both threads run and Seconds_Behind_Master
			// reads 0 while the replica falls behind.
			{"link to the primary frozen",
				func(t *testing.T) {
					setSource(&tabletmanagerpb.SetReplicationSourceRequest{Host: "127.0.0.1", Port: int32(link.port())})
					gateSees("replica replicating through the proxy", func(h *tabletgw.TabletHealth) bool {
						return h.ReplicationOK && h.ReplicationLag == 0
					})
					link.setFrozen(true)
				},
				func(t *testing.T) {
					// The lag showed while mysqld still reports the IO
					// thread connected (it gives up after slave_net_timeout,
					// 10 s) and no lag: what Seconds_Behind_Master misses.
					st, err := lc.TM.ReplicationStatus(ctx, &tabletmanagerpb.ReplicationStatusRequest{})
					if err != nil {
						t.Fatal(err)
					}
					if !st.Status.IoRunning || !st.Status.SqlRunning || st.Status.LagSeconds != 0 {
						t.Errorf("frozen link, when the gate saw the lag: io %v, sql %v, Seconds_Behind_Master %d; want both running and 0",
							st.Status.IoRunning, st.Status.SqlRunning, st.Status.LagSeconds)
					}
					link.setFrozen(false)
					setSource(&tabletmanagerpb.SetReplicationSourceRequest{Parent: primary().Alias})
				}},
		}
		for i, s := range stalls {
			s.stall(t)
			stalled := time.Now()
			mustExec(t, db, fmt.Sprintf("insert into lagmarks values (%d)", i+1))
			want := fmt.Sprint(i + 1)
			eventually(t, 30*time.Second, "mark on the healthy replica", func() error {
				return expectValue(t, healthy, "SELECT COUNT(*) FROM lagmarks", want)
			})
			// Once the stalled replica's health reports it over the limit,
			// no read may come from it; before, reads pick either replica.
			gateSees(s.name+": gate sees the replica lag", func(h *tabletgw.TabletHealth) bool {
				return time.Duration(h.ReplicationLag)*time.Second > maxLag
			})
			t.Logf("%s: the gate saw the replica lag over %v %v after the stall", s.name, maxLag, time.Since(stalled).Round(time.Millisecond))
			for j := 0; j < 40; j++ {
				if n := count(t, rdb, "select count(*) from lagmarks"); n != i+1 {
					t.Fatalf("%s: read %d came from the replica lagging over %v: %d marks, want %d", s.name, j, maxLag, n, i+1)
				}
			}
			s.resume(t)
			waitGate(t, c, 30*time.Second, s.name+": caught-up replica used again", func() bool {
				for _, h := range c.Gate.HealthCheck().Serving("commerce", "0", topodatapb.TabletType_REPLICA) {
					if h.Alias == lagging.AliasString && h.ReplicationLag == 0 && h.ReplicationOK {
						return true
					}
				}
				return false
			})
			eventually(t, 30*time.Second, s.name+": mark on the caught-up replica", func() error {
				return expectValue(t, lagging, "SELECT COUNT(*) FROM lagmarks", want)
			})
		}
	})

	t.Run("PlannedReparentUnderLoad", func(t *testing.T) {
		load := startWriteLoad(t, db, "t", 4)
		load.waitAcks(t, 300, time.Minute)
		original := primary()
		for i, to := range []*topodatapb.TabletAlias{nil, original.Alias} {
			from := time.Now()
			res, err := reparent.Planned(ctx, c.TS, "commerce", "0", reparent.Options{NewPrimary: to, Creds: c.TabletCreds(t, mtls.RoleOperator)})
			if err != nil {
				t.Fatal(err)
			}
			load.waitAcks(t, 300, time.Minute)
			gap, longest := load.pause(from, time.Now())
			t.Logf("planned reparent %d: %s -> %s; primary took no writes for %v; clients saw no write acknowledged for %v at most, the slowest write took %v",
				i+1, topo.AliasString(res.OldPrimary), topo.AliasString(res.NewPrimary), res.WritePause.Round(time.Millisecond),
				gap.Round(time.Millisecond), longest.Round(time.Millisecond))
			if len(res.RepointErrors) > 0 {
				t.Errorf("repoint errors: %v", res.RepointErrors)
			}
		}
		load.stop()
		if len(load.failures) > 0 {
			t.Fatalf("%d writes failed during planned reparents; first: %v", len(load.failures), load.failures[0].err)
		}
		n, sum := load.verify(t, db)
		t.Logf("%d acknowledged writes, %d rows, checksum %08x, no client error", load.ackCount(), n, sum)
		if primary() != original {
			t.Fatalf("primary is %s, want %s back", primary().AliasString, original.AliasString)
		}
		if got := metricValue(t, c, "mosaic_gate_buffer_events_total"); got == 0 {
			t.Error("no buffering event counted")
		}
	})

	t.Run("RepairLostDataDir", func(t *testing.T) {
		table := "t"
		if *repairMB > 0 {
			loadMB(t, primary(), *repairMB)
			table = "bulk"
			// Every replica holds the data before one loses it, so that
			// the copy is the whole shard.
			want := checksum(t, primary(), table)
			for _, r := range replicas() {
				eventually(t, 5*time.Minute, "replica caught up with the load", func() error {
					if got := checksum(t, r, table); got != want {
						return fmt.Errorf("%s, want %s", got, want)
					}
					return nil
				})
			}
		}
		victim := replicas()[0]
		want := checksum(t, primary(), table)
		size := dirSize(filepath.Join(primary().Dir, "data"))
		starts := victim.Agent.Mysqld().Starts()
		start := time.Now()
		if err := os.RemoveAll(filepath.Join(victim.Dir, "data")); err != nil {
			t.Fatal(err)
		}
		waitRepaired(t, c, victim, starts, table, want, 5*time.Minute)
		t.Logf("replica %s rebuilt itself after its data dir (primary's: %d MB, the copy: %d MB) was deleted, and is back in sync (%s rows/checksum of %s) and used by the gate, in %v",
			victim.AliasString, size>>20, dirSize(filepath.Join(victim.Dir, "data"))>>20, want, table, time.Since(start).Round(time.Millisecond))
	})

	t.Run("RepairErrantTransaction", func(t *testing.T) {
		victim := replicas()[1]
		starts := victim.Agent.Mysqld().Starts()
		// A write straight into a replica (root bypasses read_only) gives
		// it a transaction the primary lacks: replication stops when the
		// primary's next transaction arrives.
		victim.ExecuteFetchAsDba(t, "INSERT INTO marks VALUES (666)")
		mustExec(t, db, "insert into marks values (2)")
		want := checksum(t, primary(), "marks")
		start := time.Now()
		waitRepaired(t, c, victim, starts, "marks", want, 3*time.Minute)
		if err := expectValue(t, victim, "SELECT COUNT(*) FROM marks WHERE id = 666", "0"); err != nil {
			t.Fatal(err)
		}
		t.Logf("replica %s with an errant transaction rebuilt itself in %v", victim.AliasString, time.Since(start).Round(time.Millisecond))
	})

	t.Run("BackupAndRestoreCLI", func(t *testing.T) {
		ctl := cluster.BuildMosaicctl(t)
		run := func(args ...string) string {
			t.Helper()
			out, err := exec.Command(ctl, append(append([]string{"--topo-endpoints", c.TopoAddr}, c.Security.Flags()...), args...)...).CombinedOutput()
			if err != nil {
				t.Fatalf("mosaicctl %v: %v\n%s", args, err, out)
			}
			return string(out)
		}
		out := run("backup", "--keyspace", "commerce", "--shard", "0")
		t.Logf("%s", strings.TrimSpace(out))
		m := regexp.MustCompile(`backup (\S+) of commerce/0 from (\S+):`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("backup output: %s", out)
		}
		id, from := m[1], m[2]
		if from == primary().AliasString {
			t.Fatalf("the backup was taken from the primary %s, not from a replica", from)
		}
		if list := run("backup", "list", "--keyspace", "commerce", "--backup-storage", "file://"+backupDir); !strings.Contains(list, id) {
			t.Fatalf("backup list does not show %s:\n%s", id, list)
		}
		// Rows written after the backup reach the restored replica by
		// replication.
		mustExec(t, db, "insert into marks values (10), (11)")
		victim := replicas()[0]
		want := checksum(t, primary(), "marks")
		out = run("restore", victim.AliasString)
		t.Logf("%s", strings.TrimSpace(out))
		if !strings.Contains(out, "restored from backup "+id) {
			t.Fatalf("restore output (want backup %s): %s", id, out)
		}
		eventually(t, time.Minute, "restored replica in sync", func() error {
			if got := checksum(t, victim, "marks"); got != want {
				return fmt.Errorf("%s, primary has %s", got, want)
			}
			return nil
		})
		out = run("tablet", "repair", victim.AliasString)
		t.Logf("%s", strings.TrimSpace(out))

		// The shard as it was at the primary's position now, from the
		// storage alone: the backup, then the archived binlog.
		pos, err := dbaValues(t, primary(), "SELECT @@gtid_binlog_pos")
		if err != nil {
			t.Fatal(err)
		}
		var pitrOut string
		eventually(t, time.Minute, "a point-in-time restore to "+pos[0], func() error {
			dir := filepath.Join(t.TempDir(), "pitr")
			cmd := exec.Command(ctl, "restore", "pitr", "--keyspace", "commerce", "--shard", "0", "--to-gtid", pos[0], "--data-dir", dir, "--backup-storage", "file://"+backupDir)
			b, err := cmd.CombinedOutput()
			pitrOut = string(b)
			if err != nil {
				return fmt.Errorf("%v: %s", err, b)
			}
			return nil
		})
		if !strings.Contains(pitrOut, "at position "+pos[0]) {
			t.Fatalf("restore pitr to %s: %s", pos[0], pitrOut)
		}
		t.Logf("%s", pitrOut[strings.LastIndex(strings.TrimSpace(pitrOut), "\n")+1:])
	})

	t.Run("EmergencyReparent", func(t *testing.T) {
		old := primary()
		old.Stop()
		res, err := reparent.Emergency(ctx, c.TS, "commerce", "0", reparent.Options{Creds: c.TabletCreds(t, mtls.RoleOperator)})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("emergency reparent %s -> %s took %v", topo.AliasString(res.OldPrimary), topo.AliasString(res.NewPrimary), res.Duration.Round(time.Millisecond))
		eventually(t, 30*time.Second, "write on the new primary", func() error {
			_, err := db.Exec("insert into marks values (3)")
			return err
		})
		old.Restart(t)
		hctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		if _, err := old.WaitHealth(hctx, func(h *querypb.StreamHealthResponse) bool {
			return h.Serving && h.Target.TabletType == topodatapb.TabletType_REPLICA && h.RealtimeStats.GetReplicationRunning()
		}); err != nil {
			t.Fatalf("old primary did not re-attach: %v", err)
		}
		want := checksum(t, primary(), "marks")
		eventually(t, 30*time.Second, "old primary in sync", func() error {
			if got := checksum(t, old, "marks"); got != want {
				return fmt.Errorf("marks %s on the old primary, %s on the new one", got, want)
			}
			return nil
		})
	})
}

// waitRepaired waits until victim's mysqld has restarted on new data
// (starts was its start count before), it replicates, holds what the
// primary holds in table (want is the primary's checksum) and the gate
// serves reads from it.
func waitRepaired(t *testing.T, c *cluster.Cluster, victim *tablettest.Tablet, starts int, table, want string, within time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), within)
	defer cancel()
	eventually(t, within, "replica's mysqld restarted on a copy", func() error {
		if victim.Agent.Mysqld().Starts() <= starts {
			return fmt.Errorf("mysqld not restarted yet")
		}
		return nil
	})
	if _, err := victim.WaitHealth(ctx, func(h *querypb.StreamHealthResponse) bool {
		return h.Serving && h.RealtimeStats.GetReplicationRunning() && h.RealtimeStats.GetReplicationLagSeconds() == 0
	}); err != nil {
		t.Fatalf("replica not repaired: %v", err)
	}
	eventually(t, within, "repaired replica in sync", func() error {
		if got := checksum(t, victim, table); got != want {
			return fmt.Errorf("checksum %s, primary's %s", got, want)
		}
		return nil
	})
	waitGate(t, c, within, "gate serves the repaired replica", func() bool {
		return gateServes(c, victim.AliasString, topodatapb.TabletType_REPLICA)
	})
}

// checksum returns "count/crc" of a table on a tablet ("error: ..." when
// it cannot be read).
func checksum(t *testing.T, tb *tablettest.Tablet, table string) string {
	t.Helper()
	cols := "id"
	switch table {
	case "t":
		cols = "id, ':', v"
	case "bulk":
		cols = "id, ':', pad"
	case "account":
		cols = "id, ':', bal"
	}
	v, err := dbaValues(t, tb, fmt.Sprintf("SELECT COUNT(*), COALESCE(BIT_XOR(CRC32(CONCAT(%s))), 0) FROM %s", cols, table))
	if err != nil {
		return "error: " + err.Error()
	}
	return v[0] + "/" + v[1]
}

// expectValue checks the single value sql returns on a tablet's mysqld.
func expectValue(t *testing.T, tb *tablettest.Tablet, sql, want string) error {
	t.Helper()
	v, err := dbaValues(t, tb, sql)
	if err != nil {
		return err
	}
	if v[0] != want {
		return fmt.Errorf("%s = %s, want %s", sql, v[0], want)
	}
	return nil
}

// dbaValues runs sql as root on a tablet's mysqld and returns the first
// row.
func dbaValues(t *testing.T, tb *tablettest.Tablet, sql string) ([]string, error) {
	c, err := tmclient.Dial(tb.GRPCAddr, tb.Creds)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	resp, err := c.TM.ExecuteFetchAsDba(ctx, &tabletmanagerpb.ExecuteFetchAsDbaRequest{Sql: sql})
	if err != nil {
		return nil, err
	}
	if len(resp.Result.Rows) == 0 {
		return nil, fmt.Errorf("%s: no row", sql)
	}
	vals, err := mysqlconn.RowValues(resp.Result.Rows[0], len(resp.Result.Fields))
	if err != nil {
		return nil, err
	}
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = string(v)
	}
	return out, nil
}

// eventually retries fn until it returns nil or within passes.
func eventually(t *testing.T, within time.Duration, what string, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %v: %v", what, within, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// loadMB fills a table on the primary with about mb megabytes.
func loadMB(t *testing.T, p *tablettest.Tablet, mb int) {
	t.Helper()
	p.ExecuteFetchAsDba(t, "CREATE TABLE IF NOT EXISTS bulk (id INT PRIMARY KEY, pad VARCHAR(1000))")
	rows := mb * 1000
	start := time.Now()
	for lo := 1; lo <= rows; lo += 20000 {
		hi := min(lo+19999, rows)
		p.ExecuteFetchAsDba(t, fmt.Sprintf("INSERT INTO bulk SELECT seq, REPEAT(CHAR(65 + seq %% 26), 1000) FROM seq_%d_to_%d", lo, hi))
	}
	t.Logf("loaded %d MB into the primary in %v", mb, time.Since(start).Round(time.Millisecond))
}

func dirSize(dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() {
			n += info.Size()
		}
		return nil
	})
	return n
}

// metricValue sums a gate metric over its labels.
func metricValue(t *testing.T, c *cluster.Cluster, name string) float64 {
	t.Helper()
	mfs, err := c.GateRegistry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.Metric {
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}
