package tablet

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/topo"
)

// watchShard follows the shard record until ctx ends: a primary that the
// record no longer names with its term is fenced, and a replica follows
// the primary the record names. The record is the intent every reparent
// writes first, so tablets converge on it even when a reparent could not
// reach them.
func (a *Agent) watchShard(ctx context.Context) {
	type first struct {
		rec *topodatapb.Shard
		v   topo.Version
	}
	open := func(ctx context.Context) (first, <-chan topo.ShardEvent, error) {
		rec, v, events, err := a.ts.WatchShard(ctx, a.cfg.Keyspace, a.cfg.Shard)
		return first{rec, v}, events, err
	}
	topo.Follow(ctx, topo.Follower{Failed: func(err error) { a.log.Warn("watch shard record failed", "err", err) }}, open,
		func(f first) { a.onShardRecord(ctx, f.rec, f.v) },
		func(ev topo.ShardEvent) bool {
			if ev.Err != nil {
				return false
			}
			a.onShardRecord(ctx, ev.Record, ev.Version)
			return true
		})
}

// onShardRecord reacts to version v of the shard record. Versions at or
// below one the tablet has seen (in an event, or read when it became
// primary) are stale and ignored.
func (a *Agent) onShardRecord(ctx context.Context, rec *topodatapb.Shard, v topo.Version) {
	if rec == nil {
		return
	}
	a.mu.Lock()
	if v <= a.shardVersion {
		a.mu.Unlock()
		return
	}
	a.shardVersion = v
	a.shardRecord = rec
	tt, term := a.tabletType, a.termStart
	a.mu.Unlock()
	a.syncQueryControl()
	if tt == topodatapb.TabletType_PRIMARY {
		if !proto.Equal(rec.PrimaryAlias, a.alias) || rec.PrimaryTermStartUnixNano != term {
			a.fence(fmt.Sprintf("the shard record names %s (term %d)", topo.AliasString(rec.PrimaryAlias), rec.PrimaryTermStartUnixNano))
		}
		return
	}
	a.followShard(ctx, rec, true)
}

// followShard points a replica at the primary rec names when it follows
// nobody or another known primary. The health loop calls it again with
// the last record, so that a failed attempt is retried; it does not wait
// for the action lock (wait false) so that health keeps flowing.
func (a *Agent) followShard(ctx context.Context, rec *topodatapb.Shard, wait bool) {
	if rec == nil {
		return
	}
	a.mu.Lock()
	tt, ready, repairing := a.tabletType, a.ready, a.repairing
	src, srcAlias := a.source, a.sourceAlias
	a.mu.Unlock()
	p := rec.PrimaryAlias
	if tt == topodatapb.TabletType_PRIMARY || p == nil || proto.Equal(p, a.alias) || !ready || repairing || !servingType(tt) {
		return
	}
	// Follow the named primary when following nobody or a known other
	// primary; a source set by host and port is the operator's choice.
	if src != nil && (srcAlias == nil || proto.Equal(srcAlias, p)) {
		return
	}
	if wait {
		if a.actions.lock(ctx) != nil {
			return
		}
	} else if !a.actions.tryLock() {
		return
	}
	defer a.actions.unlock()
	err := func() error {
		a.mu.Lock()
		changed := a.tabletType == topodatapb.TabletType_PRIMARY || a.repairing || !proto.Equal(a.sourceAlias, srcAlias) || a.source != src
		a.mu.Unlock()
		if changed {
			return nil // an action got here first
		}
		s, err := a.sourceOf(ctx, p)
		if err != nil {
			return err
		}
		if err := a.followPrimary(ctx, p, s); err != nil {
			return err
		}
		return a.saveTablet(ctx)
	}()
	if err != nil {
		a.log.Warn("cannot follow the shard's new primary", "primary", topo.AliasString(p), "err", err)
		return
	}
	a.log.Info("replica follows the primary the shard record names", "primary", topo.AliasString(p))
}
