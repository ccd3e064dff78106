package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/pflag"

	"github.com/mosaicdb/mosaic/tablet"
)

// backupFlags are a tablet's backup storage flags (mosaic tablet and
// mosaic up).
type backupFlags struct {
	cfg *tablet.BackupConfig
	dir string
}

func addBackupFlags(fs *pflag.FlagSet, cfg *tablet.BackupConfig) *backupFlags {
	f := &backupFlags{cfg: cfg}
	fs.StringVar(&cfg.Storage, "backup-storage", cfg.Storage, "backup storage URL: file:///dir or s3://bucket/prefix?endpoint=host:port (credentials from the environment or &credentials=FILE; see docs/backup.md); backups and restores use it")
	fs.StringVar(&f.dir, "backup-dir", "", "a folder as backup storage (the same as --backup-storage file://DIR)")
	fs.StringVar(&cfg.KeyFile, "backup-key-file", cfg.KeyFile, "encrypt backups at rest with the 32-byte key in this file (openssl rand -hex 32); restores need the same file")
	fs.BoolVar(&cfg.Compress, "backup-compress", cfg.Compress, "compress backups with zstd")
	fs.Int64Var(&cfg.PartSize, "backup-part-size", cfg.PartSize, "S3 multipart part size in bytes (0: 16 MiB; an upload holds one part in memory, an object has at most 10,000)")
	fs.DurationVar(&cfg.Interval, "backup-interval", cfg.Interval, "take a full backup of the shard this often, from a healthy replica (the primary's tablet schedules it; 0: only on demand)")
	fs.IntVar(&cfg.Retention.Keep, "backup-keep", cfg.Retention.Keep, "after a scheduled backup keep this many of the shard's newest backups (0: no count rule)")
	fs.DurationVar(&cfg.Retention.MaxAge, "backup-keep-age", cfg.Retention.MaxAge, "after a scheduled backup keep the backups needed to restore any moment this far back (0: no age rule)")
	fs.BoolVar(&cfg.ArchiveBinlogs, "binlog-archive", cfg.ArchiveBinlogs, "while primary, stream the binlog into the backup storage in segments (the archive continues across failovers from its last transaction)")
	fs.DurationVar(&cfg.ArchiveRotate, "binlog-archive-rotate", cfg.ArchiveRotate, "close an archived binlog segment after this long (at most 1m): the most a primary's loss can take from the archive")
	fs.Int64Var(&cfg.ArchiveMaxBytes, "binlog-archive-max-bytes", cfg.ArchiveMaxBytes, "close an archived binlog segment at this size")
	fs.DurationVar(&cfg.RestorePointInterval, "restore-point-interval", cfg.RestorePointInterval, "take a keyspace-wide consistent restore point this often (the primary of the keyspace's first shard takes them; 0: only with mosaicctl restore-point create)")
	fs.DurationVar(&cfg.RestorePointKeep, "restore-point-keep", cfg.RestorePointKeep, "delete restore points older than this")
	return f
}

// apply folds --backup-dir into the config.
func (f *backupFlags) apply() error {
	if f.dir == "" {
		return nil
	}
	if f.cfg.Storage != "" {
		return fmt.Errorf("give --backup-storage or --backup-dir, not both")
	}
	abs, err := filepath.Abs(f.dir)
	if err != nil {
		return err
	}
	f.cfg.Storage = "file://" + abs
	return nil
}
