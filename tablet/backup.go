package tablet

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mosaicdb/mosaic/proto/tabletmanagerpb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/tablet/backupstore"
	"github.com/mosaicdb/mosaic/tablet/flavor"
	"github.com/mosaicdb/mosaic/tablet/mysqlctl"
)

// backupChunk is the size of one Backup message.
const backupChunk = 1 << 20

// streamWriter sends what is written to it as Backup messages.
type streamWriter struct {
	stream grpc.ServerStreamingServer[tabletmanagerpb.BackupResponse]
}

func (w streamWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		c := min(len(p), backupChunk)
		if err := w.stream.Send(&tabletmanagerpb.BackupResponse{Data: p[:c]}); err != nil {
			return n, err
		}
		n += c
		p = p[c:]
	}
	return n, nil
}

// Backup implements the TabletManager Backup RPC: an xbstream archive of
// this tablet's data, made by mariadb-backup while mysqld keeps serving.
func (s *tmServer) Backup(_ *tabletmanagerpb.BackupRequest, stream grpc.ServerStreamingServer[tabletmanagerpb.BackupResponse]) error {
	if err := s.requireMysqld(); err != nil {
		return err
	}
	a := s.a
	a.log.Info("tablet action", "action", "backup")
	ctx := stream.Context()
	bw := bufio.NewWriterSize(streamWriter{stream}, backupChunk)
	info, err := a.mysqld.Backup(ctx, bw)
	if err != nil {
		return tmError("backup", err)
	}
	if err := bw.Flush(); err != nil {
		return tmError("backup", err)
	}
	pos, err := a.copyPosition(ctx, info)
	if err != nil {
		return tmError("backup position", err)
	}
	return stream.Send(&tabletmanagerpb.BackupResponse{Position: pos})
}

// BackupToStorage implements the TabletManager RPC: a full backup of this
// tablet into its backup storage, with progress messages every second.
func (s *tmServer) BackupToStorage(req *tabletmanagerpb.BackupToStorageRequest, stream grpc.ServerStreamingServer[tabletmanagerpb.BackupToStorageResponse]) error {
	if err := s.requireMysqld(); err != nil {
		return err
	}
	a := s.a
	if a.tabletTypeNow() == topodatapb.TabletType_PRIMARY && !req.AllowPrimary {
		return status.Error(codes.FailedPrecondition, "backup: this tablet is the primary; back up a replica (or allow the primary)")
	}
	a.log.Info("tablet action", "action", "backup to storage")
	ctx := stream.Context()
	done := make(chan struct{})
	sendErr := make(chan error, 1)
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				sendErr <- nil
				return
			case <-t.C:
				if p := a.progress.snapshot(); p != nil && p.Action == "backup" {
					if err := stream.Send(&tabletmanagerpb.BackupToStorageResponse{Bytes: p.Bytes, TotalEstimate: p.Total}); err != nil {
						sendErr <- err
						return
					}
				}
			}
		}
	}()
	m, err := a.backupToStorage(ctx)
	close(done)
	if serr := <-sendErr; err == nil && serr != nil {
		err = serr
	}
	if err != nil {
		return tmError("backup", err)
	}
	return stream.Send(&tabletmanagerpb.BackupToStorageResponse{
		Bytes: m.Data.RawBytes, TotalEstimate: m.Data.RawBytes, BackupId: m.ID, Position: m.Position, StoredBytes: m.Data.StoredBytes})
}

// backupToStorage copies this tablet's data into the backup storage and
// publishes the backup's manifest. One backup runs at a time.
func (a *Agent) backupToStorage(ctx context.Context) (backupstore.Manifest, error) {
	store, err := a.backups.open(ctx)
	if err != nil {
		return backupstore.Manifest{}, err
	}
	if !a.backupRunning.CompareAndSwap(false, true) {
		return backupstore.Manifest{}, status.Error(codes.FailedPrecondition, "a backup of this tablet is running already")
	}
	defer a.backupRunning.Store(false)
	start := time.Now().UTC()
	m := backupstore.Manifest{
		ID:           backupstore.NewBackupID(start, a.cfg.Alias),
		Keyspace:     a.cfg.Keyspace,
		Shard:        a.cfg.Shard,
		Tablet:       a.cfg.Alias,
		Flavor:       a.flavor.Name(),
		MysqlVersion: a.mysqld.Version(),
		Start:        start,
	}
	a.progress.begin("backup", a.mysqld.DataSize())
	defer a.progress.end()
	w, err := a.backups.codec.Create(ctx, store, m.DataName())
	if err != nil {
		return m, err
	}
	info, err := a.mysqld.Backup(ctx, progressWriter{w: w, p: &a.progress})
	if err != nil {
		w.Abort(err)
		return m, err
	}
	pos, err := a.copyPosition(ctx, info)
	if err != nil {
		w.Abort(err)
		return m, fmt.Errorf("backup position: %w", err)
	}
	enc, err := w.Close()
	if err != nil {
		return m, err
	}
	m.Position, m.Data, m.End = pos, enc, time.Now().UTC()
	if err := backupstore.PutManifest(ctx, store, m); err != nil {
		store.Delete(context.WithoutCancel(ctx), m.DataName())
		return m, fmt.Errorf("publish the backup's manifest: %w", err)
	}
	a.backups.uploaded.WithLabelValues("backup").Add(float64(enc.StoredBytes))
	a.backups.succeeded(m.End)
	a.log.Info("backup stored", "backup", m.ID, "position", pos, "bytes", enc.RawBytes, "stored_bytes", enc.StoredBytes, "duration", time.Since(start).Round(time.Millisecond), "storage", store.String())
	return m, nil
}

// copyPosition returns the GTID position of a copy of this server: the
// position of its binlog at the copy's file and offset. The GTID
// mariadb-backup records is the server's gtid_current_pos, which can lag
// the data on a former primary, so it is used only when the flavor cannot
// map an offset.
func (a *Agent) copyPosition(ctx context.Context, info mysqlctl.BinlogInfo) (string, error) {
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	pos, err := a.flavor.PositionAt(pctx, a.dba, info.File, info.Offset)
	if errors.Is(err, flavor.ErrUnsupported) {
		return info.GTID, nil
	}
	if err != nil {
		return "", fmt.Errorf("position of %s:%d: %w", info.File, info.Offset, err)
	}
	return pos, nil
}
