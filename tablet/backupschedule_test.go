package tablet_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mosaicdb/mosaic/tablet"
	"github.com/mosaicdb/mosaic/tablet/backupstore"
	"github.com/mosaicdb/mosaic/tablet/backupstore/s3test"
	"github.com/mosaicdb/mosaic/tablet/tablettest"
	"github.com/mosaicdb/mosaic/topo"
	"github.com/mosaicdb/mosaic/topo/etcdstore/etcdtest"
)

// TestScheduledBackups runs a shard whose primary schedules a backup every
// 2 s, keeping 2, encrypted and compressed, into a real S3 server (weed;
// a folder when weed is not built): the backups come from the replica
// (never the primary), the retention deletes the oldest, and each backup
// opens with the key, passes its checksum and is an xbstream.
func TestScheduledBackups(t *testing.T) {
	if testing.Short() {
		t.Skip("runs mariadb-backup several times")
	}
	storage := "file://" + t.TempDir()
	if _, err := os.Stat(s3test.WeedPath()); err == nil {
		storage = s3test.Start(t).URL("scheduled")
	} else {
		t.Logf("NOT TESTING S3: %s is not built (make weed); backing up into a folder instead", s3test.WeedPath())
	}
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ts := topo.NewServer(etcdtest.NewStore(t))
	sh := tablettest.StartShardWithOptions(t, ts, "commerce", "0", 1, tablettest.Options{
		Configure: func(c *tablet.Config) {
			c.Backup.Storage = storage
			c.Backup.KeyFile = keyFile
			c.Backup.Compress = true
			c.Backup.Interval = 2 * time.Second
			c.Backup.Retention = backupstore.Retention{Keep: 2}
		},
	})
	primary, replica := sh.Primary(), sh.Replicas()[0]
	primary.ExecuteFetchAsDba(t, "CREATE TABLE "+primary.DBName+".t (id INT PRIMARY KEY, v VARCHAR(100))")
	primary.ExecuteFetchAsDba(t, "INSERT INTO "+primary.DBName+".t VALUES (1, REPEAT('x', 100)), (2, REPEAT('y', 100))")

	ctx := t.Context()
	store, err := backupstore.OpenStore(ctx, storage, backupstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	key, err := backupstore.ReadKeyFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]backupstore.Manifest{}
	var first string
	eventually(t, 4*time.Minute, "three scheduled backups, the oldest deleted, at most two kept", func() error {
		all, err := backupstore.ListBackups(ctx, store, "commerce", "0")
		if err != nil {
			return err
		}
		listed := map[string]bool{}
		for _, m := range all {
			listed[m.ID] = true
			if _, ok := seen[m.ID]; !ok {
				if m.Tablet != replica.AliasString {
					t.Fatalf("backup %s was taken on %s, not on the replica %s", m.ID, m.Tablet, replica.AliasString)
				}
				if m.Data.Encryption != backupstore.EncryptionAESGCM || m.Data.KeyID != key.ID() || m.Data.Compression != backupstore.CompressionZstd {
					t.Fatalf("backup %s is sealed as %+v, want encrypted with key %s and compressed", m.ID, m.Data, key.ID())
				}
				seen[m.ID] = m
				if first == "" {
					first = m.ID
				}
			}
		}
		switch {
		case len(seen) < 3:
			return fmt.Errorf("%d backups so far", len(seen))
		case listed[first]:
			return fmt.Errorf("the first backup %s is still kept after %d backups", first, len(seen))
		case len(all) > 2:
			return fmt.Errorf("%d backups kept, want at most 2", len(all))
		}
		return nil
	})
	// A kept backup reads back whole with the key: its checksum holds and
	// it is mariadb-backup's stream.
	all, err := backupstore.ListBackups(ctx, store, "commerce", "0")
	if err != nil || len(all) == 0 {
		t.Fatalf("backups: %v, %v", all, err)
	}
	m := all[len(all)-1]
	rc, err := backupstore.OpenSealed(ctx, store, m.DataName(), m.Data, key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read backup %s: %v", m.ID, err)
	}
	if int64(len(data)) != m.Data.RawBytes || !bytes.HasPrefix(data, []byte("XBSTCK01")) {
		t.Fatalf("backup %s: %d bytes (manifest: %d), starts %q", m.ID, len(data), m.Data.RawBytes, data[:min(len(data), 8)])
	}
	if _, err := backupstore.OpenSealed(ctx, store, m.DataName(), m.Data, nil); err == nil {
		t.Fatal("an encrypted backup opened without its key")
	}
	// The status pages say so: the replica took backups, the primary
	// schedules them.
	page := func(tb *tablettest.Tablet) string {
		resp, err := http.Get("http://" + tb.HTTPAddr + "/debug/status")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	if p := page(replica); !strings.Contains(p, "<th>last backup by this tablet</th><td>20") {
		t.Errorf("the replica's status page shows no backup:\n%s", p)
	}
	if p := page(primary); !strings.Contains(p, "every 2s from a replica") {
		t.Errorf("the primary's status page shows no schedule:\n%s", p)
	}
	t.Logf("%d scheduled backups from %s into %s; the newest: %d bytes, %d stored", len(seen), replica.AliasString, store, m.Data.RawBytes, m.Data.StoredBytes)
}
