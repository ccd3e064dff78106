package e2e

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mosaicdb/mosaic/e2e/cluster"
	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proto/tabletmanagerpb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/proxy"
	"github.com/mosaicdb/mosaic/tablet/flavor"
	"github.com/mosaicdb/mosaic/tablet/mysqlconn"
	"github.com/mosaicdb/mosaic/tablet/mysqlctl"
	"github.com/mosaicdb/mosaic/testports"
	"github.com/mosaicdb/mosaic/topo"
)

var hungRuns = flag.Int("hung-runs", 1, "TestFailoverHungPrimary: how many times to stop a primary's mysqld (the median and worst write gap are reported)")

// TestFailoverHungPrimary runs a shard of three tablets as child processes
// (`mosaic tablet`, semi-sync that never falls back to asynchronous), a
// gate, a failure detector (`mosaic failover`, a child process too) with
// their default health settings, and a write load through the gate that
// records every acknowledged write.
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
// FrozenDetector stops the detector (SIGSTOP) after it saw a primary's
// mysqld stop answering, lets the mysqld answer again, and resumes the
// detector once its grace has long passed: it acts on what it knew, but
// the reparent asks the primary again under the shard lock, and nothing
// fails over.
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
	// The mysqld probe runs with its defaults (every 500ms, 2s timeout).
	c.StartProcShards(t, bin, "--semi-sync-timeout", "1h", "--repair-delay", "2s", "--primary-lease-ttl", "4s")
	shard := c.ProcShards["commerce"]["0"]

	// The failure detector runs as a process of its own, with its default
	// unresponsive grace (2s), so that it can be stopped too.
	det := startFailoverProc(t, bin, c.TopoAddr, append(c.Security.Flags(), "--startup-grace", "0s", "--health-timeout", "3s", "--tablet-timeout", "3s")...)

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
		dumped := false
		for {
			if first, ok := load.firstAckSentAfter(t0); ok {
				gap, _ := load.pause(t0.Add(-time.Second), first)
				return first.Sub(t0), gap
			}
			if !dumped && time.Since(t0) > 20*time.Second {
				// Writes are stuck well past a failover's time: record
				// the tablets' replication state while they are.
				t.Logf("no write acknowledged for %v; replication state now:", time.Since(t0).Round(time.Second))
				dumpReplication(t, shard)
				dumped = true
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
			if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
			t0 := waitStopped(t, pid)
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
		t.Cleanup(func() {
			if t.Failed() {
				dumpReplication(t, shard)
			}
		})
		load.waitAcks(t, 200, time.Minute)
		if err := victim.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = victim.Signal(syscall.SIGCONT) })
		t0 := waitStopped(t, victim.PID())
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

	t.Run("FrozenDetector", func(t *testing.T) {
		// The detector sees the primary's mysqld stop answering and is
		// frozen before its grace ends; the mysqld answers again, and the
		// detector resumes when its grace has long passed. It acts on what
		// it knew, but the reparent asks the primary again under the shard
		// lock: nothing fails over.
		victim := primary(t)
		sh0, _, err := c.TS.GetShard(t.Context(), "commerce", "0")
		if err != nil {
			t.Fatal(err)
		}
		successes := det.metric(t, `mosaic_failover_reparents_total{keyspace="commerce",result="success",shard="0"}`)
		load.waitAcks(t, 200, time.Minute)
		pid := victim.MysqldPID()
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
		det.waitMetric(t, `mosaic_failover_shards{state="unresponsive"}`, 1, 20*time.Second)
		seen := time.Now()
		if err := det.signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = det.signal(syscall.SIGCONT) })
		if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		if err := victim.WaitHealth(ctx, func(h *querypb.StreamHealthResponse) bool {
			return h.Serving && !h.RealtimeStats.GetMysqldUnresponsive()
		}); err != nil {
			t.Fatalf("the primary does not serve again after SIGCONT: %v", err)
		}
		// Past the grace, as the frozen detector's clock will say.
		for time.Since(seen) < 2*time.Second+3*time.Second {
			time.Sleep(100 * time.Millisecond)
		}
		if err := det.signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		det.waitMetric(t, `mosaic_failover_shards{state="healthy"}`, 1, 30*time.Second)
		// Give a stale decision time to show: the reparent it starts asks
		// the tablet under the lock and is skipped.
		resumed := time.Now()
		for time.Since(resumed) < 5*time.Second {
			time.Sleep(100 * time.Millisecond)
		}
		if got := det.metric(t, `mosaic_failover_reparents_total{keyspace="commerce",result="success",shard="0"}`); got != successes {
			t.Errorf("the resumed detector failed over a primary that answers again (%v successful reparents, %v before)", got, successes)
		}
		sh1, _, err := c.TS.GetShard(t.Context(), "commerce", "0")
		if err != nil {
			t.Fatal(err)
		}
		if topo.AliasString(sh1.PrimaryAlias) != victim.AliasString || sh1.PrimaryTermStartUnixNano != sh0.PrimaryTermStartUnixNano {
			t.Errorf("shard record changed: %v, was %v", sh1, sh0)
		}
		t.Logf("detector resumed with a stale view: %v skipped reparents, primary %s kept",
			det.metric(t, `mosaic_failover_reparents_total{keyspace="commerce",result="skipped",shard="0"}`), victim.AliasString)
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

// failoverProc is `mosaic failover` run as a child process of the test.
type failoverProc struct {
	cmd      *exec.Cmd
	httpPort int
	log      string
}

// startFailoverProc starts `mosaic failover` with a metrics port and
// extra flags; it is stopped when the test ends.
func startFailoverProc(t *testing.T, bin, topoAddr string, extra ...string) *failoverProc {
	t.Helper()
	ports, err := testports.Free(1)
	if err != nil {
		t.Fatal(err)
	}
	p := &failoverProc{httpPort: ports[0], log: filepath.Join(t.TempDir(), "failover.log")}
	f, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"failover", "--topo-endpoints", topoAddr, "--http-port", strconv.Itoa(p.httpPort), "--log-level", "info"}, extra...)
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		f.Close()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); f.Close(); close(done) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGCONT)
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = p.cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			data, _ := os.ReadFile(p.log)
			t.Logf("log of mosaic failover:\n%s", data)
		}
	})
	return p
}

func (p *failoverProc) signal(sig syscall.Signal) error { return p.cmd.Process.Signal(sig) }

// metric returns the value of one series of the detector's metrics, 0
// when it is absent.
func (p *failoverProc) metric(t *testing.T, series string) float64 {
	t.Helper()
	v, err := p.scrape(series)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (p *failoverProc) scrape(series string) (float64, error) {
	client := http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", p.httpPort))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, nil
}

// waitMetric waits until series has value want.
func (p *failoverProc) waitMetric(t *testing.T, series string, want float64, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		v, err := p.scrape(series)
		if err == nil && v == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("detector metric %s = %v (%v), want %v after %v", series, v, err, want, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitStopped waits until every thread of process pid is stopped (after a
// SIGSTOP: the signal takes a moment to reach a thread running on another
// CPU) and returns when: writes sent from then on cannot reach it.
func waitStopped(t *testing.T, pid int) time.Time {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		stopped, err := allThreadsStopped(pid)
		if err != nil {
			t.Fatal(err)
		}
		if stopped {
			return time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d not stopped 10s after SIGSTOP", pid)
		}
		time.Sleep(time.Millisecond)
	}
}

// allThreadsStopped reports whether every thread of pid is in state T.
func allThreadsStopped(pid int) (bool, error) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return false, err
	}
	for _, task := range tasks {
		data, err := os.ReadFile(filepath.Join(dir, task.Name(), "stat"))
		if err != nil {
			continue // the thread ended
		}
		// pid (comm) state ...: comm may hold spaces and parentheses.
		rest := string(data[strings.LastIndexByte(string(data), ')')+1:])
		if f := strings.Fields(rest); len(f) == 0 || (f[0] != "T" && f[0] != "t") {
			return false, nil
		}
	}
	return true, nil
}

// dumpReplication logs each tablet's semi-sync and replication state and
// its mysqld's threads, for a test that failed with writes stalled.
func dumpReplication(t *testing.T, shard *cluster.ProcShard) {
	for _, p := range shard.Tablets {
		c, err := p.Dial()
		if err != nil {
			t.Logf("%s: %v", p.AliasString, err)
			continue
		}
		for _, q := range []string{
			"SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync%'",
			"SHOW GLOBAL VARIABLES WHERE Variable_name LIKE 'rpl_semi_sync%' OR Variable_name IN ('read_only', 'gtid_binlog_pos', 'gtid_slave_pos')",
			"SHOW SLAVE STATUS",
			"SELECT id, user, command, time, state, LEFT(info, 80) FROM information_schema.PROCESSLIST WHERE command <> 'Sleep'",
		} {
			// Not the test's context: this also runs in a cleanup, after it
			// ended.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			resp, err := c.TM.ExecuteFetchAsDba(ctx, &tabletmanagerpb.ExecuteFetchAsDbaRequest{Sql: q, MaxRows: 200})
			cancel()
			if err != nil {
				t.Logf("%s: %s: %v", p.AliasString, q, err)
				continue
			}
			var lines []string
			for _, row := range resp.Result.Rows {
				vals, err := mysqlconn.RowValues(row, len(resp.Result.Fields))
				if err != nil {
					lines = append(lines, err.Error())
					continue
				}
				cells := make([]string, len(vals))
				for i, v := range vals {
					cells[i] = string(v)
				}
				lines = append(lines, strings.Join(cells, " | "))
			}
			t.Logf("%s: %s:\n\t%s", p.AliasString, q, strings.Join(lines, "\n\t"))
		}
		c.Close()
	}
}
