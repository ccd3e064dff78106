package tablet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"

	"github.com/mosaicdb/mosaic/keyrange"
	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proto/tabletmanagerpb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/sysconn"
	"github.com/mosaicdb/mosaic/tablet/flavor"
	"github.com/mosaicdb/mosaic/tablet/mysqlconn"
	"github.com/mosaicdb/mosaic/tablet/mysqlctl"
	"github.com/mosaicdb/mosaic/tablet/queryservice"
	"github.com/mosaicdb/mosaic/tablet/vrepl"
	"github.com/mosaicdb/mosaic/topo"
)

// Agent runs one tablet. Create it with New and run it with Run.
type Agent struct {
	cfg     Config
	log     *slog.Logger
	alias   *topodatapb.TabletAlias
	hostID  string // sysconn.HostID, published with the gRPC socket
	ts      *topo.Server
	mysqld  *mysqlctl.Mysqld
	flavor  flavor.Flavor
	qs      *queryservice.Service
	health  *queryservice.Broadcaster
	dbaPool *queryservice.Pool
	dba     dbaQuerier
	// hbPool holds the Agent account's connection the heartbeat is
	// written on (heartbeat.go), which read_only stops; hbApp runs
	// statements on it.
	hbPool   *queryservice.Pool
	hbApp    dbaQuerier
	hbWrites prometheus.Counter
	hbErrors prometheus.Counter
	registry *prometheus.Registry
	// sec secures the gRPC server and the calls to peers (security.go).
	sec security
	// backups is the backup storage and its metrics (backupconfig.go);
	// progress is the long action running now (progress.go).
	backups       *backups
	progress      progress
	backupRunning atomic.Bool
	// reparents counts promotions and demotions (metrics.go).
	reparents *prometheus.CounterVec
	// Restore points this tablet took (restorepointloop.go).
	restorePoints      prometheus.Counter
	restorePointErrors prometheus.Counter
	restorePointHold   prometheus.Histogram
	kick               chan struct{}
	fenceCh            chan string
	drainCh            chan struct{} // kicks drainLoop (querycontrol.go)
	repairCh           chan string
	// vrepl runs the resharding streams of which this tablet's shard is
	// the target (while it is the primary); vreplSrv serves them and the
	// source side (vrepl.go).
	vrepl    *vrepl.Engine
	vreplSrv *vrepl.Server
	// bg counts goroutines that outlive the call that started them (lease
	// watchers); Run waits for them.
	bg sync.WaitGroup

	// actions serializes everything that changes the tablet's role:
	// TabletManager actions and the role restore after a mysqld restart.
	actions  actionLock
	healthMu sync.Mutex

	mu            sync.Mutex
	tabletType    topodatapb.TabletType
	termStart     int64
	source        *flavor.Source          // replication source, nil when none
	sourceAlias   *topodatapb.TabletAlias // the primary source belongs to, when known
	replicating   bool                    // replication should run
	lease         topo.Lease              // the shard's primary lease, held while primary
	leaseTerm     int64
	semiSyncAcks  int               // acks the primary waits for now
	semiSyncKicks int               // times the semi-sync watchdog made replicas reconnect
	shardVersion  topo.Version      // newest shard record version seen
	shardRecord   *topodatapb.Shard // that record
	repairing     bool
	repairedOnce  bool
	wasPrimary    bool      // the tablet was the primary since start: its data is the shard's
	brokenSince   time.Time // replication broken for good since
	ready         bool      // role applied since the last mysqld start
	notServing    string    // set while an action keeps it from serving
	qsControl     qsControl // the shard record's control of the query service (querycontrol.go)
	caughtUp      time.Time // when the replica was last known current
	lagSource     string    // what the last lag came from (heartbeat.go)
	qpsCount      uint64    // QueryCount at the last health check
	qpsAt         time.Time // time of the last health check
	// The last verdict of the mysqld probe (mysqldprobe.go): nil when
	// mysqld answered, on the mysqld that had started probeStarts times.
	probeErr         error
	probeFailedSince time.Time
	probeStarts      int
	// Fencing a primary whose mysqld does not answer (fence.go).
	fenceKills int  // how many times a fence killed mysqld
	heldFenced bool // mysqld is held down after such a kill
	last       *querypb.StreamHealthResponse
}

// New checks cfg and builds the agent. It starts nothing.
func New(cfg Config, log *slog.Logger) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	alias, _ := topo.ParseAlias(cfg.Alias)
	log = log.With("tablet", cfg.Alias)
	m, err := mysqlctl.New(cfg.mysqldConfig(), log.With("component", "mysqld"))
	if err != nil {
		return nil, err
	}
	fl, _ := flavor.ByName(cfg.Flavor)
	reg := cfg.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	qm, err := queryservice.NewMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("register query metrics: %w", err)
	}
	health := queryservice.NewBroadcaster()
	// The query service's accounts have no READ_ONLY ADMIN: read_only
	// stops their writes in flight on a demoted or fenced primary.
	accounts := queryservice.Accounts{App: m.AppParams(), ReadOnly: m.ReadOnlyParams(), Agent: m.AgentParams()}
	accounts.App.DB, accounts.ReadOnly.DB = cfg.dbName(), cfg.dbName()
	qs, err := queryservice.New(cfg.Query, queryservice.Identity{Alias: alias, Keyspace: cfg.Keyspace, Shard: cfg.Shard}, accounts, health, qm, log.With("component", "queryservice"))
	if err != nil {
		return nil, err
	}
	dbaPool := queryservice.NewPool(m.DBAParams(), 4)
	// Reading mysqld's lock waits needs the PROCESS privilege.
	qs.SetLockWaitPool(dbaPool)
	hbPool := queryservice.NewPool(m.AgentParams(), 1)
	a := &Agent{
		cfg:        cfg,
		log:        log,
		alias:      alias,
		hostID:     sysconn.HostID(),
		ts:         cfg.Topo,
		mysqld:     m,
		flavor:     fl,
		qs:         qs,
		health:     health,
		dbaPool:    dbaPool,
		dba:        dbaQuerier{pool: dbaPool},
		hbPool:     hbPool,
		hbApp:      dbaQuerier{pool: hbPool},
		lagSource:  lagSourceNone,
		registry:   reg,
		actions:    newActionLock(),
		kick:       make(chan struct{}, 1),
		fenceCh:    make(chan string, 1),
		drainCh:    make(chan struct{}, 1),
		repairCh:   make(chan string, 1),
		tabletType: cfg.InitTabletType,
	}
	if err := a.registerMetrics(reg); err != nil {
		return nil, fmt.Errorf("register tablet metrics: %w", err)
	}
	if a.sec, err = newSecurity(cfg, log, reg); err != nil {
		return nil, err
	}
	if err := a.newVRepl(); err != nil {
		return nil, err
	}
	if a.backups, err = newBackups(cfg.Backup, reg); err != nil {
		return nil, fmt.Errorf("backups: %w", err)
	}
	return a, nil
}

// Alias returns the tablet's alias.
// maxGRPCMessage bounds one request to the tablet: a statement of up to
// mysqld's max_allowed_packet and its framing.
const maxGRPCMessage = 1<<30 + 1<<20

func (a *Agent) Alias() *topodatapb.TabletAlias { return a.alias }

// Mysqld returns the supervised mysqld (tests use it to kill it).
func (a *Agent) Mysqld() *mysqlctl.Mysqld { return a.mysqld }

// Registry returns the registry the agent's metrics are on.
func (a *Agent) Registry() *prometheus.Registry { return a.registry }

// Run starts mysqld, the servers and the background loops, registers the
// tablet, and blocks until ctx ends; then it stops everything and returns.
// It returns early with an error when start-up fails.
func (a *Agent) Run(ctx context.Context) error {
	if err := a.mysqld.Init(ctx); err != nil {
		return fmt.Errorf("init mysqld: %w", err)
	}
	grpcLis, err := net.Listen("tcp", net.JoinHostPort(a.cfg.ListenAddress, strconv.Itoa(a.cfg.GRPCPort)))
	if err != nil {
		return fmt.Errorf("listen for grpc: %w", err)
	}
	httpLis, err := net.Listen("tcp", net.JoinHostPort(a.cfg.ListenAddress, strconv.Itoa(a.cfg.HTTPPort)))
	if err != nil {
		grpcLis.Close()
		return fmt.Errorf("listen for http: %w", err)
	}
	sockLis, err := listenGRPCSocket(a.cfg.grpcSocketPath())
	if err != nil {
		grpcLis.Close()
		httpLis.Close()
		return err
	}
	gs := grpc.NewServer(append(grpcServerOptions(), a.sec.serverOpts...)...)
	a.qs.Register(gs)
	tabletmanagerpb.RegisterTabletManagerServer(gs, &tmServer{a: a})
	a.vreplSrv.Register(gs)
	hs := &http.Server{Handler: a.httpHandler(), ReadHeaderTimeout: 10 * time.Second}

	// Two contexts: servers keep answering while mysqld stops last.
	mysqldCtx, stopMysqld := context.WithCancel(context.WithoutCancel(ctx))
	defer stopMysqld()
	g, gctx := errgroup.WithContext(ctx)
	var mysqldDone sync.WaitGroup
	mysqldDone.Add(1)
	go func() {
		defer mysqldDone.Done()
		_ = a.mysqld.Run(mysqldCtx)
	}()
	g.Go(func() error {
		if err := gs.Serve(sysconn.Listener{Listener: grpcLis}); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			return fmt.Errorf("grpc server: %w", err)
		}
		return nil
	})
	if sockLis != nil {
		g.Go(func() error {
			if err := gs.Serve(sysconn.Listener{Listener: sockLis}); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
				return fmt.Errorf("grpc server on %s: %w", sockLis.Addr(), err)
			}
			return nil
		})
	}
	g.Go(func() error {
		if err := hs.Serve(httpLis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http server: %w", err)
		}
		return nil
	})
	g.Go(func() error { return a.qs.Run(gctx) })
	g.Go(func() error {
		err := a.start(gctx)
		if err != nil && gctx.Err() == nil {
			return fmt.Errorf("start tablet: %w", err)
		}
		if err != nil {
			return nil
		}
		a.log.Info("tablet started", "keyspace", a.cfg.Keyspace, "shard", a.cfg.Shard, "type", a.tabletTypeNow(), "grpc_port", a.cfg.GRPCPort)
		var loops sync.WaitGroup
		for _, loop := range []func(context.Context){a.watchMysqld, a.probeLoop, a.healthLoop, a.watchShard, a.fenceLoop, a.repairLoop, a.watchSemiSync, a.semiSyncWatchdog, a.heartbeatLoop, a.drainLoop, a.vrepl.Run, a.backupScheduleLoop, a.archiveLoop, a.restorePointLoop} {
			loops.Add(1)
			go func() { defer loops.Done(); loop(gctx) }()
		}
		loops.Wait()
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		a.log.Info("tablet shutting down")
		a.qs.SetServing(a.tabletTypeNow(), false, "shutting down")
		// Publish the last word, then end the health streams so that the
		// graceful stop does not wait for their callers to hang up.
		a.publishShutdown()
		a.health.Close()
		a.qs.StopMultiplex()
		stopped := make(chan struct{})
		go func() { gs.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(5 * time.Second):
			gs.Stop()
			<-stopped
		}
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
		return nil
	})
	err = g.Wait()
	// The query service has stopped serving: a stopping primary gives its
	// lease back, so that a failover controller may promote another
	// tablet at once (stop the controller first for a planned restart).
	a.releaseLease(context.Background())
	a.bg.Wait()
	a.dbaPool.Close()
	a.hbPool.Close()
	stopMysqld()
	mysqldDone.Wait()
	a.log.Info("tablet stopped")
	return err
}

// start waits for mysqld, makes sure the topo records exist, decides the
// tablet's role and writes its record. It retries topo until ctx ends.
func (a *Agent) start(ctx context.Context) error {
	if err := a.mysqld.WaitRunning(ctx); err != nil {
		return err
	}
	if err := retry(ctx, a.log, "create keyspace and shard records", a.ensureShard); err != nil {
		return err
	}
	if err := a.actions.lock(ctx); err != nil {
		return err
	}
	defer a.actions.unlock()
	return retry(ctx, a.log, "apply tablet role", func(ctx context.Context) error {
		// Registered before it may serve: whoever sees it serve finds its
		// record.
		if err := a.saveTablet(ctx); err != nil {
			return err
		}
		if err := a.applyRoleFromTopo(ctx); err != nil {
			return err
		}
		return a.saveTablet(ctx)
	})
}

// retry runs fn until it succeeds or ctx ends, with a growing pause.
func retry(ctx context.Context, log *slog.Logger, what string, fn func(context.Context) error) error {
	pause := 200 * time.Millisecond
	for {
		err := fn(ctx)
		if err == nil || ctx.Err() != nil {
			return err
		}
		log.Warn("retrying", "what", what, "err", err, "pause", pause)
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return ctx.Err()
		}
		pause = min(pause*2, 5*time.Second)
	}
}

func (a *Agent) ensureShard(ctx context.Context) error {
	err := a.ts.CreateKeyspace(ctx, a.cfg.Keyspace, &topodatapb.Keyspace{Sharded: a.cfg.Shard != "0" && a.cfg.Shard != "-"})
	if err != nil && !errors.Is(err, topo.ErrNodeExists) {
		return err
	}
	err = a.ts.CreateShard(ctx, a.cfg.Keyspace, a.cfg.Shard)
	if err != nil && !errors.Is(err, topo.ErrNodeExists) {
		return err
	}
	return nil
}

// tabletRecord builds the tablet's topo record from its state.
func (a *Agent) tabletRecord() *topodatapb.Tablet {
	kr, _ := keyrange.Parse(a.cfg.Shard)
	a.mu.Lock()
	defer a.mu.Unlock()
	t := &topodatapb.Tablet{
		Alias:        a.alias,
		Hostname:     a.cfg.Hostname,
		GrpcPort:     int32(a.cfg.GRPCPort),
		MysqlPort:    int32(a.cfg.MySQLPort),
		HttpPort:     int32(a.cfg.HTTPPort),
		Keyspace:     a.cfg.Keyspace,
		Shard:        a.cfg.Shard,
		KeyRange:     kr,
		Type:         a.tabletType,
		DbFlavor:     a.flavor.Name(),
		MysqlVersion: a.mysqld.Version(),
		GrpcSocket:   a.cfg.grpcSocketPath(),
		HostId:       a.hostID,
	}
	if a.tabletType == topodatapb.TabletType_PRIMARY {
		t.PrimaryTermStartUnixNano = a.termStart
	}
	return t
}

func (a *Agent) saveTablet(ctx context.Context) error {
	if err := a.ts.SaveTablet(ctx, a.tabletRecord()); err != nil {
		return fmt.Errorf("save tablet record: %w", err)
	}
	return nil
}

func (a *Agent) tabletTypeNow() topodatapb.TabletType {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.tabletType
}

// kickHealth asks the health loop for a fresh message now.
func (a *Agent) kickHealth() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// watchMysqld follows mysqld's state: while it is down the tablet does not
// serve and its pools are dropped; when it is back the role is applied
// again, since mariadbd boots read-only and without replication.
func (a *Agent) watchMysqld(ctx context.Context) {
	seen := a.mysqld.Starts()
	for {
		ch := a.mysqld.Changed()
		st, _ := a.mysqld.State()
		switch {
		case st != mysqlctl.Running:
			a.mu.Lock()
			wasReady := a.ready
			a.ready = false
			a.mu.Unlock()
			if wasReady {
				a.qs.ResetPools("mysqld went down")
				a.dbaPool.Reset()
				a.hbPool.Reset()
				a.kickHealth()
			}
		case a.mysqld.Starts() != seen:
			seen = a.mysqld.Starts()
			// It may have come back before this loop saw it down: stop
			// serving until the role is applied (it boots read-only).
			a.mu.Lock()
			a.ready = false
			a.mu.Unlock()
			a.qs.ResetPools("mysqld restarted")
			a.dbaPool.Reset()
			a.hbPool.Reset()
			a.checkHealth(ctx)
			a.log.Info("mysqld is back; applying the tablet role again")
			if a.actions.lock(ctx) != nil {
				return
			}
			err := retry(ctx, a.log, "apply tablet role after mysqld restart", a.restoreRole)
			a.actions.unlock()
			if err != nil {
				return
			}
			a.kickHealth()
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return
		}
	}
}

// dbaConn opens a root connection to the keyspace database, for
// ExecuteFetchAsDba. The caller closes it.
func (a *Agent) dbaConn(ctx context.Context) (*mysqlconn.Conn, error) {
	p := a.mysqld.DBAParams()
	p.DB = a.cfg.dbName()
	return mysqlconn.Dial(ctx, p)
}

// PoolStats returns the query service's pool use.
func (a *Agent) PoolStats() queryservice.PoolStats { return a.qs.Stats() }
