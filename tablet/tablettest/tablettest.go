package tablettest

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/credentials"

	"github.com/mosaicdb/mosaic/mtls"
	"github.com/mosaicdb/mosaic/mtls/mtlstest"
	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proto/tabletmanagerpb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/tablet"
	"github.com/mosaicdb/mosaic/tablet/mysqlconn"
	"github.com/mosaicdb/mosaic/tablet/mysqlctl"
	"github.com/mosaicdb/mosaic/tablet/tmclient"
	"github.com/mosaicdb/mosaic/testports"
	"github.com/mosaicdb/mosaic/topo"
)

// Options tune the tablets a helper starts. The zero value is fine.
type Options struct {
	// Cell of the tablets; "zone1" when empty.
	Cell string
	// SemiSync turns semi-sync replication on in the shard.
	SemiSync bool
	// Configure, when set, may change each tablet's config before start.
	Configure func(*tablet.Config)
	// Log receives the agents' logs; the test log at warn level when nil.
	Log *slog.Logger
	// Certs is the cluster CA the tablets take their certificates from;
	// Dial and the shard's InitShardPrimary use its operator certificate.
	// Nil makes a new CA for each StartShard or StartTablet call: tablets
	// that must talk to each other (a repair clones a peer) share one.
	Certs *mtlstest.CA
	// Insecure runs the tablets without TLS or authorization (Certs is
	// ignored).
	Insecure bool
}

// withCerts returns o with a CA, made for t when it has none and is not
// insecure.
func (o Options) withCerts(t testing.TB) Options {
	switch {
	case o.Insecure:
		o.Certs = nil
	case o.Certs == nil:
		o.Certs = mtlstest.New(t)
	}
	return o
}

// operatorCreds returns the credentials tests and helpers dial tablets
// with: the operator's certificate, or plaintext.
func (o Options) operatorCreds(t testing.TB) credentials.TransportCredentials {
	if o.Insecure {
		return tmclient.Insecure()
	}
	return o.Certs.TabletCreds(t, mtls.RoleOperator)
}

// Tablet is one running tablet.
type Tablet struct {
	Alias       *topodatapb.TabletAlias
	AliasString string
	Keyspace    string
	Shard       string
	// GRPCAddr is host:port of the Query and TabletManager services.
	GRPCAddr string
	// HTTPAddr is host:port of /healthz, /debug/status and /metrics.
	HTTPAddr string
	// MySQLPort is mysqld's TCP port on 127.0.0.1 (DBAUser with
	// Secrets().DBAPassword: see DBAParams); Socket its unix socket.
	MySQLPort int
	Socket    string
	// DBName is the keyspace's database in mysqld.
	DBName string
	Dir    string
	// Agent is the running agent; Restart replaces it.
	Agent *tablet.Agent
	// Certs is the CA the tablet's certificate is from (nil: insecure).
	Certs *mtlstest.CA
	// Creds are what Dial uses: an operator's certificate of Certs, or
	// plaintext for an insecure tablet.
	Creds credentials.TransportCredentials

	cfg tablet.Config
	log *slog.Logger
	// runMu guards the running agent's stop state: Stop may be called
	// from any goroutine (a gate's test hook), Restart then starts anew.
	runMu   sync.Mutex
	stopped bool
	cancel  context.CancelFunc
	done    chan struct{}
	err     error
}

// Secrets are the passwords every tablet a test starts shares: the
// replication password, and a DBA password that lets tests reach each
// mysqld over TCP as DBAUser (mysqlctl's TCP DBA account).
func Secrets() mysqlctl.Secrets {
	return mysqlctl.Secrets{ReplicationPassword: "tablettest-replication", DBAPassword: "tablettest-dba"}
}

// DBAUser is the TCP DBA account of the tablets (see Secrets).
var DBAUser = mysqlctl.DefaultAccounts().DBA

// DBAParams reach the tablet's mysqld over TCP as DBAUser, for tests that
// check what mysqld holds behind the tablet's back.
func (tb *Tablet) DBAParams() mysqlconn.Params {
	return mysqlconn.Params{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(tb.MySQLPort)), User: DBAUser, Password: Secrets().DBAPassword.Reveal(), DB: tb.DBName}
}

// Shard is a running shard: Tablets[0] is its primary once
// StartShard returns.
type Shard struct {
	Keyspace string
	Shard    string
	Tablets  []*Tablet
}

// Primary returns the shard's first tablet, its primary.
func (s *Shard) Primary() *Tablet { return s.Tablets[0] }

// Replicas returns the other tablets.
func (s *Shard) Replicas() []*Tablet { return s.Tablets[1:] }

// Target returns a Query target of the shard.
func (s *Shard) Target(tt topodatapb.TabletType) *querypb.Target {
	return &querypb.Target{Keyspace: s.Keyspace, Shard: s.Shard, TabletType: tt}
}

// StartShard starts 1+replicas tablets of keyspace/shard, makes the first
// one primary as `mosaicctl shard init-primary` does
// (tmclient.InitShardPrimary), rebuilds the keyspace's serving graph in
// the cell, and waits until every tablet serves and every replica
// replicates. Everything stops when the test ends.
func StartShard(t testing.TB, ts *topo.Server, keyspace, shard string, replicas int) *Shard {
	return StartShardWithOptions(t, ts, keyspace, shard, replicas, Options{})
}

// StartShardWithOptions is StartShard with Options.
func StartShardWithOptions(t testing.TB, ts *topo.Server, keyspace, shard string, replicas int, opts Options) *Shard {
	t.Helper()
	opts = opts.withCerts(t)
	s := &Shard{Keyspace: keyspace, Shard: shard}
	tablets := make([]*Tablet, 1+replicas)
	var wg sync.WaitGroup
	errs := make([]error, len(tablets))
	for i := range tablets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tablets[i], errs[i] = startTablet(t, ts, keyspace, shard, opts)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	s.Tablets = tablets
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, tb := range tablets {
		if err := tb.WaitServing(ctx); err != nil {
			t.Fatalf("tablet %s: %v", tb.AliasString, err)
		}
	}
	if err := tmclient.InitShardPrimary(ctx, ts, opts.operatorCreds(t), keyspace, shard, tablets[0].Alias, opts.logger(t)); err != nil {
		t.Fatalf("init shard primary: %v", err)
	}
	if err := ts.RebuildSrvKeyspace(ctx, tablets[0].Alias.Cell, keyspace); err != nil {
		t.Fatalf("rebuild serving graph: %v", err)
	}
	for _, tb := range tablets {
		want := topodatapb.TabletType_REPLICA
		if tb == tablets[0] {
			want = topodatapb.TabletType_PRIMARY
		}
		if err := tb.waitHealth(ctx, func(h *querypb.StreamHealthResponse) bool {
			return h.Serving && h.Target.TabletType == want && (want == topodatapb.TabletType_PRIMARY || h.RealtimeStats.ReplicationRunning)
		}); err != nil {
			t.Fatalf("tablet %s did not serve as %v: %v", tb.AliasString, want, err)
		}
	}
	return s
}

// StartTablet starts one tablet of keyspace/shard and waits until it
// serves (as a replica with no source, or as what topo makes it). It stops
// when the test ends.
func StartTablet(t testing.TB, ts *topo.Server, keyspace, shard string, opts Options) *Tablet {
	t.Helper()
	opts = opts.withCerts(t)
	tb, err := startTablet(t, ts, keyspace, shard, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := tb.WaitServing(ctx); err != nil {
		t.Fatalf("tablet %s: %v", tb.AliasString, err)
	}
	return tb
}

func (o Options) logger(t testing.TB) *slog.Logger {
	if o.Log != nil {
		return o.Log
	}
	level := slog.LevelWarn
	// MOSAIC_TEST_LOG=debug|info shows more of the agents' logs.
	_ = level.UnmarshalText([]byte(os.Getenv("MOSAIC_TEST_LOG")))
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func startTablet(t testing.TB, ts *topo.Server, keyspace, shard string, opts Options) (*Tablet, error) {
	ports, err := testports.Free(3)
	if err != nil {
		return nil, err
	}
	cell := opts.Cell
	if cell == "" {
		cell = "zone1"
	}
	// The mysql port doubles as the uid: unique among running tablets,
	// and so a unique server_id too.
	uid := uint32(ports[2])
	dir, err := os.MkdirTemp("", "mosaic-tablet-")
	if err != nil {
		return nil, err
	}
	// mariadbd's system user passes through (MkdirTemp makes it 0700).
	if err := os.Chmod(dir, 0o711); err != nil {
		return nil, err
	}
	cfg := tablet.DefaultConfig()
	cfg.Alias = fmt.Sprintf("%s-%d", cell, uid)
	cfg.Keyspace, cfg.Shard = keyspace, shard
	cfg.GRPCPort, cfg.HTTPPort, cfg.MySQLPort = ports[0], ports[1], ports[2]
	cfg.Dir = filepath.Join(dir, "t")
	cfg.Topo = ts
	cfg.HealthInterval = 500 * time.Millisecond
	cfg.HeartbeatInterval = 250 * time.Millisecond
	cfg.SemiSync = opts.SemiSync
	cfg.SemiSyncTimeout = time.Second
	cfg.RepairDelay = 2 * time.Second
	cfg.Mysqld.TemplateDir = mysqlctl.SharedTemplateDir()
	cfg.Mysqld.Durable = false
	cfg.Mysqld.InnoDBBufferPoolSize = "32M"
	cfg.Mysqld.StopTimeout = 20 * time.Second
	cfg.Mysqld.RestartBackoff = 50 * time.Millisecond
	if opts.Insecure {
		cfg.Insecure = true
	} else {
		src, err := mtls.Load(opts.Certs.Files(mtls.RoleTablet), nil)
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		cfg.ClusterTLS = src
	}
	cfg.Mysqld.Secrets = Secrets()
	if opts.Configure != nil {
		opts.Configure(&cfg)
	}
	log := opts.logger(t)
	a, err := tablet.New(cfg, log)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	tb := &Tablet{
		Alias:       a.Alias(),
		AliasString: cfg.Alias,
		Keyspace:    keyspace,
		Shard:       shard,
		GRPCAddr:    net.JoinHostPort(cfg.ListenAddress, strconv.Itoa(cfg.GRPCPort)),
		HTTPAddr:    net.JoinHostPort(cfg.ListenAddress, strconv.Itoa(cfg.HTTPPort)),
		MySQLPort:   cfg.MySQLPort,
		Socket:      a.Mysqld().SocketPath(),
		DBName:      keyspace,
		Dir:         cfg.Dir,
		Certs:       opts.Certs,
		Creds:       opts.operatorCreds(t),
		cfg:         cfg,
		log:         log,
	}
	if cfg.DBName != "" {
		tb.DBName = cfg.DBName
	}
	tb.run(a)
	t.Cleanup(func() {
		tb.Stop()
		if tb.err != nil {
			t.Errorf("tablet %s: %v", tb.AliasString, tb.err)
		}
		os.RemoveAll(dir)
	})
	return tb, nil
}

func (tb *Tablet) run(a *tablet.Agent) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	tb.runMu.Lock()
	tb.Agent = a
	tb.cancel = cancel
	tb.done = done
	tb.stopped = false
	tb.runMu.Unlock()
	go func() {
		defer close(done)
		// Read only after done is closed (Stop waits for it while
		// holding runMu, so this must not take it).
		tb.err = a.Run(ctx)
	}()
}

// Restart stops the tablet and starts a new agent on the same dir, ports
// and config, as a restarted process would, and waits until it serves.
func (tb *Tablet) Restart(t testing.TB) {
	t.Helper()
	tb.Stop()
	if tb.err != nil {
		t.Fatalf("tablet %s stopped with: %v", tb.AliasString, tb.err)
	}
	a, err := tablet.New(tb.cfg, tb.log)
	if err != nil {
		t.Fatal(err)
	}
	tb.run(a)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := tb.WaitServing(ctx); err != nil {
		t.Fatalf("tablet %s after restart: %v", tb.AliasString, err)
	}
}

// Stop stops the tablet and its mysqld and waits; later calls do nothing.
//
// A tablet that does not stop within stopTimeout is a bug: Stop dumps every
// goroutine and panics, so that the test run fails with the evidence
// instead of hanging until the package timeout.
func (tb *Tablet) Stop() {
	// Held while waiting: a concurrent Stop returns once the agent has.
	tb.runMu.Lock()
	defer tb.runMu.Unlock()
	if tb.stopped {
		return
	}
	tb.stopped = true
	tb.cancel()
	select {
	case <-tb.done:
	case <-time.After(stopTimeout):
		pprof.Lookup("goroutine").WriteTo(os.Stderr, 2)
		panic(fmt.Sprintf("tablet %s did not stop within %v", tb.AliasString, stopTimeout))
	}
}

// stopTimeout bounds how long Stop waits for a tablet's agent to return.
const stopTimeout = 2 * time.Minute

// Dial returns a client of the tablet, closed when the test ends.
func (tb *Tablet) Dial(t testing.TB) *tmclient.Client {
	t.Helper()
	c, err := tmclient.Dial(tb.GRPCAddr, tb.Creds)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Target returns the Query target of this tablet as type tt.
func (tb *Tablet) Target(tt topodatapb.TabletType) *querypb.Target {
	return &querypb.Target{Keyspace: tb.Keyspace, Shard: tb.Shard, TabletType: tt}
}

// WaitServing waits until the tablet's health says it serves.
func (tb *Tablet) WaitServing(ctx context.Context) error {
	return tb.waitHealth(ctx, func(h *querypb.StreamHealthResponse) bool { return h.Serving })
}

// WaitHealth waits until a health message of the tablet satisfies ok and
// returns it.
func (tb *Tablet) WaitHealth(ctx context.Context, ok func(*querypb.StreamHealthResponse) bool) (*querypb.StreamHealthResponse, error) {
	var got *querypb.StreamHealthResponse
	err := tb.waitHealth(ctx, func(h *querypb.StreamHealthResponse) bool {
		if ok(h) {
			got = h
			return true
		}
		return false
	})
	return got, err
}

func (tb *Tablet) waitHealth(ctx context.Context, ok func(*querypb.StreamHealthResponse) bool) error {
	c, err := tmclient.Dial(tb.GRPCAddr, tb.Creds)
	if err != nil {
		return err
	}
	defer c.Close()
	var last *querypb.StreamHealthResponse
	var lastErr error
	for ctx.Err() == nil {
		select {
		case <-tb.done:
			return fmt.Errorf("tablet stopped: %v", tb.err)
		default:
		}
		stream, err := c.Query.StreamHealth(ctx, &querypb.StreamHealthRequest{})
		if err != nil {
			lastErr = err
			time.Sleep(50 * time.Millisecond)
			continue
		}
		for {
			h, err := stream.Recv()
			if err != nil {
				lastErr = err
				break
			}
			last = h
			if ok(h) {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%w: last health %v, last error %v", ctx.Err(), last, lastErr)
}

// ExecuteFetchAsDba runs sql as root on the tablet's mysqld (binlogged)
// and fails the test on error.
func (tb *Tablet) ExecuteFetchAsDba(t testing.TB, sql string) *querypb.QueryResult {
	t.Helper()
	c := tb.Dial(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := c.TM.ExecuteFetchAsDba(ctx, &tabletmanagerpb.ExecuteFetchAsDbaRequest{Sql: sql})
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return resp.Result
}
