package tablet

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc"

	"github.com/mosaicdb/mosaic/proto/tabletmanagerpb"
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
