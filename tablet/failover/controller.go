package failover

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/tablet/reparent"
	"github.com/mosaicdb/mosaic/tablet/tmclient"
	"github.com/mosaicdb/mosaic/topo"
)

// Config configures a Controller.
type Config struct {
	// Keyspaces limits the controller to these keyspaces; empty means all.
	Keyspaces []string
	// StartupGrace is how long after its start the controller leaves a
	// shard alone whose primary it has not yet seen healthy, so that a
	// cluster that is starting up is not failed over.
	StartupGrace time.Duration
	// UnresponsiveGrace is how long a primary that holds its lease may
	// report that its mysqld does not answer (its health's
	// mysqld_unresponsive) before it is failed over; 0 never fails over a
	// primary that holds its lease.
	UnresponsiveGrace time.Duration
	// ProbeTimeout bounds the TCP probe of a primary whose health stream
	// broke.
	ProbeTimeout time.Duration
	// HealthTimeout cuts a primary's health stream that stays silent this
	// long, so that it is probed.
	HealthTimeout time.Duration
	// RetryInterval spaces failed attempts at one shard.
	RetryInterval time.Duration
	// Reparent tunes the emergency reparents (Log is the controller's);
	// its Creds, required, also secure the controller's health streams.
	Reparent reparent.Options
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		StartupGrace:      15 * time.Second,
		UnresponsiveGrace: 2 * time.Second,
		ProbeTimeout:      time.Second,
		HealthTimeout:     6 * time.Second,
		RetryInterval:     5 * time.Second,
	}
}

// Validate checks a Config.
func (c Config) Validate() error {
	if c.StartupGrace < 0 || c.UnresponsiveGrace < 0 || c.ProbeTimeout <= 0 || c.HealthTimeout <= 0 || c.RetryInterval <= 0 {
		return errors.New("failover: timeouts must be positive")
	}
	if c.Reparent.Creds == nil {
		return errors.New("failover: no credentials for the tablets (an operator certificate, or insecure)")
	}
	for _, ks := range c.Keyspaces {
		if err := topo.ValidateName(ks); err != nil {
			return err
		}
	}
	return nil
}

// Controller watches every shard's primary and runs an emergency reparent
// when one is down. See the package doc.
type Controller struct {
	cfg Config
	ts  *topo.Server
	log *slog.Logger
	m   *metrics
}

// New returns a controller; Run starts it. reg receives its metrics (nil:
// none).
func New(cfg Config, ts *topo.Server, log *slog.Logger, reg prometheus.Registerer) (*Controller, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	cfg.Reparent.Log = log.With("component", "reparent")
	cfg.Reparent.OnlyIfPrimaryDown = true
	return &Controller{cfg: cfg, ts: ts, log: log, m: m}, nil
}

// tickInterval is how often time-driven decisions (grace periods, retries)
// are looked at.
const tickInterval = 250 * time.Millisecond

// Run watches topo and fails shards over until ctx ends. It is the thin
// loop around decide: every goroutine it starts (watches, health
// followers, probes, reparents) only turns what it sees into events, and
// every action decide returns is carried out here, without waiting.
func (c *Controller) Run(ctx context.Context) error {
	c.log.Info("failover controller running", "keyspaces", strings.Join(c.cfg.Keyspaces, ","),
		"startup_grace", c.cfg.StartupGrace, "unresponsive_grace", c.cfg.UnresponsiveGrace)
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	events := make(chan event, 64)
	send := func(ev event) {
		select {
		case events <- ev:
		case <-ctx.Done():
		}
	}
	wg.Add(2)
	go func() { defer wg.Done(); c.watchShards(ctx, send) }()
	go func() { defer wg.Done(); c.watchLeases(ctx, send) }()
	followers := map[string]context.CancelFunc{} // by key
	st := newState(c.cfg, time.Now())
	tick := time.NewTicker(tickInterval)
	defer tick.Stop()
	for {
		var ev event
		select {
		case <-ctx.Done():
			return nil
		case ev = <-events:
		case <-tick.C:
			ev = evTick{}
		}
		for _, a := range decide(st, ev, time.Now()) {
			switch a := a.(type) {
			case actFollow:
				fctx, stop := context.WithCancel(ctx)
				followers[a.key] = stop
				wg.Add(1)
				go func() { defer wg.Done(); c.follow(fctx, a.key, a.alias, send) }()
			case actUnfollow:
				if stop := followers[a.key]; stop != nil {
					stop()
					delete(followers, a.key)
				}
			case actBreakLease:
				wg.Add(1)
				go func() { defer wg.Done(); c.breakLease(ctx, a.key, a.alias) }()
			case actReparent:
				wg.Add(1)
				go func() {
					defer wg.Done()
					send(evReparentDone{key: a.key, result: c.failover(ctx, a)})
				}()
			}
		}
		if st.shardsLoaded && st.leasesLoaded {
			healthy, unresponsive, down := st.counts()
			c.m.shards.WithLabelValues("healthy").Set(float64(healthy))
			c.m.shards.WithLabelValues("unresponsive").Set(float64(unresponsive))
			c.m.shards.WithLabelValues("down").Set(float64(down))
		}
	}
}

func (c *Controller) watchShards(ctx context.Context, send func(event)) {
	topo.Follow(ctx, topo.Follower{Failed: func(err error) { c.log.Warn("watch shards failed", "err", err) }}, c.ts.WatchShards,
		func(now map[string]*topodatapb.Shard) {
			for key, rec := range now {
				send(shardEvent(key, rec))
			}
			send(evShardsLoaded{})
		},
		func(ev topo.ShardEvent) bool {
			if ev.Err != nil {
				return false
			}
			send(shardEvent(ev.Keyspace+"/"+ev.Shard, ev.Record))
			return true
		})
}

func shardEvent(key string, rec *topodatapb.Shard) evShard {
	ev := evShard{key: key}
	if rec != nil {
		ev.term = rec.PrimaryTermStartUnixNano
		if rec.PrimaryAlias != nil {
			ev.primary = topo.AliasString(rec.PrimaryAlias)
		}
	}
	return ev
}

func (c *Controller) watchLeases(ctx context.Context, send func(event)) {
	topo.Follow(ctx, topo.Follower{Failed: func(err error) { c.log.Warn("watch primary leases failed", "err", err) }}, c.ts.WatchPrimaryLeases,
		func(now map[string]*topodatapb.PrimaryLease) {
			holders := map[string]string{}
			for key, l := range now {
				holders[key] = topo.AliasString(l.GetAlias())
			}
			send(evLeases{holders: holders})
		},
		func(ev topo.LeaseEvent) bool {
			if ev.Err != nil {
				return false
			}
			holder := ""
			if ev.Lease != nil {
				holder = topo.AliasString(ev.Lease.Alias)
			}
			send(evLease{key: ev.Keyspace + "/" + ev.Shard, holder: holder})
			return true
		})
}

// failover runs one emergency reparent of a shard.
func (c *Controller) failover(ctx context.Context, a actReparent) reparentResult {
	ks, shard, _ := strings.Cut(a.key, "/")
	start := time.Now()
	opts := c.cfg.Reparent
	opts.FailHungPrimary = a.hung
	if a.hung {
		c.log.Warn("primary's mysqld does not answer; failing over", "keyspace", ks, "shard", shard, "primary", a.primary, "grace", c.cfg.UnresponsiveGrace)
	} else {
		c.log.Warn("primary is down; failing over", "keyspace", ks, "shard", shard, "primary", a.primary)
	}
	res, err := reparent.Emergency(ctx, c.ts, ks, shard, opts)
	switch {
	case errors.Is(err, reparent.ErrPrimaryHealthy):
		c.log.Info("primary is healthy after all", "keyspace", ks, "shard", shard, "why", err)
		c.m.reparents.WithLabelValues(ks, shard, "skipped").Inc()
		return reparentSkipped
	case err != nil:
		if ctx.Err() == nil {
			c.log.Error("failover failed; will try again", "keyspace", ks, "shard", shard, "err", err, "retry_in", c.cfg.RetryInterval)
			c.m.reparents.WithLabelValues(ks, shard, "error").Inc()
		}
		return reparentFailed
	}
	c.m.reparents.WithLabelValues(ks, shard, "success").Inc()
	if a.hung {
		c.m.unresponsivePrimaries.WithLabelValues(ks, shard).Inc()
	}
	c.m.duration.Observe(time.Since(start).Seconds())
	c.log.Warn("failed over", "keyspace", ks, "shard", shard,
		"old_primary", topo.AliasString(res.OldPrimary), "new_primary", topo.AliasString(res.NewPrimary),
		"position", res.Position, "took", time.Since(start), "repoint_errors", len(res.RepointErrors))
	return reparentDone
}

// follow follows one primary's health stream until ctx ends, reporting
// whether its mysqld answers. When the stream breaks it probes the
// primary's gRPC and mysqld ports: if both refuse connections the
// processes are gone (evDead), so the lease they left can be broken at
// once instead of waiting for it to expire.
func (c *Controller) follow(ctx context.Context, key, alias string, send func(event)) {
	a, err := topo.ParseAlias(alias)
	if err != nil {
		return
	}
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		t, err := c.ts.GetTablet(ctx, a)
		if err != nil {
			sleep(ctx, time.Second)
			continue
		}
		err = c.streamHealth(ctx, t, func(unresponsive bool) {
			send(evHealth{key: key, alias: alias, unresponsive: unresponsive})
		})
		if ctx.Err() != nil {
			return
		}
		send(evHealthLost{key: key, alias: alias})
		if c.probeDead(t) {
			send(evDead{key: key, alias: alias})
		}
		sleep(ctx, backoff)
		backoff = min(2*backoff, 2*time.Second)
		if err == nil {
			backoff = 100 * time.Millisecond
		}
	}
}

// streamHealth reads the tablet's health stream until it fails or stays
// silent for HealthTimeout, calling report with whether its mysqld does
// not answer on the first message and on every change.
func (c *Controller) streamHealth(ctx context.Context, t *topodatapb.Tablet, report func(unresponsive bool)) error {
	cl, err := tmclient.DialTablet(t, c.cfg.Reparent.Creds)
	if err != nil {
		return err
	}
	defer cl.Close()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := cl.Query.StreamHealth(sctx, &querypb.StreamHealthRequest{})
	if err != nil {
		return err
	}
	watchdog := time.AfterFunc(c.cfg.HealthTimeout, cancel)
	defer watchdog.Stop()
	first, last := true, false
	for {
		h, err := st.Recv()
		if err != nil {
			return err
		}
		watchdog.Reset(c.cfg.HealthTimeout)
		if u := h.GetRealtimeStats().GetMysqldUnresponsive(); first || u != last {
			report(u)
			first, last = false, u
		}
	}
}

// probeDead reports whether both the tablet's gRPC port and its mysqld's
// port refuse TCP connections: nothing listens, so neither process runs.
// A timeout or any other error proves nothing.
func (c *Controller) probeDead(t *topodatapb.Tablet) bool {
	refused := func(port int32) bool {
		conn, err := net.DialTimeout("tcp", net.JoinHostPort(t.Hostname, fmt.Sprint(port)), c.cfg.ProbeTimeout)
		if err == nil {
			conn.Close()
			return false
		}
		return errors.Is(err, syscall.ECONNREFUSED)
	}
	return refused(t.GrpcPort) && refused(t.MysqlPort)
}

// breakLease deletes the primary lease of a primary found dead, if it
// still holds it.
func (c *Controller) breakLease(ctx context.Context, key, alias string) {
	ks, shard, _ := strings.Cut(key, "/")
	l, v, err := c.ts.GetPrimaryLease(ctx, ks, shard)
	if err != nil || topo.AliasString(l.Alias) != alias {
		return
	}
	if err := c.ts.BreakPrimaryLease(ctx, ks, shard, v); err != nil {
		c.log.Warn("cannot break the lease of a dead primary", "keyspace", ks, "shard", shard, "err", err)
		return
	}
	c.log.Warn("primary's processes are gone; broke its lease", "keyspace", ks, "shard", shard, "tablet", alias)
	c.m.deadPrimaries.WithLabelValues(ks, shard).Inc()
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
}
