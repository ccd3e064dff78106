package tablet

import (
	"context"
	"strings"
	"time"

	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/tablet/mysqlctl"
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
			if a.actions.lock(ctx) != nil {
				return
			}
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
				a.countReparent("demoted")
				return a.saveTablet(fctx)
			})
			a.actions.unlock()
			if err != nil {
				return
			}
		}
	}
}

// readOnlyNow turns read-only on. SET GLOBAL read_only waits for commits
// in progress, and a commit waiting for a semi-sync ack that does not come
// waits for the semi-sync timeout: after a few seconds the query
// service's connections are killed (their clients get errors, so nothing
// is acknowledged that no replica holds) and read-only is set again.
// Semi-sync is turned off only afterwards, when no commit waits.
func (a *Agent) readOnlyNow(ctx context.Context) error {
	rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	err := a.flavor.SetReadOnly(rctx, a.dba, true)
	cancel()
	if err == nil || ctx.Err() != nil {
		return err
	}
	a.log.Warn("read-only waits for commits in progress; killing the query service's connections", "err", err)
	if err := a.killAppConnections(ctx); err != nil {
		a.log.Warn("cannot kill the query service's connections", "err", err)
	}
	return a.flavor.SetReadOnly(ctx, a.dba, true)
}

// killAppConnections kills every mysqld connection of the query service's
// and the replication engine's accounts.
func (a *Agent) killAppConnections(ctx context.Context) error {
	var users []string
	for _, u := range a.mysqld.ServiceUsers() {
		users = append(users, mysqlctl.QuoteString(u))
	}
	rows, err := a.dba.Query(ctx, "SELECT ID AS id FROM information_schema.PROCESSLIST WHERE USER IN ("+strings.Join(users, ", ")+")")
	if err != nil {
		return err
	}
	for _, r := range rows {
		if err := a.dba.Exec(ctx, "KILL CONNECTION "+r["id"]); err != nil {
			a.log.Warn("kill connection failed", "id", r["id"], "err", err)
		}
	}
	return nil
}
