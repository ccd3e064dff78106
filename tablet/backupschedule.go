package tablet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/mosaicdb/mosaic/proto/tabletmanagerpb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/tablet/backupstore"
	"github.com/mosaicdb/mosaic/tablet/tmclient"
	"github.com/mosaicdb/mosaic/topo"
)

// backupScheduleLoop takes the shard's scheduled full backups
// (BackupConfig.Interval): while this tablet is the primary, once the
// shard's newest backup in storage is Interval old, it asks a healthy
// replica for a backup (the primary is never copied) and then applies the
// retention. The storage, not this tablet, remembers when the last backup
// was taken, so a failover does not restart the schedule.
func (a *Agent) backupScheduleLoop(ctx context.Context) {
	cfg := a.cfg.Backup
	if cfg.Storage == "" || cfg.Interval <= 0 {
		return
	}
	check := min(cfg.Interval/4, 30*time.Second)
	check = max(check, 250*time.Millisecond)
	retry := min(cfg.Interval, time.Minute)
	next := time.Now()
	t := time.NewTicker(check)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if a.tabletTypeNow() != topodatapb.TabletType_PRIMARY || time.Now().Before(next) {
			continue
		}
		due, err := a.backupDue(ctx)
		if err != nil {
			a.log.Warn("scheduled backup: cannot read the backup storage", "err", err)
			next = time.Now().Add(retry)
			continue
		}
		if !due {
			continue
		}
		m, err := a.scheduledBackup(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			a.backups.scheduledFailures.Inc()
			a.log.Warn("scheduled backup failed", "err", err, "retry_in", retry)
			next = time.Now().Add(retry)
			continue
		}
		a.log.Info("scheduled backup stored", "backup", m.BackupId, "position", m.Position, "stored_bytes", m.StoredBytes)
		a.applyRetention(ctx)
	}
}

// backupDue says whether the shard's newest backup is Interval old (or
// there is none).
func (a *Agent) backupDue(ctx context.Context) (bool, error) {
	store, err := a.backups.open(ctx)
	if err != nil {
		return false, err
	}
	m, err := backupstore.LatestBackup(ctx, store, a.cfg.Keyspace, a.cfg.Shard)
	if errors.Is(err, backupstore.ErrNoBackup) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return time.Since(m.End) >= a.cfg.Backup.Interval, nil
}

// scheduledBackup runs BackupToStorage on the shard's most advanced
// healthy replica.
func (a *Agent) scheduledBackup(ctx context.Context) (*tabletmanagerpb.BackupToStorageResponse, error) {
	t, err := a.chooseDonor(ctx, nil)
	if err != nil {
		return nil, err
	}
	if t.Type == topodatapb.TabletType_PRIMARY {
		return nil, fmt.Errorf("no healthy replica to back up (a scheduled backup never copies the primary)")
	}
	c, err := tmclient.DialTablet(t, a.sec.peerCreds)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	a.log.Info("scheduled backup", "from", topo.AliasString(t.Alias))
	stream, err := c.TM.BackupToStorage(ctx, &tabletmanagerpb.BackupToStorageRequest{})
	if err != nil {
		return nil, err
	}
	var last *tabletmanagerpb.BackupToStorageResponse
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("backup on %s: %w", topo.AliasString(t.Alias), err)
		}
		last = msg
	}
	if last == nil || last.BackupId == "" {
		return nil, fmt.Errorf("backup on %s ended without a backup", topo.AliasString(t.Alias))
	}
	return last, nil
}

// applyRetention deletes the backups the retention lets go, and the
// archived binlogs only they needed.
func (a *Agent) applyRetention(ctx context.Context) {
	r := a.cfg.Backup.Retention
	if r.Keep <= 0 && r.MaxAge <= 0 {
		return
	}
	store, err := a.backups.open(ctx)
	if err != nil {
		a.log.Warn("backup retention", "err", err)
		return
	}
	res, err := backupstore.Prune(ctx, store, a.cfg.Keyspace, a.cfg.Shard, r, time.Now(), false)
	if err != nil {
		a.log.Warn("backup retention", "err", err)
		return
	}
	for _, m := range res.Backups {
		a.log.Info("backup expired and deleted", "backup", m.ID, "end", m.End)
	}
	if len(res.Segments) > 0 {
		a.log.Info("archived binlog segments deleted: no kept backup needs them", "segments", len(res.Segments))
	}
}
