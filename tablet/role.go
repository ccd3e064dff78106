package tablet

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/tablet/flavor"
	"github.com/mosaicdb/mosaic/topo"
)

// The agent's role changes. Callers hold actionMu.

// applyRoleFromTopo makes the tablet what the shard record says: the
// primary if it names this tablet, a replica of the named primary
// otherwise, or a replica with no source while the shard has no primary.
func (a *Agent) applyRoleFromTopo(ctx context.Context) error {
	if err := a.createDatabase(ctx); err != nil {
		return fmt.Errorf("create database: %w", err)
	}
	sh, _, err := a.ts.GetShard(ctx, a.cfg.Keyspace, a.cfg.Shard)
	if err != nil {
		return err
	}
	switch {
	case proto.Equal(sh.PrimaryAlias, a.alias):
		return a.becomePrimary(ctx, sh.PrimaryTermStartUnixNano)
	case sh.PrimaryAlias != nil:
		src, err := a.sourceOf(ctx, sh.PrimaryAlias)
		if err != nil {
			return err
		}
		return a.becomeReplica(ctx, src, true)
	}
	return a.becomeReplica(ctx, nil, false)
}

// restoreRole applies the role again after mysqld restarted: a replica
// goes back to its source; a primary checks topo first, since the shard
// may have moved on while its mysqld was down.
func (a *Agent) restoreRole(ctx context.Context) error {
	a.mu.Lock()
	tt, src, replicating := a.tabletType, a.source, a.replicating
	a.mu.Unlock()
	if tt != topodatapb.TabletType_PRIMARY && src != nil {
		if err := a.createDatabase(ctx); err != nil {
			return err
		}
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
		return a.becomeReplica(ctx, src, replicating)
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

// sourceOf returns the replication source that tablet alias offers.
func (a *Agent) sourceOf(ctx context.Context, alias *topodatapb.TabletAlias) (*flavor.Source, error) {
	t, err := a.ts.GetTablet(ctx, alias)
	if err != nil {
		return nil, fmt.Errorf("look up primary: %w", err)
	}
	return &flavor.Source{
		Host:     t.Hostname,
		Port:     int(t.MysqlPort),
		User:     a.cfg.Mysqld.ReplUser,
		Password: a.cfg.Mysqld.ReplPassword,
	}, nil
}

// becomePrimary stops replication, turns semi-sync on when configured and
// read-only off. term is the primary term start; zero means now.
func (a *Agent) becomePrimary(ctx context.Context, term int64) error {
	if term == 0 {
		term = time.Now().UnixNano()
	}
	if err := a.flavor.ResetReplication(ctx, a.dba); err != nil {
		return fmt.Errorf("reset replication: %w", err)
	}
	if err := a.flavor.SetSemiSyncSource(ctx, a.dba, a.cfg.SemiSync, a.cfg.SemiSyncTimeout); err != nil {
		return fmt.Errorf("semi-sync: %w", err)
	}
	if err := a.flavor.SetReadOnly(ctx, a.dba, false); err != nil {
		return fmt.Errorf("read-only off: %w", err)
	}
	a.mu.Lock()
	a.tabletType = topodatapb.TabletType_PRIMARY
	a.termStart = term
	a.source = nil
	a.replicating = false
	a.ready = true
	a.notServing = ""
	a.mu.Unlock()
	a.log.Info("tablet is primary", "keyspace", a.cfg.Keyspace, "shard", a.cfg.Shard, "term_start", time.Unix(0, term))
	a.checkHealth(ctx)
	return nil
}

// becomeReplica makes the tablet read-only and, with a source, points
// replication at it and starts it when start is set. A primary turns into
// the init tablet type.
func (a *Agent) becomeReplica(ctx context.Context, src *flavor.Source, start bool) error {
	if err := a.flavor.SetReadOnly(ctx, a.dba, true); err != nil {
		return fmt.Errorf("read-only on: %w", err)
	}
	if err := a.flavor.SetSemiSyncSource(ctx, a.dba, false, a.cfg.SemiSyncTimeout); err != nil {
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
	a.mu.Lock()
	if a.tabletType == topodatapb.TabletType_PRIMARY {
		a.tabletType = a.cfg.InitTabletType
	}
	a.termStart = 0
	a.source = src
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
