package deadlock

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/credentials"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/tablet/tmclient"
	"github.com/mosaicdb/mosaic/topo"
)

// Config configures a Detector.
type Config struct {
	// Interval is the time between two rounds of asking the primaries
	// for their lock waits.
	Interval time.Duration
	// MinWait is how long a statement must have waited before it counts:
	// shorter waits end by themselves, and tablets ask mysqld nothing
	// while none of their statements has run that long.
	MinWait time.Duration
	// CallTimeout bounds each call to a tablet.
	CallTimeout time.Duration
	// Keyspaces limits the detector to these keyspaces' primaries; empty
	// means all. A deadlock through a keyspace left out is not seen.
	Keyspaces []string
	// Creds are the credentials the detector calls tablets with (the
	// operator's certificate, or tmclient.Insecure); required.
	Creds credentials.TransportCredentials
}

// DefaultConfig returns the defaults: a deadlock is broken within about
// 400 ms of forming (MinWait, up to one Interval, and the fresh reads of
// the confirmation, up to 110 ms after the first ones).
func DefaultConfig() Config {
	return Config{Interval: 120 * time.Millisecond, MinWait: 100 * time.Millisecond, CallTimeout: 2 * time.Second}
}

// Validate checks a Config.
func (c Config) Validate() error {
	if c.Interval <= 0 || c.MinWait <= 0 || c.CallTimeout <= 0 {
		return errors.New("deadlock: interval, minimum wait and call timeout must be positive")
	}
	if c.Creds == nil {
		return errors.New("deadlock: no credentials for the tablets (an operator certificate, or insecure)")
	}
	for _, ks := range c.Keyspaces {
		if err := topo.ValidateName(ks); err != nil {
			return err
		}
	}
	return nil
}

// Detector finds deadlocks across shards and aborts a victim of each
// (see the package doc).
type Detector struct {
	cfg Config
	ts  *topo.Server
	log *slog.Logger
	m   *metrics

	mu      sync.Mutex
	tablets map[string]*tabletConn // by alias
}

// tabletConn is a tablet of the topology and the detector's client of it.
type tabletConn struct {
	alias  string
	rec    *topodatapb.Tablet
	client *tmclient.Client
}

// New returns a detector; Run starts it. reg receives its metrics (nil:
// none).
func New(cfg Config, ts *topo.Server, log *slog.Logger, reg prometheus.Registerer) (*Detector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	return &Detector{cfg: cfg, ts: ts, log: log, m: m, tablets: map[string]*tabletConn{}}, nil
}

// Run watches the tablets in topo and runs rounds until ctx ends.
func (d *Detector) Run(ctx context.Context) error {
	d.log.Info("deadlock detector running", "interval", d.cfg.Interval, "min_wait", d.cfg.MinWait)
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
		d.mu.Lock()
		for _, tc := range d.tablets {
			tc.client.Close()
		}
		d.tablets = map[string]*tabletConn{}
		d.mu.Unlock()
	}()
	wg.Add(1)
	go func() { defer wg.Done(); d.watchTablets(ctx) }()
	t := time.NewTicker(d.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			d.round(ctx)
		}
	}
}

// watchTablets keeps d.tablets as the topology's tablet records say,
// watching again (with backoff) when a watch ends.
func (d *Detector) watchTablets(ctx context.Context) {
	topo.Follow(ctx, topo.Follower{Failed: func(err error) { d.log.Warn("watch tablets failed", "err", err) }}, d.ts.WatchTablets,
		func(initial []*topodatapb.Tablet) {
			seen := map[string]bool{}
			for _, rec := range initial {
				alias := topo.AliasString(rec.Alias)
				seen[alias] = true
				d.setTablet(alias, rec)
			}
			d.mu.Lock()
			var gone []string
			for alias := range d.tablets {
				if !seen[alias] {
					gone = append(gone, alias)
				}
			}
			d.mu.Unlock()
			for _, alias := range gone {
				d.setTablet(alias, nil)
			}
		},
		func(ev topo.TabletEvent) bool {
			if ev.Err != nil {
				return false
			}
			d.setTablet(ev.Alias, ev.Tablet)
			return true
		})
}

// setTablet records a tablet's record (nil: deleted), dialing it anew
// when its address changed.
func (d *Detector) setTablet(alias string, rec *topodatapb.Tablet) {
	d.mu.Lock()
	defer d.mu.Unlock()
	old := d.tablets[alias]
	if rec == nil {
		if old != nil {
			old.client.Close()
			delete(d.tablets, alias)
		}
		return
	}
	if old != nil && tmclient.Addr(old.rec) == tmclient.Addr(rec) {
		old.rec = rec
		return
	}
	c, err := tmclient.DialTablet(rec, d.cfg.Creds)
	if err != nil {
		d.log.Warn("cannot dial tablet", "tablet", alias, "err", err)
		return
	}
	if old != nil {
		old.client.Close()
	}
	d.tablets[alias] = &tabletConn{alias: alias, rec: rec, client: c}
}

// primaries returns the tablets whose record says they are primaries, of
// the keyspaces watched, sorted by alias.
func (d *Detector) primaries() []*tabletConn {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []*tabletConn
	for _, tc := range d.tablets {
		if tc.rec.Type != topodatapb.TabletType_PRIMARY {
			continue
		}
		if len(d.cfg.Keyspaces) > 0 && !slices.Contains(d.cfg.Keyspaces, tc.rec.Keyspace) {
			continue
		}
		out = append(out, tc)
	}
	slices.SortFunc(out, func(a, b *tabletConn) int { return cmp.Compare(a.alias, b.alias) })
	return out
}

// round asks every primary for its waits, confirms the deadlocks found
// with fresh reads of the tablets in them, and aborts their victims.
func (d *Detector) round(ctx context.Context) {
	reports := d.poll(ctx, d.primaries(), false)
	n := 0
	for _, r := range reports {
		n += len(r.Waits)
	}
	d.m.waits.Set(float64(n))
	if n == 0 {
		return
	}
	g := NewGraph(reports)
	found := g.Deadlocks()
	if len(found) == 0 {
		return
	}
	// The tablets of the cycles' waits, and of every wait of their
	// victims, whose aborts need them confirmed too.
	var involved []string
	for _, dl := range found {
		for _, t := range dl.Tablets {
			if !slices.Contains(involved, t) {
				involved = append(involved, t)
			}
		}
		for _, a := range dl.Aborts {
			if !slices.Contains(involved, a.Tablet) {
				involved = append(involved, a.Tablet)
			}
		}
	}
	var again []*tabletConn
	for _, tc := range d.primaries() {
		if slices.Contains(involved, tc.alias) {
			again = append(again, tc)
		}
	}
	fresh := d.poll(ctx, again, true)
	read := time.Now()
	for _, dl := range g.Confirm(fresh).Deadlocks() {
		d.m.deadlocks.Inc()
		aborted := d.abort(ctx, dl)
		took := time.Duration(dl.NewestWaitMs)*time.Millisecond + time.Since(read)
		if aborted {
			d.m.victims.WithLabelValues("aborted").Inc()
			d.m.resolve.Observe(took.Seconds())
			d.log.Warn("deadlock across shards: victim aborted", "victim", dl.Victim, "cycle", dl.String(), "shards", dl.Shards, "formed_at_most_ago", took)
		} else {
			d.m.victims.WithLabelValues("not_aborted").Inc()
			d.log.Info("deadlock across shards: its victim no longer waits", "victim", dl.Victim, "cycle", dl.String())
		}
	}
}

// poll asks tablets for their lock waits, at once; fresh asks each for a
// read made after the request. A tablet that fails is left out.
func (d *Detector) poll(ctx context.Context, tablets []*tabletConn, fresh bool) []Report {
	out := make([]*Report, len(tablets))
	var wg sync.WaitGroup
	for i, tc := range tablets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, d.cfg.CallTimeout)
			defer cancel()
			resp, err := tc.client.Query.LockWaits(cctx, &querypb.LockWaitsRequest{MinWaitMs: d.cfg.MinWait.Milliseconds(), Fresh: fresh})
			if err != nil {
				if ctx.Err() == nil {
					d.m.tabletCalls.WithLabelValues("LockWaits").Inc()
					d.log.Debug("lock waits failed", "tablet", tc.alias, "err", err)
				}
				return
			}
			out[i] = &Report{Shard: resp.Keyspace + "/" + resp.Shard, Tablet: tc.alias, ReadUnixNano: resp.ReadUnixNano, Waits: resp.Waits}
		}()
	}
	wg.Wait()
	var reports []Report
	for _, r := range out {
		if r != nil {
			reports = append(reports, *r)
		}
	}
	return reports
}

// abort asks the tablets where a deadlock's victim waits to abort it, all
// at once, and reports whether one did.
func (d *Detector) abort(ctx context.Context, dl Deadlock) bool {
	d.mu.Lock()
	clients := make([]*tmclient.Client, len(dl.Aborts))
	for i, a := range dl.Aborts {
		if tc := d.tablets[a.Tablet]; tc != nil {
			clients[i] = tc.client
		}
	}
	d.mu.Unlock()
	done := make([]bool, len(dl.Aborts))
	var wg sync.WaitGroup
	for i, a := range dl.Aborts {
		if clients[i] == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, d.cfg.CallTimeout)
			defer cancel()
			resp, err := clients[i].Query.AbortDeadlockVictim(cctx, a.Request)
			switch {
			case err != nil:
				if ctx.Err() == nil {
					d.m.tabletCalls.WithLabelValues("AbortDeadlockVictim").Inc()
					d.log.Warn("cannot abort a deadlock's victim", "tablet", a.Tablet, "victim", dl.Victim, "err", err)
				}
			case resp.Aborted:
				done[i] = true
			default:
				d.log.Debug("deadlock victim not aborted", "tablet", a.Tablet, "victim", dl.Victim, "reason", resp.Reason)
			}
		}()
	}
	wg.Wait()
	return slices.Contains(done, true)
}
