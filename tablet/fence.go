package tablet

import (
	"context"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/tablet/mysqlctl"
	"github.com/mosaicdb/mosaic/topo"
)

// Fencing: a primary that must stop taking writes (it lost its lease, the
// shard record names someone else, its data dir is gone) stops serving at
// once, in memory, and then, under the action lock, turns read-only and
// into a replica without a source; the shard's new primary or the shard
// watch points it somewhere later.
//
// A mysqld that does not answer cannot be made read-only, and it must not
// come back writable: statements may sit unread in its sockets, or commits
// half done inside it, and it runs them as soon as it resumes (SIGCONT, an
// I/O stall that ends). So a fenced primary whose mysqld does not answer,
// or is not read-only within FenceTimeout, kills it (SIGKILL ends even a
// stopped process; whatever was unread dies with it) and keeps it down.
// Only then does it give its lease back, so that no new primary takes
// writes while the old mysqld might still take one. Once the shard record
// names another primary (or after FencedHoldTimeout, so that a shard left
// without one can fail over to this tablet again) mysqld starts, read-only
// as every mysqld starts, and the tablet follows the shard record as a
// replica. Transactions it committed that no replica received (a commit
// whose semi-sync ack never came, recovered from the binlog at start)
// would make it diverge: followPrimary finds them and rebuilds the tablet
// instead of letting it replicate.

// fence stops a primary from taking writes. It returns at once; the rest
// happens in the fence loop.
func (a *Agent) fence(reason string) {
	if a.tabletTypeNow() != topodatapb.TabletType_PRIMARY {
		return
	}
	a.log.Warn("fencing the primary", "reason", reason)
	a.vrepl.SetPrimary(false)
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
			if a.fencePrimary(ctx, reason) != nil {
				return
			}
		}
	}
}

// fencePrimary makes a fenced primary a read-only replica: by turning its
// mysqld read-only within FenceTimeout, or else by killing it. It returns
// an error only when ctx ends.
func (a *Agent) fencePrimary(ctx context.Context, reason string) error {
	if a.tabletTypeNow() != topodatapb.TabletType_PRIMARY {
		return nil
	}
	if why := a.mysqldUnanswered(); why != nil {
		a.log.Warn("fenced primary's mysqld does not answer; killing it", "reason", reason, "err", why)
		return a.killFenced(ctx, reason)
	}
	if st, _ := a.mysqld.State(); st != mysqlctl.Running {
		// Crashed or starting: keep it down rather than wait for it.
		a.log.Warn("fenced primary's mysqld is not running; holding it down", "reason", reason, "mysqld", st)
		return a.killFenced(ctx, reason)
	}
	fctx, cancel := context.WithTimeout(ctx, a.cfg.FenceTimeout)
	err := a.demoteFenced(fctx, reason)
	cancel()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		a.log.Warn("fenced primary did not turn read-only in time; killing its mysqld", "reason", reason, "err", err, "fence_timeout", a.cfg.FenceTimeout)
		return a.killFenced(ctx, reason)
	}
	return retry(ctx, a.log, "save the fenced primary's tablet record", a.saveTablet)
}

// demoteFenced turns a fenced primary read-only, under the action lock.
func (a *Agent) demoteFenced(ctx context.Context, reason string) error {
	if err := a.actions.lock(ctx); err != nil {
		return err
	}
	defer a.actions.unlock()
	if a.tabletTypeNow() != topodatapb.TabletType_PRIMARY {
		return nil
	}
	if err := a.becomeReplica(ctx, nil, false); err != nil {
		return err
	}
	a.log.Warn("fenced primary is a read-only replica now", "reason", reason)
	a.countReparent("demoted")
	return nil
}

// killFenced kills a fenced primary's mysqld and keeps it down, then gives
// the lease back and waits, with mysqld down, until the shard has another
// primary or FencedHoldTimeout passed. It returns an error only when ctx
// ends.
func (a *Agent) killFenced(ctx context.Context, reason string) error {
	release, err := a.mysqld.Hold(ctx, true)
	if err != nil {
		return err
	}
	defer release()
	a.mu.Lock()
	a.fenceKills++
	a.heldFenced = true
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		a.heldFenced = false
		a.mu.Unlock()
	}()
	a.log.Warn("killed the fenced primary's mysqld; it stays down until the shard has another primary", "reason", reason, "hold_timeout", a.cfg.FencedHoldTimeout)
	// mysqld is gone, and with it whatever it had not run: the role may
	// change without it. Actions that held the lock fail fast now.
	if err := a.actions.lock(ctx); err != nil {
		return err
	}
	a.mu.Lock()
	if a.tabletType == topodatapb.TabletType_PRIMARY {
		a.tabletType = a.cfg.InitTabletType
	}
	a.termStart = 0
	a.semiSyncAcks = 0
	a.source = nil
	a.sourceAlias = nil
	a.replicating = false
	a.notServing = "fenced: " + reason + "; mysqld was killed and stays down until the shard has another primary"
	a.mu.Unlock()
	a.releaseLease(ctx)
	a.countReparent("demoted")
	a.actions.unlock()
	a.kickHealth()
	if err := retry(ctx, a.log, "save the fenced primary's tablet record", a.saveTablet); err != nil {
		return err
	}
	deadline := time.NewTimer(a.cfg.FencedHoldTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		a.mu.Lock()
		rec := a.shardRecord
		a.mu.Unlock()
		if p := rec.GetPrimaryAlias(); p != nil && !proto.Equal(p, a.alias) {
			a.log.Info("the shard has another primary; starting mysqld again", "primary", topo.AliasString(p))
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			a.log.Warn("the shard has no other primary yet; starting mysqld again", "held", a.cfg.FencedHoldTimeout)
			return nil
		case <-tick.C:
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
