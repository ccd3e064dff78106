package tablet_test

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mosaicdb/mosaic/proto/querypb"
	"github.com/mosaicdb/mosaic/proto/tabletmanagerpb"
	"github.com/mosaicdb/mosaic/proto/topodatapb"
	"github.com/mosaicdb/mosaic/sqlerr"
	"github.com/mosaicdb/mosaic/tablet"
	"github.com/mosaicdb/mosaic/tablet/tablettest"
	"github.com/mosaicdb/mosaic/topo"
	"github.com/mosaicdb/mosaic/topo/etcdstore/etcdtest"
)

// gtidSeq returns the sequence number of a one-domain MariaDB GTID
// position ("0-101-17" -> 17).
func gtidSeq(t *testing.T, pos string) int {
	t.Helper()
	i := strings.LastIndexByte(pos, '-')
	n, err := strconv.Atoi(pos[i+1:])
	if i < 0 || err != nil || strings.Contains(pos, ",") {
		t.Fatalf("position %q: want one domain", pos)
	}
	return n
}

// The fence of a traffic switch: the shard record disables the primary's
// query service (topo.BeginSwitch). The primary refuses new work with a
// retryable error, lets open transactions finish, rolls back those still
// idle after the drain timeout, and RefreshState returns once drained,
// with a position that holds every acknowledged write. Its heartbeat
// goes on. CancelSwitch gives it its writes back.
func TestQueryServiceFence(t *testing.T) {
	ts := topo.NewServer(etcdtest.NewStore(t))
	sh := tablettest.StartShardWithOptions(t, ts, "fence", "0", 0, tablettest.Options{
		Configure: func(c *tablet.Config) { c.QueryServiceDrainTimeout = time.Minute },
	})
	primary := sh.Primary()
	pc := primary.Dial(t)
	ctx := t.Context()
	target := sh.Target(primaryType)
	exec := func(sql string) error {
		_, err := pc.Query.Execute(ctx, &querypb.ExecuteRequest{Target: target, Sql: sql})
		return err
	}
	if err := exec("CREATE TABLE t (id INT PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	begin := func(sql string) int64 {
		t.Helper()
		resp, err := pc.Query.BeginExecute(ctx, &querypb.BeginExecuteRequest{Target: target, Sql: sql})
		if err != nil || resp.Error != nil {
			t.Fatalf("%s: %v %v", sql, err, resp.GetError())
		}
		return resp.TransactionId
	}
	finishing := begin("INSERT INTO t VALUES (1)")
	idle := begin("INSERT INTO t VALUES (2)")

	if _, err := ts.BeginSwitch(ctx, topo.BeginSwitchRequest{Keyspace: "fence", TabletTypes: []topodatapb.TabletType{primaryType}, Fence: []string{"0"}}); err != nil {
		t.Fatal(err)
	}
	// The shard watch applies it: new statements are refused, retryably.
	eventually(t, 20*time.Second, "new statements refused", func() error {
		err := exec("SELECT 1")
		if err == nil {
			return errors.New("a new statement ran")
		}
		if !sqlerr.IsRetryable(err) {
			t.Fatalf("refusal of a fenced primary is not retryable: %v", err)
		}
		return nil
	})
	if _, err := primary.WaitHealth(ctx, func(h *querypb.StreamHealthResponse) bool { return !h.Serving }); err != nil {
		t.Fatal(err)
	}
	if _, err := pc.Query.BeginExecute(ctx, &querypb.BeginExecuteRequest{Target: target, Sql: "INSERT INTO t VALUES (9)"}); !sqlerr.IsRetryable(err) {
		t.Fatalf("new transaction while fenced: %v, want a retryable refusal", err)
	}
	// The open transaction finishes.
	if _, err := pc.Query.Execute(ctx, &querypb.ExecuteRequest{Target: target, Sql: "INSERT INTO t VALUES (3)", TransactionId: finishing}); err != nil {
		t.Fatalf("statement of an open transaction while fenced: %v", err)
	}
	if _, err := pc.Query.Commit(ctx, &querypb.CommitRequest{Target: target, TransactionId: finishing}); err != nil {
		t.Fatalf("commit while fenced: %v", err)
	}
	committedAt, err := pc.TM.PrimaryPosition(ctx, &tabletmanagerpb.PrimaryPositionRequest{})
	if err != nil {
		t.Fatal(err)
	}
	// RefreshState's shorter drain timeout rolls back the idle one.
	start := time.Now()
	resp, err := pc.TM.RefreshState(ctx, &tabletmanagerpb.RefreshStateRequest{DrainTimeoutMs: 500})
	if err != nil {
		t.Fatal(err)
	}
	if !resp.QueryServiceDisabled || resp.TransactionsRolledBack != 1 || time.Since(start) > 20*time.Second {
		t.Fatalf("RefreshState = %v after %v", resp, time.Since(start))
	}
	if gtidSeq(t, resp.Position) < gtidSeq(t, committedAt.Position) {
		t.Fatalf("drained position %s is before the last commit %s", resp.Position, committedAt.Position)
	}
	_, err = pc.Query.Execute(ctx, &querypb.ExecuteRequest{Target: target, Sql: "INSERT INTO t VALUES (4)", TransactionId: idle})
	if !sqlerr.IsTxEnded(err) {
		t.Fatalf("statement of the rolled back transaction: %v, want transaction ended", err)
	}
	if got := fmt.Sprint(values(t, primary.ExecuteFetchAsDba(t, "SELECT id FROM fence.t ORDER BY id"))); got != "[[1] [3]]" {
		t.Fatalf("rows after the drain = %s, want 1 and 3", got)
	}
	// The heartbeat goes on while fenced.
	hb := func() string {
		return fmt.Sprint(values(t, primary.ExecuteFetchAsDba(t, "SELECT ts_ns FROM _mosaic.heartbeat")))
	}
	first := hb()
	eventually(t, 10*time.Second, "heartbeat while fenced", func() error {
		if hb() == first {
			return errors.New("heartbeat row unchanged")
		}
		return nil
	})

	if _, err := ts.CancelSwitch(ctx, "fence", 0); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "writes back after CancelSwitch", func() error { return exec("INSERT INTO t VALUES (5)") })
	resp, err = pc.TM.RefreshState(ctx, &tabletmanagerpb.RefreshStateRequest{})
	if err != nil || resp.QueryServiceDisabled {
		t.Fatalf("RefreshState after cancel = %v, %v", resp, err)
	}
}
