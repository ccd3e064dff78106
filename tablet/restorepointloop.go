package tablet

import (
	"context"
	"errors"
	"time"

	"github.com/mosaicdb/mosaic/proto/tabletmanagerpb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/tablet/restorepoint"
	"github.com/mosaicdb/mosaic/tablet/tmclient"
	"github.com/mosaicdb/mosaic/topo"
)

// restorePointLoop takes the keyspace's restore points every
// Backup.RestorePointInterval while this tablet is the primary of the
// first shard serving the keyspace's primary traffic: one taker per
// keyspace, without an election of its own (the shard's primary lease
// already makes it one). It prunes those older than RestorePointKeep.
func (a *Agent) restorePointLoop(ctx context.Context) {
	every := a.cfg.Backup.RestorePointInterval
	if every <= 0 {
		return
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	dial := func(t *topodatapb.Tablet) (tabletmanagerpb.TabletManagerClient, func(), error) {
		c, err := tmclient.DialTablet(t, a.sec.peerCreds)
		if err != nil {
			return nil, nil, err
		}
		return c.TM, func() { c.Close() }, nil
	}
	failing := false
	var lastPrune time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if !a.takesRestorePoints(ctx) {
			continue
		}
		rp, err := restorepoint.Take(ctx, a.ts, a.cfg.Keyspace, dial, restorepoint.Options{TTL: max(2*time.Second, every/2)})
		switch {
		case err != nil && ctx.Err() == nil:
			a.restorePointErrors.Inc()
			if !failing || !errors.Is(err, restorepoint.ErrChanged) {
				a.log.Warn("cannot take a restore point", "keyspace", a.cfg.Keyspace, "err", err)
			}
			failing = true
			continue
		case err != nil:
			return
		}
		if failing {
			a.log.Info("restore points are taken again", "keyspace", a.cfg.Keyspace)
		}
		failing = false
		a.restorePoints.Inc()
		a.restorePointHold.Observe(time.Duration(rp.HoldNs).Seconds())
		if keep := a.cfg.Backup.RestorePointKeep; keep > 0 && time.Since(lastPrune) > min(keep/10, time.Hour) {
			lastPrune = time.Now()
			if _, err := restorepoint.Prune(ctx, a.ts, a.cfg.Keyspace, keep, time.Now()); err != nil {
				a.log.Warn("cannot prune restore points", "keyspace", a.cfg.Keyspace, "err", err)
			}
		}
	}
}

// takesRestorePoints reports whether this tablet is the serving primary
// of its keyspace's first shard serving primary traffic.
func (a *Agent) takesRestorePoints(ctx context.Context) bool {
	if tt, serving, _ := a.qs.Serving(); tt != topodatapb.TabletType_PRIMARY || !serving {
		return false
	}
	ks, err := a.ts.GetKeyspace(ctx, a.cfg.Keyspace)
	if err != nil {
		return false
	}
	shards := topo.ServedShards(ks, topodatapb.TabletType_PRIMARY)
	topo.SortShardNames(shards)
	return len(shards) > 0 && shards[0] == a.cfg.Shard
}
