package tablet

import (
	"context"
	"fmt"
	"os"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mosaicdb/mosaic/proto/tabletmanagerpb"
	"github.com/mosaicdb/mosaic/tablet/backupstore"
	"github.com/mosaicdb/mosaic/tablet/pitr"
)

// A shard that lost every tablet is rebuilt from its backup storage alone
// (a Repair with from_archive): a new tablet restores the newest backup
// before the target, replays the archived binlog after it up to the
// target into its own mysqld, and points its replication nowhere. The
// operator's tool then makes it the primary and has the shard's other
// tablets copy it (mosaicctl restore --new-primary).

// archiveRebuild is what a rebuild from the archive restores.
type archiveRebuild struct {
	store  backupstore.Store
	plan   pitr.Plan
	target pitr.Target
}

// planRebuild chooses the backup and the archived segments a rebuild
// restores.
func (a *Agent) planRebuild(ctx context.Context, req *tabletmanagerpb.RepairRequest) (*archiveRebuild, error) {
	if req.GetDonor() != nil || req.GetBackupId() != "" {
		return nil, status.Error(codes.InvalidArgument, "a rebuild from the archive takes no donor and no backup id: it chooses the backup before its target")
	}
	target := pitr.Target{Latest: true}
	switch {
	case req.GetToTimeUnixNano() != 0 && req.GetToGtid() != "":
		return nil, status.Error(codes.InvalidArgument, "give a time or a GTID to rebuild to, not both")
	case req.GetToTimeUnixNano() != 0:
		target = pitr.Target{Time: time.Unix(0, req.GetToTimeUnixNano())}
	case req.GetToGtid() != "":
		seq, err := backupstore.SeqOf(req.GetToGtid())
		if err != nil || seq == 0 {
			return nil, status.Errorf(codes.InvalidArgument, "to_gtid %q: want a GTID like 0-101-42 (%v)", req.GetToGtid(), err)
		}
		target = pitr.Target{Seq: seq}
	}
	store, err := a.backups.open(ctx)
	if err != nil {
		return nil, err
	}
	plan, err := pitr.MakePlan(ctx, store, a.cfg.Keyspace, a.cfg.Shard, target)
	if err != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "rebuild %s/%s from its backup storage to %s: %v", a.cfg.Keyspace, a.cfg.Shard, target, err)
	}
	a.log.Info("rebuilding the shard from its backup storage", "backup", plan.Backup.ID, "segments", len(plan.Segments), "to", target.String())
	return &archiveRebuild{store: store, plan: plan, target: target}, nil
}

// replayArchive applies the archived transactions after pos (the
// restored backup's position) up to the rebuild's target to the running
// mysqld, and returns the position then reached.
func (a *Agent) replayArchive(ctx context.Context, r *archiveRebuild, pos string) (string, error) {
	from, err := backupstore.SeqOf(pos)
	if err != nil {
		return "", err
	}
	f, err := os.CreateTemp(a.cfg.Dir, "replay-*.binlog")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name())
	last, lastGTID, err := pitr.WriteBinlog(ctx, r.store, a.backups.codec.Key, r.plan.Segments, from, r.target, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("gather the archived binlog: %w", err)
	}
	if last == 0 {
		a.log.Info("nothing archived after the backup to replay", "position", pos)
		return pos, nil
	}
	a.setNotServing("rebuilding: replaying the archived binlog")
	a.log.Info("replaying the archived binlog", "segments", len(r.plan.Segments), "from", pos, "to", lastGTID)
	if err := a.mysqld.ReplayBinlog(ctx, f.Name()); err != nil {
		return "", err
	}
	now, err := a.flavor.Position(ctx, a.dba)
	if err != nil {
		return "", err
	}
	a.log.Info("archived binlog replayed", "position", now)
	return now, nil
}
