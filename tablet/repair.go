package tablet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/mosaicdb/mosaic/proto/tabletmanagerpb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/tablet/flavor"
	"github.com/mosaicdb/mosaic/tablet/mysqlconn"
	"github.com/mosaicdb/mosaic/tablet/mysqlctl"
	"github.com/mosaicdb/mosaic/tablet/tmclient"
	"github.com/mosaicdb/mosaic/topo"
)

// Repair rebuilds a replica whose data cannot be trusted or used: its
// data dir was lost, it is new and empty in a shard that has data, or its
// replication stopped for good (it diverged after a failover, holds
// errant transactions, or needs binlogs the primary purged). It streams a
// physical copy from a healthy peer (the peer's Backup RPC runs
// mariadb-backup; this tablet extracts and prepares it while its mysqld is
// held down), declares the copy's GTID position as its own and replicates
// from the shard's primary from there.

// requestRepair asks the repair loop for a repair; it does not wait.
func (a *Agent) requestRepair(why string) {
	if !a.cfg.AutoRepair {
		return
	}
	select {
	case a.repairCh <- why:
	default: // one is pending already
	}
}

// repairLoop runs the repairs requestRepair asks for, one at a time and
// spaced by a growing pause after failures, until ctx ends. A failed
// repair is tried again after the pause even if nothing asks.
func (a *Agent) repairLoop(ctx context.Context) {
	const firstPause = 5 * time.Second
	pause := firstPause
	var last time.Time
	var again <-chan time.Time
	var againWhy string
	for {
		var why string
		select {
		case <-ctx.Done():
			return
		case why = <-a.repairCh:
		case <-again:
			why = "retry after a failed repair: " + againWhy
		}
		again = nil
		if wait := time.Until(last.Add(pause)); !last.IsZero() && wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return
			}
		}
		last = time.Now()
		a.log.Warn("repairing the replica from a peer", "reason", why)
		a.actionMu.Lock()
		resp, err := a.repair(ctx, nil)
		a.actionMu.Unlock()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			a.log.Error("repair failed; will try again", "reason", why, "err", err, "pause", pause)
			againWhy, again = why, time.After(pause)
			pause = min(2*pause, 2*time.Minute)
			continue
		}
		pause = firstPause
		a.log.Info("replica repaired", "donor", topo.AliasString(resp.Donor), "position", resp.Position, "bytes", resp.Bytes, "duration", time.Duration(resp.DurationMs)*time.Millisecond)
	}
}

// repair copies a donor's data (donor, or a healthy peer when nil) and
// resumes replication. Callers hold actionMu.
func (a *Agent) repair(ctx context.Context, donor *topodatapb.TabletAlias) (*tabletmanagerpb.RepairResponse, error) {
	if a.tabletTypeNow() == topodatapb.TabletType_PRIMARY {
		return nil, status.Error(codes.FailedPrecondition, "a primary does not repair itself: reparent first")
	}
	start := time.Now()
	a.mu.Lock()
	a.repairing = true
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		a.repairing = false
		a.mu.Unlock()
	}()
	a.setNotServing("repairing: copying data from a peer")

	sh, _, err := a.ts.GetShard(ctx, a.cfg.Keyspace, a.cfg.Shard)
	if err != nil {
		return nil, err
	}
	donorTablet, err := a.chooseDonor(ctx, donor)
	if err != nil {
		return nil, err
	}
	donorAlias := topo.AliasString(donorTablet.Alias)
	c, err := tmclient.DialTablet(donorTablet)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.TM.Backup(sctx, &tabletmanagerpb.BackupRequest{})
	if err != nil {
		return nil, fmt.Errorf("backup from %s: %w", donorAlias, err)
	}
	// Wait for the first bytes before taking mysqld down: a donor that
	// fails at once costs nothing.
	first, err := stream.Recv()
	if err != nil {
		return nil, fmt.Errorf("backup from %s: %w", donorAlias, err)
	}
	a.log.Info("copying data from a peer", "donor", donorAlias)
	release, err := a.mysqld.Hold(ctx, true)
	if err != nil {
		return nil, err
	}
	released := false
	defer func() {
		if !released {
			release()
		}
	}()
	pr, pw := io.Pipe()
	var bytes int64
	var copyWG sync.WaitGroup
	copyWG.Add(1)
	go func() {
		defer copyWG.Done()
		msg := first
		for {
			if _, err := pw.Write(msg.Data); err != nil {
				return
			}
			bytes += int64(len(msg.Data))
			if msg, err = stream.Recv(); err != nil {
				if errors.Is(err, io.EOF) {
					err = nil
				}
				pw.CloseWithError(err)
				return
			}
		}
	}()
	info, err := a.mysqld.Restore(ctx, pr)
	pr.CloseWithError(errors.New("restore ended"))
	cancel()
	copyWG.Wait()
	if err != nil {
		return nil, fmt.Errorf("restore the copy from %s: %w", donorAlias, err)
	}
	// The GTID position mariadb-backup recorded is the donor's
	// gtid_current_pos, which can lag the data on a former primary; the
	// donor's binlog at the recorded file and offset says exactly.
	pos := info.GTID
	pctx, pcancel := context.WithTimeout(ctx, 30*time.Second)
	exact, err := a.flavor.PositionAt(pctx, donorQuerier{c.TM}, info.File, info.Offset)
	pcancel()
	switch {
	case err == nil:
		if exact != pos {
			a.log.Info("position of the copy from the donor's binlog", "file", info.File, "offset", info.Offset, "position", exact, "recorded", pos)
		}
		pos = exact
	case errors.Is(err, flavor.ErrUnsupported):
	default:
		return nil, fmt.Errorf("position of the copy in %s's binlog (%s:%d): %w", donorAlias, info.File, info.Offset, err)
	}
	released = true
	release()
	if err := a.mysqld.WaitRunning(ctx); err != nil {
		return nil, err
	}
	a.dbaPool.Reset()
	a.qs.ResetPools("data dir replaced")
	err = retry(ctx, a.log, "set up the repaired replica", func(ctx context.Context) error {
		if st, _ := a.mysqld.State(); st != mysqlctl.Running {
			return fmt.Errorf("mysqld is %v", st)
		}
		if err := a.flavor.ResetToPosition(ctx, a.dba, pos); err != nil {
			return fmt.Errorf("declare position %s: %w", pos, err)
		}
		if err := a.createDatabase(ctx); err != nil {
			return err
		}
		if sh.PrimaryAlias == nil || proto.Equal(sh.PrimaryAlias, a.alias) {
			return a.becomeReplica(ctx, nil, false)
		}
		src, err := a.sourceOf(ctx, sh.PrimaryAlias)
		if err != nil {
			return err
		}
		return a.becomeReplicaOf(ctx, sh.PrimaryAlias, src, true)
	})
	if err != nil {
		return nil, err
	}
	if err := a.saveTablet(ctx); err != nil {
		return nil, err
	}
	a.mu.Lock()
	a.brokenSince = time.Time{}
	a.repairedOnce = true
	a.mu.Unlock()
	return &tabletmanagerpb.RepairResponse{
		Donor:      donorTablet.Alias,
		Position:   pos,
		Bytes:      bytes,
		DurationMs: time.Since(start).Milliseconds(),
	}, nil
}

// chooseDonor returns the tablet to copy from: want when set, else the
// most advanced healthy replica of the shard (one that replicates without
// error, so its data matches the primary's history), else the primary.
func (a *Agent) chooseDonor(ctx context.Context, want *topodatapb.TabletAlias) (*topodatapb.Tablet, error) {
	tablets, err := a.ts.ShardTablets(ctx, a.cfg.Keyspace, a.cfg.Shard)
	if err != nil {
		return nil, err
	}
	type cand struct {
		t   *topodatapb.Tablet
		st  *tabletmanagerpb.StatusResponse
		err error
	}
	var cands []*cand
	for _, t := range tablets {
		if proto.Equal(t.Alias, a.alias) {
			continue
		}
		if want != nil && !proto.Equal(t.Alias, want) {
			continue
		}
		cands = append(cands, &cand{t: t})
	}
	if want != nil && len(cands) == 0 {
		return nil, status.Errorf(codes.NotFound, "donor %s is not a tablet of %s/%s", topo.AliasString(want), a.cfg.Keyspace, a.cfg.Shard)
	}
	var wg sync.WaitGroup
	for _, c := range cands {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl, err := tmclient.DialTablet(c.t)
			if err != nil {
				c.err = err
				return
			}
			defer cl.Close()
			sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			c.st, c.err = cl.TM.Status(sctx, &tabletmanagerpb.StatusRequest{})
		}()
	}
	wg.Wait()
	var replicas []*cand
	var primary *cand
	var why []string
	for _, c := range cands {
		alias := topo.AliasString(c.t.Alias)
		switch {
		case c.err != nil:
			why = append(why, alias+": "+c.err.Error())
		case !c.st.MysqldRunning:
			why = append(why, alias+": mysqld not running")
		case want != nil:
			return c.t, nil
		case c.st.Tablet.GetType() == topodatapb.TabletType_PRIMARY:
			primary = c
		case c.st.Replication.GetIoRunning() && c.st.Replication.GetSqlRunning() && servingType(c.st.Tablet.GetType()):
			replicas = append(replicas, c)
		default:
			why = append(why, alias+": replication not running")
		}
	}
	if len(replicas) > 0 {
		// The most advanced first; positions that cannot be compared keep
		// their order.
		sort.SliceStable(replicas, func(i, j int) bool {
			ok, err := a.flavor.PositionAtLeast(replicas[i].st.Position, replicas[j].st.Position)
			return err == nil && ok && replicas[i].st.Position != replicas[j].st.Position
		})
		return replicas[0].t, nil
	}
	if primary != nil {
		return primary.t, nil
	}
	return nil, status.Errorf(codes.Unavailable, "no healthy peer to copy from: %v", why)
}

// replicationBroken reports whether a replica's replication has stopped
// for a reason that retrying cannot fix: the source cannot serve the
// GTIDs it asks for (1236: purged binlogs, or this replica diverged or
// holds errant transactions) or the applier stopped on an error (a row
// that differs, a GTID out of order in strict mode).
func replicationBroken(rs *tabletmanagerpb.ReplicationStatus) bool {
	if rs == nil || rs.SourceHost == "" {
		return false
	}
	return rs.LastIoErrno == 1236 || (!rs.SqlRunning && rs.LastSqlErrno != 0)
}

// checkRepair is called by each health check: it asks for a repair when
// the data dir is gone or replication has been broken for RepairDelay.
func (a *Agent) checkRepair(rs *tabletmanagerpb.ReplicationStatus) {
	if !a.cfg.AutoRepair {
		return
	}
	st, _ := a.mysqld.State()
	a.mu.Lock()
	tt, repairing, replicating, ready := a.tabletType, a.repairing, a.replicating, a.ready
	a.mu.Unlock()
	if repairing || st == mysqlctl.Held {
		return
	}
	if !a.mysqld.DataDirPresent() {
		if tt == topodatapb.TabletType_PRIMARY {
			// Let a replica take over first; this tablet repairs as a
			// replica afterwards.
			a.fence("its data dir is gone")
			return
		}
		a.requestRepair("the data dir is gone")
		return
	}
	if st != mysqlctl.Running || tt == topodatapb.TabletType_PRIMARY || !replicating || !ready {
		return
	}
	broken := replicationBroken(rs)
	now := time.Now()
	a.mu.Lock()
	switch {
	case !broken:
		a.brokenSince = time.Time{}
	case a.brokenSince.IsZero():
		a.brokenSince = now
	}
	since := a.brokenSince
	a.mu.Unlock()
	if broken && now.Sub(since) >= a.cfg.RepairDelay {
		a.requestRepair(fmt.Sprintf("replication broken since %s: io %d %s; sql %d %s",
			since.Format(time.TimeOnly), rs.LastIoErrno, rs.LastIoError, rs.LastSqlErrno, rs.LastSqlError))
	}
}

// needsCopy reports whether this tablet's mysqld started on a new, empty
// data dir, so that it must copy its shard's data before it replicates.
func (a *Agent) needsCopy() bool {
	return a.cfg.AutoRepair && a.mysqld.Fresh() && !a.copied()
}

// copied reports whether a repair has filled the data dir since start.
func (a *Agent) copied() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.repairedOnce
}

// donorQuerier runs a flavor's queries on a peer through its TabletManager.
type donorQuerier struct {
	tm tabletmanagerpb.TabletManagerClient
}

func (q donorQuerier) Exec(ctx context.Context, sql string) error {
	_, err := q.tm.ExecuteFetchAsDba(ctx, &tabletmanagerpb.ExecuteFetchAsDbaRequest{Sql: sql})
	return err
}

func (q donorQuerier) Query(ctx context.Context, sql string) ([]mysqlconn.Row, error) {
	resp, err := q.tm.ExecuteFetchAsDba(ctx, &tabletmanagerpb.ExecuteFetchAsDbaRequest{Sql: sql})
	if err != nil {
		return nil, err
	}
	return mysqlconn.NamedRows(resp.Result)
}
