package tablet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/mosaicdb/mosaic/proto/tabletmanagerpb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/tablet/backupstore"
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
		if a.actions.lock(ctx) != nil {
			return
		}
		resp, err := a.repair(ctx, &tabletmanagerpb.RepairRequest{})
		a.actions.unlock()
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
		a.log.Info("replica repaired", "donor", topo.AliasString(resp.Donor), "backup", resp.BackupId, "position", resp.Position, "bytes", resp.Bytes, "duration", time.Duration(resp.DurationMs)*time.Millisecond)
	}
}

// repair rebuilds the replica from a physical copy: the backup
// req.BackupId from the backup storage, else req.Donor's data, else the
// best healthy peer's, else (no peer can give) the shard's latest backup
// in the storage. Then it resumes replication. Callers hold the action
// lock.
func (a *Agent) repair(ctx context.Context, req *tabletmanagerpb.RepairRequest) (*tabletmanagerpb.RepairResponse, error) {
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
	a.setNotServing("repairing: copying data")
	a.progress.begin("restore", 0)
	defer a.progress.end()

	sh, _, err := a.ts.GetShard(ctx, a.cfg.Keyspace, a.cfg.Shard)
	if err != nil {
		return nil, err
	}
	var src copySource
	var rebuild *archiveRebuild
	if req.GetFromArchive() {
		if rebuild, err = a.planRebuild(ctx, req); err != nil {
			return nil, err
		}
		src, err = a.openBackup(ctx, rebuild.plan.Backup)
	} else {
		src, err = a.openCopy(ctx, req)
	}
	if err != nil {
		return nil, err
	}
	defer src.Close()
	a.log.Info("copying data", "from", src.String())
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
	info, err := a.mysqld.Restore(ctx, src)
	if err != nil {
		return nil, fmt.Errorf("restore the copy from %s: %w", src, err)
	}
	pos, err := src.Position(ctx, info)
	if err != nil {
		return nil, err
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
		if rebuild != nil || sh.PrimaryAlias == nil || proto.Equal(sh.PrimaryAlias, a.alias) {
			return a.becomeReplica(ctx, nil, false)
		}
		s, err := a.sourceOf(ctx, sh.PrimaryAlias)
		if err != nil {
			return err
		}
		return a.becomeReplicaOf(ctx, sh.PrimaryAlias, s, true)
	})
	if err != nil {
		return nil, err
	}
	if rebuild != nil {
		if pos, err = a.replayArchive(ctx, rebuild, pos); err != nil {
			return nil, err
		}
	}
	if err := a.saveTablet(ctx); err != nil {
		return nil, err
	}
	a.mu.Lock()
	a.brokenSince = time.Time{}
	a.repairedOnce = true
	a.mu.Unlock()
	resp := &tabletmanagerpb.RepairResponse{Position: pos, Bytes: src.Bytes(), DurationMs: time.Since(start).Milliseconds()}
	src.describe(resp)
	if rebuild != nil {
		resp.ArchiveSegments = int32(len(rebuild.plan.Segments))
	}
	return resp, nil
}

// copySource is where a repair reads its physical copy from.
type copySource interface {
	io.Reader
	// Position is the GTID position of the copy, known once it was read to
	// the end; info is what the copy itself recorded.
	Position(ctx context.Context, info mysqlctl.BinlogInfo) (string, error)
	// Bytes is how much was read.
	Bytes() int64
	String() string
	describe(*tabletmanagerpb.RepairResponse)
	Close()
}

// openCopy opens the copy a repair asks for.
func (a *Agent) openCopy(ctx context.Context, req *tabletmanagerpb.RepairRequest) (copySource, error) {
	if id := req.GetBackupId(); id != "" {
		m, err := a.findBackup(ctx, id)
		if err != nil {
			return nil, err
		}
		return a.openBackup(ctx, m)
	}
	donor, err := a.chooseDonor(ctx, req.GetDonor())
	if err == nil {
		var src copySource
		if src, err = a.openPeer(ctx, donor); err == nil {
			return src, nil
		}
	}
	if req.GetDonor() != nil || a.cfg.Backup.Storage == "" {
		return nil, err
	}
	m, berr := a.findBackup(ctx, "latest")
	if berr != nil {
		return nil, fmt.Errorf("%w; and no backup to restore: %v", err, berr)
	}
	a.log.Warn("no peer can give a copy; restoring the latest backup", "peer_err", err, "backup", m.ID)
	return a.openBackup(ctx, m)
}

// findBackup returns the shard's backup id ("latest": the newest) from
// the backup storage.
func (a *Agent) findBackup(ctx context.Context, id string) (backupstore.Manifest, error) {
	store, err := a.backups.open(ctx)
	if err != nil {
		return backupstore.Manifest{}, err
	}
	if id == "latest" {
		return backupstore.LatestBackup(ctx, store, a.cfg.Keyspace, a.cfg.Shard)
	}
	return backupstore.FindBackup(ctx, store, a.cfg.Keyspace, a.cfg.Shard, id)
}

// peerCopy streams a peer's Backup RPC.
type peerCopy struct {
	alias  *topodatapb.TabletAlias
	flavor flavor.Flavor
	client *tmclient.Client
	cancel context.CancelFunc
	stream grpc.ServerStreamingClient[tabletmanagerpb.BackupResponse]
	buf    []byte
	bytes  int64
	pos    string
	done   bool
}

// openPeer starts a peer's backup and waits for its first bytes, so that a
// donor that fails at once costs nothing.
func (a *Agent) openPeer(ctx context.Context, t *topodatapb.Tablet) (copySource, error) {
	c, err := tmclient.DialTablet(t, a.sec.peerCreds)
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	stream, err := c.TM.Backup(sctx, &tabletmanagerpb.BackupRequest{})
	if err == nil {
		p := &peerCopy{alias: t.Alias, flavor: a.flavor, client: c, cancel: cancel, stream: stream}
		if err = p.fill(); err == nil {
			return p, nil
		}
	}
	cancel()
	c.Close()
	return nil, fmt.Errorf("backup from %s: %w", topo.AliasString(t.Alias), err)
}

// fill reads the next message; io.EOF once the stream ended.
func (p *peerCopy) fill() error {
	for len(p.buf) == 0 {
		if p.done {
			return io.EOF
		}
		msg, err := p.stream.Recv()
		if errors.Is(err, io.EOF) {
			p.done = true
			return io.EOF
		}
		if err != nil {
			return err
		}
		if msg.Position != "" {
			p.pos = msg.Position
		}
		p.buf = msg.Data
	}
	return nil
}

func (p *peerCopy) Read(b []byte) (int, error) {
	if err := p.fill(); err != nil {
		return 0, err
	}
	n := copy(b, p.buf)
	p.buf = p.buf[n:]
	p.bytes += int64(n)
	return n, nil
}

func (p *peerCopy) Position(ctx context.Context, info mysqlctl.BinlogInfo) (string, error) {
	// The donor sends the position after the archive, computed from its
	// binlog; an older donor does not, and is asked.
	for !p.done {
		if err := p.fill(); err != nil && !errors.Is(err, io.EOF) {
			return "", err
		}
		p.buf = nil
	}
	if p.pos != "" {
		return p.pos, nil
	}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	pos, err := p.flavor.PositionAt(pctx, donorQuerier{p.client.TM}, info.File, info.Offset)
	if errors.Is(err, flavor.ErrUnsupported) {
		return info.GTID, nil
	}
	return pos, err
}

func (p *peerCopy) Bytes() int64   { return p.bytes }
func (p *peerCopy) String() string { return "peer " + topo.AliasString(p.alias) }
func (p *peerCopy) describe(r *tabletmanagerpb.RepairResponse) {
	r.Donor = p.alias
}
func (p *peerCopy) Close() {
	p.cancel()
	p.client.Close()
}

// backupCopy reads a backup from the backup storage; its checksum is
// verified before the end of the data is reported.
type backupCopy struct {
	rc    io.ReadCloser
	m     backupstore.Manifest
	p     *progress
	bytes int64
}

func (a *Agent) openBackup(ctx context.Context, m backupstore.Manifest) (copySource, error) {
	store, err := a.backups.open(ctx)
	if err != nil {
		return nil, err
	}
	rc, err := backupstore.OpenSealed(ctx, store, m.DataName(), m.Data, a.backups.codec.Key)
	if err != nil {
		return nil, fmt.Errorf("backup %s: %w", m.ID, err)
	}
	a.progress.setDetail("restoring backup "+m.ID, m.Data.RawBytes)
	return &backupCopy{rc: rc, m: m, p: &a.progress}, nil
}

func (b *backupCopy) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.bytes += int64(n)
	b.p.add(int64(n))
	return n, err
}

func (b *backupCopy) Position(context.Context, mysqlctl.BinlogInfo) (string, error) {
	return b.m.Position, nil
}

func (b *backupCopy) Bytes() int64   { return b.bytes }
func (b *backupCopy) String() string { return "backup " + b.m.ID }
func (b *backupCopy) describe(r *tabletmanagerpb.RepairResponse) {
	r.BackupId = b.m.ID
}
func (b *backupCopy) Close() { b.rc.Close() }

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
			cl, err := tmclient.DialTablet(c.t, a.sec.peerCreds)
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

// copied reports whether the data dir holds the shard's data since start:
// a repair filled it, or the tablet was the shard's primary.
func (a *Agent) copied() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.repairedOnce || a.wasPrimary
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
