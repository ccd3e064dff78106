package e2e

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mosaicdb/mosaic/bench"
	"github.com/mosaicdb/mosaic/e2e/cluster"
	"github.com/mosaicdb/mosaic/mtls"
	"github.com/mosaicdb/mosaic/tablet/vrepl/workflow"
)

// TestReshardBench measures the copy of sbtest1 (-reshard-bench-rows rows,
// 1,000,000 for the figure) from 2 to 4 shards beside
// `mariadb-dump | mariadb` of the same rows on the same machine in the
// same run (one pipe per source shard, in parallel, into a fresh database
// on a target's mysqld), then the vdiff of the result. Skipped unless the
// flag is set.
var reshardBenchRounds = flag.Int("reshard-bench-rounds", 3, "TestReshardBench: rounds of each side, alternating")

var reshardBenchRows = flag.Int("reshard-bench-rows", 0, "rows of sbtest1 in TestReshardBench (0 skips it; 1000000 for the issue's figure)")

var reshardBenchTabletFlags = flag.String("reshard-bench-tablet-flags", "", "TestReshardBench: more flags of every tablet, space-separated (e.g. --vrepl-copy-load-data=false)")

func TestReshardBench(t *testing.T) {
	n := *reshardBenchRows
	if n == 0 {
		t.Skip("set -reshard-bench-rows")
	}
	sources := []string{"-80", "80-"}
	targets := []string{"-40", "40-80", "80-c0", "c0-"}
	vs := `{"sharded": true, "vindexes": {"hash": {"type": "hash"}}, "tables": {"sbtest1": {"column_vindexes": [{"column": "id", "name": "hash"}]}}}`
	rc := startReshardCluster(t, []reshardSpec{{"customer", sources, targets, vs}}, 1, append([]string{"--innodb-buffer-pool-size", "256M"}, strings.Fields(*reshardBenchTabletFlags)...)...)
	ctx := t.Context()
	opts := bench.DefaultWorkloadOptions()
	opts.TableSize = n
	w, err := bench.NewWorkload("point-select", opts)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := w.Prepare(ctx, rc.DB(t, "customer")); err != nil {
		t.Fatal(err)
	}
	t.Logf("prepared %d sbtest1 rows through the gate in %v", n, time.Since(start).Round(time.Millisecond))

	m := workflow.New(rc.TS, rc.TabletCreds(t, mtls.RoleOperator), slog.New(slog.DiscardHandler))
	roles := cpuRoles{}
	for _, src := range sources {
		for i, tb := range rc.ProcShards["customer"][src].Tablets {
			roles[tb.Dir] = map[bool]string{true: "source primary", false: "source replica"}[i == 0]
		}
	}
	for _, dst := range targets {
		for _, tb := range rc.targets["customer"][dst].Tablets {
			roles[tb.Dir] = "target"
		}
	}
	var dumps, copies []float64
	var rep *workflow.VDiffReport
	var vd time.Duration
	var rounds strings.Builder
	for round := 1; round <= *reshardBenchRounds; round++ {
		cpu0 := roles.snapshot()
		d, clients := dumpPipes(t, rc, sources)
		dumpCPU := roles.snapshot().sub(cpu0)
		dumpCPU["mariadb-dump and mariadb clients"] = clients
		cpu0 = roles.snapshot()
		start := time.Now()
		if dir := os.Getenv("MOSAIC_RESHARD_BENCH_PPROF"); dir != "" && round == 1 {
			profileCopy(t, dir, map[string]*cluster.ProcTablet{
				"target": rc.targets["customer"]["-40"].Tablets[0],
				"source": rc.ProcShards["customer"]["-80"].Tablets[1],
			})
		}
		rc.mustCtl(t, "reshard", "create", "--keyspace", "customer", "--workflow", "bench", "--source-shards", "-80,80-", "--target-shards", strings.Join(targets, ","))
		deadline := time.Now().Add(30 * time.Minute)
		for {
			if time.Now().After(deadline) {
				out, _ := rc.ctl("reshard", "show", "--keyspace", "customer", "--workflow", "bench")
				t.Fatalf("the copy did not end in 30 minutes:\n%s", out)
			}
			r, err := m.Show(ctx, "customer", "bench")
			if err == nil && len(r.Streams) == 4 {
				running := true
				for _, st := range r.Streams {
					running = running && st.Phase == "running"
				}
				if running {
					break
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		cp := time.Since(start)
		copyCPU := roles.snapshot().sub(cpu0)
		dumps, copies = append(dumps, d.Seconds()), append(copies, cp.Seconds())
		fmt.Fprintf(&rounds, "  round %d: mariadb-dump | mariadb %v, reshard copy %v\n    CPU of the dump: %v\n    CPU of the copy: %v\n", round, d.Round(time.Millisecond), cp.Round(time.Millisecond), dumpCPU, copyCPU)
		if round == *reshardBenchRounds {
			vctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
			start = time.Now()
			var err error
			rep, err = m.VDiff(vctx, "customer", "bench", nil, 10)
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			vd = time.Since(start)
		}
		rc.mustCtl(t, "reshard", "cancel", "--keyspace", "customer", "--workflow", "bench")
	}
	dump, cp := bench.Median(dumps), bench.Median(copies)
	report := fmt.Sprintf(`resharding copy, sbtest1 %d rows, 2 -> 4 shards, %d alternating rounds (one replica per source; tablets with --durable=false %s)
  mariadb-dump | mariadb, one pipe per source in parallel: median %.2fs (%.0f rows/s)
  mosaicctl reshard create until every stream runs:     median %.2fs (%.0f rows/s)
  vdiff of the last round's copy (clean %v):             %v (%.0f rows/s compared)
%s`, n, *reshardBenchRounds, *reshardBenchTabletFlags, dump, float64(n)/dump, cp, float64(n)/cp, rep.Clean(), vd.Round(time.Millisecond), float64(n)/vd.Seconds(), rounds.String())
	t.Log("\n" + report)
	if out := os.Getenv("MOSAIC_RESHARD_BENCH_OUT"); out != "" {
		os.WriteFile(out, []byte(report), 0o644)
	}
	if !rep.Clean() {
		t.Errorf("vdiff: %+v", rep.Tables)
	}
}

// profileCopy fetches, in the background, a CPU profile of a few seconds
// of each tablet into dir/<name>.pprof (MOSAIC_RESHARD_BENCH_PPROF=dir;
// MOSAIC_RESHARD_BENCH_PPROF_SECONDS, 3 by default).
func profileCopy(t *testing.T, dir string, tablets map[string]*cluster.ProcTablet) {
	secs := os.Getenv("MOSAIC_RESHARD_BENCH_PPROF_SECONDS")
	if secs == "" {
		secs = "3"
	}
	for name, tb := range tablets {
		go func() {
			url := fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/profile?seconds=%s", tb.HTTPPort, secs)
			resp, err := http.Get(url)
			if err != nil {
				t.Logf("profile %s: %v", name, err)
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if err := os.WriteFile(filepath.Join(dir, name+".pprof"), b, 0o644); err != nil {
				t.Logf("profile %s: %v", name, err)
			}
		}()
	}
}

// dumpPipes copies sbtest1 of each source shard with mariadb-dump |
// mariadb into a fresh database on a target's mysqld, the pipes in
// parallel, and returns how long it took and the CPU seconds of the
// pipes' processes (mariadb-dump and mariadb).
func dumpPipes(t *testing.T, rc *reshardCluster, sources []string) (time.Duration, float64) {
	t.Helper()
	pipeTargets := map[string]string{"-80": "-40", "80-": "80-c0"}
	for _, dst := range pipeTargets {
		if _, err := rc.shardDB("customer", dst).Exec("CREATE DATABASE IF NOT EXISTS dumpcopy"); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, len(sources))
	var mu sync.Mutex
	var clients float64
	for _, src := range sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			auth := fmt.Sprintf("-u%s -p%s", cluster.DirectUser, cluster.DirectPassword)
			cmd := fmt.Sprintf("mariadb-dump --no-defaults -h127.0.0.1 -P%d %s --single-transaction --skip-lock-tables customer sbtest1 | mariadb --no-defaults -h127.0.0.1 -P%d %s dumpcopy",
				rc.ProcShards["customer"][src].Tablets[0].MySQLPort, auth, rc.targets["customer"][pipeTargets[src]].Tablets[0].MySQLPort, auth)
			c := exec.CommandContext(t.Context(), "bash", "-o", "pipefail", "-c", cmd)
			if out, err := c.CombinedOutput(); err != nil {
				errs <- fmt.Errorf("%s: %v: %s", cmd, err, out)
			}
			if ps := c.ProcessState; ps != nil {
				// bash's usage holds that of the pipe it waited for.
				mu.Lock()
				clients += (ps.UserTime() + ps.SystemTime()).Seconds()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	d := time.Since(start)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, dst := range pipeTargets {
		if _, err := rc.shardDB("customer", dst).Exec("DROP DATABASE dumpcopy"); err != nil {
			t.Fatal(err)
		}
	}
	return d, clients
}
