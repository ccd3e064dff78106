package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mosaicdb/mosaic/e2e/cluster"
	"github.com/mosaicdb/mosaic/tablet"
	"github.com/mosaicdb/mosaic/tablet/backupstore"
	"github.com/mosaicdb/mosaic/tablet/tablettest"
)

// TestRebuildLostShard loses every tablet of a shard, data dirs and all,
// and rebuilds it from the backup storage alone: `mosaicctl restore
// --new-primary` on new, empty tablets restores the newest backup, replays
// the archived binlog written after it, makes one tablet the primary and
// has the other copy it. Every row acknowledged before the loss (and
// archived) is there, the gate writes to the new primary, and the replica
// follows it.
func TestRebuildLostShard(t *testing.T) {
	if testing.Short() {
		t.Skip("runs backups and restores")
	}
	backupDir := t.TempDir()
	configure := func(cfg *tablet.Config) {
		cfg.Backup.Storage = "file://" + backupDir
		cfg.Backup.ArchiveBinlogs = true
		cfg.Backup.ArchiveRotate = time.Second
	}
	c := cluster.Start(t, cluster.Options{
		Keyspaces: []cluster.Keyspace{{Name: "commerce"}},
		Replicas:  1,
		Tablets:   tablettest.Options{SemiSync: true, Configure: configure},
	})
	shard := c.Shards["commerce"]["0"]
	db := c.DB(t, "commerce", "interpolateParams=true")
	mustExec(t, db, "create table t (id bigint primary key, v varchar(40) not null)")
	insert := func(from, to int) {
		t.Helper()
		for id := from; id <= to; id++ {
			mustExec(t, db, "insert into t (id, v) values (?, ?)", id, fmt.Sprintf("row %d", id))
		}
	}
	insert(1, 100)

	ctl := cluster.BuildMosaicctl(t)
	run := func(args ...string) (string, error) {
		t.Helper()
		out, err := exec.Command(ctl, append(append([]string{"--topo-endpoints", c.TopoAddr}, c.Security.Flags()...), args...)...).CombinedOutput()
		return string(out), err
	}
	if out, err := run("backup", "--keyspace", "commerce", "--shard", "0"); err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	// Rows after the backup reach the storage only through the archive.
	insert(101, 200)
	mustExec(t, db, "update t set v = 'changed' where id in (5, 150)")
	mustExec(t, db, "delete from t where id in (7, 170)")
	want := checksum(t, shard.Primary(), "t")
	pos, err := dbaValues(t, shard.Primary(), "SELECT @@gtid_binlog_pos")
	if err != nil {
		t.Fatal(err)
	}
	seq, err := backupstore.SeqOf(pos[0])
	if err != nil {
		t.Fatal(err)
	}
	store, err := backupstore.OpenStore(t.Context(), "file://"+backupDir, backupstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, "the archive holds transaction "+pos[0], func() error {
		segs, err := backupstore.ListSegments(t.Context(), store, "commerce", "0")
		if err != nil {
			return err
		}
		line, err := backupstore.Timeline(segs)
		if err != nil {
			return err
		}
		if _, err := backupstore.Chain(line, 0, seq); err != nil {
			return err
		}
		return nil
	})

	// While the primary answers, nothing is rebuilt.
	if out, err := run("restore", "--keyspace", "commerce", "--shard", "0", "--new-primary"); err == nil || !strings.Contains(out, "answers") {
		t.Fatalf("restore --new-primary with a live primary: %v\n%s", err, out)
	}

	// Every tablet and its data is lost.
	for _, tb := range shard.Tablets {
		tb.Stop()
		if err := os.RemoveAll(tb.Dir); err != nil {
			t.Fatal(err)
		}
	}
	// New tablets, empty, in the same shard. They do not repair
	// themselves: the rebuild is the operator's call.
	fresh := tablettest.Options{SemiSync: true, Certs: shard.Primary().Certs, Configure: func(cfg *tablet.Config) {
		configure(cfg)
		cfg.AutoRepair = false
	}}
	var news []*tablettest.Tablet
	for range 2 {
		news = append(news, tablettest.StartTablet(t, c.TS, "commerce", "0", fresh))
	}
	start := time.Now()
	out, err := run("restore", "--keyspace", "commerce", "--shard", "0", "--new-primary", news[0].AliasString)
	if err != nil {
		t.Fatalf("restore --new-primary: %v\n%s", err, out)
	}
	t.Logf("%s(%v)", out, time.Since(start).Round(time.Millisecond))
	for _, line := range []string{news[0].AliasString + " is the primary of commerce/0", news[1].AliasString + " copied the new primary"} {
		if !strings.Contains(out, line) {
			t.Fatalf("restore output lacks %q:\n%s", line, out)
		}
	}
	if got := checksum(t, news[0], "t"); got != want {
		t.Fatalf("rebuilt primary holds %s, the lost one held %s", got, want)
	}
	// The gate writes to the new primary, and the replica follows it.
	eventually(t, time.Minute, "a write through the gate", func() error {
		_, err := db.Exec("insert into t (id, v) values (201, 'after')")
		return err
	})
	want = checksum(t, news[0], "t")
	eventually(t, time.Minute, "the replica caught up with the new primary", func() error {
		if got := checksum(t, news[1], "t"); got != want {
			return fmt.Errorf("replica %s, primary %s", got, want)
		}
		return nil
	})
	if got := oneValue(t, db, "select count(*) from t"); got != "199" {
		t.Fatalf("rows through the gate: %s, want 199", got)
	}
}
