package tablet_test

import (
	"testing"
	"time"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/tablet"
	"github.com/mosaicdb/mosaic/tablet/tablettest"
	"github.com/mosaicdb/mosaic/topo"
	"github.com/mosaicdb/mosaic/topo/memstore"
)

// TestSemiSyncWatchdog puts a semi-sync primary in the state CI's
// FrozenPrimaryTablet failure left one in: its one replica is connected
// and wants to ack, but the primary's mysqld does not count it. The
// replica's semi-sync side is turned off, its IO thread reconnected (the
// primary now counts no semi-sync replica), and the side turned on again
// without a reconnect, which MariaDB reads only when the IO thread
// connects. A commit then waits out the semi-sync timeout and the primary
// falls back to asynchronous replication. Without the watchdog it would
// stay there for good, acknowledging commits no replica holds; with it,
// the primary ends the replica's binlog connection, the replica
// reconnects and registers, and semi-sync is back: the next commit is
// acked.
func TestSemiSyncWatchdog(t *testing.T) {
	ts := topo.NewServer(memstore.New())
	sh := tablettest.StartShardWithOptions(t, ts, "commerce", "0", 1, tablettest.Options{
		SemiSync: true,
		Configure: func(c *tablet.Config) {
			c.SemiSyncTimeout = 2 * time.Second
			c.SemiSyncWatchdog = 2 * time.Second
		},
	})
	ctx := t.Context()
	primary, replica := sh.Primary(), sh.Replicas()[0]
	exec := func(sql string) {
		t.Helper()
		if _, err := primary.Dial(t).Query.Execute(ctx, &querypb.ExecuteRequest{Target: sh.Target(primaryType), Sql: sql}); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec("CREATE TABLE t (id INT PRIMARY KEY)")
	status := func(tb *tablettest.Tablet, sql string) string {
		return flat(values(t, tb.ExecuteFetchAsDba(t, sql)))
	}
	semi := func(name string) string {
		return status(primary, "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'RPL_SEMI_SYNC_MASTER_"+name+"'")
	}
	dumps := func() string {
		return status(primary, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%' AND USER = '"+primary.Agent.Mysqld().ReplicationUser()+"'")
	}
	waitFor := func(what string, within time.Duration, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(within)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within %v (semi-sync status %s, clients %s, replication connections %s)", what, within, semi("STATUS"), semi("CLIENTS"), dumps())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("the replica counted as semi-sync", 30*time.Second, func() bool { return semi("CLIENTS") == "1" })

	// The replica reconnects without its semi-sync side, then turns it on
	// without reconnecting.
	replica.ExecuteFetchAsDba(t, "SET GLOBAL rpl_semi_sync_slave_enabled = OFF")
	replica.ExecuteFetchAsDba(t, "STOP SLAVE IO_THREAD")
	replica.ExecuteFetchAsDba(t, "START SLAVE IO_THREAD")
	waitFor("the replica connected, not counted", 30*time.Second, func() bool { return semi("CLIENTS") == "0" && dumps() == "1" })
	replica.ExecuteFetchAsDba(t, "SET GLOBAL rpl_semi_sync_slave_enabled = ON")
	kicks := primary.Agent.SemiSyncKicks()

	// A commit now waits for the timeout and the primary falls back (the
	// heartbeat's commit may be the one that does).
	exec("INSERT INTO t VALUES (1)")
	if n := semi("NO_TIMES"); n == "0" {
		t.Fatalf("the primary did not fall back to asynchronous replication with its replica uncounted; the test cannot make the shortage")
	}
	waitFor("semi-sync back on with the replica counted", 30*time.Second, func() bool {
		return semi("STATUS") == "ON" && semi("CLIENTS") == "1"
	})
	if got := primary.Agent.SemiSyncKicks(); got <= kicks {
		t.Errorf("watchdog kicks %d, want more than %d", got, kicks)
	}
	yes, no := semi("YES_TX"), semi("NO_TX")
	start := time.Now()
	exec("INSERT INTO t VALUES (2)")
	if took := time.Since(start); took > time.Second {
		t.Errorf("a commit with semi-sync back took %v", took)
	}
	if semi("YES_TX") == yes || semi("NO_TX") != no {
		t.Errorf("the commit after the watchdog was not acked: yes_tx %s -> %s, no_tx %s -> %s", yes, semi("YES_TX"), no, semi("NO_TX"))
	}
	waitFor("the rows on the replica", 30*time.Second, func() bool { return status(replica, "SELECT COUNT(*) FROM commerce.t") == "2" })

	// A healthy shard is left alone.
	kicks = primary.Agent.SemiSyncKicks()
	time.Sleep(3 * time.Second)
	if got := primary.Agent.SemiSyncKicks(); got != kicks {
		t.Errorf("the watchdog kicked %d times more with the replica counted", got-kicks)
	}
}
