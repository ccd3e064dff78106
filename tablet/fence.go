package tablet

import (
	"context"
	"time"

	"github.com/mosaicdb/mosaic/proto/topodatapb"
)

// Fencing: a primary that must stop taking writes (it lost its lease, the
// shard record names someone else, its data dir is gone) stops serving at
// once, in memory, and then, under the action lock, turns read-only and
// into a replica without a source; the shard's new primary or the shard
// watch points it somewhere later.

// fence stops a primary from taking writes. It returns at once; the rest
// happens in the fence loop.
func (a *Agent) fence(reason string) {
	if a.tabletTypeNow() != topodatapb.TabletType_PRIMARY {
		return
	}
	a.log.Warn("fencing the primary", "reason", reason)
	a.setNotServing("fenced: " + reason)
	select {
	case a.fenceCh <- reason:
	default: // one is pending already
	}
}

// fenceLoop turns fenced primaries into read-only replicas until ctx ends.
func (a *Agent) fenceLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case reason := <-a.fenceCh:
			a.actionMu.Lock()
			err := retry(ctx, a.log, "turn a fenced primary read-only", func(ctx context.Context) error {
				if a.tabletTypeNow() != topodatapb.TabletType_PRIMARY {
					return nil
				}
				fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				defer cancel()
				if err := a.becomeReplica(fctx, nil, false); err != nil {
					return err
				}
				a.log.Warn("fenced primary is a read-only replica now", "reason", reason)
				return a.saveTablet(fctx)
			})
			a.actionMu.Unlock()
			if err != nil {
				return
			}
		}
	}
}
