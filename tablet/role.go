package tablet

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/mosaicdb/mosaic/proto/tabletmanagerpb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/tablet/flavor"
	"github.com/mosaicdb/mosaic/tablet/tmclient"
	"github.com/mosaicdb/mosaic/topo"
)

// The agent's role changes. Callers hold the action lock.

// applyRoleFromTopo makes the tablet what the shard record says: the
// primary if it names this tablet, a replica of the named primary
// otherwise, or a replica with no source while the shard has no primary.
func (a *Agent) applyRoleFromTopo(ctx context.Context) error {
	sh, _, err := a.ts.GetShard(ctx, a.cfg.Keyspace, a.cfg.Shard)
	if err != nil {
		return err
	}
	switch {
	case proto.Equal(sh.PrimaryAlias, a.alias):
		return a.becomePrimary(ctx, sh.PrimaryTermStartUnixNano)
	case sh.PrimaryAlias != nil && a.needsCopy():
		// A new, empty data dir in a shard with data: replicating the whole
		// history from the primary's binlog may be impossible (purged) or
		// slow; the repair loop copies a peer's data first.
		src, err := a.sourceOf(ctx, sh.PrimaryAlias)
		if err != nil {
			return err
		}
		if err := a.becomeReplicaOf(ctx, sh.PrimaryAlias, src, false); err != nil {
			return err
		}
		a.setNotServing("waiting for a copy of the shard's data")
		a.requestRepair("new tablet with an empty data dir")
		return nil
	case sh.PrimaryAlias != nil:
		src, err := a.sourceOf(ctx, sh.PrimaryAlias)
		if err != nil {
			return err
		}
		return a.followPrimary(ctx, sh.PrimaryAlias, src)
	}
	return a.becomeReplica(ctx, nil, false)
}

// followPrimary makes the tablet a replica of primary (whose mysqld is
// src) and starts replication, unless the tablet holds transactions the
// primary lacks: a former primary whose last commits reached no replica
// (they were never acknowledged, but mysqld recovered them from its
// binlog), or a replica that received them and missed the failover. Such
// a tablet has diverged; it points at the primary without replicating,
// does not serve, and asks for a repair (a copy of a healthy peer). When
// the primary cannot be asked, replication starts: a source refuses a
// replica that asks for GTIDs it does not hold (gtid_strict_mode), and a
// replication broken that way is repaired too (checkRepair).
func (a *Agent) followPrimary(ctx context.Context, primary *topodatapb.TabletAlias, src *flavor.Source) error {
	errant, err := a.errantAgainst(ctx, primary)
	if err != nil {
		a.log.Warn("cannot compare this tablet's transactions with the primary's", "primary", topo.AliasString(primary), "err", err)
	}
	if errant == "" {
		return a.becomeReplicaOf(ctx, primary, src, true)
	}
	a.log.Error("tablet holds transactions the primary lacks; it will be rebuilt, not replicate", "primary", topo.AliasString(primary), "errant", errant)
	if err := a.becomeReplicaOf(ctx, primary, src, false); err != nil {
		return err
	}
	a.setNotServing(fmt.Sprintf("holds transactions %s that primary %s lacks: waiting for a repair", errant, topo.AliasString(primary)))
	a.requestRepair("errant transactions " + errant)
	return nil
}

// replicatesFrom reports whether the tablet replicates from primary at src
// now, both replication threads running.
func (a *Agent) replicatesFrom(ctx context.Context, primary *topodatapb.TabletAlias, src *flavor.Source) bool {
	a.mu.Lock()
	same := a.replicating && a.source != nil && *a.source == *src && proto.Equal(a.sourceAlias, primary)
	a.mu.Unlock()
	if !same {
		return false
	}
	// The shard watch may have started replication a few milliseconds
	// ago, its IO thread still connecting (Slave_IO_Running: Connecting).
	// Restarting it now would connect to the primary twice in a row, and
	// MariaDB's semi-sync can then count no replica: the new primary's
	// commits waited for an ack for 53 s (TestFailoverHungPrimary in CI).
	// So wait for the connection a little before deciding.
	deadline := time.Now().Add(2 * time.Second)
	for {
		rs, err := a.flavor.ReplicationStatus(ctx, a.dba)
		switch {
		case err != nil:
			return false
		case rs.IoRunning && rs.SqlRunning:
			return true
		case !rs.SqlRunning || rs.LastIoErrno != 0 || time.Now().After(deadline):
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// errantAgainst returns the transactions this tablet holds that primary
// lacks ("" when none is known), asking primary's tablet for its binlog
// history (Status, which a tablet may call on a peer).
func (a *Agent) errantAgainst(ctx context.Context, primary *topodatapb.TabletAlias) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	mine, err := a.flavor.History(ctx, a.dba)
	if err != nil {
		return "", fmt.Errorf("read own binlog history: %w", err)
	}
	t, err := a.ts.GetTablet(ctx, primary)
	if err != nil {
		return "", err
	}
	c, err := tmclient.DialTablet(t, a.sec.peerCreds)
	if err != nil {
		return "", err
	}
	defer c.Close()
	st, err := c.TM.Status(ctx, &tabletmanagerpb.StatusRequest{})
	if err != nil {
		return "", fmt.Errorf("read the binlog history of %s: %w", topo.AliasString(primary), err)
	}
	if st.BinlogHistory == "" {
		return "", fmt.Errorf("%s does not report its binlog history", topo.AliasString(primary))
	}
	return a.flavor.Errant(mine, st.BinlogHistory)
}

// restoreRole applies the role again after mysqld restarted: a replica
// goes back to its source; a primary checks topo first, since the shard
// may have moved on while its mysqld was down.
func (a *Agent) restoreRole(ctx context.Context) error {
	a.mu.Lock()
	tt, src, replicating := a.tabletType, a.source, a.replicating
	a.mu.Unlock()
	if tt != topodatapb.TabletType_PRIMARY && src != nil {
		// The source and gtid_slave_pos survive a restart (master.info and
		// a crash-safe table), so replication just resumes. Re-pointing it
		// would copy gtid_binlog_pos over gtid_slave_pos, which is right
		// for a former primary but not after a crash of a replica whose
		// binlog is not synced on every commit.
		if !replicating {
			a.markReady()
			return nil
		}
		err := a.flavor.StartReplication(ctx, a.dba, a.cfg.SemiSync)
		if err == nil {
			a.markReady()
			a.log.Info("replication resumed after mysqld restart")
			return nil
		}
		a.log.Warn("cannot resume replication; pointing it at the source again", "err", err)
		a.mu.Lock()
		srcAlias := a.sourceAlias
		a.mu.Unlock()
		return a.becomeReplicaOf(ctx, srcAlias, src, replicating)
	}
	return a.applyRoleFromTopo(ctx)
}

// markReady says the role is applied again after a mysqld restart.
func (a *Agent) markReady() {
	a.mu.Lock()
	a.ready = true
	a.notServing = ""
	a.mu.Unlock()
}

// setNotServing stops serving at once, with reason, until the next role
// change clears it.
func (a *Agent) setNotServing(reason string) {
	a.mu.Lock()
	a.notServing = reason
	tt := a.tabletType
	a.mu.Unlock()
	a.qs.SetServing(tt, false, reason)
	a.kickHealth()
}

// sourceOf returns the replication source that tablet alias offers.
func (a *Agent) sourceOf(ctx context.Context, alias *topodatapb.TabletAlias) (*flavor.Source, error) {
	t, err := a.ts.GetTablet(ctx, alias)
	if err != nil {
		return nil, fmt.Errorf("look up primary: %w", err)
	}
	return &flavor.Source{
		Host:     t.Hostname,
		Port:     int(t.MysqlPort),
		User:     a.mysqld.ReplicationUser(),
		Password: a.mysqld.ReplicationPassword().Reveal(),
	}, nil
}

// becomePrimary makes the tablet the shard's writable primary for the
// term the shard record names it with: it takes the shard's primary lease
// (the topo fence), stops replication, sets semi-sync for the shard's
// replicas and turns read-only off. term zero takes the record's term. It
// refuses when the record does not name this tablet with that term: a
// tablet takes writes only while the record names it.
func (a *Agent) becomePrimary(ctx context.Context, term int64) error {
	sh, v, err := a.ts.GetShard(ctx, a.cfg.Keyspace, a.cfg.Shard)
	if err != nil {
		return err
	}
	a.mu.Lock()
	if v > a.shardVersion {
		// Shard watch events older than this read are stale now.
		a.shardVersion, a.shardRecord = v, sh
	}
	a.mu.Unlock()
	if term == 0 {
		term = sh.PrimaryTermStartUnixNano
	}
	if !proto.Equal(sh.PrimaryAlias, a.alias) || sh.PrimaryTermStartUnixNano != term || term == 0 {
		return status.Errorf(codes.FailedPrecondition, "the shard record names %s (term %d), not %s with term %d: write the shard record first",
			topo.AliasString(sh.PrimaryAlias), sh.PrimaryTermStartUnixNano, a.aliasString(), term)
	}
	if err := a.acquireLease(ctx, term); err != nil {
		return err
	}
	err = a.applyPrimary(ctx, term)
	if err != nil {
		// Not writable after all: give the lease back so that a failover
		// can pick someone else.
		a.releaseLease(ctx)
	}
	return err
}

func (a *Agent) applyPrimary(ctx context.Context, term int64) error {
	if err := a.flavor.ResetReplication(ctx, a.dba); err != nil {
		return fmt.Errorf("reset replication: %w", err)
	}
	acks := a.wantSemiSyncAcks(ctx)
	if err := a.flavor.SetSemiSyncSource(ctx, a.dba, acks, a.cfg.SemiSyncTimeout); err != nil {
		return fmt.Errorf("semi-sync: %w", err)
	}
	if err := a.flavor.SetReadOnly(ctx, a.dba, false); err != nil {
		return fmt.Errorf("read-only off: %w", err)
	}
	a.mu.Lock()
	a.tabletType = topodatapb.TabletType_PRIMARY
	a.wasPrimary = true
	a.termStart = term
	a.source = nil
	a.sourceAlias = nil
	a.replicating = false
	a.semiSyncAcks = acks
	a.ready = true
	a.notServing = ""
	a.mu.Unlock()
	a.log.Info("tablet is primary", "keyspace", a.cfg.Keyspace, "shard", a.cfg.Shard, "term_start", time.Unix(0, term), "semi_sync_acks", acks)
	a.checkHealth(ctx)
	a.vrepl.SetPrimary(true)
	return nil
}

// becomeReplicaOf is becomeReplica with the alias of the primary src
// belongs to, so that the shard watch knows whom the tablet follows.
func (a *Agent) becomeReplicaOf(ctx context.Context, primary *topodatapb.TabletAlias, src *flavor.Source, start bool) error {
	if err := a.becomeReplica(ctx, src, start); err != nil {
		return err
	}
	a.mu.Lock()
	a.sourceAlias = primary
	a.mu.Unlock()
	return nil
}

// becomeReplica makes the tablet read-only and, with a source, points
// replication at it and starts it when start is set. A primary turns into
// the init tablet type.
func (a *Agent) becomeReplica(ctx context.Context, src *flavor.Source, start bool) error {
	a.vrepl.SetPrimary(false)
	if err := a.readOnlyNow(ctx); err != nil {
		return fmt.Errorf("read-only on: %w", err)
	}
	if err := a.flavor.SetSemiSyncSource(ctx, a.dba, 0, a.cfg.SemiSyncTimeout); err != nil {
		return fmt.Errorf("semi-sync off: %w", err)
	}
	if src != nil {
		if err := a.flavor.SetReplicationSource(ctx, a.dba, *src); err != nil {
			return fmt.Errorf("set replication source: %w", err)
		}
		if start {
			if err := a.flavor.StartReplication(ctx, a.dba, a.cfg.SemiSync); err != nil {
				return fmt.Errorf("start replication: %w", err)
			}
		}
	}
	wasPrimary := a.tabletTypeNow() == topodatapb.TabletType_PRIMARY
	if wasPrimary {
		// Read-only is on: the lease may go.
		a.releaseLease(ctx)
	}
	a.mu.Lock()
	if a.tabletType == topodatapb.TabletType_PRIMARY {
		a.tabletType = a.cfg.InitTabletType
	}
	a.termStart = 0
	a.semiSyncAcks = 0
	a.source = src
	a.sourceAlias = nil
	a.replicating = start && src != nil
	a.caughtUp = time.Now()
	a.ready = true
	a.notServing = ""
	a.mu.Unlock()
	if src != nil {
		a.log.Info("tablet replicates", "source_host", src.Host, "source_port", src.Port, "running", start)
	} else {
		a.log.Info("tablet is a replica without a source; waiting for a primary")
	}
	a.checkHealth(ctx)
	return nil
}

// aliasString is a helper for messages.
func (a *Agent) aliasString() string { return topo.AliasString(a.alias) }
