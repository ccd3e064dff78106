package tablet_test

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/mosaicdb/mosaic/proto/tabletmanagerpb"
	"github.com/mosaicdb/mosaic/tablet"
	"github.com/mosaicdb/mosaic/tablet/backupstore"
	"github.com/mosaicdb/mosaic/tablet/backupstore/s3test"
	"github.com/mosaicdb/mosaic/tablet/tablettest"
	"github.com/mosaicdb/mosaic/topo"
	"github.com/mosaicdb/mosaic/topo/etcdstore/etcdtest"
)

var backupBenchMB = flag.Int("backup-bench-mb", 0, "TestBackupThroughput: load this many MB into a shard and measure backup and restore rates beside mariadb-backup to a local file (0: skip)")

// TestBackupThroughput measures, in one run on one replica's data, the
// rate of mariadb-backup writing to a local file and of Mosaic's backups
// into storage (a folder plain, zstd, zstd+encrypted; S3 with zstd when
// weed is built), then of restoring each (extract and prepare, from the
// local file or streamed from the storage with its checksum verified), and
// of a replica's whole restore through the Repair RPC. Only with
// -backup-bench-mb.
func TestBackupThroughput(t *testing.T) {
	if *backupBenchMB <= 0 {
		t.Skip("a measurement: give -backup-bench-mb N")
	}
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	if err := os.WriteFile(keyFile, []byte("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	storeDir := filepath.Join(dir, "store")
	ts := topo.NewServer(etcdtest.NewStore(t))
	sh := tablettest.StartShardWithOptions(t, ts, "commerce", "0", 1, tablettest.Options{
		Configure: func(c *tablet.Config) {
			c.Backup.Storage = "file://" + storeDir
			c.Backup.Compress = true
			c.AutoRepair = false
		},
	})
	primary, replica := sh.Primary(), sh.Replicas()[0]
	ctx := t.Context()
	db := primary.DBName
	primary.ExecuteFetchAsDba(t, "CREATE TABLE "+db+".bulk (id BIGINT PRIMARY KEY, a CHAR(32), b VARCHAR(300))")
	// About 330 bytes a row on disk: random hex (compresses about 2x) and
	// a repeated part.
	rows := *backupBenchMB << 20 / 330
	for done := 0; done < rows; done += 100000 {
		n := min(100000, rows-done)
		primary.ExecuteFetchAsDba(t, fmt.Sprintf("INSERT INTO %s.bulk SELECT seq, MD5(RAND()), CONCAT(MD5(RAND()), MD5(RAND()), MD5(RAND()), REPEAT('mosaic', 20), MD5(RAND())) FROM seq_%d_to_%d", db, done+1, done+n))
	}
	pc, rc := primary.Dial(t), replica.Dial(t)
	eventually(t, 5*time.Minute, "replica caught up with the load", func() error {
		ps, err := pc.TM.Status(ctx, &tabletmanagerpb.StatusRequest{})
		if err != nil {
			return err
		}
		rs, err := rc.TM.Status(ctx, &tabletmanagerpb.StatusRequest{})
		if err != nil {
			return err
		}
		if ps.Position != rs.Position {
			return fmt.Errorf("replica at %s, primary at %s", rs.Position, ps.Position)
		}
		return nil
	})
	dataMB := float64(replica.Agent.Mysqld().DataSize()) / (1 << 20)
	t.Logf("data dir of the replica: %.0f MB (the load: %d rows)", dataMB, rows)
	rate := func(bytes int64, d time.Duration) string {
		return fmt.Sprintf("%6.1f MB/s (%.0f MB in %v)", float64(bytes)/(1<<20)/d.Seconds(), float64(bytes)/(1<<20), d.Round(time.Millisecond))
	}

	// Backups.
	local := filepath.Join(dir, "local.xbstream")
	var raw int64
	baseline := func() {
		t.Helper()
		f, err := os.Create(local)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if _, err := replica.Agent.Mysqld().Backup(ctx, f); err != nil {
			t.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		f.Close()
		st, _ := os.Stat(local)
		raw = st.Size()
		t.Logf("backup  mariadb-backup to a local file       %s", rate(raw, time.Since(start)))
	}
	baseline()

	key, err := backupstore.ReadKeyFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	type target struct {
		name  string
		store backupstore.Store
		codec backupstore.Codec
		enc   backupstore.Encoding
	}
	fileStore, err := backupstore.OpenStore(ctx, "file://"+filepath.Join(dir, "direct"), backupstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	targets := []*target{
		{name: "folder, plain", store: fileStore},
		{name: "folder, zstd", store: fileStore, codec: backupstore.Codec{Compress: true}},
		{name: "folder, zstd+aes", store: fileStore, codec: backupstore.Codec{Compress: true, Key: key}},
	}
	if _, err := os.Stat(s3test.WeedPath()); err == nil {
		srv := s3test.Start(t)
		s3, err := backupstore.OpenStore(ctx, srv.URL("bench"), backupstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		targets = append(targets, &target{name: "S3 (weed), zstd", store: s3, codec: backupstore.Codec{Compress: true}})
	} else {
		t.Logf("SKIPPING the S3 measurement: %s is not built (make weed)", s3test.WeedPath())
	}
	for i, tg := range targets {
		w, err := tg.codec.Create(ctx, tg.store, fmt.Sprintf("b%d", i))
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if _, err := replica.Agent.Mysqld().Backup(ctx, w); err != nil {
			w.Abort(err)
			t.Fatal(err)
		}
		if tg.enc, err = w.Close(); err != nil {
			t.Fatal(err)
		}
		t.Logf("backup  Mosaic into %-24s %s, stored %.0f MB", tg.name, rate(tg.enc.RawBytes, time.Since(start)), float64(tg.enc.StoredBytes)/(1<<20))
	}
	baseline()
	// The real path: the RPC, manifest and all, into the tablet's storage.
	start := time.Now()
	stream, err := rc.TM.BackupToStorage(ctx, &tabletmanagerpb.BackupToStorageRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var last *tabletmanagerpb.BackupToStorageResponse
	for {
		msg, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		last = msg
	}
	t.Logf("backup  BackupToStorage RPC (folder, zstd)   %s", rate(last.Bytes, time.Since(start)))

	// Restores: extract and prepare, as a restore does, from each source.
	restore := func(name string, bytes int64, open func() (io.ReadCloser, error)) {
		t.Helper()
		target := filepath.Join(dir, "restore")
		os.RemoveAll(target)
		if err := os.MkdirAll(target, 0o750); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		r, err := open()
		if err != nil {
			t.Fatal(err)
		}
		x := exec.CommandContext(ctx, "mbstream", "-x", "-C", target)
		x.Stdin = r
		if out, err := x.CombinedOutput(); err != nil {
			t.Fatalf("mbstream: %v %s", err, out)
		}
		r.Close()
		if out, err := exec.CommandContext(ctx, "mariadb-backup", "--prepare", "--target-dir="+target, "--use-memory=256M").CombinedOutput(); err != nil {
			t.Fatalf("prepare: %v %s", err, out)
		}
		t.Logf("restore %-40s %s", name, rate(bytes, time.Since(start)))
	}
	// Two rounds, so that no source alone pays for a cold cache.
	for range 2 {
		restore("mariadb-backup from the local file", raw, func() (io.ReadCloser, error) { return os.Open(local) })
		for i, tg := range targets {
			restore("Mosaic from "+tg.name, tg.enc.RawBytes, func() (io.ReadCloser, error) {
				return backupstore.OpenSealed(ctx, tg.store, fmt.Sprintf("b%d", i), tg.enc, key)
			})
		}
	}
	// A replica's whole restore: stop, stream, prepare, start, catch up.
	start = time.Now()
	resp, err := rc.TM.Repair(ctx, &tabletmanagerpb.RepairRequest{BackupId: last.BackupId})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("restore Repair RPC of the replica (folder, zstd; mysqld restart included) %s", rate(resp.Bytes, time.Since(start)))
}
