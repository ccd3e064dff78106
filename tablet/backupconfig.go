package tablet

import (
	"context"
	"errors"
	"math"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mosaicdb/mosaic/tablet/backupstore"
)

// BackupConfig says where a tablet keeps backups, and what it does there
// on its own.
type BackupConfig struct {
	// Storage is the backup storage URL (backupstore.OpenStore): file:///dir
	// or s3://bucket/prefix?endpoint=...; empty: none, and nothing below
	// applies.
	Storage string
	// KeyFile, when set, encrypts what the tablet stores (backups and
	// binlog segments) with the key in it, and decrypts what it restores.
	KeyFile string
	// Compress compresses what the tablet stores with zstd.
	Compress bool
	// PartSize is the multipart upload part size (S3); 0: the store's
	// default.
	PartSize int64
	// Interval is how often the shard takes a scheduled full backup (the
	// primary's tablet asks a healthy replica); 0: none. Retention then
	// deletes the backups it lets go, and the binlog segments no kept
	// backup needs.
	Interval  time.Duration
	Retention backupstore.Retention
	// ArchiveBinlogs makes the primary stream its binlog into the storage
	// (archive.go), in segments closed every ArchiveRotate or at
	// ArchiveMaxBytes, whichever comes first.
	ArchiveBinlogs  bool
	ArchiveRotate   time.Duration
	ArchiveMaxBytes int64
	// RestorePointInterval is how often the keyspace takes a restore
	// point (restorepointloop.go; the primary of its first shard takes
	// them); 0: only on demand. RestorePointKeep is how long they are
	// kept.
	RestorePointInterval time.Duration
	RestorePointKeep     time.Duration
}

// DefaultBackupConfig returns the defaults: no storage; once one is given,
// compressed backups, no schedule.
func DefaultBackupConfig() BackupConfig {
	return BackupConfig{Compress: true, ArchiveRotate: 30 * time.Second, ArchiveMaxBytes: 64 << 20, RestorePointKeep: 24 * time.Hour}
}

// Validate checks a BackupConfig.
func (c BackupConfig) Validate() error {
	var errs []error
	if c.Storage == "" && (c.Interval > 0 || c.KeyFile != "") {
		errs = append(errs, errors.New("tablet: a backup interval or key file needs a backup storage"))
	}
	if c.KeyFile != "" {
		if _, err := backupstore.ReadKeyFile(c.KeyFile); err != nil {
			errs = append(errs, err)
		}
	}
	if c.RestorePointInterval < 0 || c.RestorePointKeep < 0 {
		errs = append(errs, errors.New("tablet: restore point interval and keep must not be negative"))
	}
	if c.Interval < 0 || c.Retention.Keep < 0 || c.Retention.MaxAge < 0 || c.PartSize < 0 {
		errs = append(errs, errors.New("tablet: backup interval, retention and part size must not be negative"))
	}
	if c.ArchiveBinlogs && (c.ArchiveRotate <= 0 || c.ArchiveRotate > time.Minute || c.ArchiveMaxBytes < 1<<20) {
		errs = append(errs, errors.New("tablet: archived binlog segments close every 1 minute or less and at 1 MiB or more"))
	}
	if c.ArchiveBinlogs && c.Storage == "" {
		errs = append(errs, errors.New("tablet: binlog archiving needs a backup storage"))
	}
	return errors.Join(errs...)
}

// backups is the agent's access to its backup storage, opened on first
// use (opening an S3 store asks the server), and its metrics.
type backups struct {
	cfg   BackupConfig
	codec backupstore.Codec

	mu    sync.Mutex
	store backupstore.Store

	uploaded          *prometheus.CounterVec
	lastBackup        prometheus.Gauge
	scheduledFailures prometheus.Counter
	archiveLag        prometheus.Gauge
	archiveLagBits    atomic.Uint64
	lastTime          time.Time
	lastMu            sync.Mutex
}

func newBackups(cfg BackupConfig, reg prometheus.Registerer) (*backups, error) {
	b := &backups{cfg: cfg, codec: backupstore.Codec{Compress: cfg.Compress}}
	if cfg.KeyFile != "" {
		k, err := backupstore.ReadKeyFile(cfg.KeyFile)
		if err != nil {
			return nil, err
		}
		b.codec.Key = k
	}
	b.uploaded = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mosaic_tablet_backup_uploaded_bytes_total",
		Help: "Bytes this tablet stored in backup storage (after compression), by kind: backup or binlog.",
	}, []string{"kind"})
	b.lastBackup = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "mosaic_tablet_backup_last_success_timestamp_seconds",
		Help: "When this tablet last finished a backup into storage (unix seconds; 0: never). The age of the shard's newest backup is time() minus the largest of its tablets'.",
	})
	b.scheduledFailures = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "mosaic_tablet_backup_scheduled_failures_total",
		Help: "Scheduled backups this tablet (as its shard's primary) asked a replica for that failed.",
	})
	b.archiveLag = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "mosaic_tablet_binlog_archive_lag_seconds",
		Help: "How long the oldest transaction this primary wrote but has not archived yet has waited (0: all archived).",
	})
	for _, c := range []prometheus.Collector{b.uploaded, b.lastBackup, b.scheduledFailures, b.archiveLag} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for _, kind := range []string{"backup", "binlog"} {
		b.uploaded.WithLabelValues(kind)
	}
	return b, nil
}

// errNoStorage is returned when the tablet has no backup storage.
var errNoStorage = errors.New("the tablet has no backup storage (--backup-storage)")

// open returns the store, opening it on first use.
func (b *backups) open(ctx context.Context) (backupstore.Store, error) {
	if b.cfg.Storage == "" {
		return nil, errNoStorage
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.store != nil {
		return b.store, nil
	}
	s, err := backupstore.OpenStore(ctx, b.cfg.Storage, backupstore.Options{PartSize: b.cfg.PartSize, Env: os.Getenv})
	if err != nil {
		return nil, err
	}
	b.store = s
	return s, nil
}

func (b *backups) succeeded(t time.Time) {
	b.lastMu.Lock()
	b.lastTime = t
	b.lastMu.Unlock()
	b.lastBackup.Set(float64(t.Unix()))
}

func (b *backups) last() time.Time {
	b.lastMu.Lock()
	defer b.lastMu.Unlock()
	return b.lastTime
}

// setArchiveLag records the archive's lag (metric and status page).
func (b *backups) setArchiveLag(seconds float64) {
	b.archiveLag.Set(seconds)
	b.archiveLagBits.Store(math.Float64bits(seconds))
}

func (b *backups) archiveLagSeconds() float64 {
	return math.Float64frombits(b.archiveLagBits.Load())
}
