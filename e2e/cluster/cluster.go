package cluster

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mosaicdb/mosaic/testports"

	"github.com/go-sql-driver/mysql"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/encoding/protojson"

	"google.golang.org/grpc/credentials"

	"github.com/mosaicdb/mosaic/mtls"
	"github.com/mosaicdb/mosaic/mtls/mtlstest"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/proto/vschemapb"
	"github.com/mosaicdb/mosaic/proxy"
	"github.com/mosaicdb/mosaic/tablet/tablettest"
	"github.com/mosaicdb/mosaic/topo"
	"github.com/mosaicdb/mosaic/topo/etcdstore/etcdtest"
)

// Keyspace describes one keyspace of the cluster.
type Keyspace struct {
	Name string
	// Shards are the shard names: {"0"} for an unsharded keyspace (the
	// default), {"-80", "80-"} for two shards.
	Shards []string
	// VSchema is the keyspace's VSchema as JSON; empty for none.
	VSchema string
}

// Options say what to start.
type Options struct {
	Keyspaces []Keyspace
	// Replicas per shard besides the primary.
	Replicas int
	// Gate may change the gate's config before it starts.
	Gate func(*proxy.Config)
	// Tablets tune every tablet.
	Tablets tablettest.Options
	// Log receives the gate's log; discarded when nil.
	Log *slog.Logger
	// Insecure runs etcd, the tablets and the gate without TLS or
	// authorization. By default the cluster has a CA of its own: etcd
	// demands client certificates, every gRPC connection is mutual TLS
	// and tablets authorize each call by the caller's role.
	Insecure bool
}

// Cluster is a running cluster.
type Cluster struct {
	TS       *topo.Server
	TopoAddr string
	// Security is the cluster's CA, or none when insecure.
	Security Security
	// Shards by keyspace and shard name.
	Shards map[string]map[string]*tablettest.Shard

	Gate     *proxy.Gate
	GateAddr string
	// GateHTTPAddr serves the gate's /debug/status and /metrics.
	GateHTTPAddr string
	GateRegistry *prometheus.Registry
	gateCancel   context.CancelFunc
	gateDone     chan error
	opts         Options
	// ProcShards are shards whose tablets run as child processes
	// (StartProcShards).
	ProcShards map[string]map[string]*ProcShard
}

// Start starts a cluster and waits until the gate routes to every shard's
// primary. Everything stops when the test ends.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	c := StartTopo(t, opts)
	c.startTablets(t)
	c.StartGate(t)
	return c
}

// StartTopo starts the embedded etcd and writes the keyspace, shard and
// VSchema records of opts; no tablet, no gate yet.
func StartTopo(t testing.TB, opts Options) *Cluster {
	t.Helper()
	var sec Security
	var addr string
	if opts.Insecure {
		addr = etcdtest.Start(t)
	} else {
		sec.Certs = mtlstest.New(t)
		addr = etcdtest.StartSecure(t, sec.Certs)
	}
	opts.Tablets.Certs, opts.Tablets.Insecure = sec.Certs, opts.Insecure
	store := etcdtest.NewSecureStoreAt(t, addr, "/mosaic", sec.Certs)
	if !opts.Insecure {
		// As mosaic up: gates may only read the topology.
		if err := store.EnableRBAC(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	ts := topo.NewServer(store)
	c := &Cluster{TS: ts, TopoAddr: addr, Security: sec, Shards: map[string]map[string]*tablettest.Shard{}, ProcShards: map[string]map[string]*ProcShard{}, opts: opts}
	ctx := t.Context()
	for _, ks := range opts.Keyspaces {
		shards := ks.Shards
		if len(shards) == 0 {
			shards = []string{"0"}
		}
		if err := ts.CreateKeyspace(ctx, ks.Name, &topodatapb.Keyspace{Sharded: len(shards) > 1}); err != nil {
			t.Fatalf("create keyspace %s: %v", ks.Name, err)
		}
		for _, sh := range shards {
			if err := ts.CreateShard(ctx, ks.Name, sh); err != nil {
				t.Fatalf("create shard %s/%s: %v", ks.Name, sh, err)
			}
		}
		if ks.VSchema != "" {
			vs := &vschemapb.Keyspace{}
			if err := protojson.Unmarshal([]byte(ks.VSchema), vs); err != nil {
				t.Fatalf("vschema of %s: %v", ks.Name, err)
			}
			if err := ts.SaveVSchema(ctx, ks.Name, vs); err != nil {
				t.Fatal(err)
			}
		}
		c.Shards[ks.Name] = map[string]*tablettest.Shard{}
	}
	return c
}

// StartProcShards starts every shard of the cluster's keyspaces with
// tablets as child processes of the test (bin is BuildMosaic's), extra
// flags going to each `mosaic tablet`.
func (c *Cluster) StartProcShards(t testing.TB, bin string, extra ...string) {
	t.Helper()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, ks := range c.opts.Keyspaces {
		shards := ks.Shards
		if len(shards) == 0 {
			shards = []string{"0"}
		}
		mu.Lock()
		c.ProcShards[ks.Name] = map[string]*ProcShard{}
		mu.Unlock()
		for _, sh := range shards {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := StartProcShard(t, bin, c.TopoAddr, c.TS, c.Security, ks.Name, sh, c.opts.Replicas, extra...)
				mu.Lock()
				c.ProcShards[ks.Name][sh] = s
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
}

// startTablets starts every shard's tablets in this process.
func (c *Cluster) startTablets(t testing.TB) {
	t.Helper()
	opts, ts, ctx := c.opts, c.TS, t.Context()
	// Start every shard at once: each is a few mariadbd starts.
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, ks := range opts.Keyspaces {
		shards := ks.Shards
		if len(shards) == 0 {
			shards = []string{"0"}
		}
		for _, sh := range shards {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := tablettest.StartShardWithOptions(t, ts, ks.Name, sh, opts.Replicas, opts.Tablets)
				mu.Lock()
				c.Shards[ks.Name][sh] = s
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for _, ks := range opts.Keyspaces {
		cell := opts.Tablets.Cell
		if cell == "" {
			cell = "zone1"
		}
		if err := ts.RebuildSrvKeyspace(ctx, cell, ks.Name); err != nil {
			t.Fatal(err)
		}
	}
}

// StartNewShards creates shards of keyspace that serve nothing (a
// reshard's targets: topo.Server.CreateShards) and starts 1+replicas
// tablets for each, with the cluster's tablet options, the first one its
// primary. They are not added to Shards: the gate does not route to them.
func (c *Cluster) StartNewShards(t testing.TB, keyspace string, shards []string, replicas int) map[string]*tablettest.Shard {
	t.Helper()
	if err := c.TS.CreateShards(t.Context(), keyspace, shards); err != nil {
		t.Fatal(err)
	}
	out := map[string]*tablettest.Shard{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, sh := range shards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := tablettest.StartShardWithOptions(t, c.TS, keyspace, sh, replicas, c.opts.Tablets)
			mu.Lock()
			out[sh] = s
			mu.Unlock()
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return out
}

// StartGate starts the cluster's gate (again, after StopGate) and waits
// until it routes to every shard's primary.
func (c *Cluster) StartGate(t testing.TB) {
	t.Helper()
	cfg := proxy.DefaultConfig()
	if c.opts.Tablets.Cell != "" {
		cfg.Cell = c.opts.Tablets.Cell
	}
	cfg.MySQLAddr = freeAddr(t)
	if c.GateAddr != "" {
		cfg.MySQLAddr = c.GateAddr // come back on the same port
	}
	cfg.HTTPAddr = freeAddr(t)
	if c.GateHTTPAddr != "" {
		cfg.HTTPAddr = c.GateHTTPAddr
	}
	c.GateHTTPAddr = cfg.HTTPAddr
	cfg.TabletWait = 10 * time.Second
	c.secureGate(t, &cfg)
	if c.opts.Gate != nil {
		c.opts.Gate(&cfg)
	}
	log := c.opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c.GateRegistry = prometheus.NewRegistry()
	g, err := proxy.New(cfg, c.TS, log, c.GateRegistry)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	c.Gate, c.GateAddr, c.gateCancel, c.gateDone = g, g.Addr().String(), cancel, done
	t.Cleanup(func() { c.StopGate() })
	c.WaitServing(t)
}

// StopGate stops the gate and waits for it to finish.
func (c *Cluster) StopGate() {
	if c.gateCancel == nil {
		return
	}
	c.gateCancel()
	<-c.gateDone
	c.gateCancel = nil
}

// WaitServing waits until the gate sees a serving primary for every shard.
func (c *Cluster) WaitServing(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		missing := ""
		for ks, shards := range c.Shards {
			for sh := range shards {
				if len(c.Gate.HealthCheck().Serving(ks, sh, topodatapb.TabletType_PRIMARY)) == 0 {
					missing = ks + "/" + sh
				}
			}
		}
		for ks, shards := range c.ProcShards {
			for sh := range shards {
				if len(c.Gate.HealthCheck().Serving(ks, sh, topodatapb.TabletType_PRIMARY)) == 0 {
					missing = ks + "/" + sh
				}
			}
		}
		select {
		case <-c.Gate.Loaded():
		default:
			missing = "topology"
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("gate never saw %s serving", missing)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// DSN returns a go-sql-driver DSN to the gate for keyspace, with extra
// parameters such as "interpolateParams=true".
func (c *Cluster) DSN(keyspace string, params ...string) string {
	cfg := mysql.NewConfig()
	cfg.User = "root"
	cfg.Net = "tcp"
	cfg.Addr = c.GateAddr
	cfg.DBName = keyspace
	dsn := cfg.FormatDSN()
	sep := "?"
	for _, p := range params {
		dsn += sep + p
		sep = "&"
	}
	return dsn
}

// DB opens a database handle on the gate, closed when the test ends.
func (c *Cluster) DB(t testing.TB, keyspace string, params ...string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", c.DSN(keyspace, params...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// DirectDSN returns a DSN straight to the primary mysqld of a shard,
// bypassing the gate, as the tablets' TCP DBA account (DirectUser).
func (c *Cluster) DirectDSN(keyspace, shard string) string {
	p := c.Shards[keyspace][shard].Primary()
	return fmt.Sprintf("%s:%s@tcp(%s)/%s", DirectUser, DirectPassword, net.JoinHostPort("127.0.0.1", strconv.Itoa(p.MySQLPort)), p.DBName)
}

// OpenRootOverTCP makes a passwordless root@127.0.0.1 on the primary
// mysqld of a shard (unbinlogged, until its next restart), for tests that
// compare a tool's transcript through the gate, as root, with one straight
// on mysqld, where the user name shows. A real tablet has no such account.
// It returns the mysqld's TCP address.
func (c *Cluster) OpenRootOverTCP(t testing.TB, keyspace, shard string) string {
	t.Helper()
	p := c.Shards[keyspace][shard].Primary()
	db, err := sql.Open("mysql", c.DirectDSN(keyspace, shard))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, q := range []string{"SET SESSION sql_log_bin = 0", "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'", "GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION"} {
		if _, err := conn.ExecContext(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(p.MySQLPort))
}

// DirectUser and DirectPassword log in to every tablet's mysqld over TCP
// (the tablets' DBA account, tablettest.Secrets), for tools run against a
// mysqld straight (mariadb -h127.0.0.1 -P<MySQLPort> -u... -p...).
var (
	DirectUser     = tablettest.DBAUser
	DirectPassword = tablettest.Secrets().DBAPassword.Reveal()
)

// StartExtraGate starts another gate on the cluster's topology, configured
// by configure, and returns its MySQL address. It stops when the test
// ends. The cluster's own gate is unaffected.
func (c *Cluster) StartExtraGate(t testing.TB, configure func(*proxy.Config)) string {
	t.Helper()
	cfg := proxy.DefaultConfig()
	if c.opts.Tablets.Cell != "" {
		cfg.Cell = c.opts.Tablets.Cell
	}
	cfg.MySQLAddr = freeAddr(t)
	cfg.HTTPAddr = ""
	cfg.TabletWait = 10 * time.Second
	c.secureGate(t, &cfg)
	if configure != nil {
		configure(&cfg)
	}
	log := c.opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	g, err := proxy.New(cfg, c.TS, log, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	deadline := time.Now().Add(60 * time.Second)
	for {
		missing := ""
		for ks, shards := range c.Shards {
			for sh := range shards {
				if len(g.HealthCheck().Serving(ks, sh, topodatapb.TabletType_PRIMARY)) == 0 {
					missing = ks + "/" + sh
				}
			}
		}
		select {
		case <-g.Loaded():
		default:
			missing = "topology"
		}
		if missing == "" {
			return g.Addr().String()
		}
		if time.Now().After(deadline) {
			t.Fatalf("extra gate never saw %s serving", missing)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// secureGate gives a gate config the cluster's gate certificate, or
// makes it insecure.
func (c *Cluster) secureGate(t testing.TB, cfg *proxy.Config) {
	t.Helper()
	cfg.ClusterTLS, cfg.Insecure = c.Security.Source(t, mtls.RoleGate), c.Security.Insecure()
}

// TabletCreds returns credentials to call the cluster's tablets as role
// r (plaintext when the cluster is insecure).
func (c *Cluster) TabletCreds(t testing.TB, r mtls.Role) credentials.TransportCredentials {
	t.Helper()
	return c.Security.Creds(t, r)
}

// freeAddr returns a loopback address on a port from testports.
func freeAddr(t testing.TB) string {
	t.Helper()
	addr, err := testports.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}
