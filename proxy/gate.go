package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"sync/atomic"
	"time"

	"crypto/tls"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/mosaicdb/mosaic/mtls"
	"github.com/mosaicdb/mosaic/proxy/tabletgw"
	"github.com/mosaicdb/mosaic/router"
	"github.com/mosaicdb/mosaic/sysconn"
	"github.com/mosaicdb/mosaic/topo"
)

// Gate is a running gate: a MySQL listener, the tablet discovery and the
// router. Create it with New, bind with Listen, serve with Run.
type Gate struct {
	cfg Config
	log *slog.Logger
	ts  *topo.Server
	// tablets is the tablet gateway; gw is the session engine's side of
	// it.
	tablets *tabletgw.Gateway
	gw      *gateway
	router  *router.Router
	// columns are the tables' columns learned from the shards.
	columns *learnedColumns
	// serving keeps each keyspace's last good serving graph
	// (servinggraph.go).
	serving *servingGraphs
	m       *metrics
	reg     *prometheus.Registry
	// mem is the memory budget of statements in flight.
	mem *memBudget
	// deadlocks counts and keeps the deadlocks of the gate's sessions.
	deadlocks *deadlockLog

	listener net.Listener
	httpLis  net.Listener

	accounts  *accounts
	tlsConfig *tls.Config
	started   time.Time

	conns      sync.Map // connection id → *clientConn
	connCount  atomic.Int64
	lastConnID atomic.Uint32
	wg         sync.WaitGroup
	loaded     chan struct{}
}

// New returns a gate. reg receives its metrics (nil for none).
func New(cfg Config, ts *topo.Server, log *slog.Logger, reg *prometheus.Registry) (*Gate, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("gate config: %w", err)
	}
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	gcfg := cfg.gateway()
	gcfg.Creds = insecure.NewCredentials()
	if cfg.ClusterTLS != nil {
		gcfg.Creds = cfg.ClusterTLS.ClientCredentials(mtls.RoleTablet)
	} else {
		log.Warn("the gate reaches tablets without TLS (insecure): its connections are neither encrypted nor authenticated")
	}
	if cfg.TabletSockets {
		gcfg.HostID = sysconn.HostID()
	}
	tablets, err := tabletgw.New(gcfg, log, ts, reg)
	if err != nil {
		return nil, err
	}
	tlsConfig, tlsKey, err := loadTLS(cfg.TLSCertFile, cfg.TLSKeyFile, log)
	if err != nil {
		return nil, err
	}
	accts, err := newAccounts(cfg.Users, cfg.DefaultAuthPlugin, tlsKey)
	if err != nil {
		return nil, fmt.Errorf("gate users: %w", err)
	}
	columns := newLearnedColumns()
	cfg.Router.Columns = columns
	mem := newMemBudget(cfg.MaxMemoryInFlight, reg)
	cfg.Router.ParseMemory = mem
	g := &Gate{
		cfg:       cfg,
		columns:   columns,
		serving:   newServingGraphs(log, reg),
		log:       log,
		ts:        ts,
		tablets:   tablets,
		gw:        newGateway(tablets, cfg.BenchNoStatementSavepoint),
		router:    router.New(cfg.Router),
		m:         newMetrics(reg),
		mem:       mem,
		deadlocks: newDeadlockLog(reg),
		reg:       reg,
		loaded:    make(chan struct{}),

		accounts:  accts,
		tlsConfig: tlsConfig,
		started:   time.Now(),
	}
	if err := reg.Register(&gateCollector{g: g}); err != nil {
		return nil, fmt.Errorf("gate metrics: %w", err)
	}
	return g, nil
}

// Listen binds the MySQL and HTTP listeners.
func (g *Gate) Listen() error {
	l, err := net.Listen("tcp", g.cfg.MySQLAddr)
	if err != nil {
		return fmt.Errorf("gate listen: %w", err)
	}
	g.listener = l
	if g.cfg.HTTPAddr != "" {
		hl, err := net.Listen("tcp", g.cfg.HTTPAddr)
		if err != nil {
			l.Close()
			return fmt.Errorf("gate http listen: %w", err)
		}
		g.httpLis = hl
	}
	return nil
}

// Addr returns the MySQL listener's address (after Listen).
func (g *Gate) Addr() net.Addr { return g.listener.Addr() }

// HTTPAddr returns the HTTP listener's address, or nil.
func (g *Gate) HTTPAddr() net.Addr {
	if g.httpLis == nil {
		return nil
	}
	return g.httpLis.Addr()
}

// Router returns the gate's router.
func (g *Gate) Router() *router.Router { return g.router }

// HealthCheck returns the gate's view of the tablets.
func (g *Gate) HealthCheck() *tabletgw.HealthCheck { return g.tablets.HealthCheck() }

// Loaded is closed once the gate has read the topology for the first time.
func (g *Gate) Loaded() <-chan struct{} { return g.loaded }

// Run serves until ctx ends, then closes every client connection (rolling
// back their transactions) and returns.
func (g *Gate) Run(ctx context.Context) error {
	if g.listener == nil {
		if err := g.Listen(); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Every statement's plan holds at most this much in the gate.
	connCtx := router.WithStatementMemory(ctx, g.cfg.Router.MaxStatementMemory)
	var bg sync.WaitGroup
	bg.Add(2)
	go func() { defer bg.Done(); g.tablets.Run(ctx) }()
	go func() { defer bg.Done(); g.watchVSchema(ctx, g.loaded) }()
	bg.Add(1)
	go func() { defer bg.Done(); g.gw.locks.run(ctx, g.cfg.LockHeartbeatInterval, g.log) }()
	if g.cfg.TwoPCResolveInterval > 0 {
		bg.Add(1)
		go func() { defer bg.Done(); g.runResolver(ctx) }()
	}
	if g.httpLis != nil {
		srv := &http.Server{Handler: g.httpHandler(), ReadHeaderTimeout: 10 * time.Second}
		bg.Add(1)
		go func() { defer bg.Done(); srv.Serve(g.httpLis) }()
		go func() { <-ctx.Done(); srv.Close() }()
	}
	g.log.Info("gate serving", "mysql", g.listener.Addr().String(), "cell", g.cfg.Cell)
	go func() { <-ctx.Done(); g.listener.Close() }()
	backoff := acceptBackoff
	for {
		conn, aerr := g.listener.Accept()
		if aerr != nil {
			if ctx.Err() != nil || errors.Is(aerr, net.ErrClosed) {
				break
			}
			// Out of file descriptors (a flood of connections) and
			// the like: wait and accept again, as net/http does. The
			// gate stops serving only when told to.
			g.log.Warn("accept failed; retrying", "err", aerr, "backoff", backoff)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = acceptBackoff
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			g.serveConn(connCtx, conn)
		}()
	}
	cancel()
	g.closeAll()
	g.wg.Wait()
	bg.Wait()
	return nil
}

// acceptBackoff is the first wait after a failed accept.
const acceptBackoff = 5 * time.Millisecond

func (g *Gate) closeAll() {
	g.conns.Range(func(_, v any) bool {
		v.(*clientConn).close()
		return true
	})
}

func (g *Gate) httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(g.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-g.loaded:
			fmt.Fprintln(w, "ok")
		default:
			http.Error(w, "topology not loaded yet", http.StatusServiceUnavailable)
		}
	})
	mux.HandleFunc("/debug/status", g.serveStatus)
	// Profiles: go tool pprof http://<http addr>/debug/pprof/profile
	// (not /debug/pprof/cmdline: a command line may hold a password).
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}
