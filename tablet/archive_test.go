package tablet_test

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/mosaicdb/mosaic/proto/tabletmanagerpb"
	"github.com/mosaicdb/mosaic/tablet"
	"github.com/mosaicdb/mosaic/tablet/backupstore"
	"github.com/mosaicdb/mosaic/tablet/reparent"
	"github.com/mosaicdb/mosaic/tablet/tablettest"
	"github.com/mosaicdb/mosaic/topo"
	"github.com/mosaicdb/mosaic/topo/etcdstore/etcdtest"
)

// TestBinlogArchive runs a shard whose primary archives its binlog in
// segments of at most 1 s, writes rows with known ids, reparents, and
// writes more on the new primary: the archive reaches each primary's
// position within seconds (the recovery point), its segments chain across
// the two terms without gap, and mariadb-binlog reads from them every row
// exactly once.
func TestBinlogArchive(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a shard and a reparent")
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
	first, second := sh.Primary(), sh.Replicas()[0]
	db := first.DBName
	first.ExecuteFetchAsDba(t, "CREATE TABLE "+db+".arch (id INT PRIMARY KEY, at DATETIME(6))")

	// archived waits until the archive holds tb's position and returns how
	// long that took after the last write.
	archived := func(tb *tablettest.Tablet, wrote time.Time) time.Duration {
		t.Helper()
		st, err := tb.Dial(t).TM.Status(ctx, &tabletmanagerpb.StatusRequest{})
		if err != nil {
			t.Fatal(err)
		}
		want, err := backupstore.SeqOf(st.Position)
		if err != nil {
			t.Fatal(err)
		}
		var took time.Duration
		eventually(t, time.Minute, "the archive reaches "+st.Position, func() error {
			segs, err := backupstore.ListSegments(ctx, store, "commerce", "0")
			if err != nil {
				return err
			}
			line, err := backupstore.Timeline(segs)
			if err != nil {
				t.Fatal(err)
			}
			if len(line) == 0 || line[len(line)-1].Last < want {
				return fmt.Errorf("archive ends before %d (%d segments)", want, len(line))
			}
			took = time.Since(wrote)
			return nil
		})
		return took
	}
	write := func(tb *tablettest.Tablet, from, to int) time.Time {
		for i := from; i <= to; i++ {
			tb.ExecuteFetchAsDba(t, fmt.Sprintf("INSERT INTO %s.arch VALUES (%d, NOW(6))", db, i))
			if i%10 == 0 {
				time.Sleep(300 * time.Millisecond) // spread over several segments
			}
		}
		return time.Now()
	}
	rpo1 := archived(first, write(first, 1, 40))
	res, err := reparent.Planned(ctx, ts, "commerce", "0", reparent.Options{Creds: first.Creds})
	if err != nil {
		t.Fatal(err)
	}
	if topo.AliasString(res.NewPrimary) != second.AliasString {
		t.Fatalf("reparent made %v primary", res.NewPrimary)
	}
	eventually(t, time.Minute, "the new primary takes writes", func() error {
		_, err := second.Dial(t).TM.ExecuteFetchAsDba(ctx, &tabletmanagerpb.ExecuteFetchAsDbaRequest{Sql: fmt.Sprintf("INSERT INTO %s.arch VALUES (41, NOW(6))", db)})
		return err
	})
	rpo2 := archived(second, write(second, 42, 80))

	segs, err := backupstore.ListSegments(ctx, store, "commerce", "0")
	if err != nil {
		t.Fatal(err)
	}
	line, err := backupstore.Timeline(segs)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := backupstore.Chain(line, line[0].First-1, line[len(line)-1].Last)
	if err != nil {
		for _, g := range segs {
			full, _ := backupstore.ReadSegment(ctx, store, g)
			t.Logf("segment %d-%d term %d tablet %s prev %s end %s", g.First, g.Last, g.Term, full.Tablet, full.Prev, full.End)
		}
		t.Fatalf("the archive has a gap: %v", err)
	}
	tablets := map[string]bool{}
	seen := map[int]int{}
	rowRE := regexp.MustCompile("(?m)^### INSERT INTO `[^`]+`.`arch`\n### SET\n###   @1=(\\d+)")
	for i, g := range chain {
		full, err := backupstore.ReadSegment(ctx, store, g)
		if err != nil {
			t.Fatal(err)
		}
		tablets[full.Tablet] = true
		if i > 0 && full.Prev != chain[i-1].End && chain[i-1].End != "" {
			t.Errorf("segment %d-%d starts after %s, the one before ends at %s", g.First, g.Last, full.Prev, chain[i-1].End)
		}
		chain[i] = full
		rc, err := tablet.SegmentReader(ctx, store, g, nil)
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(dir, fmt.Sprintf("seg-%d.binlog", i))
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("segment %d-%d: %v", g.First, g.Last, err)
		}
		if err := os.WriteFile(file, data, 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.CommandContext(ctx, "mariadb-binlog", "-v", "--base64-output=DECODE-ROWS", file).CombinedOutput()
		if err != nil {
			t.Fatalf("mariadb-binlog of segment %d-%d: %v\n%s", g.First, g.Last, err, out)
		}
		for _, m := range rowRE.FindAllStringSubmatch(string(out), -1) {
			var id int
			fmt.Sscan(m[1], &id)
			seen[id]++
		}
	}
	for id := 1; id <= 80; id++ {
		if seen[id] != 1 {
			t.Errorf("row %d is in the archive %d times", id, seen[id])
		}
	}
	if !tablets[first.AliasString] || !tablets[second.AliasString] {
		t.Errorf("segments come from %v, want both primaries", tablets)
	}
	t.Logf("%d segments, %d rows, from %d primaries; the archive held the last write %v (first primary) and %v (second) after it", len(chain), len(seen), len(tablets), rpo1.Round(time.Millisecond), rpo2.Round(time.Millisecond))
}
