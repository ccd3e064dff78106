package e2e

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mosaicdb/mosaic/e2e/cluster"
)

var (
	sysbenchStallDuration  = flag.Duration("sysbench-stall-duration", 15*time.Second, "TestSysbenchNoStall: how long sysbench runs on each side (issue 17's full form: 60s)")
	sysbenchStallTableSize = flag.Int("sysbench-stall-table-size", 200, "TestSysbenchNoStall: rows per table (issue 17's full form: 2000; fewer rows make deadlocks across shards frequent enough for a short run)")
)

// sysbenchInterval matches one line of sysbench's --report-interval
// output: "[ 3s ] thds: 4 tps: 165.00 qps: ... err/s: 0.40 ...".
var sysbenchInterval = regexp.MustCompile(`\[ (\d+)s \] thds: \d+ tps: ([\d.]+) .* err/s: ([\d.]+)`)

// sysbenchRun is what one sysbench run reported.
type sysbenchRun struct {
	transactions, ignored int
	// intervals are the transactions per second of each second.
	intervals []float64
}

// TestSysbenchNoStall is issue 17's workload: sysbench oltp_read_write,
// 4 threads, on two tables hash-sharded on two shards, where every
// transaction touches rows of both shards in random order. Without
// deadlock detection across shards it stopped dead for 15-20 s at a time
// (innodb_lock_wait_timeout); with it no second of the run may pass
// without a committed transaction, and the deadlocks sysbench sees (1213,
// which it retries) must be of the same order as on one plain MariaDB
// with the same data and workload. By default the tables hold 200 rows
// and the runs last 15 s, which without the detector stalls within
// seconds; issue 17's form is -sysbench-stall-table-size 2000
// -sysbench-stall-duration 60s.
func TestSysbenchNoStall(t *testing.T) {
	if _, err := lookPath("sysbench"); err != nil {
		t.Skip("sysbench not installed (make deps installs it)")
	}
	plainCh := make(chan *cluster.Plain, 1)
	plainErr := make(chan error, 1)
	go func() {
		p, err := cluster.StartPlain(t)
		plainCh <- p
		plainErr <- err
	}()
	c := cluster.Start(t, cluster.Options{Keyspaces: []cluster.Keyspace{{Name: "customer", Shards: []string{"-80", "80-"}, VSchema: driversVSchema}}})
	c.StartDeadlockDetector(t, testLogger(t), nil)
	plain := <-plainCh
	if err := <-plainErr; err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(c.GateAddr)
	sharded := runSysbench(t, host, port, "customer", *sysbenchStallDuration)
	direct := runSysbench(t, "127.0.0.1", strconv.Itoa(plain.Port), "sb", *sysbenchStallDuration)

	var zero []string
	for i, tps := range sharded.intervals {
		if tps == 0 {
			zero = append(zero, fmt.Sprintf("%ds", i+1))
		}
	}
	if len(zero) > 0 {
		t.Errorf("sharded: no transaction committed in the second(s) ending at %s: %v", strings.Join(zero, ", "), sharded.intervals)
	}
	t.Logf("sharded: %d transactions, %d ignored errors (deadlocks); min tps %.0f", sharded.transactions, sharded.ignored, minOf(sharded.intervals))
	t.Logf("one MariaDB: %d transactions, %d ignored errors (deadlocks); min tps %.0f", direct.transactions, direct.ignored, minOf(direct.intervals))
	// Of the same order: within ten times one MariaDB's rate of
	// deadlocks per transaction, give or take a few.
	rate := func(r sysbenchRun) float64 { return float64(r.ignored) / float64(max(r.transactions, 1)) }
	if sharded.transactions == 0 || rate(sharded) > 10*rate(direct)+5/float64(sharded.transactions) {
		t.Errorf("sharded: %d deadlocks in %d transactions; one MariaDB: %d in %d", sharded.ignored, sharded.transactions, direct.ignored, direct.transactions)
	}
}

func minOf(v []float64) float64 {
	m := 0.0
	for i, x := range v {
		if i == 0 || x < m {
			m = x
		}
	}
	return m
}

// runSysbench prepares, runs and cleans up oltp_read_write on database db
// of the server at host:port for d, 4 threads, reporting every second.
func runSysbench(t *testing.T, host, port, db string, d time.Duration) sysbenchRun {
	t.Helper()
	common := []string{"oltp_read_write", "--db-driver=mysql", "--mysql-host=" + host, "--mysql-port=" + port,
		"--mysql-user=root", "--mysql-db=" + db, "--tables=2", fmt.Sprintf("--table-size=%d", *sysbenchStallTableSize), "--auto_inc=off"}
	sysbench := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), d+2*time.Minute)
		defer cancel()
		b, err := exec.CommandContext(ctx, "sysbench", append(append([]string{}, common...), args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("sysbench %v: %v\n%s", args, err, b)
		}
		return string(b)
	}
	if db == "sb" {
		plain, err := sql.Open("mysql", "root@tcp("+net.JoinHostPort(host, port)+")/")
		if err != nil {
			t.Fatal(err)
		}
		mustExec(t, plain, "CREATE DATABASE IF NOT EXISTS sb")
		plain.Close()
	}
	sysbench("cleanup")
	sysbench("prepare")
	out := sysbench("run", fmt.Sprintf("--time=%d", int(d.Seconds())), "--threads=4", "--report-interval=1")
	sysbench("cleanup")
	var r sysbenchRun
	for _, m := range sysbenchInterval.FindAllStringSubmatch(out, -1) {
		tps, _ := strconv.ParseFloat(m[2], 64)
		r.intervals = append(r.intervals, tps)
	}
	ign := sysbenchErrors.FindStringSubmatch(out)
	txs := regexp.MustCompile(`transactions:\s+(\d+)`).FindStringSubmatch(out)
	if ign == nil || txs == nil || len(r.intervals) < int(d.Seconds())-1 {
		t.Fatalf("sysbench run on %s:%s:\n%s", host, port, out)
	}
	r.ignored, _ = strconv.Atoi(ign[1])
	r.transactions, _ = strconv.Atoi(txs[1])
	return r
}
