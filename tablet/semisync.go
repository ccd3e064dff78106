package tablet

import (
	"context"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/topo"
)

// Semi-sync is on where the shard has replicas: a primary waits for
// min(SemiSyncAckCount, replicas in the shard) acks, where replicas are
// the shard's other REPLICA and RDONLY tablets in topo. A shard without
// replicas runs asynchronously instead of stalling every commit for the
// semi-sync timeout. The primary follows the tablet records and adjusts
// when replicas come and go.

// semiSyncAcksFor returns how many acks the primary should wait for
// given the tablet records (of any shard).
func (a *Agent) semiSyncAcksFor(tablets []*topodatapb.Tablet) int {
	if !a.cfg.SemiSync || a.cfg.SemiSyncAckCount <= 0 {
		return 0
	}
	n := 0
	for _, t := range tablets {
		if t.Keyspace != a.cfg.Keyspace || t.Shard != a.cfg.Shard || proto.Equal(t.Alias, a.alias) {
			continue
		}
		if t.Type == topodatapb.TabletType_REPLICA || t.Type == topodatapb.TabletType_RDONLY {
			n++
		}
	}
	return min(n, a.cfg.SemiSyncAckCount)
}

// wantSemiSyncAcks reads the shard's tablets and returns semiSyncAcksFor
// them; on a topo error it keeps semi-sync on, the safe side.
func (a *Agent) wantSemiSyncAcks(ctx context.Context) int {
	if !a.cfg.SemiSync || a.cfg.SemiSyncAckCount <= 0 {
		return 0
	}
	tablets, err := a.ts.ShardTablets(ctx, a.cfg.Keyspace, a.cfg.Shard)
	if err != nil {
		a.log.Warn("cannot list the shard's tablets; semi-sync stays on", "err", err)
		return min(1, a.cfg.SemiSyncAckCount)
	}
	return a.semiSyncAcksFor(tablets)
}

// watchSemiSync follows the tablet records while the tablet is primary
// and changes the semi-sync setting when the shard's replicas change.
func (a *Agent) watchSemiSync(ctx context.Context) {
	if !a.cfg.SemiSync || a.cfg.SemiSyncAckCount <= 0 {
		return
	}
	tablets := map[string]*topodatapb.Tablet{}
	topo.Follow(ctx, topo.DefaultFollower, a.ts.WatchTablets,
		func(initial []*topodatapb.Tablet) {
			clear(tablets)
			for _, t := range initial {
				tablets[topo.AliasString(t.Alias)] = t
			}
			a.adjustSemiSync(ctx, tablets)
		},
		func(ev topo.TabletEvent) bool {
			if ev.Err != nil {
				return false
			}
			if ev.Tablet == nil {
				delete(tablets, ev.Alias)
			} else {
				tablets[ev.Alias] = ev.Tablet
			}
			a.adjustSemiSync(ctx, tablets)
			return true
		})
}

func (a *Agent) adjustSemiSync(ctx context.Context, tablets map[string]*topodatapb.Tablet) {
	list := make([]*topodatapb.Tablet, 0, len(tablets))
	for _, t := range tablets {
		list = append(list, t)
	}
	want := a.semiSyncAcksFor(list)
	a.mu.Lock()
	primary, have := a.tabletType == topodatapb.TabletType_PRIMARY && a.ready, a.semiSyncAcks
	a.mu.Unlock()
	if !primary || want == have {
		return
	}
	if a.actions.lock(ctx) != nil {
		return
	}
	defer a.actions.unlock()
	if a.tabletTypeNow() != topodatapb.TabletType_PRIMARY {
		return
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := a.flavor.SetSemiSyncSource(sctx, a.dba, want, a.cfg.SemiSyncTimeout); err != nil {
		a.log.Warn("cannot change semi-sync", "acks", want, "err", err)
		return
	}
	a.mu.Lock()
	a.semiSyncAcks = want
	a.mu.Unlock()
	a.log.Info("semi-sync follows the shard's replicas", "acks", want)
}
