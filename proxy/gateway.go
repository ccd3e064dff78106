package proxy

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/sqlerr"
	"github.com/mosaicdb/mosaic/topo"
)

// TabletGateway picks a serving tablet for a target and sends it requests.
type TabletGateway struct {
	hc   *HealthCheck
	cell string
	wait time.Duration
	// MaxReplicaLag excludes replicas lagging more (0: no limit).
	maxReplicaLag time.Duration
}

// NewTabletGateway returns a gateway over a health check.
func NewTabletGateway(hc *HealthCheck, cell string, wait time.Duration) *TabletGateway {
	return &TabletGateway{hc: hc, cell: cell, wait: wait}
}

// Pick returns a serving tablet for the target, waiting up to the gateway's
// wait for one to appear. For a primary it takes the one with the newest
// term; for other types it prefers the gate's cell, at random among equals.
func (g *TabletGateway) Pick(ctx context.Context, keyspace, shard string, tt topodatapb.TabletType) (*TabletHealth, error) {
	var deadline <-chan time.Time
	for {
		changed := g.hc.Changed()
		if th := g.choose(keyspace, shard, tt); th != nil {
			return th, nil
		}
		if deadline == nil {
			if g.wait <= 0 {
				return nil, noTablet(keyspace, shard, tt)
			}
			t := time.NewTimer(g.wait)
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

func (g *TabletGateway) choose(keyspace, shard string, tt topodatapb.TabletType) *TabletHealth {
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
	for _, c := range cands {
		if g.maxReplicaLag > 0 && time.Duration(c.ReplicationLag)*time.Second > g.maxReplicaLag {
			continue
		}
		if c.Tablet.GetAlias().GetCell() == g.cell {
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

// retry runs fn on a picked tablet, and again on another pick while the
// tablet answers that it does not serve the target (the statement did not
// run), within the gateway's wait.
func (g *TabletGateway) retry(ctx context.Context, target *querypb.Target, fn func(th *TabletHealth) error) error {
	deadline := time.Now().Add(g.wait)
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
