package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/proto/vschemapb"
	"github.com/mosaicdb/mosaic/tablet/mysqlctl"
	"github.com/mosaicdb/mosaic/topo"
	"github.com/mosaicdb/mosaic/topo/etcdstore"
)

// upConfig describes the local cluster `mosaic up` runs.
type upConfig struct {
	// childProcs is the GOMAXPROCS of the gate, tablets and failure
	// detector (0: a share of the cores, see childEnv).
	childProcs   int
	dataDir      string
	cell         string
	replicas     int
	etcdPort     int
	gatePort     int
	gateHTTPPort int
	bufferPool   string
	portOffset   int
	failover     bool
	insecure     bool
	extraGate    []string
	extraTablet  []string
}

func newUpCmd(lf *logFlags) *cobra.Command {
	c := upConfig{}
	cmd := &cobra.Command{
		Use:   "up",
		Short: "run a local cluster: embedded etcd, tablets for commerce and customer, and a gate",
		Long: `up runs a whole Mosaic cluster on this machine: an embedded etcd, tablets
(each a mariadbd and its agent) for the unsharded keyspace commerce and the
keyspace customer sharded into -80 and 80-, and a gate on 127.0.0.1:15306.
Everything lives under --data-dir; a second run comes back on the same data.
Every connection between the processes is mutual TLS, with a CA and
certificates made in <data-dir>/certs at the first run (--insecure: none);
SIGHUP makes every process reload them. MySQL clients may ask the gate for
TLS: its certificate (certs/gate-mysql.pem) is signed by the same CA
(certs/ca.pem), so clients can verify it. Ctrl-C stops every process.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			log, err := lf.logger()
			if err != nil {
				return err
			}
			return runUp(cmd.Context(), c, lf, log)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&c.dataDir, "data-dir", "./mosaic-data", "where the cluster keeps etcd, mysqld data and logs")
	fs.StringVar(&c.cell, "cell", "zone1", "cell of every tablet and of the gate")
	fs.IntVar(&c.replicas, "replicas", 1, "replicas per new shard besides the primary")
	fs.IntVar(&c.childProcs, "child-gomaxprocs", 0, "GOMAXPROCS of the gate, tablets and failure detector (0: a quarter of the cores, at least 1; a GOMAXPROCS in the environment wins)")
	fs.IntVar(&c.etcdPort, "etcd-port", 2379, "embedded etcd client port (the peer port is one above)")
	fs.IntVar(&c.gatePort, "gate-port", 15306, "gate MySQL port")
	fs.IntVar(&c.gateHTTPPort, "gate-http-port", 15000, "gate HTTP port")
	fs.StringVar(&c.bufferPool, "innodb-buffer-pool-size", "64M", "innodb_buffer_pool_size of each mysqld")
	fs.BoolVar(&c.failover, "failover", true, "run the failure detector (mosaic failover): a shard whose primary dies gets a new one")
	fs.BoolVar(&c.insecure, "insecure", false, "run every process without TLS and without certificates (by default the cluster's own CA and certificates live in <data-dir>/certs, and every gRPC and etcd connection is mutual TLS)")
	fs.IntVar(&c.portOffset, "tablet-port-offset", 0, "added to every tablet port (mysqld 17000+uid, gRPC 18000+uid, HTTP 19000+uid), a multiple of 3000 up to 12000, to run another cluster beside the first")
	fs.StringSliceVar(&c.extraGate, "gate-flag", nil, "extra flag for the gate (repeatable), e.g. --gate-flag=--query-timeout=30s")
	fs.StringSliceVar(&c.extraTablet, "tablet-flag", nil, "extra flag for every tablet (repeatable)")
	return cmd
}

func runUp(ctx context.Context, c upConfig, lf *logFlags, log *slog.Logger) error {
	if c.replicas < 0 {
		return fmt.Errorf("--replicas %d: must be 0 or more", c.replicas)
	}
	if err := validatePortOffset(c.portOffset); err != nil {
		return err
	}
	dataDir, err := filepath.Abs(c.dataDir)
	if err != nil {
		return err
	}
	logDir := filepath.Join(dataDir, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return err
	}
	// Each tablet's mariadbd runs as its own system user (mysql when this
	// runs as root) and must pass through to its tablet dir.
	if err := os.MkdirAll(filepath.Join(dataDir, "tablets"), 0o755); err != nil {
		return err
	}
	if err := mysqlctl.CheckReachable(mysqlctl.DefaultConfig().SystemUser, filepath.Join(dataDir, "tablets", "x")); err != nil {
		return fmt.Errorf("%w (or run with --data-dir under a directory it can reach, e.g. /var/lib/mosaic)", err)
	}
	secrets, err := ensureSecrets(dataDir, log)
	if err != nil {
		return err
	}
	for _, p := range []int{c.etcdPort, c.etcdPort + 1, c.gatePort} {
		if err := portFree(p); err != nil {
			return fmt.Errorf("port %d is taken (is another cluster running?): %w", p, err)
		}
	}
	// A SIGHUP, once the children run, makes them reload their
	// certificates; it must not end `mosaic up` before.
	hup, stopHUP := notifyHUP()
	defer stopHUP()
	sec, err := newUpSecurity(dataDir, c.insecure, log)
	if err != nil {
		return err
	}
	etcdAddr := fmt.Sprintf("127.0.0.1:%d", c.etcdPort)
	e, err := etcdstore.StartEmbedded(ctx, etcdstore.EmbeddedConfig{
		Dir:        filepath.Join(dataDir, "etcd"),
		ClientAddr: etcdAddr,
		PeerAddr:   fmt.Sprintf("127.0.0.1:%d", c.etcdPort+1),
		TLS:        sec.etcdTLS(),
	})
	if err != nil {
		return err
	}
	defer e.Close()
	log.Info("embedded etcd started", "addr", etcdAddr)

	cfg := etcdstore.DefaultConfig()
	cfg.Endpoints = []string{etcdAddr}
	cfg.TLS = sec.operator
	store, err := etcdstore.New(cfg)
	if err != nil {
		return err
	}
	ts := topo.NewServer(store)
	defer ts.Close()
	if sec.operator != nil {
		// Each role's certificate gets its etcd user: gates read the
		// topology, tablets write it, operators administer etcd.
		if err := store.EnableRBAC(ctx); err != nil {
			return err
		}
	}
	if err := ensureLocalTopology(ctx, ts); err != nil {
		return err
	}

	self, err := os.Executable()
	if err != nil {
		return err
	}
	common := append([]string{"--log-format", lf.format, "--log-level", lf.level}, sec.childFlags()...)
	// The children stop in order on every way out of here: the failure
	// detector and the gate first (tablets going down on purpose are not
	// a failure, and clients see the gate close rather than errors), then
	// the tablets, then etcd (deferred above). Their contexts do not
	// derive from ctx, which a signal ends: that would stop them all at
	// once.
	startTablet, stopTablets := supervise(context.WithoutCancel(ctx), log)
	startFront, stopFront := supervise(context.WithoutCancel(ctx), log)
	rec := &reconciler{c: c, ts: ts, creds: sec.tabletCreds(), log: log, dataDir: dataDir, logDir: logDir, self: self, common: common,
		etcdAddr: etcdAddr, secrets: secrets, start: startTablet, owned: map[uint32]*localTablet{}}
	recCtx, stopRec := context.WithCancel(context.WithoutCancel(ctx))
	var recDone sync.WaitGroup
	defer func() {
		log.Info("stopping the gate and the failure detector")
		stopFront()
		stopRec()
		recDone.Wait()
		log.Info("stopping the tablets")
		stopTablets()
		log.Info("stopping etcd")
	}()
	if err := rec.adopt(ctx); err != nil {
		return err
	}
	recDone.Add(1)
	go func() {
		defer recDone.Done()
		rec.run(recCtx)
	}()
	gateArgs := append([]string{"gate"}, common...)
	gateArgs = append(gateArgs,
		"--cell", c.cell,
		"--mysql-port", strconv.Itoa(c.gatePort),
		"--http-port", strconv.Itoa(c.gateHTTPPort),
		"--topo-endpoints", etcdAddr,
	)
	gateArgs = append(gateArgs, sec.gateFlags()...)
	gateArgs = append(gateArgs, c.extraGate...)
	gate := &child{name: "gate", path: self, args: gateArgs, logFile: filepath.Join(logDir, "gate.log"), env: childEnv(c)}

	if err := rec.waitPrimaries(ctx, 3*time.Minute); err != nil {
		return err
	}
	keyspaces, err := ts.ListKeyspaces(ctx)
	if err != nil {
		return err
	}
	for _, ks := range keyspaces {
		if err := ts.RebuildSrvKeyspace(ctx, c.cell, ks); err != nil {
			return err
		}
	}
	startFront(gate)
	front := []*child{gate}
	if c.failover {
		fc := &child{name: "failover", path: self, logFile: filepath.Join(logDir, "failover.log"), env: childEnv(c),
			args: append(append([]string{"failover"}, common...), "--topo-endpoints", etcdAddr)}
		front = append(front, fc)
		startFront(fc)
	}
	go forwardHUP(ctx, hup, func() []*child { return append(rec.children(), front...) }, log)
	if err := waitPort(ctx, fmt.Sprintf("127.0.0.1:%d", c.gatePort), 60*time.Second); err != nil {
		return fmt.Errorf("gate did not start (see %s): %w", gate.logFile, err)
	}
	fmt.Printf(`
Mosaic is up.
  connect:   mysql -h127.0.0.1 -P%d -uroot commerce%s
  keyspaces: commerce (unsharded), customer (shards -80, 80-)
  status:    http://127.0.0.1:%d/debug/status
  topology:  mosaicctl --topo-endpoints %s %s tablets
  logs:      %s
  secrets:   %s (mosaic_dba's password reaches each tablet's mysqld)
Press Ctrl-C to stop.
`, c.gatePort, sec.connectTLSHint(), c.gateHTTPPort, etcdAddr, sec.ctlFlags(), logDir, secrets)
	<-ctx.Done()
	fmt.Println("stopping...")
	return nil
}

// supervise returns how to start children that run, restarted when they
// die, until their own stop or the stop of all, which stops them (SIGTERM,
// SIGKILL after a while) and waits until they have exited.
func supervise(parent context.Context, log *slog.Logger) (start func(*child) (stop func()), stopAll func()) {
	ctx, cancel := context.WithCancel(parent)
	var wg sync.WaitGroup
	start = func(c *child) func() {
		cctx, ccancel := context.WithCancel(ctx)
		done := make(chan struct{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(done)
			c.supervise(cctx, log)
		}()
		return func() {
			ccancel()
			<-done
		}
	}
	stopAll = func() {
		cancel()
		wg.Wait()
	}
	return start, stopAll
}

// ensureLocalTopology creates the local cluster's keyspaces with their
// first shards (serving at once) and the example VSchema of customer,
// leaving whatever exists alone.
func ensureLocalTopology(ctx context.Context, ts *topo.Server) error {
	for _, ks := range []struct {
		name    string
		sharded bool
		shards  []string
	}{{"commerce", false, []string{"0"}}, {"customer", true, []string{"-80", "80-"}}} {
		err := ts.CreateKeyspaceWithShards(ctx, ks.name, &topodatapb.Keyspace{Sharded: ks.sharded, DurabilityPolicy: "semi_sync"}, ks.shards)
		if err != nil && !errors.Is(err, topo.ErrNodeExists) {
			return err
		}
	}
	if _, err := ts.GetVSchema(ctx, "customer"); errors.Is(err, topo.ErrNoNode) {
		if err := ts.SaveVSchema(ctx, "customer", exampleCustomerVSchema()); err != nil {
			return err
		}
	}
	return nil
}

// exampleCustomerVSchema shards the example tables customer and corder by
// customer_id; users replace it with `mosaicctl vschema apply`.
func exampleCustomerVSchema() *vschemapb.Keyspace {
	byCustomer := []*vschemapb.ColumnVindex{{Column: "customer_id", Name: "hash"}}
	return &vschemapb.Keyspace{
		Sharded:  true,
		Vindexes: map[string]*vschemapb.Vindex{"hash": {Type: "hash"}},
		Tables: map[string]*vschemapb.Table{
			"customer": {ColumnVindexes: byCustomer},
			"corder":   {ColumnVindexes: byCustomer},
		},
	}
}

// child is a supervised child process of `mosaic up`.
type child struct {
	name    string
	path    string
	args    []string
	logFile string
	// env is added to the environment the child inherits.
	env []string

	mu   sync.Mutex
	proc *os.Process // the running process, nil between runs
}

// signal sends sig to the child's process if it runs.
func (c *child) signal(sig os.Signal) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proc != nil {
		_ = c.proc.Signal(sig)
	}
}

// supervise runs the child until ctx ends, restarting it if it dies, and
// stops it with SIGTERM when ctx ends.
func (c *child) supervise(ctx context.Context, log *slog.Logger) {
	backoff := time.Second
	for ctx.Err() == nil {
		start := time.Now()
		err := c.run(ctx, log)
		if ctx.Err() != nil {
			return
		}
		log.Warn("process exited; restarting", "process", c.name, "err", err, "log", c.logFile)
		if time.Since(start) > time.Minute {
			backoff = time.Second
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// stopTimeout is how long a child may take to stop after SIGTERM before
// it is killed. A tablet may take a while: mariadbd flushes its buffer
// pool on a clean shutdown.
const stopTimeout = 60 * time.Second

func (c *child) run(ctx context.Context, log *slog.Logger) error {
	f, err := os.OpenFile(c.logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	cmd := exec.Command(c.path, c.args...)
	if len(c.env) > 0 {
		cmd.Env = append(os.Environ(), c.env...)
	}
	cmd.Stdout = f
	cmd.Stderr = f
	// Children die with us even if we are killed without a chance to stop them.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	c.mu.Lock()
	c.proc = cmd.Process
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.proc = nil
		c.mu.Unlock()
	}()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	start := time.Now()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err = <-done:
	case <-time.After(stopTimeout):
		log.Warn("process did not stop in time; killing it", "process", c.name, "pid", cmd.Process.Pid, "timeout", stopTimeout, "log", c.logFile)
		// Its process group: whatever it started that shares it goes too
		// (a tablet's mariadbd has its own group, and stops when its
		// agent dies).
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		err = <-done
	}
	log.Info("process stopped", "process", c.name, "took", time.Since(start).Round(time.Millisecond))
	return err
}

func portFree(port int) error {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return err
	}
	return l.Close()
}

func waitPort(ctx context.Context, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		select {
		case <-time.After(200 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// childEnv is the environment the cluster's Go processes get on top of
// ours. They share this machine's cores with each other and with mysqld:
// each sized as if it had them all, their schedulers spin and hand
// goroutines between threads for nothing (on 2 cores, a quarter more CPU
// per query and a third more latency at one client). Each gets a share
// of the cores instead, as a CPU limit would give it in production.
func childEnv(c upConfig) []string {
	if os.Getenv("GOMAXPROCS") != "" {
		return nil
	}
	n := c.childProcs
	if n <= 0 {
		n = max(1, runtime.NumCPU()/4)
	}
	return []string{"GOMAXPROCS=" + strconv.Itoa(n)}
}

// ensureSecrets returns the cluster's secrets file under dataDir, making
// it with new random passwords on the first run (readable by this user
// only): every tablet of the cluster reads it.
func ensureSecrets(dataDir string, log *slog.Logger) (string, error) {
	path := filepath.Join(dataDir, "secrets.yaml")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	if err := mysqlctl.WriteSecretsFile(path, mysqlctl.GenerateSecrets()); err != nil {
		return "", err
	}
	log.Info("made the cluster's secrets file", "path", path)
	return path, nil
}
