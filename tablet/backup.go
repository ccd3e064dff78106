package tablet

import (
	"bufio"

	"google.golang.org/grpc"

	"github.com/mosaicdb/mosaic/proto/tabletmanagerpb"
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
	bw := bufio.NewWriterSize(streamWriter{stream}, backupChunk)
	if err := a.mysqld.Backup(stream.Context(), bw); err != nil {
		return tmError("backup", err)
	}
	return tmError("backup", bw.Flush())
}
