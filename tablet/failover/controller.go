package failover

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

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
		StartupGrace:  15 * time.Second,
		ProbeTimeout:  time.Second,
		HealthTimeout: 6 * time.Second,
		RetryInterval: 5 * time.Second,
	}
}

// Validate checks a Config.
func (c Config) Validate() error {
	if c.StartupGrace < 0 || c.ProbeTimeout <= 0 || c.HealthTimeout <= 0 || c.RetryInterval <= 0 {
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
	cfg     Config
	ts      *topo.Server
	log     *slog.Logger
	m       *metrics
	started time.Time

	mu      sync.Mutex
	shards  map[string]*shardState
	changed chan struct{} // closed and replaced when state changes
	// shardsLoaded and leasesLoaded say both watches delivered their
	// first state: before that a shard may look leaderless.
	shardsLoaded, leasesLoaded bool
}

// shardState is what the controller knows of one shard.
type shardState struct {
	keyspace, shard string
	rec             *topodatapb.Shard
	lease           *topodatapb.PrimaryLease
	healthySeen     bool
	acting          bool
	nextTry         time.Time
	follow          *follower
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
	return &Controller{cfg: cfg, ts: ts, log: log, m: m, shards: map[string]*shardState{}, changed: make(chan struct{})}, nil
}

// Run watches topo and fails shards over until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	c.started = time.Now()
	c.log.Info("failover controller running", "keyspaces", strings.Join(c.cfg.Keyspaces, ","), "startup_grace", c.cfg.StartupGrace)
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wg.Add(2)
	go func() { defer wg.Done(); c.watchShards(ctx) }()
	go func() { defer wg.Done(); c.watchLeases(ctx) }()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		c.mu.Lock()
		ch := c.changed
		c.mu.Unlock()
		c.evaluate(ctx, &wg)
		select {
		case <-ctx.Done():
			c.mu.Lock()
			for _, s := range c.shards {
				s.follow.stop()
				s.follow = nil
			}
			c.mu.Unlock()
			return nil
		case <-ch:
		case <-tick.C:
		}
	}
}

func (c *Controller) wanted(ks string) bool {
	if len(c.cfg.Keyspaces) == 0 {
		return true
	}
	for _, k := range c.cfg.Keyspaces {
		if k == ks {
			return true
		}
	}
	return false
}

// update changes one shard's state under the lock and wakes Run.
func (c *Controller) update(ks, shard string, fn func(*shardState)) {
	if !c.wanted(ks) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	key := ks + "/" + shard
	s := c.shards[key]
	if s == nil {
		s = &shardState{keyspace: ks, shard: shard}
		c.shards[key] = s
	}
	fn(s)
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *Controller) watchShards(ctx context.Context) {
	backoff := 200 * time.Millisecond
	for ctx.Err() == nil {
		now, events, err := c.ts.WatchShards(ctx)
		if err != nil {
			c.log.Warn("watch shards failed", "err", err)
			sleep(ctx, backoff)
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 200 * time.Millisecond
		for key, rec := range now {
			ks, shard, _ := strings.Cut(key, "/")
			c.update(ks, shard, func(s *shardState) { s.rec = rec })
		}
		c.mu.Lock()
		c.shardsLoaded = true
		c.mu.Unlock()
		for ev := range events {
			if ev.Err != nil {
				break
			}
			c.update(ev.Keyspace, ev.Shard, func(s *shardState) { s.rec = ev.Record })
		}
	}
}

func (c *Controller) watchLeases(ctx context.Context) {
	backoff := 200 * time.Millisecond
	for ctx.Err() == nil {
		now, events, err := c.ts.WatchPrimaryLeases(ctx)
		if err != nil {
			c.log.Warn("watch primary leases failed", "err", err)
			sleep(ctx, backoff)
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 200 * time.Millisecond
		c.mu.Lock()
		for _, s := range c.shards {
			s.lease = nil
		}
		c.mu.Unlock()
		for key, l := range now {
			ks, shard, _ := strings.Cut(key, "/")
			c.update(ks, shard, func(s *shardState) { s.lease = l })
		}
		c.mu.Lock()
		c.leasesLoaded = true
		close(c.changed)
		c.changed = make(chan struct{})
		c.mu.Unlock()
		for ev := range events {
			if ev.Err != nil {
				break
			}
			c.update(ev.Keyspace, ev.Shard, func(s *shardState) { s.lease = ev.Lease })
		}
	}
}

// healthy reports whether the shard's named primary holds the lease.
func (s *shardState) healthy() bool {
	return s.rec != nil && s.rec.PrimaryAlias != nil && s.lease != nil && proto.Equal(s.lease.Alias, s.rec.PrimaryAlias)
}

// needsFailover reports whether the shard had a primary and has no
// healthy one now.
func (s *shardState) needsFailover() bool {
	return s.rec != nil && s.rec.PrimaryTermStartUnixNano != 0 && !s.healthy()
}

// evaluate follows each shard's primary and starts the failovers due.
func (c *Controller) evaluate(ctx context.Context, wg *sync.WaitGroup) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.shardsLoaded || !c.leasesLoaded {
		return
	}
	now := time.Now()
	healthy := 0
	for _, s := range c.shards {
		if s.healthy() {
			healthy++
		}
	}
	c.m.shards.WithLabelValues("healthy").Set(float64(healthy))
	c.m.shards.WithLabelValues("down").Set(float64(len(c.shards) - healthy))
	keys := make([]string, 0, len(c.shards))
	for k := range c.shards {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		s := c.shards[key]
		// Follow the primary the record names.
		primary := s.rec.GetPrimaryAlias()
		if s.follow != nil && (primary == nil || !proto.Equal(s.follow.alias, primary)) {
			s.follow.stop()
			s.follow = nil
		}
		if primary != nil && s.follow == nil {
			s.follow = c.startFollow(ctx, wg, s.keyspace, s.shard, primary)
		}
		if s.healthy() {
			s.healthySeen = true
			continue
		}
		if !s.needsFailover() || s.acting || now.Before(s.nextTry) {
			continue
		}
		if !s.healthySeen && now.Sub(c.started) < c.cfg.StartupGrace {
			continue
		}
		s.acting = true
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := c.failover(ctx, s.keyspace, s.shard)
			c.update(s.keyspace, s.shard, func(s *shardState) {
				s.acting = false
				if err != nil {
					s.nextTry = time.Now().Add(c.cfg.RetryInterval)
				}
			})
		}()
	}
}

// failover runs one emergency reparent of a shard.
func (c *Controller) failover(ctx context.Context, ks, shard string) error {
	start := time.Now()
	c.log.Warn("primary is down; failing over", "keyspace", ks, "shard", shard)
	res, err := reparent.Emergency(ctx, c.ts, ks, shard, c.cfg.Reparent)
	switch {
	case errors.Is(err, reparent.ErrPrimaryHealthy):
		c.log.Info("primary is healthy after all", "keyspace", ks, "shard", shard)
		c.m.reparents.WithLabelValues(ks, shard, "skipped").Inc()
		return nil
	case err != nil:
		if ctx.Err() == nil {
			c.log.Error("failover failed; will try again", "keyspace", ks, "shard", shard, "err", err, "retry_in", c.cfg.RetryInterval)
			c.m.reparents.WithLabelValues(ks, shard, "error").Inc()
		}
		return err
	}
	c.m.reparents.WithLabelValues(ks, shard, "success").Inc()
	c.m.duration.Observe(time.Since(start).Seconds())
	c.log.Warn("failed over", "keyspace", ks, "shard", shard,
		"old_primary", topo.AliasString(res.OldPrimary), "new_primary", topo.AliasString(res.NewPrimary),
		"position", res.Position, "took", time.Since(start), "repoint_errors", len(res.RepointErrors))
	return nil
}

// follower follows one primary's health stream. When the stream breaks
// it probes the primary's gRPC and mysqld ports: if both refuse
// connections the processes are gone, so the lease they left is broken
// at once instead of waiting for it to expire.
type follower struct {
	alias  *topodatapb.TabletAlias
	cancel context.CancelFunc
}

func (f *follower) stop() {
	if f != nil {
		f.cancel()
	}
}

func (c *Controller) startFollow(ctx context.Context, wg *sync.WaitGroup, ks, shard string, alias *topodatapb.TabletAlias) *follower {
	fctx, cancel := context.WithCancel(ctx)
	f := &follower{alias: alias, cancel: cancel}
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.follow(fctx, ks, shard, alias)
	}()
	return f
}

func (c *Controller) follow(ctx context.Context, ks, shard string, alias *topodatapb.TabletAlias) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		t, err := c.ts.GetTablet(ctx, alias)
		if err != nil {
			sleep(ctx, time.Second)
			continue
		}
		err = c.streamHealth(ctx, t)
		if ctx.Err() != nil {
			return
		}
		if c.probeDead(t) {
			c.breakLease(ctx, ks, shard, alias)
		}
		sleep(ctx, backoff)
		backoff = min(2*backoff, 2*time.Second)
		if err == nil {
			backoff = 100 * time.Millisecond
		}
	}
}

// streamHealth reads the tablet's health stream until it fails or stays
// silent for HealthTimeout.
func (c *Controller) streamHealth(ctx context.Context, t *topodatapb.Tablet) error {
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
	for {
		if _, err := st.Recv(); err != nil {
			return err
		}
		watchdog.Reset(c.cfg.HealthTimeout)
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
func (c *Controller) breakLease(ctx context.Context, ks, shard string, alias *topodatapb.TabletAlias) {
	l, v, err := c.ts.GetPrimaryLease(ctx, ks, shard)
	if err != nil || !proto.Equal(l.Alias, alias) {
		return
	}
	if err := c.ts.BreakPrimaryLease(ctx, ks, shard, v); err != nil {
		c.log.Warn("cannot break the lease of a dead primary", "keyspace", ks, "shard", shard, "err", err)
		return
	}
	c.log.Warn("primary's processes are gone; broke its lease", "keyspace", ks, "shard", shard, "tablet", topo.AliasString(alias))
	c.m.deadPrimaries.WithLabelValues(ks, shard).Inc()
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
}
