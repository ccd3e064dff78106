package e2e

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mosaicdb/mosaic/e2e/cluster"
	"github.com/mosaicdb/mosaic/keyrange"
	"github.com/mosaicdb/mosaic/mtls"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/proto/vreplicationpb"
	"github.com/mosaicdb/mosaic/router/vindexes"
	"github.com/mosaicdb/mosaic/tablet/vrepl/workflow"
	"github.com/mosaicdb/mosaic/topo"
)

// reshardRows is the size of the resharding test's tables. The issue's
// test asks for 200,000 rows; CI runs fewer.
var reshardRows = flag.Int("reshard-rows", 20000, "customer rows (and as many orders) in the resharding e2e test; 200000 for the full size")

// reshardSwitchRounds is how many times TestReshard moves traffic back to
// the sources and to the targets again after its first switch.
var reshardSwitchRounds = flag.Int("reshard-switch-rounds", 1, "reverse-traffic and switch-traffic rounds in the resharding e2e test after the first switch")

const reshardVSchema = `{
  "sharded": true,
  "vindexes": {"hash": {"type": "hash"}},
  "tables": {
    "customer": {"column_vindexes": [{"column": "id", "name": "hash"}]},
    "corder": {"column_vindexes": [{"column": "customer_id", "name": "hash"}]},
    "countries": {"type": "reference"}
  }
}`

// reshardSpec is a keyspace of a resharding test: its serving shards and
// the target shards a workflow moves it to.
type reshardSpec struct {
	Keyspace         string
	Sources, Targets []string
	VSchema          string
}

// reshardCluster runs keyspaces on their source shards (a primary and
// replicas each) with their target shards (primaries) that do not serve,
// all tablets child processes, and a gate.
type reshardCluster struct {
	*cluster.Cluster
	t      *testing.T
	ctlBin string
	// targets by keyspace and shard.
	targets map[string]map[string]*cluster.ProcShard
}

func startReshardCluster(t *testing.T, specs []reshardSpec, replicas int, extra ...string) *reshardCluster {
	t.Helper()
	bin := cluster.BuildMosaic(t)
	rc := &reshardCluster{t: t, ctlBin: cluster.BuildMosaicctl(t), targets: map[string]map[string]*cluster.ProcShard{}}
	var kss []cluster.Keyspace
	for _, sp := range specs {
		kss = append(kss, cluster.Keyspace{Name: sp.Keyspace, Shards: sp.Sources, VSchema: sp.VSchema})
		rc.targets[sp.Keyspace] = map[string]*cluster.ProcShard{}
	}
	rc.Cluster = cluster.StartTopo(t, cluster.Options{Keyspaces: kss, Replicas: replicas})
	// A long primary lease: on a loaded machine a renewal may come late,
	// and a primary that fences itself stays a replica here (no failover
	// controller runs).
	extra = append([]string{"--vrepl-max-retry-delay", "2s", "--durable=false", "--primary-lease-ttl", "60s"}, extra...)
	rc.StartProcShards(t, bin, extra...)
	ctx := t.Context()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, sp := range specs {
		for _, sh := range sp.Targets {
			if err := rc.TS.CreateShard(ctx, sp.Keyspace, sh); err != nil {
				t.Fatal(err)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := cluster.StartProcShard(t, bin, rc.TopoAddr, rc.TS, rc.Security, sp.Keyspace, sh, 0, extra...)
				mu.Lock()
				rc.targets[sp.Keyspace][sh] = s
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	rc.StartGate(t)
	return rc
}

// ctl runs mosaicctl against the cluster's topology.
func (rc *reshardCluster) ctl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(rc.t.Context(), 10*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, rc.ctlBin, append(append([]string{"--topo-endpoints", rc.TopoAddr, "--timeout", "10m"}, rc.Security.Flags()...), args...)...).CombinedOutput()
	return string(out), err
}

// mustCtl runs mosaicctl and fails t (the test or subtest running it)
// when it fails.
func (rc *reshardCluster) mustCtl(t testing.TB, args ...string) string {
	t.Helper()
	out, err := rc.ctl(args...)
	if err != nil {
		t.Fatalf("mosaicctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// shardDB opens a connection to the primary mysqld of a shard, as the
// tablets' TCP DBA account.
func (rc *reshardCluster) shardDB(ks, shard string) *sql.DB {
	rc.t.Helper()
	port := rc.firstTablet(ks, shard).MySQLPort
	db, err := sql.Open("mysql", fmt.Sprintf("%s:%s@tcp(127.0.0.1:%d)/%s", cluster.DirectUser, cluster.DirectPassword, port, ks))
	if err != nil {
		rc.t.Fatal(err)
	}
	rc.t.Cleanup(func() { db.Close() })
	return db
}

// firstTablet returns the tablet a shard started with as its primary.
func (rc *reshardCluster) firstTablet(ks, shard string) *cluster.ProcTablet {
	if s := rc.targets[ks][shard]; s != nil {
		return s.Tablets[0]
	}
	return rc.ProcShards[ks][shard].Tablets[0]
}

// loadCustomers fills customer and corder with n rows each through the
// gate, and countries on every source shard.
func (rc *reshardCluster) loadCustomers(ks string, sources []string, n int) {
	rc.t.Helper()
	db := rc.DB(rc.t, ks)
	for _, q := range []string{
		"CREATE TABLE customer (id BIGINT NOT NULL PRIMARY KEY, name VARCHAR(64) NOT NULL, v VARCHAR(64), updated DATETIME(6))",
		"CREATE TABLE corder (order_id BIGINT NOT NULL, customer_id BIGINT NOT NULL, sku VARCHAR(32) NOT NULL, price DECIMAL(10,2), PRIMARY KEY (order_id))",
		"CREATE TABLE countries (code CHAR(2) NOT NULL PRIMARY KEY, name VARCHAR(64) COLLATE utf8mb4_unicode_ci)",
	} {
		if _, err := db.Exec(q); err != nil {
			rc.t.Fatalf("%s: %v", q, err)
		}
	}
	for start := 1; start <= n; start += 1000 {
		var cs, os []string
		for id := start; id < start+1000 && id <= n; id++ {
			cs = append(cs, fmt.Sprintf("(%d, 'customer %d', 'v0', '2024-01-01 00:00:00.%06d')", id, id, id))
			os = append(os, fmt.Sprintf("(%d, %d, 'sku-%d', %d.99)", id, id, id%500, id%1000))
		}
		if _, err := db.Exec("INSERT INTO customer (id, name, v, updated) VALUES " + strings.Join(cs, ",")); err != nil {
			rc.t.Fatal(err)
		}
		if _, err := db.Exec("INSERT INTO corder (order_id, customer_id, sku, price) VALUES " + strings.Join(os, ",")); err != nil {
			rc.t.Fatal(err)
		}
	}
	for _, sh := range sources {
		if _, err := rc.shardDB(ks, sh).Exec("INSERT INTO countries VALUES ('fr', 'France'), ('de', 'Deutschland'), ('ch', 'Schweiz'), ('ie', 'Éire')"); err != nil {
			rc.t.Fatal(err)
		}
	}
}

// customerLoad writes through the gate until stopped: inserts of new
// customers and updates of existing ones, each writer on ids of its own,
// remembering every acknowledged value.
type customerLoad struct {
	mu        sync.Mutex
	acked     map[int64]string // id -> value the client saw acknowledged
	uncertain map[int64]bool   // a write of this id failed: either value may be there
	errors    []string
	writes    int
	// times are every write's start and duration, acknowledged or not.
	times   []writeTime
	writers int
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

func startCustomerLoad(t *testing.T, db *sql.DB, writers, existing int) *customerLoad {
	ctx, cancel := context.WithCancel(context.Background())
	l := &customerLoad{acked: map[int64]string{}, uncertain: map[int64]bool{}, cancel: cancel, writers: writers}
	for w := 0; w < writers; w++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 7))
			var mine []int64
			for id := int64(w + 1); id <= int64(existing); id += int64(writers) {
				mine = append(mine, id)
			}
			next := int64(1_000_000_000 + w)
			for seq := 1; ctx.Err() == nil; seq++ {
				var id int64
				var q string
				v := fmt.Sprintf("w%d-%d", w, seq)
				if r.IntN(2) == 0 {
					id = next
					next += int64(writers)
					q = fmt.Sprintf("INSERT INTO customer (id, name, v, updated) VALUES (%d, 'new %d', '%s', NOW(6))", id, id, v)
				} else {
					id = mine[r.IntN(len(mine))]
					q = fmt.Sprintf("UPDATE customer SET v = '%s', updated = NOW(6) WHERE id = %d", v, id)
				}
				qctx, qcancel := context.WithTimeout(context.Background(), time.Minute)
				began := time.Now()
				_, err := db.ExecContext(qctx, q)
				took := time.Since(began)
				qcancel()
				l.mu.Lock()
				l.times = append(l.times, writeTime{began, took})
				if err == nil {
					l.acked[id] = v
					l.writes++
					if id >= 1_000_000_000 {
						mine = append(mine, id)
					}
				} else {
					l.uncertain[id] = true
					l.errors = append(l.errors, err.Error())
				}
				l.mu.Unlock()
				if err != nil {
					time.Sleep(20 * time.Millisecond)
				}
			}
		}()
	}
	t.Cleanup(l.stop)
	return l
}

type writeTime struct {
	start time.Time
	took  time.Duration
}

// slowest returns the longest write that overlapped [from, to] (the
// pause a client saw), and how many writes did.
func (l *customerLoad) slowest(from, to time.Time) (time.Duration, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var worst time.Duration
	n := 0
	for _, w := range l.times {
		if w.start.After(to) || w.start.Add(w.took).Before(from) {
			continue
		}
		n++
		worst = max(worst, w.took)
	}
	return worst, n
}

// waitPast waits until every write begun before at has ended (twice as
// many writes as writers began after it), so that slowest counts them.
func (l *customerLoad) waitPast(t *testing.T, at time.Time) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		l.mu.Lock()
		n := 0
		for i := len(l.times) - 1; i >= 0 && n < 2*l.writers; i-- {
			if l.times[i].start.After(at) {
				n++
			}
		}
		l.mu.Unlock()
		if n >= 2*l.writers {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the writers did not write after %v", at)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// errorCount returns how many writes failed so far.
func (l *customerLoad) errorCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.errors)
}

// errorsSince returns the errors after the first n.
func (l *customerLoad) errorsSince(n int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.errors[n:])
}

func (l *customerLoad) stop() {
	l.cancel()
	l.wg.Wait()
}

// checkAcked checks that every acknowledged write is on exactly one of
// shards, the one whose range holds its keyspace id, with its value.
func (rc *reshardCluster) checkAcked(l *customerLoad, ks string, shards []string) {
	rc.t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	found := map[int64][]string{}
	values := map[int64]string{}
	for _, sh := range shards {
		rows, err := rc.shardDB(ks, sh).Query("SELECT id, v FROM customer WHERE v <> 'v0'")
		if err != nil {
			rc.t.Fatal(err)
		}
		for rows.Next() {
			var id int64
			var v string
			rows.Scan(&id, &v)
			found[id] = append(found[id], sh)
			values[id] = v
		}
		rows.Close()
	}
	bad := 0
	for id, v := range l.acked {
		ksid, _ := vindexes.Hash{}.Map(id)
		where := found[id]
		switch {
		case len(where) != 1:
			rc.t.Errorf("acknowledged write of customer %d is on %d shards %v", id, len(where), where)
			bad++
		case !shardHolds(where[0], ksid):
			rc.t.Errorf("customer %d is on %s, not on the shard its keyspace id names", id, where[0])
			bad++
		case values[id] != v && !l.uncertain[id]:
			rc.t.Errorf("customer %d: value %q, acknowledged %q", id, values[id], v)
			bad++
		}
		if bad > 10 {
			rc.t.Fatal("too many lost or misplaced writes")
		}
	}
	rc.t.Logf("%d acknowledged writes checked on %s %v (%d writes, %d errors)", len(l.acked), ks, shards, l.writes, len(l.errors))
}

func shardHolds(shard string, ksid []byte) bool {
	kr, _ := keyrange.Parse(shard)
	return keyrange.Contains(kr, ksid)
}

// killMysqld kills a tablet's mysqld alone with SIGKILL; its agent
// starts it again.
func killMysqld(t *testing.T, p *cluster.ProcTablet) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(p.Dir, "run", "mysqld.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
}

// waitReport polls the workflow's report until ok.
func waitReport(t *testing.T, m *workflow.Manager, what string, ok func(*workflow.Report) bool) *workflow.Report {
	return waitReportOf(t, m, "customer", "split", what, ok)
}

func waitReportOf(t *testing.T, m *workflow.Manager, ks, name, what string, ok func(*workflow.Report) bool) *workflow.Report {
	t.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	var r *workflow.Report
	for time.Now().Before(deadline) {
		var err error
		r, err = m.Show(t.Context(), ks, name)
		if err == nil && ok(r) {
			return r
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("workflow never %s: %+v", what, r)
	return nil
}

func streamInto(r *workflow.Report, target string) (phase string, copied int64, source *topodatapb.TabletAlias) {
	for _, st := range r.Streams {
		if st.TargetShard == target {
			return st.Phase, st.RowsCopied, st.SourceTablet
		}
	}
	return "", 0, nil
}

// TestReshard splits customer from -80,80- to -40,40-80,80-c0,c0- under
// writes through the gate: refusals change nothing; create copies and
// follows; a target tablet killed (SIGKILL, agent and mysqld) during the
// copy and a source mysqld killed while the streams follow its binlog
// both resume; show --wait returns once caught up; vdiff is clean; a
// switch of a stopped workflow is refused and one whose catch-up times out
// is rolled back, both leaving topo as it was; reads then writes move to
// the targets, back (reverse-traffic) and to the targets again with no
// client error and writes held under a second; every acknowledged write
// is on exactly one target, the one its keyspace id names; the reverse
// streams kept the sources identical (vdiff); complete removes the
// sources.
func TestReshard(t *testing.T) {
	if testing.Short() {
		t.Skip("starts eight mariadbd and kills some")
	}
	sources := []string{"-80", "80-"}
	targets := []string{"-40", "40-80", "80-c0", "c0-"}
	n := *reshardRows
	rc := startReshardCluster(t, []reshardSpec{{"customer", sources, targets, reshardVSchema}}, 1, "--vrepl-copy-cycle", "2s", "--vrepl-copy-rows-per-second", strconv.Itoa(max(2000, n/16)))
	rc.loadCustomers("customer", sources, n)
	m := workflow.New(rc.TS, rc.TabletCreds(t, mtls.RoleOperator), slog.New(slog.DiscardHandler))

	t.Run("refusals", func(t *testing.T) {
		for _, c := range []struct {
			args []string
			want string
		}{
			{[]string{"create", "--target-shards", "-40,30-80,80-c0,c0-"}, "overlap"},
			{[]string{"create", "--target-shards", "-40,50-80,80-c0,c0-"}, "gap"},
			{[]string{"create", "--target-shards", "-40,40-80,80-c0"}, "same range"},
			{[]string{"create", "--target-shards", "-80,80-"}, "both a source and a target"},
		} {
			args := append([]string{"reshard", "--keyspace", "customer", "--workflow", "split", "--source-shards", "-80,80-"}, c.args...)
			out, err := rc.ctl(args...)
			if err == nil || !strings.Contains(out, c.want) {
				t.Errorf("mosaicctl %v: err %v, output %q; want a refusal with %q", c.args, err, out, c.want)
			}
		}
		for _, sub := range []string{"show", "vdiff", "cancel", "stop", "switch-traffic", "reverse-traffic", "complete"} {
			out, err := rc.ctl("reshard", sub, "--keyspace", "customer", "--workflow", "nope")
			if err == nil || !strings.Contains(out, "nope") {
				t.Errorf("reshard %s of an unknown workflow: err %v, output %q", sub, err, out)
			}
		}
		if wfs, err := rc.TS.ListWorkflows(t.Context(), "customer"); err != nil || len(wfs) != 0 {
			t.Errorf("refusals left workflows: %v %v", wfs, err)
		}
		for _, sh := range targets {
			var tables int
			rc.shardDB("customer", sh).QueryRow("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'customer'").Scan(&tables)
			if tables != 0 {
				t.Errorf("refusals created %d tables on %s", tables, sh)
			}
		}
	})

	load := startCustomerLoad(t, rc.DB(t, "customer"), 4, n)
	out := rc.mustCtl(t, "reshard", "create", "--keyspace", "customer", "--workflow", "split", "--source-shards", strings.Join(sources, ","), "--target-shards", strings.Join(targets, ","))
	t.Log(strings.TrimSpace(out))

	t.Run("complete before the switch", func(t *testing.T) {
		before, _, err := rc.TS.GetWorkflow(t.Context(), "customer", "split")
		if err != nil {
			t.Fatal(err)
		}
		out, err := rc.ctl("reshard", "complete", "--keyspace", "customer", "--workflow", "split")
		if err == nil || !strings.Contains(out, "switch it to the targets before complete") {
			t.Errorf("complete before the switch: err %v, output %q", err, out)
		}
		after, _, err := rc.TS.GetWorkflow(t.Context(), "customer", "split")
		if err != nil || !proto.Equal(before, after) {
			t.Errorf("complete changed the workflow: %v -> %v (%v)", before, after, err)
		}
		for _, sh := range sources {
			if _, _, err := rc.TS.GetShard(t.Context(), "customer", sh); err != nil {
				t.Errorf("complete removed source shard %s: %v", sh, err)
			}
		}
	})

	t.Run("kill target during copy", func(t *testing.T) {
		r := waitReport(t, m, "copying into -40", func(r *workflow.Report) bool {
			phase, copied, _ := streamInto(r, "-40")
			return phase == "copying" && copied > 0
		})
		_, copied, _ := streamInto(r, "-40")
		p := rc.targets["customer"]["-40"].Tablets[0]
		p.Kill9(t)
		t.Logf("killed target tablet %s (agent and mysqld) at %d copied rows", p.AliasString, copied)
		p.Start(t)
		waitReport(t, m, "copying into -40 again", func(r *workflow.Report) bool {
			phase, after, _ := streamInto(r, "-40")
			return (phase == "copying" || phase == "running") && after > copied
		})
	})

	out = rc.mustCtl(t, "reshard", "show", "--keyspace", "customer", "--workflow", "split", "--wait")
	t.Logf("show --wait:\n%s", out)

	t.Run("status pages and metrics", func(t *testing.T) {
		get := func(url string) string {
			resp, err := http.Get(url)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return string(b)
		}
		page := get("http://" + rc.GateHTTPAddr + "/debug/status")
		if !strings.Contains(page, "<td>split</td><td>RESHARD</td><td>RUNNING</td>") {
			t.Errorf("the gate's status page does not show the workflow:\n%s", page)
		}
		tablet := fmt.Sprintf("http://127.0.0.1:%d", rc.targets["customer"]["-40"].Tablets[0].HTTPPort)
		page = get(tablet + "/debug/status")
		if !strings.Contains(page, "<td>split</td><td>-80</td><td>running</td>") {
			t.Errorf("the target tablet's status page does not show its stream:\n%s", page)
		}
		metrics := get(tablet + "/metrics")
		for _, want := range []string{
			`mosaic_vreplication_phase{phase="running",source_shard="-80",workflow="split"} 1`,
			`mosaic_vreplication_rows_copied_total{source_shard="-80",workflow="split"}`,
			`mosaic_vreplication_transactions_applied_total{source_shard="-80",workflow="split"}`,
			`mosaic_vreplication_lag_seconds{source_shard="-80",workflow="split"}`,
		} {
			if !strings.Contains(metrics, want) {
				t.Errorf("target metrics lack %s", want)
			}
		}
	})

	t.Run("kill source mysqld while following", func(t *testing.T) {
		r := waitReport(t, m, "running", func(r *workflow.Report) bool {
			phase, _, src := streamInto(r, "-40")
			return phase == "running" && src != nil
		})
		_, _, src := streamInto(r, "-40")
		p := rc.ProcShards["customer"]["-80"].Tablet(src)
		if p == nil {
			t.Fatalf("source tablet %s not found", topo.AliasString(src))
		}
		killMysqld(t, p)
		t.Logf("killed the mysqld of source tablet %s", p.AliasString)
		time.Sleep(2 * time.Second)
		rc.mustCtl(t, "reshard", "show", "--keyspace", "customer", "--workflow", "split", "--wait")
	})

	t.Run("vdiff", func(t *testing.T) {
		start := time.Now()
		out := rc.mustCtl(t, "reshard", "vdiff", "--keyspace", "customer", "--workflow", "split")
		t.Logf("vdiff under writes took %v:\n%s", time.Since(start), out)
		if !strings.Contains(out, "identical") {
			t.Errorf("vdiff: %s", out)
		}
	})

	t.Run("switch refusals", func(t *testing.T) {
		before := rc.topoState(t, "customer")
		rc.mustCtl(t, "reshard", "stop", "--keyspace", "customer", "--workflow", "split")
		out, err := rc.ctl("reshard", "switch-traffic", "--keyspace", "customer", "--workflow", "split")
		if err == nil || !strings.Contains(out, "not ready for a switch") {
			t.Errorf("switch of a stopped workflow: err %v, output %q", err, out)
		}
		rc.mustCtl(t, "reshard", "start", "--keyspace", "customer", "--workflow", "split")
		if after := rc.topoState(t, "customer"); after != before {
			t.Errorf("a refused switch changed topo:\n%s\n->\n%s", before, after)
		}
		waitReport(t, m, "caught up again", func(r *workflow.Report) bool { ok, _ := r.Caught(2); return ok })
		before = rc.topoState(t, "customer")
		// A catch-up that cannot finish in time: the sources are fenced,
		// then everything is rolled back.
		out, err = rc.ctl("reshard", "switch-traffic", "--keyspace", "customer", "--workflow", "split", "--tablet-types", "primary", "--catch-up-timeout", "1ns")
		if err == nil || !strings.Contains(out, "rolled back") || !strings.Contains(out, "catching up") {
			t.Errorf("switch with a catch-up that times out: err %v, output %q", err, out)
		}
		if after := rc.topoState(t, "customer"); after != before {
			t.Errorf("a rolled back switch changed topo:\n%s\n->\n%s", before, after)
		}
	})

	// Reads, then writes, move to the targets under the writers' load;
	// then back and forth. Each move of primary traffic is timed as the
	// command reports it (fence to commit) and as clients see it (the
	// slowest write while it ran).
	errsBefore := load.errorCount()
	var held, seen []time.Duration
	move := func(t *testing.T, cmd, wantOn string) {
		t.Helper()
		released := gateMetric(t, rc.Cluster, "mosaic_gate_switch_buffered_requests_total", "keyspace", "customer", "outcome", "released")
		waitN, waitSum := gateHistogram(t, rc.Cluster, "mosaic_gate_switch_buffer_wait_seconds")
		from := time.Now()
		out, err := rc.ctl("reshard", cmd, "--keyspace", "customer", "--workflow", "split")
		to := time.Now()
		if err != nil {
			t.Fatalf("mosaicctl reshard %s: %v\n%s", cmd, err, out)
		}
		load.waitPast(t, to)
		n2, sum2 := gateHistogram(t, rc.Cluster, "mosaic_gate_switch_buffer_wait_seconds")
		t.Logf("%s: the gate held %v statements (released %v), %.0fms on average", cmd, n2-waitN,
			gateMetric(t, rc.Cluster, "mosaic_gate_switch_buffered_requests_total", "keyspace", "customer", "outcome", "released")-released,
			(sum2-waitSum)*1000/max(1, float64(n2-waitN)))
		t.Log(strings.TrimSpace(out))
		if d, ok := heldFor(out); ok {
			held = append(held, d)
		} else {
			t.Errorf("%s printed no write pause: %q", cmd, out)
		}
		worst, n := load.slowest(from, to)
		seen = append(seen, worst)
		t.Logf("%s: the slowest of %d writes during it took %v", cmd, n, worst)
		want := sources
		if wantOn == "targets" {
			want = targets
		}
		state := rc.topoState(t, "customer")
		for _, tt := range []string{"primary", "replica", "rdonly"} {
			if !strings.Contains(state, tt+" "+strings.Join(want, ",")+"\n") {
				t.Errorf("after %s, %s traffic is not on the %s:\n%s", cmd, tt, wantOn, state)
			}
		}
		if strings.Contains(state, "switching") {
			t.Errorf("after %s, the keyspace is still switching:\n%s", cmd, state)
		}
		// The streams now feeding the other side run.
		feed := "split_reverse"
		if wantOn == "sources" {
			feed = "split"
		}
		waitReportOf(t, m, "customer", feed, "caught up after "+cmd, func(r *workflow.Report) bool { ok, _ := r.Caught(2); return ok })
	}
	t.Run("switch traffic", func(t *testing.T) { move(t, "switch-traffic", "targets") })
	for i := 0; i < *reshardSwitchRounds && !t.Failed(); i++ {
		t.Run("reverse traffic", func(t *testing.T) { move(t, "reverse-traffic", "sources") })
		t.Run("switch traffic again", func(t *testing.T) { move(t, "switch-traffic", "targets") })
	}
	load.stop()
	t.Logf("primary traffic moved %d times: writes held (fence to commit) median %v max %v; slowest client write median %v max %v",
		len(held), median(held), slices.Max(append(held, 0)), median(seen), slices.Max(append(seen, 0)))
	if errs := load.errorsSince(errsBefore); len(errs) > 0 {
		t.Errorf("%d client errors while traffic moved; first: %s", len(errs), errs[0])
	}
	for i := range min(len(held), len(seen)) {
		if held[i] >= time.Second || seen[i] >= time.Second {
			t.Errorf("primary switch %d: writes held %v, the slowest client write took %v; want both under 1s", i, held[i], seen[i])
		}
	}

	t.Run("acknowledged writes on the targets", func(t *testing.T) {
		rc.checkAcked(load, "customer", targets)
	})
	t.Run("reverse streams vdiff", func(t *testing.T) {
		out := rc.mustCtl(t, "reshard", "vdiff", "--keyspace", "customer", "--workflow", "split_reverse")
		if !strings.Contains(out, "vdiff: identical") {
			t.Errorf("vdiff of the reverse workflow:\n%s", out)
		}
	})

	t.Run("complete", func(t *testing.T) {
		out := rc.mustCtl(t, "reshard", "complete", "--keyspace", "customer", "--workflow", "split")
		t.Log(strings.TrimSpace(out))
		for _, sh := range sources {
			if _, _, err := rc.TS.GetShard(t.Context(), "customer", sh); !errors.Is(err, topo.ErrNoNode) {
				t.Errorf("source shard %s after complete: %v", sh, err)
			}
			var tables int
			rc.shardDB("customer", sh).QueryRow("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'customer'").Scan(&tables)
			if tables != 0 {
				t.Errorf("complete left %d tables on source %s", tables, sh)
			}
		}
		if wfs, _ := rc.TS.ListWorkflows(t.Context(), "customer"); len(wfs) != 0 {
			t.Errorf("workflows left after complete: %v", wfs)
		}
		for _, sh := range targets {
			var streams int
			rc.shardDB("customer", sh).QueryRow("SELECT COUNT(*) FROM _mosaic.vreplication").Scan(&streams)
			if streams != 0 {
				t.Errorf("complete left %d stream records on %s", streams, sh)
			}
		}
		// The keyspace serves on the targets alone.
		db := rc.DB(t, "customer")
		if _, err := db.Exec("INSERT INTO customer (id, name, v) VALUES (2000000000, 'after', 'done')"); err != nil {
			t.Fatal(err)
		}
		var total int
		if err := db.QueryRow("SELECT COUNT(*) FROM customer").Scan(&total); err != nil || total < n {
			t.Errorf("customer rows through the gate after complete: %d, %v", total, err)
		}
	})
}

// gateHistogram returns the count and sum of a histogram of the gate.
func gateHistogram(t *testing.T, c *cluster.Cluster, name string) (uint64, float64) {
	t.Helper()
	mfs, err := c.GateRegistry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.Metric {
				return m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
			}
		}
	}
	return 0, 0
}

// heldFor reads the write pause a switch printed.
func heldFor(out string) (time.Duration, bool) {
	_, rest, ok := strings.Cut(out, "writes held ")
	if !ok {
		return 0, false
	}
	f, _, _ := strings.Cut(rest, " ")
	d, err := time.ParseDuration(f)
	return d, err == nil
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// topoState prints what a switch may change: the keyspace's served lists
// and switching flag, the shards' query service controls, the workflow
// records.
func (rc *reshardCluster) topoState(t *testing.T, ks string) string {
	t.Helper()
	ctx := t.Context()
	rec, _, err := rc.TS.GetKeyspaceVersion(ctx, ks)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, tt := range topo.ServedTypes() {
		fmt.Fprintf(&b, "%s %s\n", topo.TabletTypeString(tt), strings.Join(topo.ServedShards(rec, tt), ","))
	}
	if rec.Switching != nil {
		fmt.Fprintf(&b, "switching %v\n", rec.Switching)
	}
	shards, err := rc.TS.ListShards(ctx, ks)
	if err != nil {
		t.Fatal(err)
	}
	for _, sh := range shards {
		s, _, err := rc.TS.GetShard(ctx, ks, sh)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "shard %s primary query service disabled %v\n", sh, topo.QueryServiceDisabled(s, topodatapb.TabletType_PRIMARY))
	}
	wfs, err := rc.TS.ListWorkflows(ctx, ks)
	if err != nil {
		t.Fatal(err)
	}
	for _, wf := range wfs {
		wf.Message = "" // stop and start say when they ran
		fmt.Fprintf(&b, "workflow %v\n", wf)
	}
	return b.String()
}

func keyrangeMeets(a, b string) bool {
	ka, _ := keyrange.Parse(a)
	kb, _ := keyrange.Parse(b)
	return keyrange.Intersect(ka, kb)
}

func waitReq(workflow, source, pos string) *vreplicationpb.WaitForStreamPositionRequest {
	return &vreplicationpb.WaitForStreamPositionRequest{Workflow: workflow, SourceShard: source, Position: pos, TimeoutMs: 120000}
}

// waitApplied waits until every stream of workflow in ks has applied its
// source primary's current position.
func (rc *reshardCluster) waitApplied(ks, workflow string, sources, targets []string) {
	rc.t.Helper()
	for _, src := range sources {
		var pos string
		if err := rc.shardDB(ks, src).QueryRow("SELECT @@gtid_binlog_pos").Scan(&pos); err != nil {
			rc.t.Fatal(err)
		}
		for _, tgt := range targets {
			if !keyrangeMeets(src, tgt) {
				continue
			}
			c, err := rc.firstTablet(ks, tgt).Dial()
			if err != nil {
				rc.t.Fatal(err)
			}
			_, err = c.VR.WaitForStreamPosition(rc.t.Context(), waitReq(workflow, src, pos))
			c.Close()
			if err != nil {
				rc.t.Fatalf("%s: %s -> %s: %v", ks, src, tgt, err)
			}
		}
	}
}

// TestReshardMergeAndUnsharded runs two workflows at once in one cluster,
// under writes through the gate: keyspace merged goes from four shards to
// two (each target fed by two sources), keyspace single from its one shard
// 0 to -80,80- (its VSchema sharded it already). Both copy and follow,
// vdiff clean, and every acknowledged write is on exactly one target, the
// one its keyspace id names. merged then switches its traffic under the
// writes (no client error) and completes; single is cancelled, which
// drops the copies.
func TestReshardMergeAndUnsharded(t *testing.T) {
	if testing.Short() {
		t.Skip("starts ten mariadbd")
	}
	specs := []reshardSpec{
		{"merged", []string{"-40", "40-80", "80-c0", "c0-"}, []string{"-80", "80-"}, reshardVSchema},
		{"single", []string{"0"}, []string{"-80", "80-"}, reshardVSchema},
	}
	rc := startReshardCluster(t, specs, 0, "--vrepl-copy-cycle", "1s")
	m := workflow.New(rc.TS, rc.TabletCreds(t, mtls.RoleOperator), slog.New(slog.DiscardHandler))
	n := 5000
	loads := map[string]*customerLoad{}
	for _, sp := range specs {
		rc.loadCustomers(sp.Keyspace, sp.Sources, n)
		loads[sp.Keyspace] = startCustomerLoad(t, rc.DB(t, sp.Keyspace), 2, n)
	}
	for _, sp := range specs {
		rc.mustCtl(t, "reshard", "create", "--keyspace", sp.Keyspace, "--workflow", "re", "--source-shards", strings.Join(sp.Sources, ","), "--target-shards", strings.Join(sp.Targets, ","))
	}
	for _, sp := range specs {
		r := waitReportOf(t, m, sp.Keyspace, "re", "caught up", func(r *workflow.Report) bool {
			ok, _ := r.Caught(2)
			return ok
		})
		if want := workflow.ExpectedStreams(r.Workflow); len(r.Streams) != want {
			t.Errorf("%s: %d streams, want %d", sp.Keyspace, len(r.Streams), want)
		}
		out := rc.mustCtl(t, "reshard", "vdiff", "--keyspace", sp.Keyspace, "--workflow", "re")
		if !strings.Contains(out, "vdiff: identical") {
			t.Errorf("%s: vdiff:\n%s", sp.Keyspace, out)
		}
	}
	// merged moves its traffic under the writers' load and completes;
	// single is cancelled.
	merged, single := specs[0], specs[1]
	errsBefore := loads[merged.Keyspace].errorCount()
	out := rc.mustCtl(t, "reshard", "switch-traffic", "--keyspace", merged.Keyspace, "--workflow", "re")
	t.Log(strings.TrimSpace(out))
	loads[merged.Keyspace].stop()
	if errs := loads[merged.Keyspace].errorsSince(errsBefore); len(errs) > 0 {
		t.Errorf("%d client errors while merged's traffic moved; first: %s", len(errs), errs[0])
	}
	rc.checkAcked(loads[merged.Keyspace], merged.Keyspace, merged.Targets)
	rc.mustCtl(t, "reshard", "complete", "--keyspace", merged.Keyspace, "--workflow", "re")
	for _, sh := range merged.Sources {
		if _, _, err := rc.TS.GetShard(t.Context(), merged.Keyspace, sh); !errors.Is(err, topo.ErrNoNode) {
			t.Errorf("merged source shard %s after complete: %v", sh, err)
		}
	}

	loads[single.Keyspace].stop()
	rc.waitApplied(single.Keyspace, "re", single.Sources, single.Targets)
	rc.checkAcked(loads[single.Keyspace], single.Keyspace, single.Targets)
	t.Run("cancel", func(t *testing.T) {
		rc.mustCtl(t, "reshard", "cancel", "--keyspace", single.Keyspace, "--workflow", "re")
		if wfs, _ := rc.TS.ListWorkflows(t.Context(), single.Keyspace); len(wfs) != 0 {
			t.Errorf("workflow left after cancel: %v", wfs)
		}
		for _, sh := range single.Targets {
			var tables int
			rc.shardDB(single.Keyspace, sh).QueryRow("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?", single.Keyspace).Scan(&tables)
			if tables != 0 {
				t.Errorf("cancel left %d tables on %s", tables, sh)
			}
			var streams int
			rc.shardDB(single.Keyspace, sh).QueryRow("SELECT COUNT(*) FROM _mosaic.vreplication").Scan(&streams)
			if streams != 0 {
				t.Errorf("cancel left %d stream records on %s", streams, sh)
			}
		}
	})
}
