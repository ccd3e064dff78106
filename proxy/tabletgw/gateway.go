package tabletgw

import (
	"fmt"
	"log/slog"

	"context"
	"github.com/prometheus/client_golang/prometheus"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/sqlerr"
	"github.com/mosaicdb/mosaic/topo"
)

// Gateway picks a serving tablet for a target and sends it requests:
// it follows every tablet's health, buffers primary requests while a
// shard changes primary or a keyspace switches its traffic, and runs the
// per-shard calls of multi-shard statements on its fan-out workers.
// Create it with New; Run follows the tablets until its context ends.
type Gateway struct {
	cfg Config
	hc  *HealthCheck
	// buf buffers primary requests while a shard has no serving primary
	// or its keyspace switches its traffic, and says which shards serve
	// primary traffic now (nil: no buffering).
	buf *buffer
	// fan runs the per-shard calls of multi-shard statements (fanout.go).
	fan *Fanout
}

// New returns a gateway over the tablets ts lists, configured by cfg.
// reg receives its metrics.
func New(cfg Config, log *slog.Logger, ts *topo.Server, reg prometheus.Registerer) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("tablet gateway config: %w", err)
	}
	hc := NewHealthCheck(log, ts, cfg.HealthCheckTimeout)
	hc.muxStreams = cfg.TabletStreams
	hc.hostID = cfg.HostID
	hc.creds = cfg.Creds
	return newGateway(cfg, hc, newBuffer(cfg.BufferWindow, cfg.BufferSize, newBufferMetrics(reg))), nil
}

func newGateway(cfg Config, hc *HealthCheck, buf *buffer) *Gateway {
	return &Gateway{cfg: cfg, hc: hc, buf: buf, fan: NewFanout()}
}

// Run follows the tablets and keeps the fan-out workers until ctx ends.
func (g *Gateway) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); g.hc.Run(ctx) }()
	go func() { defer wg.Done(); g.fan.Run(ctx, g.cfg.FanoutWorkers) }()
	wg.Wait()
}

// HealthCheck returns the gateway's view of the tablets.
func (g *Gateway) HealthCheck() *HealthCheck { return g.hc }

// Pick returns a serving tablet for the target, waiting up to the gateway's
// wait for one to appear. For a primary it takes the one with the newest
// term; for other types it prefers the gate's cell, at random among equals.
func (g *Gateway) Pick(ctx context.Context, keyspace, shard string, tt topodatapb.TabletType) (*TabletHealth, error) {
	var deadline <-chan time.Time
	for {
		changed := g.hc.Changed()
		if th := g.Choose(keyspace, shard, tt); th != nil {
			return th, nil
		}
		if deadline == nil {
			if g.cfg.TabletWait <= 0 {
				return nil, noTablet(keyspace, shard, tt)
			}
			t := time.NewTimer(g.cfg.TabletWait)
			defer t.Stop()
			deadline = t.C
		}
		select {
		case <-changed:
		case <-deadline:
			return nil, noTablet(keyspace, shard, tt)
		case <-ctx.Done():
			return nil, sqlerr.FromError(ctx.Err())
		}
	}
}

func noTablet(keyspace, shard string, tt topodatapb.TabletType) error {
	return sqlerr.NotServing("no serving %s tablet for %s/%s", topo.TabletTypeString(tt), keyspace, shard)
}

func (g *Gateway) Choose(keyspace, shard string, tt topodatapb.TabletType) *TabletHealth {
	cands := g.hc.Serving(keyspace, shard, tt)
	if len(cands) == 0 {
		return nil
	}
	if tt == topodatapb.TabletType_PRIMARY {
		best := cands[0]
		for _, c := range cands[1:] {
			if c.PrimaryTermStart > best.PrimaryTermStart {
				best = c
			}
		}
		return best
	}
	var local, other []*TabletHealth
	now := time.Now()
	for _, c := range cands {
		if g.cfg.MaxReplicaLag > 0 && c.lagAt(now) > g.cfg.MaxReplicaLag {
			continue
		}
		if c.Tablet.GetAlias().GetCell() == g.cfg.Cell {
			local = append(local, c)
		} else {
			other = append(other, c)
		}
	}
	if len(local) > 0 {
		return local[rand.IntN(len(local))]
	}
	if len(other) > 0 {
		return other[rand.IntN(len(other))]
	}
	return nil
}

// lagAt is the replication lag a replica has at now, as far as the gate
// can tell: what its last health message said, plus the time since then
// when its replication is not running (a stopped replica falls behind by
// one second every second).
func (th *TabletHealth) lagAt(now time.Time) time.Duration {
	lag := time.Duration(th.ReplicationLag) * time.Second
	if !th.ReplicationOK && !th.LastSeen.IsZero() && now.After(th.LastSeen) {
		lag += now.Sub(th.LastSeen)
	}
	return lag
}

// Call runs fn on a picked tablet of target, and again on another pick
// while the tablet answers that it does not serve the target (the
// request did not run), within the gateway's wait. Primary requests are
// buffered instead when buffering is on (retryPrimary). fn must return a
// retryable error (sqlerr.IsRetryable) only for a request that did not
// run. Call returns fn's last error, or ErrSwitched when the target's
// keyspace switches its traffic away, or a not-serving error.
func (g *Gateway) Call(ctx context.Context, target *querypb.Target, fn func(th *TabletHealth) error) error {
	if target.TabletType == topodatapb.TabletType_PRIMARY && g.buf.enabled() {
		return g.retryPrimary(ctx, target, fn)
	}
	deadline := time.Now().Add(g.cfg.TabletWait)
	for {
		th, err := g.Pick(ctx, target.Keyspace, target.Shard, target.TabletType)
		if err != nil {
			return err
		}
		err = fn(th)
		if err == nil || !sqlerr.IsRetryable(err) || time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		// The tablet changed role under us; wait for the health stream to
		// say so before picking again.
		select {
		case <-g.hc.Changed():
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return sqlerr.FromError(ctx.Err())
		}
	}
}

// retryPrimary runs fn on the shard's serving primary. While there is
// none, or the one picked refuses (it is being demoted or fenced, or it
// went away before the request reached it), the request waits in the
// shard's failover buffer until the health check shows a serving primary
// it has not tried in that state, and runs there.
func (g *Gateway) retryPrimary(ctx context.Context, target *querypb.Target, fn func(th *TabletHealth) error) error {
	key := eventKey{failover, target.Keyspace, target.Shard}
	var slot *bufferSlot
	outcome := outcomeCanceled
	defer func() { slot.leave(outcome) }()
	var refused *TabletHealth
	var lastErr error
	for {
		changed := g.hc.Changed()
		if th := g.Choose(target.Keyspace, target.Shard, target.TabletType); th != nil && th != refused {
			if slot == nil {
				g.buf.endFailover(target.Keyspace, target.Shard)
			} else {
				outcome = outcomeReleased
			}
			err := fn(th)
			if err == nil || !sqlerr.IsRetryable(err) || ctx.Err() != nil {
				return err
			}
			refused, lastErr = th, err
		}
		if g.buf.switchRefused(target.Keyspace, target.Shard) {
			// The keyspace switches its traffic (the shard's primary is
			// fenced) or just did: the statement waits for the switch,
			// then is planned again (switchbuffer.go).
			return ErrSwitched
		}
		if slot == nil {
			if slot, _ = g.buf.enter(key); slot == nil {
				if lastErr != nil {
					return lastErr
				}
				return noTablet(target.Keyspace, target.Shard, target.TabletType)
			}
		}
		outcome = outcomeCanceled
		left := time.Until(slot.deadline)
		if left <= 0 {
			outcome = outcomeWindowPassed
			if lastErr != nil {
				return lastErr
			}
			return windowPassed(key)
		}
		t := time.NewTimer(min(left, time.Second))
		select {
		case <-changed:
		case <-g.buf.graphChanged():
		case <-t.C:
			refused = nil // nothing changed for a while: try it again
		case <-ctx.Done():
			t.Stop()
			return sqlerr.FromError(ctx.Err())
		}
		t.Stop()
	}
}

// Go runs fn on one of the gateway's fan-out workers (Fanout.Go).
func (g *Gateway) Go(fn func()) { g.fan.Go(fn) }

// Parallel calls fn(ctx, i) for every i < n at once and returns the first
// error, which cancels the others (Fanout.Parallel).
func (g *Gateway) Parallel(ctx context.Context, n int, fn func(ctx context.Context, i int) error) error {
	return g.fan.Parallel(ctx, n, fn)
}

// All calls fn(ctx, i) for every i < n at once, each to its end
// (Fanout.All).
func (g *Gateway) All(ctx context.Context, n int, fn func(ctx context.Context, i int)) {
	g.fan.All(ctx, n, fn)
}
