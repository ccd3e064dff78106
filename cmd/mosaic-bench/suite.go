package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/spf13/cobra"

	"github.com/mosaicdb/mosaic/bench"
	"github.com/mosaicdb/mosaic/tablet/mysqlctl"
)

// suiteFlags configure `mosaic-bench suite`.
type suiteFlags struct {
	out          string
	cluster      string
	mosaicBin    string
	ctlBin       string
	dataDir      string
	keep         bool
	durable      bool
	etcdPort     int
	gatePort     int
	gateHTTPPort int
	tabletOffset int
	threads      int
	rounds       int
	duration     time.Duration
	warmup       time.Duration
	idleConns    int
	streamRows   int
	title        string
	workloads    []string
	keyspaces    []string
	floor        bool
	// insecure starts the cluster with --insecure (no TLS between its
	// components); certDir is the cluster's certificate directory, for
	// mosaicctl (set by startCluster, or --cert-dir for a running one).
	insecure bool
	certDir  string
	// extraUp are more flags for mosaic up.
	extraUp []string
}

// ctlSecurity are the flags that give mosaicctl the cluster's operator
// certificate.
func (f *suiteFlags) ctlSecurity() []string {
	switch {
	case f.insecure:
		return []string{"--insecure"}
	case f.certDir != "":
		return []string{"--cert-dir", f.certDir}
	}
	return nil // MOSAIC_CERT_DIR, if set, tells mosaicctl
}

// shardProcs are the ports of one shard's primary in the local layout.
type localShard struct {
	keyspace, shard string
	uid             int
}

var localShards = []localShard{{"commerce", "0", 100}, {"customer", "-80", 200}, {"customer", "80-", 300}}

func (f *suiteFlags) mysqlPort(s localShard) int { return 17000 + s.uid + f.tabletOffset }
func (f *suiteFlags) grpcPort(s localShard) int  { return 18000 + s.uid + f.tabletOffset }

func newSuiteCmd() *cobra.Command {
	f := &suiteFlags{}
	cmd := &cobra.Command{
		Use:   "suite",
		Short: "the benchmark of `make bench`: gate vs direct mysqld on a local cluster, CPU per query, gate memory",
		Long: `suite starts a local cluster with mosaic up (or uses a running one with
--cluster running), then compares the gate with direct connections to the
same primary mysqld: point-select and read-write at --threads, and
point-select at 1 thread, on the unsharded keyspace commerce and then on the
sharded keyspace customer (whose direct side is a database holding every row
on the -80 primary's mysqld). Each comparison alternates rounds; the CPU time
of the gate, the tablets and mysqld comes from /proc/<pid>/stat. Then it
measures the gate's RSS with --idle-conns idle client connections and while
a --stream-rows scatter select streams through it. The markdown report (and
the raw figures as JSON) go to --out.`,
		Args: cobra.NoArgs,
	}
	exe, _ := os.Executable()
	binDir := filepath.Dir(exe)
	fs := cmd.Flags()
	fs.StringVar(&f.out, "out", "bench/results", "directory of the reports")
	fs.StringVar(&f.cluster, "cluster", "start", "start: run mosaic up for the suite; running: use a cluster already up")
	fs.StringVar(&f.mosaicBin, "mosaic", filepath.Join(binDir, "mosaic"), "mosaic binary (for --cluster start)")
	fs.StringVar(&f.ctlBin, "mosaicctl", filepath.Join(binDir, "mosaicctl"), "mosaicctl binary")
	fs.StringVar(&f.dataDir, "data-dir", "", "data dir of the started cluster (default: a temporary dir, removed afterwards)")
	fs.BoolVar(&f.keep, "keep", false, "leave the started cluster's data dir behind")
	fs.BoolVar(&f.durable, "durable", false, "started cluster: fsync every commit (default off, so that the proxy's cost is not hidden behind the disk)")
	fs.IntVar(&f.etcdPort, "etcd-port", 12379, "etcd client port (2379 for a default running cluster)")
	fs.IntVar(&f.gatePort, "gate-port", 25306, "gate MySQL port (15306 for a default running cluster)")
	fs.IntVar(&f.gateHTTPPort, "gate-http-port", 25000, "gate HTTP port (15000 for a default running cluster)")
	fs.IntVar(&f.tabletOffset, "tablet-port-offset", 9000, "offset of the tablet ports over the local layout, a multiple of 3000 (0 for a default running cluster)")
	fs.IntVar(&f.threads, "threads", 8, "client threads of the throughput comparisons")
	fs.IntVar(&f.rounds, "rounds", 3, "measured rounds per side of each comparison")
	fs.DurationVar(&f.duration, "duration", 10*time.Second, "length of a round")
	fs.DurationVar(&f.warmup, "warmup", 3*time.Second, "unmeasured warm-up per side before the rounds")
	fs.IntVar(&f.idleConns, "idle-conns", 1000, "idle client connections for the RSS measurement (0: skip)")
	fs.IntVar(&f.streamRows, "stream-rows", 1000000, "rows of the streamed scatter select (0: skip)")
	fs.StringVar(&f.title, "title", "", "title of the report")
	fs.StringSliceVar(&f.workloads, "workloads", []string{"point-select", "read-write"}, "workloads compared at --threads")
	fs.StringSliceVar(&f.keyspaces, "keyspaces", []string{"commerce", "customer"}, "keyspaces compared")
	fs.BoolVar(&f.insecure, "insecure", false, "start the cluster with --insecure (no TLS between gate, tablets and etcd); with --cluster running: the cluster runs insecure")
	fs.StringVar(&f.certDir, "cert-dir", "", "--cluster running: the cluster's certificate directory (mosaic up: <data-dir>/certs), for mosaicctl")
	fs.BoolVar(&f.floor, "floor", true, "also compare two hops that only forward bytes (client -tcp-> hop -unix-> hop -unix-> mysqld) with mysqld directly, on point-select: the floor of any two-hop proxy on this machine")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if f.cluster == "running" && !cmd.Flags().Changed("gate-port") {
			f.etcdPort, f.gatePort, f.gateHTTPPort, f.tabletOffset = 2379, 15306, 15000, 0
		}
		return runSuite(cmd.Context(), f, cmd.OutOrStdout())
	}
	return cmd
}

func runSuite(ctx context.Context, f *suiteFlags, out io.Writer) error {
	raiseFileLimit()
	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, "suite: "+format+"\n", args...) }
	report := &bench.Report{Title: f.title, Date: time.Now(), Commit: gitCommit(), Machine: machine()}
	switch f.cluster {
	case "start":
		stop, err := startCluster(ctx, f, logf)
		if err != nil {
			return err
		}
		defer stop()
	case "running":
	default:
		return fmt.Errorf("--cluster %q: want start or running", f.cluster)
	}
	etcd := fmt.Sprintf("127.0.0.1:%d", f.etcdPort)
	wopts := bench.DefaultWorkloadOptions()
	if err := applyBenchVSchema(ctx, f.ctlBin, etcd, f.ctlSecurity(), "customer", wopts); err != nil {
		return err
	}
	gateDSN := func(ks string) string { return fmt.Sprintf("root@tcp(127.0.0.1:%d)/%s", f.gatePort, ks) }
	// The direct side logs in to the tablets' mysqld as their DBA account,
	// with the password of the cluster's secrets file.
	dataDir := f.dataDir
	if dataDir == "" {
		dataDir = "mosaic-data" // make run's
	}
	secrets, err := mysqlctl.LoadSecretsFile(filepath.Join(dataDir, "secrets.yaml"))
	if err != nil {
		return fmt.Errorf("the direct side needs the cluster's DBA password (--data-dir of the cluster): %w", err)
	}
	if secrets.DBAPassword == "" {
		return errors.New("the cluster's secrets file has no dba_password: the direct side cannot reach mysqld")
	}
	directDSN := func(s localShard, db string) string {
		return fmt.Sprintf("%s:%s@tcp(127.0.0.1:%d)/%s", mysqlctl.DefaultAccounts().DBA, secrets.DBAPassword.Reveal(), f.mysqlPort(s), db)
	}
	gatePID, err := bench.ListeningPID(f.gatePort)
	if err != nil {
		return fmt.Errorf("find the gate: %w", err)
	}
	if v, err := queryString(ctx, directDSN(localShards[0], ""), "SELECT VERSION()"); err == nil {
		report.Machine.MySQL = "mysqld " + v
	}
	report.Settings = append(report.Settings,
		fmt.Sprintf("cluster: %s (gate 127.0.0.1:%d, one primary per shard, no replicas, durable=%v, %s), binaries %s", f.cluster, f.gatePort, f.durable, securityNote(f.insecure), f.mosaicBin),
		fmt.Sprintf("each comparison: %d rounds of %v per side, alternating (A B, B A, ...), after %v of warm-up per side", f.rounds, f.duration, f.warmup),
		fmt.Sprintf("tables: sbtest1 of %d rows; statements as text (COM_QUERY) from mosaic-bench with go-sql-driver/mysql, one connection per thread", wopts.TableSize),
	)
	self := os.Getpid()
	for _, ks := range f.keyspaces {
		var shards []localShard
		for _, s := range localShards {
			if s.keyspace == ks {
				shards = append(shards, s)
			}
		}
		if len(shards) == 0 {
			return fmt.Errorf("keyspace %s is not in the local layout", ks)
		}
		probe := &bench.CPUProbe{Groups: map[string][]int{"gate": {gatePID}, "client": {self}}}
		for _, s := range shards {
			mpid, err := bench.ListeningPID(f.mysqlPort(s))
			if err != nil {
				return fmt.Errorf("find mysqld of %s/%s: %w", s.keyspace, s.shard, err)
			}
			tpid, err := bench.ListeningPID(f.grpcPort(s))
			if err != nil {
				return fmt.Errorf("find tablet of %s/%s: %w", s.keyspace, s.shard, err)
			}
			probe.Groups["mysqld"] = append(probe.Groups["mysqld"], mpid)
			probe.Groups["tablet"] = append(probe.Groups["tablet"], tpid)
		}
		// The direct side: the keyspace's own database on an unsharded
		// keyspace (the very table the gate reaches), a database of its own
		// holding every row on the first shard's mysqld otherwise.
		directDB := ks
		if len(shards) > 1 {
			directDB = "bench_direct"
			if err := execDSN(ctx, directDSN(shards[0], ""), "CREATE DATABASE IF NOT EXISTS "+directDB); err != nil {
				return err
			}
		}
		gate, err := openDB(gateDSN(ks))
		if err != nil {
			return err
		}
		defer gate.Close()
		direct, err := openDB(directDSN(shards[0], directDB))
		if err != nil {
			return err
		}
		defer direct.Close()
		logf("preparing sbtest1 on %s through the gate and directly", ks)
		w, err := bench.NewWorkload("point-select", wopts)
		if err != nil {
			return err
		}
		// A gate may take a moment to see a new VSchema: retry the prepare.
		if err := retry(ctx, 30*time.Second, func() error { return w.Prepare(ctx, gate) }); err != nil {
			return fmt.Errorf("prepare through the gate: %w", err)
		}
		if err := w.Prepare(ctx, direct); err != nil {
			return fmt.Errorf("prepare directly: %w", err)
		}
		type job struct {
			workload string
			threads  int
		}
		var jobs []job
		for _, wl := range f.workloads {
			jobs = append(jobs, job{wl, f.threads})
		}
		if ks == f.keyspaces[0] {
			jobs = append(jobs, job{"point-select", 1})
		}
		for _, j := range jobs {
			w, err := bench.NewWorkload(j.workload, wopts)
			if err != nil {
				return err
			}
			logf("%s: %s at %d threads, gate vs direct", ks, j.workload, j.threads)
			c, err := bench.Compare(ctx, gate, direct, w, bench.CompareOptions{
				Run:    bench.RunOptions{Threads: j.threads, Duration: f.duration, Warmup: f.warmup},
				Rounds: f.rounds, LabelA: "gate", LabelB: "direct", Probe: probe,
			})
			if err != nil {
				return err
			}
			fmt.Fprint(os.Stderr, c.Text())
			report.Entries = append(report.Entries, bench.Entry{Keyspace: ks, Comparison: c})
			if f.floor && report.Floor == nil && len(shards) == 1 && j.workload == "point-select" && j.threads == f.threads {
				logf("%s: point-select at %d threads, two forwarding hops vs direct", ks, j.threads)
				e, err := measureFloor(ctx, f, ks, directDSN(shards[0], directDB), direct, probe.Groups["mysqld"], wopts)
				if err != nil {
					return fmt.Errorf("floor: %w", err)
				}
				fmt.Fprint(os.Stderr, e.Comparison.Text())
				report.Floor = e
			}
		}
	}
	mem := &bench.MemoryFigures{}
	if f.idleConns > 0 {
		logf("gate RSS with %d idle connections", f.idleConns)
		if err := measureIdle(ctx, gatePID, gateDSN(f.keyspaces[0]), f.idleConns, mem); err != nil {
			return err
		}
	}
	if f.streamRows > 0 {
		logf("gate RSS while a %d-row scatter select streams", f.streamRows)
		if err := measureStream(ctx, gatePID, gateDSN("customer"), f.streamRows, mem); err != nil {
			return err
		}
	}
	if f.idleConns > 0 || f.streamRows > 0 {
		report.Memory = mem
	}
	return writeReport(f.out, report, out)
}

// measureFloor compares two forwarding hops in front of the keyspace's
// mysqld with mysqld directly, on point-select at --threads.
func measureFloor(ctx context.Context, f *suiteFlags, ks, directDSN string, direct *sql.DB, mysqldPIDs []int, wopts bench.WorkloadOptions) (*bench.Entry, error) {
	sock, err := queryString(ctx, directDSN, "SELECT @@socket")
	if err != nil {
		return nil, fmt.Errorf("find mysqld's socket: %w", err)
	}
	fc, err := startForwardChain(ctx, sock, childGOMAXPROCS())
	if err != nil {
		return nil, err
	}
	defer fc.stop()
	// The same account and database as the direct side, through the hops.
	cfg, err := mysql.ParseDSN(directDSN)
	if err != nil {
		return nil, err
	}
	cfg.Addr = fc.addr
	fwd, err := openDB(cfg.FormatDSN())
	if err != nil {
		return nil, err
	}
	defer fwd.Close()
	w, err := bench.NewWorkload("point-select", wopts)
	if err != nil {
		return nil, err
	}
	probe := &bench.CPUProbe{Groups: map[string][]int{
		"hop1": {fc.pids[0]}, "hop2": {fc.pids[1]}, "mysqld": mysqldPIDs, "client": {os.Getpid()},
	}}
	c, err := bench.Compare(ctx, fwd, direct, w, bench.CompareOptions{
		Run:    bench.RunOptions{Threads: f.threads, Duration: f.duration, Warmup: f.warmup},
		Rounds: f.rounds, LabelA: "forwarder", LabelB: "direct", Probe: probe,
	})
	if err != nil {
		return nil, err
	}
	return &bench.Entry{Keyspace: ks, Comparison: c}, nil
}

// writeReport writes <out>/<stamp>-<commit>.md and .json and prints the
// markdown.
func writeReport(dir string, r *bench.Report, out io.Writer) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	name := r.Date.UTC().Format("20060102-150405") + "-" + strings.TrimSuffix(strings.Fields(r.Commit + " x")[0], "+")
	md := r.Markdown()
	if err := os.WriteFile(filepath.Join(dir, name+".md"), []byte(md), 0o644); err != nil {
		return err
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, name+".json"), js, 0o644); err != nil {
		return err
	}
	fmt.Fprint(out, md)
	fmt.Fprintf(out, "\nreport: %s\n", filepath.Join(dir, name+".md"))
	return nil
}

// securityNote says how the cluster's components talk, for reports.
func securityNote(insecure bool) string {
	if insecure {
		return "insecure: gRPC and etcd in plaintext"
	}
	return "mutual TLS on every gRPC and etcd connection"
}

// startCluster runs mosaic up on the suite's ports and waits until the gate
// answers on both keyspaces. stop ends it.
func startCluster(ctx context.Context, f *suiteFlags, logf func(string, ...any)) (stop func(), err error) {
	// Another cluster on these ports would answer in place of ours.
	for _, p := range []int{f.etcdPort, f.gatePort, f.gateHTTPPort, f.mysqlPort(localShards[0])} {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			return nil, fmt.Errorf("port %d is taken (another cluster? use --cluster running, or other ports): %w", p, err)
		}
		l.Close()
	}
	dir := f.dataDir
	temp := dir == ""
	if temp {
		if dir, err = os.MkdirTemp("", "mosaic-bench-cluster-"); err != nil {
			return nil, err
		}
		// mariadbd's system user passes through (MkdirTemp makes 0700).
		if err := os.Chmod(dir, 0o711); err != nil {
			return nil, err
		}
		f.dataDir = dir
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "up.log")
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	args := []string{"up", "--data-dir", dir, "--replicas", "0",
		"--etcd-port", strconv.Itoa(f.etcdPort),
		"--gate-port", strconv.Itoa(f.gatePort),
		"--gate-http-port", strconv.Itoa(f.gateHTTPPort),
		"--tablet-port-offset", strconv.Itoa(f.tabletOffset),
		"--tablet-flag=--durable=" + strconv.FormatBool(f.durable),
	}
	args = append(args, f.extraUp...)
	if f.insecure {
		args = append(args, "--insecure")
	} else {
		f.certDir = filepath.Join(dir, "certs")
	}
	logf("starting %s %s (log %s)", f.mosaicBin, strings.Join(args, " "), logPath)
	cmd := exec.Command(f.mosaicBin, args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM, Setpgid: true}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); lf.Close(); close(exited) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			logf("stopping the cluster")
			cmd.Process.Signal(os.Interrupt)
			select {
			case <-exited:
			case <-time.After(2 * time.Minute):
				syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				<-exited
			}
			if temp && !f.keep {
				os.RemoveAll(dir)
			} else {
				logf("cluster data left in %s", dir)
			}
		})
	}
	deadline := time.Now().Add(4 * time.Minute)
	for _, ks := range []string{"commerce", "customer"} {
		dsn := fmt.Sprintf("root@tcp(127.0.0.1:%d)/%s?timeout=2s", f.gatePort, ks)
		for {
			_, qerr := queryString(ctx, dsn, "SELECT 1")
			if qerr == nil {
				break
			}
			select {
			case <-exited:
				stop()
				return nil, fmt.Errorf("mosaic up exited (see %s)", logPath)
			case <-ctx.Done():
				stop()
				return nil, ctx.Err()
			case <-time.After(500 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				stop()
				return nil, fmt.Errorf("the cluster did not come up in time (see %s): %v", logPath, qerr)
			}
		}
	}
	logf("cluster up")
	return stop, nil
}

// applyBenchVSchema adds the bench tables to a sharded keyspace's VSchema
// with mosaicctl, keeping what is there.
func applyBenchVSchema(ctx context.Context, ctl, etcd string, security []string, keyspace string, opts bench.WorkloadOptions) error {
	ctlArgs := func(args ...string) []string {
		return append(append([]string{"--topo-endpoints", etcd}, security...), args...)
	}
	cur, err := exec.CommandContext(ctx, ctl, ctlArgs("vschema", "get", "--keyspace", keyspace)...).Output()
	if err != nil {
		return fmt.Errorf("mosaicctl vschema get: %w", err)
	}
	merged, err := mergeVSchema(cur, []byte(bench.VSchemaJSON(opts)))
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp("", "bench-vschema-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(merged); err != nil {
		return err
	}
	tmp.Close()
	outp, err := exec.CommandContext(ctx, ctl, ctlArgs("vschema", "apply", "--keyspace", keyspace, "--file", tmp.Name())...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("mosaicctl vschema apply: %v: %s", err, outp)
	}
	return nil
}

// mergeVSchema adds add's vindexes and tables to cur's.
func mergeVSchema(cur, add []byte) ([]byte, error) {
	var c, a map[string]any
	if err := json.Unmarshal(cur, &c); err != nil {
		return nil, fmt.Errorf("current vschema: %w", err)
	}
	if err := json.Unmarshal(add, &a); err != nil {
		return nil, err
	}
	for _, k := range []string{"vindexes", "tables"} {
		m, _ := c[k].(map[string]any)
		if m == nil {
			m = map[string]any{}
		}
		for n, v := range a[k].(map[string]any) {
			m[n] = v
		}
		c[k] = m
	}
	c["sharded"] = true
	return json.Marshal(c)
}

// measureIdle opens n idle connections to the gate and records its RSS
// before and with them.
func measureIdle(ctx context.Context, pid int, dsn string, n int, mem *bench.MemoryFigures) error {
	before, err := settledRSS(pid)
	if err != nil {
		return err
	}
	db, err := openDB(dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	conns := make([]*sql.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range n {
		c, err := db.Conn(ctx)
		if err == nil {
			err = c.PingContext(ctx)
		}
		if err != nil {
			return fmt.Errorf("idle connection %d: %w", len(conns)+1, err)
		}
		conns = append(conns, c)
	}
	with, err := settledRSS(pid)
	if err != nil {
		return err
	}
	mem.IdleConns, mem.RSSBeforeMB, mem.RSSWithIdleMB = n, mb(before), mb(with)
	return nil
}

// settledRSS waits a moment for the process to settle, then reads its RSS.
func settledRSS(pid int) (int64, error) {
	time.Sleep(2 * time.Second)
	return bench.ProcRSS(pid)
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }

// measureStream fills the stream table through the gate if needed, then
// selects it whole while sampling the gate's RSS.
func measureStream(ctx context.Context, pid int, dsn string, rows int, mem *bench.MemoryFigures) error {
	db, err := openDB(dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := bench.PrepareStream(ctx, db, rows); err != nil {
		return err
	}
	start, err := settledRSS(pid)
	if err != nil {
		return err
	}
	peak := start
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if r, err := bench.ProcRSS(pid); err == nil && r > peak {
					peak = r
				}
			}
		}
	}()
	began := time.Now()
	n, bytes, err := bench.StreamAll(ctx, db)
	secs := time.Since(began).Seconds()
	close(done)
	wg.Wait()
	if err != nil {
		return fmt.Errorf("stream %s: %w", bench.StreamTable, err)
	}
	if n != int64(rows) {
		return fmt.Errorf("stream %s: %d rows, want %d", bench.StreamTable, n, rows)
	}
	mem.StreamRows, mem.StreamMB, mem.StreamSeconds = n, mb(bytes), secs
	mem.StreamRSSStartMB, mem.StreamRSSPeakMB = mb(start), mb(peak)
	return nil
}

func retry(ctx context.Context, d time.Duration, fn func() error) error {
	deadline := time.Now().Add(d)
	for {
		err := fn()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

func queryString(ctx context.Context, dsn, q string) (string, error) {
	db, err := openDB(dsn)
	if err != nil {
		return "", err
	}
	defer db.Close()
	var s string
	err = db.QueryRowContext(ctx, q).Scan(&s)
	return s, err
}

func execDSN(ctx context.Context, dsn, q string) error {
	db, err := openDB(dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, q)
	return err
}

// gitCommit describes the checked-out commit, with "+" when the tree has
// uncommitted changes.
func gitCommit() string {
	out, err := exec.Command("git", "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(strings.TrimSpace(string(st))) > 0 {
		c += "+"
	}
	if s, err := exec.Command("git", "log", "-1", "--format=%s").Output(); err == nil {
		c += " (" + strings.TrimSpace(string(s)) + ")"
	}
	return c
}

func machine() bench.Machine {
	m := bench.Machine{Cores: runtime.NumCPU(), Go: runtime.Version()}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if rest, ok := strings.CutPrefix(l, "MemTotal:"); ok {
				kb, _ := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
				m.MemoryMB = kb / 1024
			}
		}
	}
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(data))
	}
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := strings.Fields(string(data))
		if len(f) >= 3 {
			m.LoadBefore = strings.Join(f[:3], " ")
		}
	}
	return m
}

// raiseFileLimit lifts the soft limit on open files to the hard one: the
// idle-connection measurement holds a thousand sockets.
func raiseFileLimit() {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil && l.Cur < l.Max {
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}
