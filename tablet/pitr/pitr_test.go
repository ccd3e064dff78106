package pitr_test

import (
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mosaicdb/mosaic/proto/tabletmanagerpb"
	"github.com/mosaicdb/mosaic/tablet"
	"github.com/mosaicdb/mosaic/tablet/backupstore"
	"github.com/mosaicdb/mosaic/tablet/pitr"
	"github.com/mosaicdb/mosaic/tablet/reparent"
	"github.com/mosaicdb/mosaic/tablet/tablettest"
	"github.com/mosaicdb/mosaic/topo"
	"github.com/mosaicdb/mosaic/topo/etcdstore/etcdtest"
)

// TestPointInTimeRestore writes rows with known ids, takes a backup, writes
// more across a planned reparent (the archive passes from one primary to
// the other), notes a moment T, writes more and drops the table; a restore
// to T has exactly the rows written before T, and a restore to the GTID
// just before the DROP has every row and the table.
func TestPointInTimeRestore(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a shard, mariadb-backup and mariadbd")
	}
	dir := t.TempDir()
	storage := "file://" + filepath.Join(dir, "store")
	ts := topo.NewServer(etcdtest.NewStore(t))
	sh := tablettest.StartShardWithOptions(t, ts, "commerce", "0", 1, tablettest.Options{
		SemiSync: true,
		Configure: func(c *tablet.Config) {
			c.Backup.Storage = storage
			c.Backup.ArchiveBinlogs = true
			c.Backup.ArchiveRotate = time.Second
		},
	})
	ctx := t.Context()
	store, err := backupstore.OpenStore(ctx, storage, backupstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	primary, replica := sh.Primary(), sh.Replicas()[0]
	db := primary.DBName
	position := func() string {
		st, err := primary.Dial(t).TM.Status(ctx, &tabletmanagerpb.StatusRequest{})
		if err != nil {
			t.Fatal(err)
		}
		return st.Position
	}
	write := func(from, to int) time.Time {
		for i := from; i <= to; i++ {
			primary.ExecuteFetchAsDba(t, fmt.Sprintf("INSERT INTO %s.pt VALUES (%d)", db, i))
		}
		return time.Now()
	}
	primary.ExecuteFetchAsDba(t, "CREATE TABLE "+db+".pt (id INT PRIMARY KEY)")
	write(1, 20)
	stream, err := replica.Dial(t).TM.BackupToStorage(ctx, &tabletmanagerpb.BackupToStorageRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := stream.Recv(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	write(21, 30)
	// The archive passes to the other tablet.
	if _, err := reparent.Planned(ctx, ts, "commerce", "0", reparent.Options{Creds: primary.Creds}); err != nil {
		t.Fatal(err)
	}
	primary = replica
	eventually(t, time.Minute, "the new primary takes writes", func() error {
		_, err := primary.Dial(t).TM.ExecuteFetchAsDba(ctx, &tabletmanagerpb.ExecuteFetchAsDbaRequest{Sql: fmt.Sprintf("INSERT INTO %s.pt VALUES (31)", db)})
		return err
	})
	last := write(32, 40)
	// T is the next whole second after row 40; rows 41-50 come after it.
	target := last.Truncate(time.Second).Add(time.Second)
	time.Sleep(time.Until(target.Add(100 * time.Millisecond)))
	write(41, 50)
	beforeDrop := position()
	seqBeforeDrop, err := backupstore.SeqOf(beforeDrop)
	if err != nil {
		t.Fatal(err)
	}
	primary.ExecuteFetchAsDba(t, "DROP TABLE "+db+".pt")
	end, _ := backupstore.SeqOf(position())
	eventually(t, time.Minute, "the archive holds the DROP", func() error {
		segs, err := backupstore.ListSegments(ctx, store, "commerce", "0")
		if err != nil {
			return err
		}
		if len(segs) == 0 || segs[len(segs)-1].Last < end {
			return fmt.Errorf("archive short of %d", end)
		}
		return nil
	})

	for _, c := range []struct {
		name string
		to   pitr.Target
		want string
	}{
		{"ToTime", pitr.Target{Time: target}, "40\t40"},
		{"ToGTID", pitr.Target{Seq: seqBeforeDrop}, "50\t50"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(dir, c.name)
			res, err := pitr.Restore(ctx, store, nil, "commerce", "0", c.to, out, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				t.Fatal(err)
			}
			got, err := pitr.QueryRestored(ctx, out, t.TempDir(), "SELECT COUNT(*), MAX(id) FROM "+db+".pt")
			if err != nil {
				t.Fatalf("query the restored data: %v: %s", err, got)
			}
			if strings.TrimSpace(string(got)) != c.want {
				t.Fatalf("restored to %s: rows, max id = %q, want %q", c.to, got, c.want)
			}
			t.Logf("restored to %s from backup %s and %d segments: at %s, %s rows", c.to, res.Backup.ID, res.Segments, res.Position, strings.Fields(c.want)[0])
			if res.Segments == 0 {
				t.Fatal("nothing replayed")
			}
		})
	}
}

func eventually(t *testing.T, d time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %v: %v", what, d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
